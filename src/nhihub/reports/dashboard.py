"""Operations dashboards for insurer staff (健保署人員), as pure aggregations over plain rows (the
queries are in :mod:`nhihub.reports.dashboard_db`):

- uploads per day (Taiwan date of receipt) and institution;
- the most frequent check codes, with NHI's official wording (``nhihub.specs.catalogue``);
- the share of visits first uploaded within 24 hours of the visit (NHI's target: at least 90 %,
  in ``reports.json``): the visit time is Taiwan local, the receipt UTC, both compared in UTC;
- refills blocked as duplicate dispensing (records refused with D025).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from nhihub.reports.spec import reports_spec
from nhihub.reports.timeutil import from_taiwan, to_taiwan
from nhihub.specs.catalogue import catalogue, message, severity


@dataclass(frozen=True, slots=True)
class UploadDay:
    """Uploads of one institution received on one Taiwan date."""

    day: dt.date
    institution_code: str
    uploads: int
    records: int  # 接收筆數
    valid_records: int  # 有效明細筆數
    invalid_records: int  # 無效明細筆數


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: dt.date
    value: int


@dataclass(frozen=True, slots=True)
class CodeCount:
    """A check code, how often it was reported and on how many records, with its wording."""

    code: str
    occurrences: int
    records: int
    severity: str  # error | warning
    message_zh: str  # NHI's official wording
    message_en: str
    listed: bool  # in the catalogue


@dataclass(frozen=True, slots=True)
class Share:
    """Visits (of a day, an institution or all) and those first uploaded in time."""

    key: str  # ISO date, institution code or "total"
    visits: int
    timely: int

    @property
    def ratio(self) -> Decimal | None:
        """timely / visits, 4 decimals (half up); ``None`` without visits."""
        if self.visits == 0:
            return None
        return (Decimal(self.timely) / Decimal(self.visits)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )

    @property
    def percent_text(self) -> str:
        r = self.ratio
        if r is None:
            return reports_spec().precheck.no_ratio
        return f"{(r * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"

    def meets(self, target: Decimal) -> bool | None:
        r = self.ratio
        return None if r is None else r >= target


@dataclass(frozen=True, slots=True)
class Timeliness:
    """Share of visits first uploaded within ``hours`` hours of the visit."""

    hours: int
    target: Decimal
    total: Share
    by_day: tuple[Share, ...]
    by_institution: tuple[Share, ...]  # worst share first

    @property
    def met(self) -> bool | None:
        return self.total.meets(self.target)


@dataclass(frozen=True, slots=True)
class RefillBlocks:
    """Records refused as duplicate dispensing of a refill (D025)."""

    code: str
    message_zh: str
    message_en: str
    total: int
    by_day: tuple[DayTotal, ...]
    by_institution: tuple[tuple[str, int], ...]  # most first


@dataclass(frozen=True, slots=True)
class Dashboard:
    first_day: dt.date
    last_day: dt.date
    institution: str | None
    uploads: tuple[UploadDay, ...]
    uploads_by_day: tuple[DayTotal, ...]  # uploads per day, every day of the range
    records_by_day: tuple[DayTotal, ...]
    top_codes: tuple[CodeCount, ...]
    timeliness: Timeliness
    refill_blocks: RefillBlocks


def days_of(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# -- uploads -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchFact:
    """What the upload dashboard needs of a batch (``received_at`` aware UTC)."""

    received_at: dt.datetime
    institution_code: str
    records: int
    valid_records: int
    invalid_records: int


def uploads_per_day(batches: Iterable[BatchFact]) -> list[UploadDay]:
    """Batches grouped by Taiwan date of receipt and institution, by date then institution."""
    groups: dict[tuple[dt.date, str], list[int]] = {}
    for b in batches:
        key = (to_taiwan(b.received_at).date(), b.institution_code)
        g = groups.setdefault(key, [0, 0, 0, 0])
        g[0] += 1
        g[1] += b.records
        g[2] += b.valid_records
        g[3] += b.invalid_records
    return [UploadDay(day, inst, *groups[(day, inst)]) for day, inst in sorted(groups)]


def totals_by_day(
    rows: Sequence[UploadDay], first: dt.date, last: dt.date, field: str = "uploads"
) -> list[DayTotal]:
    """A total per day of the range (days without uploads give 0), for the charts."""
    sums: Counter[dt.date] = Counter()
    for r in rows:
        sums[r.day] += getattr(r, field)
    return [DayTotal(d, sums[d]) for d in days_of(first, last)]


# -- check codes ---------------------------------------------------------------------------------


def top_check_codes(
    findings_per_record: Iterable[Sequence[Sequence[str | None]]], limit: int | None = None
) -> list[CodeCount]:
    """The codes reported most often (``[[field, code], ...]`` per record), most first; ties by
    code. ``limit`` defaults to ``reports.json``'s ``top_codes``."""
    occurrences: Counter[str] = Counter()
    records: Counter[str] = Counter()
    for findings in findings_per_record:
        codes = [str(f[1]) for f in findings if len(f) >= 2 and f[1]]
        occurrences.update(codes)
        records.update(set(codes))
    n = reports_spec().dashboard.top_codes if limit is None else limit
    ranked = sorted(occurrences, key=lambda c: (-occurrences[c], c))[:n]
    listed = catalogue()
    return [
        CodeCount(
            code=c,
            occurrences=occurrences[c],
            records=records[c],
            severity=severity(c),
            message_zh=message(c, "zh"),
            message_en=message(c, "en"),
            listed=c in listed,
        )
        for c in ranked
    ]


# -- timeliness ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitFact:
    """A visit for the timeliness share: its time (Taiwan local) and first receipt (UTC)."""

    institution_code: str
    visit_at: dt.datetime
    first_received_at: dt.datetime


def is_timely(visit_at_local: dt.datetime, received_at: dt.datetime, hours: int) -> bool:
    """Received no later than ``hours`` after the visit (a receipt before the visit counts)."""
    return received_at <= from_taiwan(visit_at_local) + dt.timedelta(hours=hours)


def upload_timeliness(visits: Iterable[VisitFact], first: dt.date, last: dt.date) -> Timeliness:
    """Shares per visit day (every day of the range), per institution and in total."""
    spec = reports_spec().dashboard
    days: dict[dt.date, list[int]] = {d: [0, 0] for d in days_of(first, last)}
    institutions: dict[str, list[int]] = {}
    total = [0, 0]
    for v in visits:
        ok = int(is_timely(v.visit_at, v.first_received_at, spec.timely_hours))
        for bucket in (
            days.setdefault(v.visit_at.date(), [0, 0]),
            institutions.setdefault(v.institution_code, [0, 0]),
            total,
        ):
            bucket[0] += 1
            bucket[1] += ok
    by_institution = [Share(code, n, ok) for code, (n, ok) in institutions.items()]
    by_institution.sort(key=lambda s: (s.ratio if s.ratio is not None else Decimal(2), s.key))
    return Timeliness(
        hours=spec.timely_hours,
        target=spec.timely_target,
        total=Share("total", *total),
        by_day=tuple(Share(d.isoformat(), *days[d]) for d in sorted(days)),
        by_institution=tuple(by_institution),
    )


# -- refills blocked -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockFact:
    """A record refused with the duplicate-dispensing code (batch receipt UTC, institution)."""

    received_at: dt.datetime
    institution_code: str


def refill_blocks(blocks: Iterable[BlockFact], first: dt.date, last: dt.date) -> RefillBlocks:
    code = reports_spec().dashboard.refill_block_code
    per_day: Counter[dt.date] = Counter()
    per_institution: Counter[str] = Counter()
    for b in blocks:
        per_day[to_taiwan(b.received_at).date()] += 1
        per_institution[b.institution_code] += 1
    return RefillBlocks(
        code=code,
        message_zh=message(code, "zh"),
        message_en=message(code, "en"),
        total=sum(per_institution.values()),
        by_day=tuple(DayTotal(d, per_day[d]) for d in days_of(first, last)),
        by_institution=tuple(sorted(per_institution.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
