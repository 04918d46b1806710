"""The bulk writes of the apply phase: new visits (COPY through a temporary table on
PostgreSQL, executemany on SQLite), their order lines and the record outcomes."""

from __future__ import annotations

from service_kit import RECEIVED, Pool, make_settings, upload_bytes
from sqlalchemy import Connection, Table, func, select

from nhihub.protect import PiiCipher
from nhihub.service import _queries as q
from nhihub.service.checking import CheckJob, check_serial
from nhihub.service.prepared import PreparedVisit
from nhihub.storage import Institution, NewBatch, create_batch, get_visit, insert_institution
from nhihub.storage.schema import order_lines, record_outcomes, visits


def _prepared(conn: Connection, pool: Pool, n: int) -> tuple[int, list[PreparedVisit]]:
    records = pool.visits(n)
    inst = records[0].mb1["M05"]
    for r in records:
        r.mb1["M05"] = inst
    settings = make_settings(conn.engine)
    insert_institution(conn, Institution(inst, "x", "clinic"))
    batch_id = create_batch(
        conn, NewBatch(institution_code=inst, channel="cli", kind="A1"), b"x", settings.cipher()
    )
    job = CheckJob(batch_id, inst, "A1", "cli", RECEIVED, settings, dialect=_label(conn))
    checked = check_serial(upload_bytes(records), job)
    prepared = [r.visit for r in checked.records if r.visit is not None]
    assert len(prepared) == n
    return batch_id, prepared


def _inst(prepared: list[PreparedVisit]) -> str:
    institution: str = prepared[0].value("institution_code")
    return institution


def _label(conn: Connection) -> str:
    return f"{conn.dialect.name}+{conn.dialect.driver}"


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_new_visits_skip_identifiers_stored_meanwhile(
    conn: Connection, pool: Pool, pii_cipher: PiiCipher
) -> None:
    batch_id, prepared = _prepared(conn, pool, 6)
    early, rest = prepared[:2], prepared[2:]
    other = create_batch(  # another batch, stored by another transaction meanwhile, say
        conn, NewBatch(institution_code=_inst(prepared), channel="cli", kind="A1"), b"y", pii_cipher
    )
    assert q.insert_new_visits(conn, early, batch_id=other, received_at=RECEIVED) == {
        p.m15 for p in early
    }
    lines_before = _count(conn, order_lines)
    # the two stored meanwhile are left as they are
    inserted = q.insert_new_visits(conn, prepared, batch_id=batch_id, received_at=RECEIVED)
    assert inserted == {p.m15 for p in rest}
    kept = get_visit(conn, early[0].m15)
    assert kept is not None and kept.batch_id == other
    assert _count(conn, visits) == 6
    added = sum(len(p.orders) for p in rest)
    assert added and _count(conn, order_lines) == lines_before + added
    stored = get_visit(conn, rest[0].m15)
    assert stored is not None and stored.record["mb1"]["M15"] == rest[0].m15
    assert [o.line_no for o in stored.orders] == [o[1] for o in rest[0].orders]
    assert stored.visit_at is not None and stored.person_hash == rest[0].value("person_hash")


def test_outcome_rows(conn: Connection, pool: Pool) -> None:
    batch_id, _ = _prepared(conn, pool, 1)
    flags = {b: q.bound(conn, record_outcomes.c.valid, b) for b in (False, True)}
    q.insert_outcome_rows(
        conn,
        [
            (batch_id, 1, 3, "M" * 20, flags[True], flags[True], "[]"),
            (batch_id, 2, 9, None, flags[False], flags[False], '[["M16","AA"],[null,"Y000"]]'),
        ],
    )
    rows = conn.execute(select(record_outcomes).order_by(record_outcomes.c.record_index)).all()
    assert [(r.record_index, r.valid, r.applied, r.findings) for r in rows] == [
        (1, True, True, []),
        (2, False, False, [["M16", "AA"], [None, "Y000"]]),
    ]
