"""Result files of a processed batch, rebuilt from stored data: the raw upload (read again for the
records' fields and the file errors) and the record outcomes (every finding, stateful ones
included). The same code serves the first request and the regeneration after a purge, so both
give the same bytes."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from sqlalchemy import Connection

from nhihub.checks import order_counts, skipped_checks
from nhihub.config import Settings
from nhihub.formats import iter_upload
from nhihub.formats.model import FileError, Finding
from nhihub.ids.rocdate import format_roc_datetime
from nhihub.precheck.context import build_context
from nhihub.results import FileSummary, render_csv, render_nhi_text, summary_to_dict
from nhihub.results.render import encode_nhi_text
from nhihub.service.spec import service_spec
from nhihub.specs.catalogue import is_error
from nhihub.storage import Batch, RawMissing, get_record_outcomes, load_raw
from nhihub.visitid import TAIWAN

FORMATS: tuple[str, ...] = tuple(service_spec().result_formats)


def media_type(fmt: str) -> str:
    """The HTTP media type of a result format."""
    return service_spec().result_formats[fmt]


def rebuild_summary(conn: Connection, batch: Batch, settings: Settings) -> FileSummary:
    """The :class:`FileSummary` of a processed batch, as ``nhihub check`` would print it, with the
    stored findings (stateful ones included) and validity."""
    outcomes = {o.record_index: o for o in get_record_outcomes(conn, batch.id)}
    summary = FileSummary(
        file=batch.file_name or f"batch-{batch.id}",
        format_version=batch.format_version,
        skipped_checks=list(skipped_checks(build_context(batch.received_at))),
    )
    try:
        raw = load_raw(conn, batch.id, settings.cipher())
    except RawMissing:
        raw = None
    if raw is not None:
        for item in iter_upload(io.BytesIO(raw)):
            if isinstance(item, FileError):
                summary.file_errors.append(item)
                continue
            o = outcomes.get(item.index)
            findings = [Finding(f, c) for f, c in o.findings] if o is not None else []
            valid = o.valid if o is not None else not any(is_error(f.code) for f in findings)
            orders, bad = order_counts(item, findings)
            summary.add(item, findings, valid, orders, bad)
        summary.format_version = batch.format_version or summary.format_version
    else:  # nothing to read the fields from: the counts alone
        c = batch.counts
        summary.records, summary.valid_records = c.records, c.valid_records
        summary.orders, summary.valid_orders = c.orders, c.valid_orders
        summary.invalid_records, summary.invalid_orders = c.invalid_records, c.invalid_orders
    return summary


def _roc(moment: Any) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(TAIWAN)
    return format_roc_datetime(moment)


def result_dict(summary: FileSummary, batch: Batch) -> dict[str, Any]:
    """The JSON result: ``nhihub check``'s object for the file plus the batch's identity,
    status and how many records changed stored visits."""
    data = summary_to_dict(summary)
    data.update(
        {
            "batch_id": batch.id,
            "institution": batch.institution_code,
            "kind": batch.kind,
            "channel": batch.channel,
            "status": batch.status,
            "received_at": batch.received_at.isoformat(),
            "applied_records": batch.counts.applied_records,
            "error_code": batch.error_code,
        }
    )
    return data


def render_result(summary: FileSummary, batch: Batch, fmt: str) -> bytes:
    """One result format: ``json``, ``csv``, ``nhi-text`` (NHI layout, Big5) or ``nhi-zip`` (that
    text in a zip, as NHI's download returns it)."""
    if fmt == "json":
        return json.dumps(result_dict(summary, batch), ensure_ascii=False, indent=2).encode()
    if fmt == "csv":
        return render_csv([summary]).encode("utf-8")
    text = encode_nhi_text(
        render_nhi_text(
            summary,
            institution=batch.institution_code,
            uploaded_at=_roc(batch.uploaded_at),
            received_at=_roc(batch.received_at),
            file_size=batch.file_size,
        )
    )
    if fmt == "nhi-text":
        return text
    if fmt == "nhi-zip":
        out = io.BytesIO()
        # A fixed entry time (the receiving time), so a regenerated zip has the same bytes.
        t = batch.received_at.astimezone(TAIWAN)
        entry = zipfile.ZipInfo(
            f"{batch.id}.txt", date_time=(t.year, t.month, t.day, t.hour, t.minute, t.second)
        )
        entry.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr(entry, text)
        return out.getvalue()
    raise ValueError(
        f"不支援的結果格式 {fmt!r}（可用：{', '.join(FORMATS)}）/ "
        f"unknown result format {fmt!r} ({', '.join(FORMATS)})"
    )
