"""The dashboards' charts as SVG strings (see :mod:`nhihub.reports.svg`), zh-TW titles with
English beside them, ready for the web console to embed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from nhihub.reports.dashboard import CodeCount, DayTotal, RefillBlocks, Timeliness
from nhihub.reports.svg import bar_chart, line_chart


def day_label(day: dt.date) -> str:
    return f"{day.month:02d}/{day.day:02d}"


def _percent(value: float) -> str:
    return f"{value:.0f}%"


def uploads_chart(days: Sequence[DayTotal], *, records: bool = False) -> str:
    """Uploads (or records received) per day."""
    title = (
        "每日接收筆數 / records received per day" if records else "每日上傳件數 / uploads per day"
    )
    y_label = "筆 / records" if records else "件 / uploads"
    return bar_chart(title, [day_label(d.day) for d in days], [d.value for d in days],
                     y_label=y_label)  # fmt: skip


def timeliness_chart(t: Timeliness) -> str:
    """Share of visits uploaded within 24 hours, per visit day, with NHI's target line."""
    values = [None if s.ratio is None else float(s.ratio * 100) for s in t.by_day]
    labels = [day_label(dt.date.fromisoformat(s.key)) for s in t.by_day]
    target = float(t.target * Decimal(100))
    return line_chart(
        f"{t.hours}小時內上傳比率 / visits uploaded within {t.hours} h",
        labels,
        [("比率 / share", values)],
        y_label="%",
        y_max=100.0,
        target=target,
        target_label=f"目標 / target {target:.0f}%",
        value_format=_percent,
    )


def check_codes_chart(codes: Sequence[CodeCount]) -> str:
    """The most frequent check codes (each bar's tooltip gives the official wording)."""
    return bar_chart(
        "最常見檢核代碼 / most frequent check codes",
        [c.code for c in codes],
        [c.occurrences for c in codes],
        y_label="次 / times",
        tooltips=[c.message_zh for c in codes],
    )


def refill_blocks_chart(blocks: RefillBlocks) -> str:
    """Refills blocked as duplicate dispensing, per day."""
    return bar_chart(
        f"重複調劑阻擋（{blocks.code}）/ duplicate dispensing blocked",
        [day_label(d.day) for d in blocks.by_day],
        [d.value for d in blocks.by_day],
        y_label="筆 / records",
    )
