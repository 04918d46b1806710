"""The report benchmark's data and loaders: the synthetic region is what it says, and the
report over a bulk-loaded region equals a brute-force count in Python (both backends)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from nhihub.bench import reports as bench
from nhihub.reports import precheck_report


def test_split_is_exact_and_proportional() -> None:
    assert bench._split(10, [1.0, 1.0, 2.0]) == [3, 2, 5]
    assert sum(bench._split(1_000_003, [1 / (i + 1) for i in range(37)])) == 1_000_003


def test_region_has_the_asked_rows_in_the_window() -> None:
    chunks = list(bench.region_chunks(3_000, 7, bench.AS_OF))
    assert sum(len(c.v1) for c in chunks) == 3_000
    assert sum(len(c.precheck) for c in chunks) == 3_000
    days = {r[6] for c in chunks for r in c.v1}
    assert days == {bench.AS_OF - dt.timedelta(days=d) for d in range(1, 8)}


def _expected(rows: int, n: int) -> dict[str | None, tuple[int, int, int]]:
    """(A, B, B via Web-API) per institution and for all (key None), counted naively."""
    chunks = list(bench.region_chunks(rows, n, bench.AS_OF))
    channels: dict[tuple[object, ...], set[str]] = {}
    for c in chunks:
        for r in c.precheck:
            if r[8]:  # success
                channels.setdefault((r[2], *r[3:6], r[7]), set()).add(r[10])
    out: dict[str | None, list[int]] = {}
    for c in chunks:
        for r in c.v1:
            if not r[8]:
                continue
            found = channels.get((r[2], *r[3:6], r[7]), set())
            for key in (r[2], None):
                t = out.setdefault(key, [0, 0, 0])
                t[0] += 1
                t[1] += bool(found)
                t[2] += "web-api" in found
    return {k: (a, b, w) for k, (a, b, w) in out.items()}


def test_report_over_bulk_loaded_region_matches_brute_force(fresh_engine: Engine) -> None:
    rows, n = 4_000, 5
    load = bench.load_postgresql if fresh_engine.dialect.name == "postgresql" else bench.load_sqlite
    with fresh_engine.begin() as conn:
        load(conn, bench.region_chunks(rows, n, bench.AS_OF), bench.institution_codes(n))
    expected = _expected(rows, n)
    with fresh_engine.connect() as conn:
        for key in [None, *bench.institution_codes(n)]:
            t = precheck_report(conn, key, bench.AS_OF).total
            assert (t.v1_success, t.matched, t.web_api) == expected[key]
            assert t.vpn == t.matched - t.web_api


@pytest.mark.parametrize("quick", [True])
def test_quick_run_reports_figures(quick: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "QUICK_ROWS", 1_000)
    monkeypatch.setattr(bench, "QUICK_INSTITUTIONS", 3)
    for name in bench.PG_ENV:
        monkeypatch.delenv(name, raising=False)
    figures = bench.run(quick)
    assert [f.unit for f in figures] == ["rows/s", "s", "s"]
    assert [f.target for f in figures] == ["", "<= 30 s", "<= 30 s"]  # no timing asserted
