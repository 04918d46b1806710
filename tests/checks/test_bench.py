"""The checks benchmark runs and reports its figures (values are not asserted: no timing tests)."""

from __future__ import annotations

from nhihub.checks.bench import run


def test_quick_run_reports_every_figure() -> None:
    figures = run(quick=True)
    assert [f.unit for f in figures] == ["lines", "records/s", "records/s", "x"]
    assert all(f.value > 0 for f in figures)
    ratio = figures[-1]
    assert ratio.target and ratio.met is not None
