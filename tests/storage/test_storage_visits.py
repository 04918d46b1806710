from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, func, select

from nhihub.protect import PiiCipher
from nhihub.storage import (
    ARCHIVED,
    INSERTED,
    REPLACED,
    Institution,
    NewBatch,
    OrderLine,
    Visit,
    create_batch,
    find_visits_by_person,
    get_order_lines,
    get_visit,
    get_visit_versions,
    get_visits,
    insert_institution,
    mark_visit_deleted,
    replace_order_lines,
    unit_of_work,
    upsert_visit,
    upsert_visits,
    visits_referencing,
)
from nhihub.storage.schema import visit_versions, visits

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
M15_A = "0USE4FA11RP4J370WR4K"
M15_B = "1ABCDEFGH2JKLMNP3QRS"
MakeBatch = Callable[..., int]
MakeVisit = Callable[..., Visit]


def _line(n: int, code: str) -> OrderLine:
    return OrderLine(n, "1", f"{n:03d}", None, None, code, 28, None)


def test_insert_then_read_back(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit, pii_cipher: PiiCipher
) -> None:
    batch = make_batch()
    visit = make_visit(M15_A, batch, note="第一版", m16=M15_B, h00="1", m12="1")
    assert upsert_visit(conn, visit, now=T0) == INSERTED
    got = get_visit(conn, M15_A)
    assert got is not None
    assert got.person_id is None  # not decrypted unless asked
    assert got.version == 1 and not got.deleted
    assert (got.birth_date, got.visit_at, got.visit_date) == (
        dt.date(1980, 1, 2),
        dt.datetime(2024, 3, 18, 9, 30),
        dt.date(2024, 3, 18),
    )
    assert (got.category, got.h00, got.h01, got.m12, got.m16) == ("01", "1", "A", "1", M15_B)
    assert got.record == visit.record and got.received_at == T0
    assert got.person_hash == visit.person_hash
    revealed = get_visit(conn, M15_A, cipher=pii_cipher)
    assert revealed is not None and revealed.person_id == "A123456789"
    assert get_visit(conn, M15_B) is None


def test_stored_visit_date_column_matches_visit_time(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    upsert_visit(conn, make_visit(M15_A, make_batch()))
    assert conn.execute(select(visits.c.visit_date)).scalar_one() == dt.date(2024, 3, 18)


def test_last_received_wins_and_earlier_versions_are_kept(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    first, second = make_batch(), make_batch()
    upsert_visit(conn, make_visit(M15_A, first, note="v1"), now=T0)
    assert upsert_visit(conn, make_visit(M15_A, second, note="v2"), now=T1) == REPLACED
    current = get_visit(conn, M15_A)
    assert current is not None
    assert (current.record["mb1"]["note"], current.version, current.batch_id) == ("v2", 2, second)
    versions = get_visit_versions(conn, M15_A)
    assert [(v.record["mb1"]["note"], v.version, v.superseded_at) for v in versions] == [
        ("v1", 1, T1)
    ]


def test_an_older_version_arriving_late_does_not_win(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    older, newer = make_batch(), make_batch()
    upsert_visit(conn, make_visit(M15_A, newer, note="newer"))
    assert upsert_visit(conn, make_visit(M15_A, older, note="older"), now=T1) == ARCHIVED
    current = get_visit(conn, M15_A)
    assert current is not None and current.record["mb1"]["note"] == "newer"
    versions = get_visit_versions(conn, M15_A)
    assert [(v.record["mb1"]["note"], v.batch_id) for v in versions] == [("older", older)]
    # numbering continues after the archived one
    latest = make_batch()
    assert upsert_visit(conn, make_visit(M15_A, latest, note="latest")) == REPLACED
    current = get_visit(conn, M15_A)
    assert current is not None and current.version == 3
    assert sorted(v.version for v in get_visit_versions(conn, M15_A)) == [1, 2]


def test_same_identifier_twice_in_one_call(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    batch = make_batch()
    rows = [
        make_visit(M15_A, batch, 2, note="second"),
        make_visit(M15_B, batch, 3),
        make_visit(M15_A, batch, 1, note="first"),
    ]
    assert upsert_visits(conn, rows) == [INSERTED, INSERTED, ARCHIVED]
    current = get_visit(conn, M15_A)
    assert current is not None and current.record["mb1"]["note"] == "second"
    assert current.version == 2
    assert [v.record["mb1"]["note"] for v in get_visit_versions(conn, M15_A)] == ["first"]
    # and again for an existing visit
    later = make_batch()
    rows = [make_visit(M15_A, later, 5, note="fifth"), make_visit(M15_A, later, 4, note="fourth")]
    assert upsert_visits(conn, rows) == [REPLACED, ARCHIVED]
    current = get_visit(conn, M15_A)
    assert current is not None and (current.record["mb1"]["note"], current.version) == ("fifth", 4)
    notes = [(v.version, v.record["mb1"]["note"]) for v in get_visit_versions(conn, M15_A)]
    assert notes == [(1, "first"), (2, "second"), (3, "fourth")]


def test_order_lines_follow_the_current_version(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    first, second = make_batch(), make_batch()
    upsert_visit(conn, make_visit(M15_A, first, orders=(_line(1, "A"), _line(2, "B"))))
    assert [o.item_code for o in get_order_lines(conn, M15_A)] == ["A", "B"]
    assert get_order_lines(conn, M15_A)[0] == _line(1, "A")
    upsert_visit(conn, make_visit(M15_A, second, orders=(_line(1, "C"),)))
    assert [o.item_code for o in get_order_lines(conn, M15_A)] == ["C"]
    upsert_visit(conn, make_visit(M15_A, first, 9, orders=(_line(1, "OLD"),)))  # archived
    assert [o.item_code for o in get_order_lines(conn, M15_A)] == ["C"]
    replace_order_lines(conn, M15_A, [_line(1, "D"), _line(2, "E")])
    assert [o.item_code for o in get_order_lines(conn, M15_A)] == ["D", "E"]
    replace_order_lines(conn, M15_A, [])
    assert get_order_lines(conn, M15_A) == []


def test_delete_keeps_content_and_history(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    first, deleting = make_batch(), make_batch()
    upsert_visit(conn, make_visit(M15_A, first, note="kept"))
    assert mark_visit_deleted(conn, M15_A, batch_id=deleting, record_index=1, received_at=T1) == (
        "deleted"
    )
    current = get_visit(conn, M15_A)
    assert current is not None
    assert (current.deleted, current.h01, current.version) == (True, "D", 2)
    assert (current.record["mb1"]["note"], current.batch_id, current.received_at) == (
        "kept",
        deleting,
        T1,
    )
    assert [v.deleted for v in get_visit_versions(conn, M15_A)] == [False]
    assert (
        mark_visit_deleted(conn, M15_B, batch_id=deleting, record_index=1, received_at=T1)
        == "not_found"
    )
    # a deletion received before the current version changes nothing
    assert (
        mark_visit_deleted(conn, M15_A, batch_id=first, record_index=5, received_at=T0) == ARCHIVED
    )
    # a new upload after the deletion brings the visit back
    again = make_batch()
    assert upsert_visit(conn, make_visit(M15_A, again, note="back")) == REPLACED
    current = get_visit(conn, M15_A)
    assert current is not None and not current.deleted and current.version == 3


def test_lookups(conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit) -> None:
    batch = make_batch()
    dispensing = "2ABCDEFGH2JKLMNP3QRS"
    fill_in = "3ABCDEFGH2JKLMNP3QRS"
    other_person = "4ABCDEFGH2JKLMNP3QRS"
    upsert_visits(
        conn,
        [
            make_visit(M15_A, batch, 1),
            make_visit(dispensing, batch, 2, m16=M15_A, category="AF"),
            make_visit(fill_in, batch, 3, m52=M15_A, m12="2"),
            make_visit(other_person, batch, 4, person_id="B234567890"),
        ],
    )
    assert [v.m15 for v in visits_referencing(conn, M15_A)] == [dispensing, fill_in]
    mark_visit_deleted(conn, dispensing, batch_id=make_batch(), record_index=1, received_at=T1)
    assert [v.m15 for v in visits_referencing(conn, M15_A)] == [fill_in]
    same = get_visit(conn, M15_A)
    assert same is not None
    found = [v.m15 for v in find_visits_by_person(conn, same.person_hash)]
    assert sorted(found) == sorted([M15_A, dispensing, fill_in])
    assert set(get_visits(conn, [M15_A, other_person, "missing"])) == {M15_A, other_person}


def test_many_rows_in_one_call(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    first, second = make_batch(), make_batch()
    ids = [f"{n:020d}" for n in range(1200)]
    rows = [make_visit(m, first, i, orders=(_line(1, "X"),)) for i, m in enumerate(ids)]
    assert set(upsert_visits(conn, rows)) == {INSERTED}
    rows = [make_visit(m, second, i, note="2") for i, m in enumerate(ids)]
    assert set(upsert_visits(conn, rows)) == {REPLACED}
    assert conn.execute(select(func.count()).select_from(visit_versions)).scalar() == 1200
    assert conn.execute(select(func.count()).where(visits.c.version == 2)).scalar() == 1200
    assert get_order_lines(conn, ids[-1]) == []


def test_person_id_is_not_in_the_stored_record(
    conn: Connection, make_batch: MakeBatch, make_visit: MakeVisit
) -> None:
    upsert_visit(conn, make_visit(M15_A, make_batch(), person_id="C198765432"))
    row = conn.execute(select(visits)).one()
    assert "C198765432" not in repr(tuple(row))
    assert b"C198765432" not in row.person_enc


def test_insert_race_on_a_new_identifier(fresh_engine: Engine, pii_cipher: PiiCipher) -> None:
    """A second writer inserting the same new identifier waits, then replaces the first."""
    with unit_of_work(fresh_engine) as conn:
        insert_institution(conn, Institution("3501200000", "診所", "clinic"))
        new = NewBatch(institution_code="3501200000", channel="vpn", kind="A1")
        first, second = (create_batch(conn, new, b"x", pii_cipher) for _ in range(2))
    enc, digest = pii_cipher.encrypt("A123456789"), pii_cipher.lookup_hash("A123456789")

    def visit(batch_id: int) -> Visit:
        return Visit(M15_A, "3501200000", digest, enc, None, None, "01", "A", {"b": batch_id},
                     batch_id, 1, T0)  # fmt: skip

    outcome: list[str] = []
    with unit_of_work(fresh_engine) as conn:
        assert upsert_visit(conn, visit(first)) == INSERTED

        def other() -> None:
            with unit_of_work(fresh_engine) as c2:
                outcome.append(upsert_visit(c2, visit(second)))

        thread = threading.Thread(target=other)
        thread.start()
        if fresh_engine.dialect.name == "postgresql":
            _wait_for_lock_wait(fresh_engine)
    thread.join()
    assert outcome == [REPLACED]
    with unit_of_work(fresh_engine) as conn:
        current = get_visit(conn, M15_A)
        assert current is not None and current.record == {"b": second}
        assert [v.record for v in get_visit_versions(conn, M15_A)] == [{"b": first}]


def _wait_for_lock_wait(engine: Engine) -> None:
    """Until another session waits on a lock (the blocked INSERT), at most ~10 s."""
    for _ in range(200):
        with engine.connect() as c:
            waiting = c.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar()
        if waiting:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the second writer never waited for the first")


@pytest.mark.parametrize("workers", [4])
def test_concurrent_upserts_end_with_the_last_received_version(
    fresh_engine: Engine, pii_cipher: PiiCipher, workers: int
) -> None:
    """Workers apply batches touching the same identifiers in random order, at once."""
    ids = [f"C{n:019d}" for n in range(60)]
    with unit_of_work(fresh_engine) as conn:
        insert_institution(conn, Institution("3501200000", "診所", "clinic"))
        new = NewBatch(institution_code="3501200000", channel="vpn", kind="A1")
        batches = [create_batch(conn, new, b"x", pii_cipher) for _ in range(workers * 2)]
    person = "A123456789"
    enc, digest = pii_cipher.encrypt(person), pii_cipher.lookup_hash(person)

    def visit(m15: str, batch_id: int) -> Visit:
        return Visit(
            m15=m15,
            institution_code="3501200000",
            person_hash=digest,
            person_enc=enc,
            birth_date=None,
            visit_at=None,
            category="01",
            h01="A",
            record={"batch": batch_id},
            batch_id=batch_id,
            record_index=1,
            received_at=T0,
            orders=(_line(1, str(batch_id)),),
        )

    order = batches[:]
    random.Random(4).shuffle(order)
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def worker(mine: list[int]) -> None:
        try:
            start.wait()
            for batch_id in mine:
                sample = ids[:]
                random.Random(batch_id).shuffle(sample)
                with unit_of_work(fresh_engine) as conn:
                    upsert_visits(conn, [visit(m, batch_id) for m in sample])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(order[i::workers],)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with unit_of_work(fresh_engine) as conn:
        current = get_visits(conn, ids)
        assert {v.record["batch"] for v in current.values()} == {max(batches)}
        for m15 in ids:
            versions = get_visit_versions(conn, m15)
            stored = sorted([v.batch_id for v in versions] + [current[m15].batch_id])
            assert stored == sorted(batches)  # every version once, none lost
            numbers = sorted([v.version for v in versions] + [current[m15].version])
            assert numbers == list(range(1, len(batches) + 1))
            assert [o.item_code for o in get_order_lines(conn, m15)] == [str(max(batches))]
