"""The dashboards' queries on both databases, with a hand-computable fixture."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import Connection, update

from nhihub.reports import dashboard
from nhihub.storage import RecordOutcome, save_record_outcomes
from nhihub.storage.schema import upload_batches, visit_versions, visits

MakeBatch = Callable[..., int]
CLINIC, OTHER = "3501200000", "3501200011"
FIRST, LAST = dt.date(2024, 3, 18), dt.date(2024, 3, 19)


def _utc(d: int, h: int, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, d, h, mi, s, tzinfo=dt.UTC)


def _visit(m15: str, batch: int, institution: str, visit_at: dt.datetime,
           received: dt.datetime, **extra: object) -> dict[str, object]:  # fmt: skip
    return {"m15": m15, "institution_code": institution, "person_hash": b"h" * 32,
            "person_enc": b"e", "birth_date": dt.date(1980, 1, 1), "visit_at": visit_at,
            "visit_date": visit_at.date(), "category": "01", "h01": "A", "version": 1,
            "batch_id": batch, "record_index": 1, "received_at": received, "record": {},
            "deleted": False,
            **extra}  # fmt: skip


@pytest.fixture
def ops(conn: Connection, make_batch: MakeBatch) -> dict[str, int]:
    b1 = make_batch(now=_utc(18, 2))  # 03-18 10:00 Taiwan
    b2 = make_batch(now=_utc(18, 20))  # 03-19 04:00 Taiwan
    b3 = make_batch(now=_utc(19, 3), institution_code=OTHER)
    make_batch(now=_utc(17, 15, 59))  # 03-17 23:59 Taiwan: outside
    for batch, counts in ((b1, (10, 9, 1)), (b2, (5, 5, 0)), (b3, (3, 1, 2))):
        conn.execute(update(upload_batches).where(upload_batches.c.id == batch).values(
            status="done", records=counts[0], valid_records=counts[1],
            invalid_records=counts[2]))  # fmt: skip
    save_record_outcomes(conn, b1, [
        RecordOutcome(1, False, (("M16", "AA"), ("M33", "D025"))),
        RecordOutcome(2, False, (("M16", "AA"),)),
        RecordOutcome(3, True, ()),
    ])  # fmt: skip
    save_record_outcomes(conn, b3, [
        RecordOutcome(1, False, (("M33", "D025"),)),
        RecordOutcome(2, False, ((None, "Y000"), ("M16", "AA"))),
    ])  # fmt: skip
    at_18, at_19 = dt.datetime(2024, 3, 18, 10), dt.datetime(2024, 3, 19, 9)
    conn.execute(visits.insert(), [
        _visit("V1", b1, CLINIC, at_18, _utc(19, 1)),  # 23 h: in time
        _visit("V2", b1, CLINIC, at_18, _utc(19, 3), version=2),  # 25 h, but first came earlier
        _visit("V3", b1, OTHER, at_19, _utc(20, 1, 0, 1)),  # 24 h and 1 s: late
        _visit("V4", b1, OTHER, at_19, _utc(20, 1)),  # exactly 24 h: in time
        _visit("V5", b1, OTHER, at_19, _utc(25, 1), deleted=True),  # deleted: not counted
        _visit("V6", b1, OTHER, dt.datetime(2024, 3, 17, 9), _utc(25, 1)),  # outside
    ])  # fmt: skip
    conn.execute(visit_versions.insert(), [
        {**_visit("V2", b1, CLINIC, at_18, _utc(18, 5)), "superseded_at": _utc(19, 3)},
    ])  # fmt: skip
    return {"b1": b1, "b2": b2, "b3": b3}


def test_uploads_per_day_and_institution(conn: Connection, ops: dict[str, int]) -> None:
    d = dashboard(conn, FIRST, LAST)
    assert [(u.day, u.institution_code, u.uploads, u.records, u.valid_records,
             u.invalid_records) for u in d.uploads] == [
        (FIRST, CLINIC, 1, 10, 9, 1),
        (LAST, CLINIC, 1, 5, 5, 0),
        (LAST, OTHER, 1, 3, 1, 2),
    ]  # fmt: skip
    assert [t.value for t in d.uploads_by_day] == [1, 2]
    assert [t.value for t in d.records_by_day] == [10, 8]


def test_top_check_codes_with_official_wording(conn: Connection, ops: dict[str, int]) -> None:
    codes = dashboard(conn, FIRST, LAST).top_codes
    assert [(c.code, c.occurrences, c.records) for c in codes] == [
        ("AA", 3, 3), ("D025", 2, 2), ("Y000", 1, 1),
    ]  # fmt: skip
    assert codes[0].message_zh == "欄位資料必填寫"
    assert codes[1].message_zh == "此聯次處方已被他院執行，不可執行"


def test_timeliness_uses_first_receipt_and_taiwan_time(
    conn: Connection, ops: dict[str, int]
) -> None:
    t = dashboard(conn, FIRST, LAST).timeliness
    assert (t.total.visits, t.total.timely) == (4, 3)
    assert t.total.ratio == Decimal("0.75") and t.total.percent_text == "75.0%"
    assert t.met is False and t.target == Decimal("0.90")
    assert [(s.key, s.visits, s.timely) for s in t.by_day] == [
        (FIRST.isoformat(), 2, 2), (LAST.isoformat(), 2, 1),
    ]  # fmt: skip
    assert [(s.key, s.visits, s.timely) for s in t.by_institution] == [
        (OTHER, 2, 1), (CLINIC, 2, 2),
    ]  # fmt: skip


def test_refills_blocked_as_duplicate_dispensing(conn: Connection, ops: dict[str, int]) -> None:
    r = dashboard(conn, FIRST, LAST).refill_blocks
    assert r.code == "D025" and r.total == 2
    assert [(x.day, x.value) for x in r.by_day] == [(FIRST, 1), (LAST, 1)]
    assert r.by_institution == ((CLINIC, 1), (OTHER, 1))


def test_one_institution_only(conn: Connection, ops: dict[str, int]) -> None:
    d = dashboard(conn, FIRST, LAST, OTHER)
    assert {u.institution_code for u in d.uploads} == {OTHER}
    assert [c.code for c in d.top_codes] == ["AA", "D025", "Y000"]
    assert d.refill_blocks.by_institution == ((OTHER, 1),)
    assert (d.timeliness.total.visits, d.timeliness.total.timely) == (2, 1)
