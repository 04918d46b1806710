"""The dashboards' pure aggregations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nhihub.reports.dashboard import (
    BatchFact,
    BlockFact,
    Share,
    VisitFact,
    is_timely,
    refill_blocks,
    top_check_codes,
    totals_by_day,
    upload_timeliness,
    uploads_per_day,
)

D1, D2, D3 = dt.date(2024, 3, 18), dt.date(2024, 3, 19), dt.date(2024, 3, 20)


def test_uploads_grouped_by_taiwan_day_and_days_without_uploads_are_zero() -> None:
    facts = [
        BatchFact(dt.datetime(2024, 3, 17, 16, 0, tzinfo=dt.UTC), "A", 5, 4, 1),  # 03-18 00:00
        BatchFact(dt.datetime(2024, 3, 18, 15, 59, tzinfo=dt.UTC), "A", 2, 2, 0),  # 03-18 23:59
        BatchFact(dt.datetime(2024, 3, 18, 16, 0, tzinfo=dt.UTC), "B", 1, 0, 1),  # 03-19
    ]
    rows = uploads_per_day(facts)
    assert [(r.day, r.institution_code, r.uploads, r.records, r.invalid_records)
            for r in rows] == [(D1, "A", 2, 7, 1), (D2, "B", 1, 1, 1)]  # fmt: skip
    assert [t.value for t in totals_by_day(rows, D1, D3)] == [2, 1, 0]
    assert [t.value for t in totals_by_day(rows, D1, D3, "records")] == [7, 1, 0]


def test_top_codes_rank_by_occurrences_then_code_and_limit() -> None:
    findings = [[["M16", "AA"], ["M17", "AA"]], [[None, "Y000"]], [["M33", "D025"]]]
    codes = top_check_codes(findings, limit=2)
    assert [(c.code, c.occurrences, c.records) for c in codes] == [("AA", 2, 1), ("D025", 1, 1)]
    unknown = top_check_codes([[["M01", "QQ99"]]])[0]
    assert not unknown.listed and unknown.message_zh == "QQ99" and unknown.severity == "error"


def test_timely_compares_local_visit_and_utc_receipt() -> None:
    visit = dt.datetime(2024, 3, 18, 10, 0)  # 02:00 UTC
    assert is_timely(visit, dt.datetime(2024, 3, 19, 2, 0, tzinfo=dt.UTC), 24)
    assert not is_timely(visit, dt.datetime(2024, 3, 19, 2, 0, 1, tzinfo=dt.UTC), 24)
    assert is_timely(visit, dt.datetime(2024, 3, 17, 0, 0, tzinfo=dt.UTC), 24)


def test_timeliness_shares_and_target() -> None:
    ok = dt.datetime(2024, 3, 18, 3, 0, tzinfo=dt.UTC)
    late = dt.datetime(2024, 3, 25, 3, 0, tzinfo=dt.UTC)
    visit = dt.datetime(2024, 3, 18, 10, 0)
    facts = [VisitFact("A", visit, ok)] * 9 + [VisitFact("B", visit, late)]
    t = upload_timeliness(facts, D1, D2)
    assert t.total.ratio == Decimal("0.9") and t.met is True
    assert [(s.key, s.visits) for s in t.by_day] == [(D1.isoformat(), 10), (D2.isoformat(), 0)]
    assert t.by_day[1].ratio is None and t.by_day[1].percent_text == "—"
    assert [s.key for s in t.by_institution] == ["B", "A"]


def test_share_rounding() -> None:
    assert Share("x", 3, 2).ratio == Decimal("0.6667")
    assert Share("x", 3, 2).percent_text == "66.7%"
    assert Share("x", 8, 7).meets(Decimal("0.90")) is False


def test_refill_blocks_by_day_and_institution() -> None:
    facts = [BlockFact(dt.datetime(2024, 3, 18, 16, 30, tzinfo=dt.UTC), "P1"),
             BlockFact(dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC), "P2"),
             BlockFact(dt.datetime(2024, 3, 18, 2, 0, tzinfo=dt.UTC), "P2")]  # fmt: skip
    r = refill_blocks(facts, D1, D3)
    assert r.total == 3 and r.code == "D025"
    assert [(x.day, x.value) for x in r.by_day] == [(D1, 2), (D2, 1), (D3, 0)]
    assert r.by_institution == (("P2", 2), ("P1", 1))
