"""Result files of batches and the per-record outcomes they are regenerated from.

Results hold the records' fields (M03 included, as NHI's result text does), so their content is
stored encrypted. They are kept ``NHIHUB_RESULT_RETENTION_DAYS`` and then purged: the row stays
with ``content`` NULL and ``purged_at`` set, and the service regenerates the file on request from
the record outcomes and the raw upload.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from nhihub.protect import PiiCipher
from nhihub.storage.repository._common import now_or, upsert_insert
from nhihub.storage.rows import RecordOutcome, StoredResult
from nhihub.storage.schema import record_outcomes, upload_results

PURPOSE_RESULT = "result"


def save_result(
    conn: Connection,
    batch_id: int,
    fmt: str,
    content: bytes,
    cipher: PiiCipher,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Store (or replace, e.g. after a purge) the result of a batch in one format."""
    values = {
        "batch_id": batch_id,
        "format": fmt,
        "content_enc": cipher.encrypt_bytes(content, PURPOSE_RESULT),
        "created_at": now_or(now),
        "purged_at": None,
    }
    stmt = upsert_insert(conn, upload_results).values(values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[upload_results.c.batch_id, upload_results.c.format],
            set_={k: stmt.excluded[k] for k in ("content_enc", "created_at", "purged_at")},
        )
    )


def get_result(conn: Connection, batch_id: int, fmt: str, cipher: PiiCipher) -> StoredResult | None:
    """The stored result, decrypted; ``content`` is None when it was purged."""
    row = conn.execute(
        select(upload_results).where(
            upload_results.c.batch_id == batch_id, upload_results.c.format == fmt
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    blob = m["content_enc"]
    return StoredResult(
        batch_id=m["batch_id"],
        format=m["format"],
        content=None if blob is None else cipher.decrypt_bytes(blob, PURPOSE_RESULT),
        created_at=m["created_at"],
        purged_at=m["purged_at"],
    )


def purge_results_older_than(
    conn: Connection, cutoff: dt.datetime, *, now: dt.datetime | None = None
) -> int:
    """Drop the content of results created before ``cutoff``; returns how many were purged."""
    result = conn.execute(
        update(upload_results)
        .where(upload_results.c.created_at < cutoff, upload_results.c.purged_at.is_(None))
        .values(content_enc=None, purged_at=now_or(now))
    )
    return int(result.rowcount)


def save_record_outcomes(
    conn: Connection, batch_id: int, outcomes: Sequence[RecordOutcome]
) -> None:
    """Store the outcome of each record of a batch (replacing any left from an earlier try)."""
    conn.execute(delete(record_outcomes).where(record_outcomes.c.batch_id == batch_id))
    if not outcomes:
        return
    conn.execute(
        record_outcomes.insert(),
        [
            {
                "batch_id": batch_id,
                "record_index": o.record_index,
                "line": o.line,
                "m15": o.m15,
                "valid": o.valid,
                "applied": o.applied,
                "findings": [list(f) for f in o.findings],
            }
            for o in outcomes
        ],
    )


def _outcome(row: Any) -> RecordOutcome:
    m = row._mapping
    return RecordOutcome(
        record_index=m["record_index"],
        valid=m["valid"],
        findings=tuple((f[0], f[1]) for f in m["findings"]),
        m15=m["m15"],
        line=m["line"],
        applied=m["applied"],
    )


def get_record_outcomes(conn: Connection, batch_id: int) -> list[RecordOutcome]:
    rows = conn.execute(
        select(record_outcomes)
        .where(record_outcomes.c.batch_id == batch_id)
        .order_by(record_outcomes.c.record_index)
    )
    return [_outcome(r) for r in rows]
