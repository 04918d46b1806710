"""What the pages show, built from the service's and the reports' objects (pure).

- :func:`record_view`: an invalid (or warned) record field by field: each field's official name
  in Chinese and English, its value (person and staff IDs left out and the birth date cut to
  its year, as in NHI's own result file) and the check codes found on it with NHI's wording.
- :func:`reported_rows`: the records listed in a batch's JSON result (invalid ones, then valid
  ones with warnings), without the person ID the JSON carries.
- :func:`local_minute`: a stored moment as the result screen shows it (``113/03/20 21:00``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nhihub.formats.model import Finding, Record
from nhihub.reports.timeutil import roc_minute, to_taiwan
from nhihub.specs.catalogue import catalogue, message, severity
from nhihub.specs.codes import code_entries
from nhihub.specs.fields import FieldSpec, by_id, segment_fields
from nhihub.web.i18n import ConsoleSpec, L, console_spec, labels

_LINE_FIELD = re.compile(r"([A-Z][0-9]{2})\[([0-9]+)\]")


@dataclass(frozen=True, slots=True)
class FindingView:
    """A check code found on a field (``None``: the record as a whole) with its wording."""

    field: str | None
    code: str
    severity: str  # error | warning
    message_zh: str
    message_en: str
    listed: bool  # in NHI's catalogue


def finding_view(field: str | None, code: str) -> FindingView:
    return FindingView(
        field=field,
        code=code,
        severity=severity(code),
        message_zh=message(code, "zh"),
        message_en=message(code, "en"),
        listed=code in catalogue(),
    )


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of a record as the detail page lists it."""

    field_id: str  # M15, or D05[1] for the first order line
    name_zh: str
    name_en: str
    value: str | None  # None: absent (NULL)
    masked: str  # "" shown as is | "hidden" left out | "year" year only
    findings: tuple[FindingView, ...]

    @property
    def invalid(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


@dataclass(frozen=True, slots=True)
class OrderLineView:
    number: int  # 1-based
    rows: tuple[FieldRow, ...]

    @property
    def has_findings(self) -> bool:
        return any(r.findings for r in self.rows)


@dataclass(frozen=True, slots=True)
class RecordView:
    index: int
    line: int
    version: str
    m15: str | None
    valid: bool
    header: tuple[FieldRow, ...]
    body: tuple[FieldRow, ...]  # MB1
    orders: tuple[OrderLineView, ...]  # MB2
    record_findings: tuple[FindingView, ...]  # on no field, or on a field the spec lacks
    findings: tuple[FindingView, ...]  # all, in the order reported

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.code for f in self.findings))


def _shown(field_id: str, value: str | None, spec: ConsoleSpec) -> tuple[str | None, str]:
    if value is None:
        return None, ""
    if field_id in spec.hidden_fields:
        return None, "hidden"
    if field_id in spec.year_only_fields:
        return value[:3], "year"
    return value, ""


def _row(
    fs: FieldSpec,
    field_id: str,
    value: str | None,
    findings: Sequence[FindingView],
    spec: ConsoleSpec,
) -> FieldRow:
    shown, masked = _shown(fs.id, value, spec)
    return FieldRow(field_id, fs.name_zh, fs.name_en, shown, masked, tuple(findings))


def record_view(
    record: Record, findings: Iterable[Finding], valid: bool, spec: ConsoleSpec | None = None
) -> RecordView:
    """The record's fields in the specification's order, each with the findings on it."""
    cfg = spec or console_spec()
    all_findings = tuple(finding_view(f.field, f.code) for f in findings)
    by_field: dict[str, list[FindingView]] = {}
    for f in all_findings:
        by_field.setdefault(f.field or "", []).append(f)
    used: set[str] = set()

    def take(field_id: str) -> list[FindingView]:
        used.add(field_id)
        return by_field.get(field_id, [])

    header = tuple(
        _row(fs, fs.id, record.header.get(fs.id), take(fs.id), cfg)
        for fs in segment_fields(record.version, "MSH")
    )
    body = tuple(
        _row(fs, fs.id, record.mb1.get(fs.id), take(fs.id), cfg)
        for fs in segment_fields(record.version, "MB1")
    )
    line_specs = segment_fields(record.version, "MB2")
    orders = tuple(
        OrderLineView(
            n,
            tuple(
                _row(fs, f"{fs.id}[{n}]", line.get(fs.id), take(f"{fs.id}[{n}]"), cfg)
                for fs in line_specs
            ),
        )
        for n, line in enumerate(record.mb2, 1)
    )
    leftover = tuple(f for f in all_findings if (f.field or "") not in used)
    return RecordView(
        index=record.index,
        line=record.line,
        version=record.version,
        m15=record.mb1.get("M15"),
        valid=valid,
        header=header,
        body=body,
        orders=orders,
        record_findings=leftover,
        findings=all_findings,
    )


_SEGMENT_LABELS = {"MSH": L("segment_msh"), "MB1": L("segment_mb1"), "MB2": L("segment_mb2")}


def field_name(field_id: str | None, version: str, lang: str) -> str:
    """``就醫識別碼`` for M15, ``醫令代碼（第1筆醫令）`` for D05[1]; ``""`` for none."""
    if not field_id:
        return ""
    match = _LINE_FIELD.fullmatch(field_id)
    base = match.group(1) if match else field_id
    fs = by_id(version).get(base)
    if fs is None:
        # A finding on a whole segment (MB2: Y012, Y013, AG) names the segment.
        key = _SEGMENT_LABELS.get(field_id)
        return field_id if key is None else f"{labels()[key][lang]} ({field_id})"
    name = fs.name_en if lang == "en" else fs.name_zh
    if match is None:
        return name
    n = match.group(2)
    return f"{name} (order line {n})" if lang == "en" else f"{name}（第{n}筆醫令）"


def code_label(table: str, code: str, lang: str) -> str:
    """``A-正常上傳``: a code with its name from an NHI code table (the code alone if absent)."""
    entry = code_entries(table).get(code)
    if entry is None:
        return code
    return f"{code}-{entry.name_en if lang == 'en' else entry.name_zh}"


@dataclass(frozen=True, slots=True)
class ReportedRow:
    """A record listed in a batch's result: position, identifier, codes with their wording."""

    index: int
    line: int | None
    m15: str | None
    valid: bool
    findings: tuple[FindingView, ...]


def _findings_of(item: Mapping[str, Any]) -> tuple[FindingView, ...]:
    out = []
    for e in item.get("errors") or ():
        code = str(e.get("code") or "")
        if code:
            field = e.get("field")
            out.append(finding_view(str(field) if field else None, code))
    return tuple(out)


def reported_rows(result: Mapping[str, Any]) -> list[ReportedRow]:
    """Invalid records, then valid records with warnings, from the JSON result (its ``M03`` is
    left out: the page never shows a person ID)."""
    rows = []
    for key, valid in (("invalid", False), ("warnings", True)):
        for item in result.get(key) or ():
            rows.append(
                ReportedRow(
                    index=int(item["index"]),
                    line=item.get("line"),
                    m15=item.get("M15"),
                    valid=valid,
                    findings=_findings_of(item),
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class FileErrorView:
    code: str
    line: int | None
    message_zh: str
    message_en: str


def file_errors(result: Mapping[str, Any]) -> list[FileErrorView]:
    """Structural errors of the file (Y002 ...), with NHI's wording."""
    out = []
    for e in result.get("file_errors") or ():
        code = str(e.get("code") or "")
        out.append(FileErrorView(code, e.get("line"), message(code, "zh"), message(code, "en")))
    return out


def local_minute(moment: dt.datetime | None) -> str:
    """A moment (aware, or naive Taiwan local) as ``113/03/20 21:00``; ``""`` for none."""
    if moment is None:
        return ""
    local = to_taiwan(moment) if moment.tzinfo is not None else moment
    return roc_minute(local)


def pages(total: int, per_page: int, page: int) -> tuple[int, int, int]:
    """(page clamped to the range, first item index, end index) of a listing."""
    last_page = max(1, -(-total // per_page))
    page = min(max(page, 1), last_page)
    start = (page - 1) * per_page
    return page, start, min(start + per_page, total)


__all__ = [
    "FieldRow",
    "FileErrorView",
    "FindingView",
    "OrderLineView",
    "RecordView",
    "ReportedRow",
    "code_label",
    "field_name",
    "file_errors",
    "finding_view",
    "local_minute",
    "pages",
    "record_view",
    "reported_rows",
]
