"""Receiving uploads and answering about them: :func:`submit_upload` stores an upload raw
(encrypted) and acknowledges it with the batch id (NHI's Opcode); a worker processes it later. Then
:func:`get_batch` / :func:`list_batches` tell the status and the counts of NHI's result screen,
and :func:`result_file` gives the result in JSON, CSV or NHI's own layout.

Every function works on the caller's connection and never commits: run ``submit_upload`` in a
unit of work and commit, so the worker sees the batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from nhihub.config import Settings
from nhihub.service import _queries as q
from nhihub.service.checking import CheckJob, check_job
from nhihub.service.handoff import handoff
from nhihub.service.results import FORMATS, rebuild_summary, render_result
from nhihub.service.spec import service_spec
from nhihub.specs.catalogue import catalogue
from nhihub.storage import (
    AuditEntry,
    Batch,
    BatchCounts,
    NewBatch,
    append_audit,
    code_table,
    codes,
    create_batch,
    get_institution,
    get_result,
    on_commit,
    on_rollback,
    purge_results_older_than,
    save_result,
    utcnow,
)
from nhihub.storage import get_batch as _get_batch
from nhihub.visitid import TAIWAN

log = logging.getLogger(__name__)

FINAL_STATES = ("done", "failed", "rejected")


class UploadRejected(ValueError):
    """An upload refused before it was stored.

    ``code`` is NHI's RtnCode for it (9005 醫療院所代號不存在, 5003 作業類別錯誤, 9999 其他),
    ``reason`` nhihub's name for the case (``unknown_institution``, ``bad_kind``, ``bad_channel``,
    ``too_large``, ``bad_token``); ``message_zh`` / ``message_en`` say what is wrong.
    """

    def __init__(self, code: str, message_zh: str, message_en: str, reason: str = "") -> None:
        super().__init__(f"{message_zh} / {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.reason = reason


def rejection(reason: str, **values: object) -> UploadRejected:
    r = service_spec().rejections[reason]
    return UploadRejected(r.rtn_code, r.zh.format(**values), r.en.format(**values), reason)


@dataclass(frozen=True, slots=True)
class BatchView:
    """An upload as its institution sees it on NHI's result screen: times, the six counts,
    status and verdict. ``id`` is the Opcode. Times are aware UTC (``uploaded_at``: the
    client's stated time, Taiwan local, naive)."""

    id: int
    institution: str
    channel: str
    kind: str
    status: str
    received_at: dt.datetime
    counts: BatchCounts
    file_name: str | None = None
    file_size: int = 0
    format_version: str | None = None
    uploaded_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = 0
    token_id: int | None = None
    error_code: str | None = None
    error_message_zh: str | None = None
    error_message_en: str | None = None

    @property
    def opcode(self) -> str:
        return str(self.id)

    @property
    def finished(self) -> bool:
        """Processed (done, failed or rejected): a result can be asked for."""
        return self.status in FINAL_STATES

    @property
    def verdict(self) -> str | None:
        """``檢核無誤`` / ``檢核有誤`` once processed (as on NHI's screen), else ``None``."""
        if not self.finished:
            return None
        ok = self.status == "done" and self.counts.invalid_records == 0
        return "檢核無誤" if ok else "檢核有誤"

    def to_dict(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        zh, en = code_table()["batch_status"][self.status]
        return {
            "id": self.id,
            "opcode": self.opcode,
            "institution": self.institution,
            "channel": self.channel,
            "kind": self.kind,
            "format_version": self.format_version,
            "file_name": self.file_name,
            "file_size": self.file_size,
            "status": self.status,
            "status_zh": zh,
            "status_en": en,
            "verdict": self.verdict,
            "received_at": iso(self.received_at),
            "uploaded_at": iso(self.uploaded_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "attempts": self.attempts,
            "records": self.counts.records,
            "valid_records": self.counts.valid_records,
            "orders": self.counts.orders,
            "valid_orders": self.counts.valid_orders,
            "invalid_records": self.counts.invalid_records,
            "invalid_orders": self.counts.invalid_orders,
            "applied_records": self.counts.applied_records,
            "error_code": self.error_code,
            "error_message": self.error_message_zh,
            "error_message_en": self.error_message_en,
        }


def _error_messages(code: str | None) -> tuple[str | None, str | None]:
    if code is None:
        return None, None
    entry = catalogue().get(code)
    if entry is not None:
        return entry.message_zh, entry.message_en
    known = service_spec().batch_errors.get(code)
    return known if known is not None else (code, code)


def batch_view(batch: Batch) -> BatchView:
    zh, en = _error_messages(batch.error_code)
    return BatchView(
        id=batch.id,
        institution=batch.institution_code,
        channel=batch.channel,
        kind=batch.kind,
        status=batch.status,
        received_at=batch.received_at,
        counts=batch.counts,
        file_name=batch.file_name,
        file_size=batch.file_size,
        format_version=batch.format_version,
        uploaded_at=batch.uploaded_at,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        attempts=batch.attempts,
        token_id=batch.token_id,
        error_code=batch.error_code,
        error_message_zh=zh,
        error_message_en=en,
    )


def submit_upload(
    conn: Connection,
    *,
    institution: str,
    raw: bytes,
    kind: str,
    channel: str,
    settings: Settings,
    file_name: str | None = None,
    uploaded_at: dt.datetime | None = None,
    token_id: int | None = None,
    client_info: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store an upload as received and return its batch id (the Opcode); a worker checks and
    applies it later. :class:`UploadRejected` for an unknown institution (9005), a wrong
    ``kind`` (5003: A1 正式, A2 預檢, ZZ 介接測試), an unknown channel, or more than
    ``settings.max_upload_bytes``. Whatever the content, a stored upload gets a result.

    ``uploaded_at``: the client's sUploadDT (Taiwan local). ``client_info``: transport fields
    worth keeping (sSamId, sMrecs, sPrecs...), never personal data.
    """
    if kind not in codes("upload_kind"):
        raise rejection("bad_kind", kind=kind)
    if channel not in codes("channel"):
        raise rejection("bad_channel", channel=channel)
    if len(raw) > settings.max_upload_bytes:
        raise rejection("too_large", size=len(raw), limit=settings.max_upload_bytes)
    if get_institution(conn, institution) is None:
        raise rejection("unknown_institution", institution=institution)
    new = NewBatch(
        institution_code=institution,
        channel=channel,
        kind=kind,
        file_name=None if file_name is None else file_name[:255],
        uploaded_at=uploaded_at,
        token_id=token_id,
        client_info=None if client_info is None else dict(client_info),
    )
    moment = utcnow() if now is None else now
    digest = hashlib.sha256(raw).digest()

    def check_ahead(batch_id: int) -> None:
        def job() -> CheckJob:  # the job the worker will make for this batch
            return check_job(batch_id, institution, kind, channel, moment, settings, conn.dialect)

        if handoff.start(batch_id, digest, raw, job):  # see nhihub.service.handoff
            on_rollback(conn, functools.partial(handoff.cancel, digest))

    batch_id = create_batch(
        conn, new, raw, settings.cipher(), now=moment, digest=digest, created=check_ahead
    )
    # for this process's worker, if one runs; once committed (a rolled-back upload is not kept)
    on_commit(conn, functools.partial(handoff.keep, digest, raw))
    append_audit(
        conn,
        AuditEntry(
            action="batch.upload",
            object_type="batch",
            object_id=str(batch_id),
            token_id=token_id,
            institution_code=institution,
            detail={"kind": kind, "channel": channel, "size": len(raw)},
        ),
        now=moment,
    )
    log.info("batch %d received: %s %s, %d bytes", batch_id, kind, channel, len(raw))
    return batch_id


def get_batch(conn: Connection, batch_id: int) -> BatchView | None:
    """The batch, or ``None`` when there is no such id. The caller checks that the viewer may see
    it (``view.institution``)."""
    batch = _get_batch(conn, batch_id)
    return None if batch is None else batch_view(batch)


def _utc_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=TAIWAN).astimezone(dt.UTC)


def list_batches(
    conn: Connection,
    institution: str | None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> list[BatchView]:
    """Uploads received from ``date_from`` to ``date_to`` (Taiwan calendar days, both included,
    as NHI's 上傳日期範圍), oldest first; of one institution, or of all (``None``: staff)."""
    since = None if date_from is None else _utc_start(date_from)
    until = None if date_to is None else _utc_start(date_to + dt.timedelta(days=1))
    batches = q.list_all_batches(conn, since=since, until=until, institution_code=institution)
    return [batch_view(b) for b in batches]


def result_file(conn: Connection, batch_id: int, fmt: str, settings: Settings) -> bytes | None:
    """The result of a processed batch in ``fmt`` (``json``, ``csv``, ``nhi-text``, ``nhi-zip``);
    ``None`` while it is not processed (NHI's 5002) or when there is no such batch.

    Results are kept (encrypted) for ``settings.result_retention_days``; a purged or never asked
    result is rebuilt from the raw upload and the record outcomes (same bytes) and kept again when
    the connection can write (else simply returned). ``ValueError`` for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(
            f"不支援的結果格式 {fmt!r}（可用：{', '.join(FORMATS)}）/ "
            f"unknown result format {fmt!r} ({', '.join(FORMATS)})"
        )
    batch = _get_batch(conn, batch_id)
    if batch is None or batch.status not in FINAL_STATES:
        return None
    cipher = settings.cipher()
    stored = get_result(conn, batch_id, fmt, cipher)
    if stored is not None and stored.content is not None:
        return stored.content
    content = render_result(rebuild_summary(conn, batch, settings), batch, fmt)
    try:
        with conn.begin_nested():
            save_result(conn, batch_id, fmt, content, cipher)
    except DBAPIError:  # a read-only transaction, or another writer: serve it uncached
        log.debug("batch %d: result %s not cached", batch_id, fmt)
    return content


def purge_results(conn: Connection, now: dt.datetime, settings: Settings) -> int:
    """Drop the content of result files older than the retention (NHI: 14 days); they are
    rebuilt on request. Returns how many were purged."""
    cutoff = now - dt.timedelta(days=settings.result_retention_days)
    return purge_results_older_than(conn, cutoff, now=now)
