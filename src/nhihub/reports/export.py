"""The comparison report's download: a password-protected zip (WinZip AES-256) with two CSV
files, as seed 001 describes (「就醫日期為系統日期前7日之健保卡就醫資料上傳結果」 and
「健保卡1.0比對不到健保卡2.0之清單」).

CSV: UTF-8 with a byte-order mark and CRLF line ends, so Excel in Taiwan opens the Chinese
headings correctly. The unmatched list names each record by its upload (Opcode) and position,
visit date-time and category; the person ID only masked (``A12****789``) and no birth date: the
institution finds the record in its own system with these, and the file carries as little
personal data as it can.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence

from nhihub.ids.rocdate import format_roc_date, format_roc_datetime
from nhihub.reports.aeszip import aes_zip
from nhihub.reports.precheck import (
    PrecheckReport,
    PrecheckRow,
    UnmatchedRecord,
    category_label,
)
from nhihub.reports.spec import ExportSpec, MaskRule, reports_spec


def mask_person_id(person_id: str, rule: MaskRule | None = None) -> str:
    """The ID with all but its first and last few characters replaced (``A12****789``)."""
    r = rule or reports_spec().export.mask
    value = person_id.strip()
    hidden = len(value) - r.keep_head - r.keep_tail
    if hidden <= 0:
        return r.char * len(value)
    return value[: r.keep_head] + r.char * hidden + value[len(value) - r.keep_tail :]


def _csv(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def results_csv(report: PrecheckReport, spec: ExportSpec | None = None) -> bytes:
    """The report's rows: section (合計 / 就醫日期 / 就醫類別), item and the counts."""
    s = spec or reports_spec().export

    def line(section: str, row: PrecheckRow) -> list[object]:
        item = "" if section == "total" else row.label
        return [report.institution or "", s.sections[section], item, row.v1_success,
                row.matched, row.ratio_text, row.vpn, row.web_api]  # fmt: skip

    rows: list[list[object]] = [list(s.results_columns), line("total", report.total)]
    rows += [line("date", r) for r in report.by_date]
    rows += [line("category", r) for r in report.by_category]
    return _csv(rows)


def unmatched_csv(
    records: Iterable[UnmatchedRecord],
    person_ids: Mapping[tuple[int, int], str | None],
    spec: ExportSpec | None = None,
) -> bytes:
    """The 1.0 records without a 2.0 match; ``person_ids`` maps (batch id, record index) to
    the clear ID read back from the upload (``None``: the raw upload is no longer kept)."""
    s = spec or reports_spec().export
    rows: list[list[object]] = [list(s.unmatched_columns)]
    for r in records:
        person = person_ids.get((r.batch_id, r.record_index))
        rows.append([
            r.institution_code,
            r.batch_id,
            r.record_index,
            "" if r.visit_at is None else format_roc_datetime(r.visit_at),
            r.category or "",
            category_label(r.category).split("-", 1)[1],
            s.raw_missing if person is None else mask_person_id(person, s.mask),
        ])  # fmt: skip
    return _csv(rows)


def export_zip(
    report: PrecheckReport,
    unmatched: Sequence[UnmatchedRecord],
    person_ids: Mapping[tuple[int, int], str | None],
    password: str,
    *,
    when: dt.datetime | None = None,
) -> bytes:
    """The encrypted zip with the two CSV files (names from ``reports.json``)."""
    s = reports_spec().export
    day = format_roc_date(report.as_of)
    files = [
        (s.results_file.format(date=day), results_csv(report, s)),
        (s.unmatched_file.format(date=day), unmatched_csv(unmatched, person_ids, s)),
    ]
    return aes_zip(files, password, when=when, min_password_length=s.password_min_length)
