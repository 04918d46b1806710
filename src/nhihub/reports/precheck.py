"""健保卡2.0預檢比對健保卡1.0統計報表: the 1.0-vs-2.0 pre-check comparison report, as pure
functions over counted rows (the SQL that feeds them is in :mod:`nhihub.reports.precheck_db`).

Definition (seed 001; upload-format-2.0.md §8; docs/reports.md):

- window: 過卡日期 (visit date, A17) in the 7 days before the as-of date, the as-of day excluded;
- (A): the institution's 1.0 records uploaded successfully; (B): those matched by a successful
  2.0 pre-check record of the same institution on 身分證號, 出生日期, 就診日期時間 and 就醫類別;
- (B)/(A) as a whole percent rounded half up (Decimal); ``None`` (shown "—") when (A) is 0;
- rows: the total, each visit date, each visit category; each matched record is counted in one
  2.0預檢上傳方式 column (VPN or Web-API, see ``reports.json``);
- qualified (已符合改版資格) when the total shows 100%.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from nhihub.ids.rocdate import format_roc_date
from nhihub.reports.spec import PrecheckSpec, reports_spec
from nhihub.specs.codes import code_entries

VPN = "vpn"
WEB_API = "web-api"
CATEGORY_TABLE = "m07"  # 就醫類別 (A23 / M07)


def half_up_percent(part: int, whole: int) -> int | None:
    """``part / whole`` as a whole percent rounded half up (99.5 -> 100); ``None`` for 0/0."""
    if whole < 0 or part < 0:
        raise ValueError("counts cannot be negative")
    if whole == 0:
        return None
    ratio = Decimal(part) * 100 / Decimal(whole)
    return int(ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def precheck_window(as_of: dt.date, spec: PrecheckSpec | None = None) -> tuple[dt.date, dt.date]:
    """First and last visit date (both included) of the report run on ``as_of``."""
    days = (spec or reports_spec().precheck).window_days
    return as_of - dt.timedelta(days=days), as_of - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PrecheckCount:
    """One group of (A) records as the SQL counts them: visit date, category and the report
    column of the matching pre-check (``None``: no match)."""

    visit_date: dt.date
    category: str | None
    column: str | None
    count: int


@dataclass(frozen=True, slots=True)
class PrecheckRow:
    """One line of the report: ``key`` is ``total``, an ISO date or a category code."""

    key: str
    label: str
    v1_success: int  # (A) 1.0上傳成功資料件數
    matched: int  # (B) 對應1.0成功資料之2.0預檢成功件數
    vpn: int  # (B) by channel: VPN
    web_api: int  # (B) by channel: Web-API

    @property
    def percent(self) -> int | None:
        """(B)/(A) as a whole percent rounded half up, ``None`` when (A) is 0."""
        return half_up_percent(self.matched, self.v1_success)

    @property
    def ratio_text(self) -> str:
        p = self.percent
        return reports_spec().precheck.no_ratio if p is None else f"{p}%"


@dataclass(frozen=True, slots=True)
class UnmatchedRecord:
    """A successful 1.0 record with no 2.0 match (健保卡1.0比對不到健保卡2.0之清單)."""

    batch_id: int  # the 1.0 upload (Opcode)
    record_index: int  # 第幾筆 in that upload
    institution_code: str
    visit_at: dt.datetime | None
    category: str | None


@dataclass(frozen=True, slots=True)
class PrecheckReport:
    institution: str | None  # None: every institution (a region's overview)
    as_of: dt.date
    first_day: dt.date
    last_day: dt.date
    total: PrecheckRow
    by_date: tuple[PrecheckRow, ...]
    by_category: tuple[PrecheckRow, ...]

    @property
    def qualified(self) -> bool:
        """已符合改版資格: the total shows 100% (an empty window never qualifies)."""
        return self.total.percent == reports_spec().precheck.qualified_percent

    def verdict(self, lang: str = "zh") -> str:
        key = "qualified" if self.qualified else "not_qualified"
        return reports_spec().precheck.verdict[key][lang]


class _Tally:
    __slots__ = ("a", "b", "columns")

    def __init__(self) -> None:
        self.a = 0
        self.b = 0
        self.columns: dict[str, int] = {}

    def add(self, column: str | None, n: int) -> None:
        self.a += n
        if column is not None:
            self.b += n
            self.columns[column] = self.columns.get(column, 0) + n

    def row(self, key: str, label: str) -> PrecheckRow:
        return PrecheckRow(
            key=key,
            label=label,
            v1_success=self.a,
            matched=self.b,
            vpn=self.columns.get(VPN, 0),
            web_api=self.columns.get(WEB_API, 0),
        )


def category_label(code: str | None, lang: str = "zh") -> str:
    """``01-西醫門診`` as on the seed's screen; codes not in the table say so."""
    spec = reports_spec().precheck
    entry = code_entries(CATEGORY_TABLE).get(code or "")
    if entry is None:
        return f"{code or ''}-{spec.unknown_category[lang]}"
    return f"{code}-{entry.name_en if lang == 'en' else entry.name_zh}"


def _category_order(code: str) -> tuple[int, str]:
    order = list(code_entries(CATEGORY_TABLE))
    return (order.index(code), "") if code in order else (len(order), code)


def build_precheck_report(
    counts: Iterable[PrecheckCount],
    *,
    institution: str | None,
    as_of: dt.date,
    lang: str = "zh",
) -> PrecheckReport:
    """Aggregate counted rows into the report. Rows outside the window or with an unknown
    column are refused (``ValueError``): they mean the query and the definition disagree."""
    spec = reports_spec().precheck
    first, last = precheck_window(as_of, spec)
    total = _Tally()
    by_date: dict[dt.date, _Tally] = {}
    by_category: dict[str, _Tally] = {}
    for c in counts:
        if not first <= c.visit_date <= last:
            raise ValueError(f"visit date {c.visit_date} outside the window {first}..{last}")
        if c.column is not None and c.column not in spec.column_preference:
            raise ValueError(f"unknown report column {c.column!r}")
        if c.count < 0:
            raise ValueError("counts cannot be negative")
        total.add(c.column, c.count)
        by_date.setdefault(c.visit_date, _Tally()).add(c.column, c.count)
        by_category.setdefault(c.category or "", _Tally()).add(c.column, c.count)
    return PrecheckReport(
        institution=institution,
        as_of=as_of,
        first_day=first,
        last_day=last,
        total=total.row("total", spec.columns[lang]["label_total"]),
        by_date=tuple(by_date[d].row(d.isoformat(), format_roc_date(d)) for d in sorted(by_date)),
        by_category=tuple(
            by_category[k].row(k, category_label(k or None, lang))
            for k in sorted(by_category, key=_category_order)
        ),
    )


def column_of(channel: str, spec: PrecheckSpec | None = None) -> str:
    """The report column (``vpn`` / ``web-api``) of an upload channel."""
    columns = (spec or reports_spec().precheck).channel_columns
    try:
        return columns[channel]
    except KeyError:
        raise ValueError(f"no report column for channel {channel!r}") from None
