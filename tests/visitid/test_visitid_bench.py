"""The visit-identifier benchmark module runs and reports its figures (no timing asserted)."""

from __future__ import annotations

from nhihub.bench import visitid


def test_quick_run_reports_rates_against_the_target() -> None:
    figures = visitid.run(quick=True)
    names = [f.name for f in figures]
    assert any(n.startswith("issue") for n in names)
    assert any(n.startswith("decode") for n in names)
    assert len(set(names)) == len(names)
    targeted = [f for f in figures if f.target]
    assert {f.name.split()[0] for f in targeted} == {"issue", "decode"}
    for f in figures:
        assert f.value > 0
        assert f.unit == "/s"
        if f.target:
            assert f.target == ">= 20,000/s"
            assert f.met == (f.value >= visitid.TARGET)
        else:
            assert f.met is None
