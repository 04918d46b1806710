"""SVG charts: well-formed, accessible, proportional, escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.reports.svg import bar_chart, line_chart, nice_ceiling

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


CEILINGS = [(0, 1), (1, 1), (7, 10), (11, 20), (21, 25), (26, 50), (90, 100), (101, 200),
            (0.3, 0.5)]  # fmt: skip


@pytest.mark.parametrize(("value", "ceiling"), CEILINGS)
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_bar_heights_are_proportional_and_labelled() -> None:
    root = _parse(bar_chart("每日上傳件數", ["03/18", "03/19", "03/20"], [10, 5, 0],
                            y_label="件", tooltips=["a", "b", "c"]))  # fmt: skip
    assert root.get("role") == "img" and root.get("aria-label") == "每日上傳件數"
    assert root.find("s:title", NS) is not None and root.find("s:title", NS).text == "每日上傳件數"  # type: ignore[union-attr]
    bars = [r for r in root.iter(f"{{{NS['s']}}}rect") if r.get("class") == "bar"]
    heights = [float(b.get("height", "0")) for b in bars]
    assert len(bars) == 3 and heights[0] == pytest.approx(2 * heights[1]) and heights[2] == 0
    texts = [t.text for t in root.iter(f"{{{NS['s']}}}text")]
    assert {"03/18", "03/19", "03/20", "件", "10", "0"} <= set(texts)
    assert "03/18: 10 a" in (bars[0].find("s:title", NS).text or "")  # type: ignore[union-attr]


def test_text_is_escaped() -> None:
    root = _parse(bar_chart('<b>&"', ["<x>"], [1]))
    assert root.get("aria-label") == '<b>&"'
    assert "<x>" in [t.text for t in root.iter(f"{{{NS['s']}}}text")]


def test_line_chart_gaps_target_and_legend() -> None:
    root = _parse(line_chart("比率", ["a", "b", "c", "d"], [("share", [90.0, None, 80.0, 70.0])],
                             y_max=100.0, target=90.0, target_label="目標 90%"))  # fmt: skip
    lines = [p for p in root.iter(f"{{{NS['s']}}}polyline")]
    assert len(lines) == 1 and len(lines[0].get("points", "").split()) == 2  # c-d; a stands alone
    points = [c for c in root.iter(f"{{{NS['s']}}}circle")]
    assert len(points) == 3
    target = next(ln for ln in root.iter(f"{{{NS['s']}}}line") if ln.get("class") == "target")
    assert float(target.get("y1", "0")) == pytest.approx(float(points[0].get("cy", "1")))
    assert "目標 90%" in [t.text for t in root.iter(f"{{{NS['s']}}}text")]
    assert "share" in (root.find("s:desc", NS).text or "")  # type: ignore[union-attr]


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        bar_chart("t", ["a"], [1, 2])
    with pytest.raises(ValueError):
        line_chart("t", ["a"], [("s", [1.0, 2.0])])
    with pytest.raises(ValueError):
        bar_chart("t", ["a"], [-1])


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=40))
def test_any_bar_data_gives_well_formed_svg_within_the_frame(values: list[int]) -> None:
    root = _parse(bar_chart("t", [str(i) for i in range(len(values))], values, height=300))
    for bar in (r for r in root.iter(f"{{{NS['s']}}}rect") if r.get("class") == "bar"):
        assert 0 <= float(bar.get("y", "0")) <= 300
        assert float(bar.get("height", "0")) >= 0
