"""The reader benchmark runs and reports its figures (speed itself is not asserted)."""

from __future__ import annotations

import pytest

from nhihub.formats import bench


def test_bench_reports_rates_and_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.RECORDS, True, 200)
    figures = bench.run(quick=True)
    names = [f.name for f in figures]
    assert len(figures) == 6
    assert any("Big5" in n for n in names) and any("UTF-8" in n for n in names)
    ratios = [f for f in figures if f.unit == "x"]
    assert len(ratios) == 2
    assert all(f.value > 0 and f.met is not None and f.target for f in ratios)
    assert all(f.value > 0 for f in figures)
