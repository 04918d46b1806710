"""Renderings of a :class:`FileSummary`: JSON (documented in docs/check.md), CSV, NHI result text.

The NHI layout follows the result file seen in seed 001: Big5 text, blocks separated by a line of 75
``=``, a header block of bracketed values, then per reported record ``第[n]筆``, its fields as
``M03=[ ... ]`` (``NULL`` when absent) and ``錯誤原因:FIELD:CODE;...``. As in NHI's sample, the
person's ID (M03) and the staff ID (M06) are left blank and the birth date (M04) is cut to its year,
so a result file can be passed around without exposing who the patient is.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from nhihub.formats.model import Finding, Record
from nhihub.results.model import FileSummary, RecordOutcome
from nhihub.specs.catalogue import catalogue, message
from nhihub.specs.fields import segment_fields

SEPARATOR = "=" * 75
NULL = "NULL"
_MASKED_BLANK = frozenset({"M03", "M06", "A12", "A15"})
_MASKED_YEAR = frozenset({"M04", "A13"})


def _severity(code: str) -> str:
    entry = catalogue().get(code)
    return entry.severity if entry is not None else "error"


def _messages(code: str) -> tuple[str, str]:
    return message(code, "zh"), message(code, "en")


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "field": f.field,
        "code": f.code,
        "severity": _severity(f.code),
        "message": message(f.code, "zh"),
        "message_en": message(f.code, "en"),
    }


def _outcome_dict(o: RecordOutcome) -> dict[str, Any]:
    person_field = "M03" if o.record.version == "2.0" else "A12"
    visit_field = "M15" if o.record.version == "2.0" else "A18"
    return {
        "index": o.record.index,
        "line": o.record.line,
        "M03": o.record.mb1.get(person_field),
        "M15": o.record.mb1.get(visit_field),
        "errors": [_finding_dict(f) for f in o.findings],
    }


def summary_to_dict(s: FileSummary) -> dict[str, Any]:
    """The JSON object of one file (schema in docs/check.md)."""
    return {
        "file": s.file,
        "format_version": s.format_version,
        "records": s.records,
        "valid_records": s.valid_records,
        "orders": s.orders,
        "valid_orders": s.valid_orders,
        "invalid_records": s.invalid_records,
        "invalid_orders": s.invalid_orders,
        "file_errors": [
            {
                "code": e.code,
                "line": e.line,
                "message": message(e.code, "zh"),
                "message_en": message(e.code, "en"),
                "detail": e.detail,
            }
            for e in s.file_errors
        ],
        "invalid": [_outcome_dict(o) for o in s.reported if not o.valid],
        "warnings": [_outcome_dict(o) for o in s.reported if o.valid],
        "skipped_checks": list(s.skipped_checks),
    }


def render_json(summaries: list[FileSummary]) -> str:
    return json.dumps([summary_to_dict(s) for s in summaries], ensure_ascii=False, indent=2)


CSV_COLUMNS = (
    "file",
    "index",
    "line",
    "M03",
    "M15",
    "field",
    "code",
    "severity",
    "message",
    "message_en",
)


def render_csv(summaries: list[FileSummary]) -> str:
    """One row per finding (file-level errors have no index)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s in summaries:
        for e in s.file_errors:
            where = [s.file, "", e.line, "", ""]
            w.writerow([*where, "", e.code, _severity(e.code), *_messages(e.code)])
        for o in s.reported:
            d = _outcome_dict(o)
            where = [s.file, d["index"], d["line"], d["M03"] or "", d["M15"] or ""]
            for f in d["errors"]:
                what = [f["field"] or "", f["code"], f["severity"], f["message"], f["message_en"]]
                w.writerow([*where, *what])
    return out.getvalue()


def _masked(field_id: str, value: str | None) -> str:
    if value is None:
        return NULL
    if field_id in _MASKED_BLANK:
        return ""
    if field_id in _MASKED_YEAR:
        return value[:3]
    return value


def _record_block(o: RecordOutcome) -> list[str]:
    rec: Record = o.record
    lines = [f"第[{rec.index}]筆"]
    for spec in segment_fields(rec.version, "MSH"):
        lines.append(f"{spec.id}=[ {_masked(spec.id, rec.header.get(spec.id))} ]")
    for spec in segment_fields(rec.version, "MB1"):
        lines.append(f"{spec.id}=[ {_masked(spec.id, rec.mb1.get(spec.id))} ]")
    reasons = "".join(f"{f.field}:{f.code};" if f.field else f"{f.code};" for f in o.findings)
    lines.append(f"錯誤原因:{reasons}")
    return lines


def render_nhi_text(
    s: FileSummary,
    *,
    institution: str = "",
    uploaded_at: str = "",
    received_at: str = "",
    file_size: int | None = None,
) -> str:
    """NHI-layout result text (encode with :func:`encode_nhi_text` for the Big5 file)."""
    verdict = "檢核無誤" if s.ok and not s.reported else "檢核有誤"
    header = [
        "檢核結果",
        f"醫事機構代碼=[{institution}]",
        f"上傳日期時間=[{uploaded_at}]",
        f"接收日期時間=[{received_at}]",
        f"檔案大小=[{'' if file_size is None else file_size}]",
        f"上傳格式版本=[{s.format_version or ''}]",
        f"接收筆數=[{s.records}]",
        f"有效明細筆數=[{s.valid_records}]",
        f"接收醫令=[{s.orders}]",
        f"有效醫令=[{s.valid_orders}]",
        f"無效明細筆數=[{s.invalid_records}]",
        f"無效醫令=[{s.invalid_orders}]",
        f"檢核結果=[{verdict}]",
    ]
    blocks = [header]
    if s.file_errors:
        blocks.append(["檔案檢核"] + [f"第[{e.line}]行 錯誤原因:{e.code};" for e in s.file_errors])
    blocks.extend(_record_block(o) for o in s.reported)
    return ("\n" + SEPARATOR + "\n").join("\n".join(b) for b in blocks) + "\n"


def encode_nhi_text(text: str) -> bytes:
    """Big5 (cp950) bytes with CRLF line ends, as NHI's result files are; unmappable → '?'."""
    return text.replace("\n", "\r\n").encode("cp950", errors="replace")
