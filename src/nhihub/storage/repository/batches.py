"""Upload batches: stored raw on arrival, claimed by a worker under a lease, then finished.

Claiming: ``claim_next_batch`` takes the oldest batch that is waiting, or whose worker's lease
ran out (the worker died), with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL so several
worker processes never take the same batch; SQLite has a single writer, so the unit of work's
``BEGIN IMMEDIATE`` serialises claims there. Finishing checks that the caller still holds the
lease, so a worker that lost it (and whose batch another worker took) cannot overwrite the
outcome: when ``finish_batch`` returns False the caller must roll back.

Raw uploads contain person IDs in clear, so they are stored encrypted (purpose ``raw-upload``)
either in ``upload_raw`` (one row per batch, beside the batch row that claims and finishes
update) or in a file under ``raw_dir``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from nhihub.protect import PURPOSE_RAW_UPLOAD, PiiCipher
from nhihub.storage.codes import check_code
from nhihub.storage.repository._common import now_or
from nhihub.storage.rows import Batch, BatchCounts, NewBatch
from nhihub.storage.schema import upload_batches, upload_raw

_COUNT_FIELDS = tuple(BatchCounts.__dataclass_fields__)
_FINAL_STATES = ("done", "failed", "rejected")
_BATCH_COLUMNS = list(upload_batches.c)


class RawMissing(LookupError):
    """The raw upload of a batch cannot be found (unknown batch or missing file)."""


def _batch(row: Any) -> Batch:
    m = row._mapping
    return Batch(
        id=m["id"],
        institution_code=m["institution_code"],
        token_id=m["token_id"],
        channel=m["channel"],
        kind=m["kind"],
        format_version=m["format_version"],
        file_name=m["file_name"],
        file_size=m["file_size"],
        raw_sha256=m["raw_sha256"],
        raw_path=m["raw_path"],
        received_at=m["received_at"],
        uploaded_at=m["uploaded_at"],
        client_info=m["client_info"],
        status=m["status"],
        counts=BatchCounts(**{name: m[name] for name in _COUNT_FIELDS}),
        claimed_by=m["claimed_by"],
        lease_until=m["lease_until"],
        attempts=m["attempts"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        error_code=m["error_code"],
        error_detail=m["error_detail"],
    )


def _write_raw_file(raw_dir: Path, blob: bytes) -> Path:
    """Write the encrypted upload durably (temp file, fsync, rename) before the row commits."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    path = raw_dir / f"{uuid.uuid4().hex}.enc"
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


def create_batch(
    conn: Connection,
    new: NewBatch,
    raw: bytes,
    cipher: PiiCipher,
    *,
    raw_dir: Path | None = None,
    now: dt.datetime | None = None,
    digest: bytes | None = None,
    created: Callable[[int], None] | None = None,
) -> int:
    """Store an upload as received (status ``received``); returns the batch id.

    The raw bytes are encrypted and kept in ``upload_raw``, or in a file under ``raw_dir`` if
    given. ``digest``: their SHA-256 when the caller has it already. ``created`` is called with
    the batch id as soon as the batch's row is inserted, before the bytes are encrypted and
    stored in ``upload_raw`` (the upload's checking can start meanwhile).
    """
    check_code("channel", new.channel)
    check_code("upload_kind", new.kind)
    raw_path = None
    if raw_dir is not None:
        raw_path = str(_write_raw_file(raw_dir, cipher.encrypt_bytes(raw, PURPOSE_RAW_UPLOAD)))
    result = conn.execute(
        upload_batches.insert()
        .values(
            institution_code=new.institution_code,
            token_id=new.token_id,
            channel=new.channel,
            kind=new.kind,
            format_version=new.format_version,
            file_name=new.file_name,
            file_size=len(raw),
            raw_sha256=hashlib.sha256(raw).digest() if digest is None else digest,
            raw_path=raw_path,
            received_at=now_or(now),
            uploaded_at=new.uploaded_at,
            client_info=new.client_info,
            status="received",
        )
        .returning(upload_batches.c.id)
    )
    batch_id = int(result.scalar_one())
    if created is not None:
        created(batch_id)
    if raw_path is None:
        blob = cipher.encrypt_bytes(raw, PURPOSE_RAW_UPLOAD)
        conn.execute(upload_raw.insert().values(batch_id=batch_id, raw_enc=blob))
    return batch_id


def get_batch(conn: Connection, batch_id: int) -> Batch | None:
    row = conn.execute(select(*_BATCH_COLUMNS).where(upload_batches.c.id == batch_id)).first()
    return None if row is None else _batch(row)


def load_raw(conn: Connection, batch_id: int, cipher: PiiCipher) -> bytes:
    """The raw upload of a batch, decrypted; :class:`RawMissing` if it is gone."""
    row = conn.execute(
        select(upload_raw.c.raw_enc, upload_batches.c.raw_path)
        .select_from(upload_batches)
        .outerjoin(upload_raw, upload_raw.c.batch_id == upload_batches.c.id)
        .where(upload_batches.c.id == batch_id)
    ).first()
    if row is None:
        raise RawMissing(f"批次不存在 / no batch {batch_id}")
    blob, path = row
    if blob is None:
        if path is None:
            raise RawMissing(f"批次 {batch_id} 無原始檔 / batch {batch_id} has no raw upload")
        try:
            blob = Path(path).read_bytes()
        except OSError:
            raise RawMissing(
                f"批次 {batch_id} 原始檔遺失 / raw upload file of batch {batch_id} is missing"
            ) from None
    return cipher.decrypt_bytes(blob, PURPOSE_RAW_UPLOAD)


def list_batches(
    conn: Connection,
    institution_code: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[Batch]:
    """Batches of one institution received in ``[since, until)``, oldest first."""
    query = select(*_BATCH_COLUMNS).where(upload_batches.c.institution_code == institution_code)
    if since is not None:
        query = query.where(upload_batches.c.received_at >= since)
    if until is not None:
        query = query.where(upload_batches.c.received_at < until)
    rows = conn.execute(query.order_by(upload_batches.c.id))
    return [_batch(r) for r in rows]


def _claimable(now: dt.datetime) -> Any:
    b = upload_batches.c
    return or_(
        b.status == "received",
        and_(b.status == "processing", or_(b.lease_until.is_(None), b.lease_until < now)),
    )


def claim_next_batch(
    conn: Connection,
    worker: str,
    *,
    lease_seconds: int,
    now: dt.datetime | None = None,
) -> Batch | None:
    """Take the oldest waiting (or abandoned) batch: status ``processing``, leased to ``worker``
    until ``now + lease_seconds``, ``attempts`` + 1. ``None`` when nothing is waiting.

    Commit right after claiming (the lease must be visible to other workers) and process the
    batch in a new transaction.
    """
    moment = now_or(now)
    b = upload_batches.c
    for _ in range(3):  # another writer may win the row between our select and update
        batch_id = conn.execute(
            select(b.id)
            .where(_claimable(moment))
            .order_by(b.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar()
        if batch_id is None:
            return None
        result = conn.execute(
            update(upload_batches)
            .where(b.id == batch_id, _claimable(moment))
            .values(
                status="processing",
                claimed_by=worker,
                lease_until=moment + dt.timedelta(seconds=lease_seconds),
                attempts=b.attempts + 1,
                started_at=func.coalesce(b.started_at, moment),
            )
        )
        if result.rowcount == 1:
            return get_batch(conn, batch_id)
    return None


def _owned(batch_id: int, worker: str) -> Any:
    b = upload_batches.c
    return and_(b.id == batch_id, b.status == "processing", b.claimed_by == worker)


def renew_lease(
    conn: Connection,
    batch_id: int,
    worker: str,
    *,
    lease_seconds: int,
    now: dt.datetime | None = None,
) -> bool:
    """Extend the lease of a batch the worker still holds; False if it lost it."""
    until = now_or(now) + dt.timedelta(seconds=lease_seconds)
    result = conn.execute(
        update(upload_batches).where(_owned(batch_id, worker)).values(lease_until=until)
    )
    return result.rowcount == 1


def hold_batch(conn: Connection, batch_id: int, worker: str) -> bool:
    """Lock the row of a batch the worker holds for the rest of the transaction (PostgreSQL:
    other workers' claims skip it even once the lease has run out; SQLite's unit of work holds
    the write lock already). False if the worker lost the batch."""
    row = conn.execute(
        select(upload_batches.c.id).where(_owned(batch_id, worker)).with_for_update()
    ).first()
    return row is not None


def release_batch(conn: Connection, batch_id: int, worker: str) -> bool:
    """Give a claimed batch back unprocessed (graceful shutdown)."""
    result = conn.execute(
        update(upload_batches)
        .where(_owned(batch_id, worker))
        .values(status="received", claimed_by=None, lease_until=None)
    )
    return result.rowcount == 1


def finish_batch(
    conn: Connection,
    batch_id: int,
    worker: str,
    *,
    status: str,
    counts: BatchCounts | None = None,
    format_version: str | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Record the outcome (``done``, ``failed`` or ``rejected``) of a batch the worker holds.

    Run it in the same transaction as the batch's changes: False means the lease was lost and
    the whole transaction must be rolled back.
    """
    check_code("batch_status", status)
    if status not in _FINAL_STATES:
        raise ValueError(f"not a final batch status: {status!r}")
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now_or(now),
        "lease_until": None,
        "error_code": error_code,
        "error_detail": error_detail,
    }
    if counts is not None:
        values.update({name: getattr(counts, name) for name in _COUNT_FIELDS})
    if format_version is not None:
        values["format_version"] = format_version
    result = conn.execute(update(upload_batches).where(_owned(batch_id, worker)).values(values))
    return result.rowcount == 1


def mark_batch_done(
    conn: Connection,
    batch_id: int,
    worker: str,
    counts: BatchCounts,
    *,
    format_version: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    return finish_batch(
        conn,
        batch_id,
        worker,
        status="done",
        counts=counts,
        format_version=format_version,
        now=now,
    )


def mark_batch_failed(
    conn: Connection,
    batch_id: int,
    worker: str,
    *,
    error_code: str,
    error_detail: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    return finish_batch(
        conn,
        batch_id,
        worker,
        status="failed",
        error_code=error_code,
        error_detail=error_detail,
        now=now,
    )
