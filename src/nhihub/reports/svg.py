"""Small SVG charts built as strings (no JavaScript, no library): a bar chart and a line chart
with axes, tick labels and zh-TW titles, for the web console to embed inline.

Accessible: the ``<svg>`` has ``role="img"`` and an ``aria-label``; its ``<title>`` names the
chart and ``<desc>`` lists every value, so a screen reader (or a text browser) gets the data; each
bar and point carries its own ``<title>`` as a tooltip. Every text is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

FONT = "'Noto Sans TC', 'Microsoft JhengHei', 'PingFang TC', sans-serif"
PALETTE = ("#1f6fb2", "#d9822b", "#2e8540", "#8a3ab9", "#c0392b")
TARGET_COLOUR = "#c0392b"
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 64

Formatter = Callable[[float], str]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= ``value`` (1 for 0 or less)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


@dataclass(frozen=True, slots=True)
class _Frame:
    width: int
    height: int
    y_max: float

    @property
    def plot_w(self) -> float:
        return self.width - LEFT - RIGHT

    @property
    def plot_h(self) -> float:
        return self.height - TOP - BOTTOM

    def y(self, value: float) -> float:
        return TOP + self.plot_h * (1 - min(max(value, 0.0), self.y_max) / self.y_max)


def _text(x: float, y: float, content: str, anchor: str = "middle", size: int = 12,
          extra: str = "") -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{extra}>'
        f"{escape(content)}</text>"
    )


def _open(frame: _Frame, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" aria-label={quoteattr(title)} '
        f"font-family={quoteattr(FONT)}>",
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
        f'<rect width="{frame.width}" height="{frame.height}" fill="#ffffff"/>',
        _text(frame.width / 2, 22, title, size=15, extra=' font-weight="bold"'),
    ]


def _axes(frame: _Frame, labels: Sequence[str], y_label: str, fmt: Formatter,
          x_of: Callable[[int], float]) -> list[str]:  # fmt: skip
    parts = []
    for i in range(5):  # five ticks: 0 .. y_max
        value = frame.y_max * i / 4
        y = frame.y(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{frame.width - RIGHT}" y2="{y:.1f}" '
            f'stroke="#e0e0e0"/>'
        )
        parts.append(_text(LEFT - 6, y + 4, fmt(value), anchor="end", size=11))
    bottom = TOP + frame.plot_h
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333"/>')
    parts.append(
        f'<line x1="{LEFT}" y1="{bottom}" x2="{frame.width - RIGHT}" y2="{bottom}" stroke="#333"/>'
    )
    step = max(1, math.ceil(len(labels) / 12))  # at most ~12 labels under the axis
    for i, label in enumerate(labels):
        if i % step == 0:
            parts.append(_text(x_of(i), bottom + 16, label, size=11))
    if y_label:
        parts.append(
            _text(14, TOP + frame.plot_h / 2, y_label, size=12,
                  extra=f' transform="rotate(-90 14 {TOP + frame.plot_h / 2:.1f})"')
        )  # fmt: skip
    return parts


def _describe(labels: Sequence[str], values: Sequence[float | None], fmt: Formatter) -> str:
    return "；".join(
        f"{label}: {'—' if v is None else fmt(v)}" for label, v in zip(labels, values, strict=True)
    )


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    y_label: str = "",
    width: int = 640,
    height: int = 320,
    value_format: Formatter = _number,
    tooltips: Sequence[str] | None = None,
) -> str:
    """A vertical bar chart: one bar per label, y axis from 0 to a round maximum. ``tooltips``
    adds a text to each bar's tooltip (e.g. a check code's wording)."""
    if len(labels) != len(values) or (tooltips is not None and len(tooltips) != len(values)):
        raise ValueError("one value (and tooltip) per label")
    if any(v < 0 for v in values):
        raise ValueError("bar values cannot be negative")
    frame = _Frame(width, height, nice_ceiling(max(values, default=0.0)))
    slot = frame.plot_w / max(len(values), 1)

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    parts = _open(frame, title, _describe(labels, values, value_format))
    parts += _axes(frame, labels, y_label, value_format, x_of)
    bar_w = max(slot * 0.7, 1.0)
    bottom = TOP + frame.plot_h
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        top = frame.y(value)
        parts.append(
            f'<rect class="bar" x="{x_of(i) - bar_w / 2:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
            f'height="{bottom - top:.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(f'{label}: {value_format(value)}')}"
            f"{escape(' ' + tooltips[i]) if tooltips is not None else ''}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_label: str = "",
    y_max: float | None = None,
    target: float | None = None,
    target_label: str = "",
    width: int = 640,
    height: int = 320,
    value_format: Formatter = _number,
) -> str:
    """Lines over the labels (``None`` leaves a gap), with an optional dashed target line and a
    legend of the series names."""
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r}: one value per label")
    present = [v for _, values in series for v in values if v is not None]
    top_value = max([*present, target or 0.0], default=0.0)
    frame = _Frame(width, height, y_max if y_max is not None else nice_ceiling(top_value))
    slot = frame.plot_w / max(len(labels), 1)

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    desc = "　".join(
        f"{name}: {_describe(labels, values, value_format)}" for name, values in series
    )
    parts = _open(frame, title, desc)
    parts += _axes(frame, labels, y_label, value_format, x_of)
    if target is not None:
        y = frame.y(target)
        parts.append(
            f'<line class="target" x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" '
            f'stroke="{TARGET_COLOUR}" stroke-dasharray="6 4"/>'
        )
        parts.append(_text(width - RIGHT - 4, y - 6, target_label or value_format(target),
                           anchor="end", size=11, extra=f' fill="{TARGET_COLOUR}"'))  # fmt: skip
    for n, (name, values) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{x_of(i):.1f},{frame.y(value):.1f}")
            parts.append(
                f'<circle class="point" cx="{x_of(i):.1f}" cy="{frame.y(value):.1f}" r="3" '
                f'fill="{colour}"><title>{escape(f"{name} {labels[i]}: {value_format(value)}")}'
                f"</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline class="line" points="{" ".join(run)}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
        legend_x = LEFT + 8 + n * 140
        parts.append(
            f'<rect x="{legend_x}" y="{height - 22}" width="12" height="12" fill="{colour}"/>'
        )
        parts.append(_text(legend_x + 16, height - 12, name, anchor="start", size=11))
    parts.append("</svg>")
    return "".join(parts)
