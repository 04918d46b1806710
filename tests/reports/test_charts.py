from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

from nhihub.reports.charts import (
    check_codes_chart,
    refill_blocks_chart,
    timeliness_chart,
    uploads_chart,
)
from nhihub.reports.dashboard import (
    DayTotal,
    RefillBlocks,
    VisitFact,
    top_check_codes,
    upload_timeliness,
)

D1 = dt.date(2024, 3, 18)


def _titles(svg: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(svg).iter() if e.tag.endswith("title")]


def test_charts_have_bilingual_titles_and_data() -> None:
    days = [DayTotal(D1, 3), DayTotal(D1 + dt.timedelta(days=1), 0)]
    assert _titles(uploads_chart(days))[0] == "每日上傳件數 / uploads per day"
    assert "03/18: 3" in _titles(uploads_chart(days))
    codes_svg = check_codes_chart(top_check_codes([[["M16", "AA"]]]))
    assert any("欄位資料必填寫" in t for t in _titles(codes_svg))
    blocks = RefillBlocks("D025", "x", "y", 1, tuple(days), (("P", 1),))
    assert "D025" in _titles(refill_blocks_chart(blocks))[0]


def test_timeliness_chart_draws_the_target() -> None:
    visit = dt.datetime(2024, 3, 18, 10)
    t = upload_timeliness([VisitFact("A", visit, dt.datetime(2024, 3, 18, 3, tzinfo=dt.UTC))],
                          D1, D1)  # fmt: skip
    assert t.target == Decimal("0.90")
    svg = timeliness_chart(t)
    assert "目標 / target 90%" in svg and 'class="target"' in svg
