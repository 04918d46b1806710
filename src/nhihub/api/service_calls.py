"""The calls into ``nhihub.service`` shared by the NHI-compatible and REST endpoints, with the
access rule applied in one place: an institution token sees only its own batches; another
institution's batch is answered exactly like one that does not exist (404 / RtnCode 9999), so
ids of other institutions' uploads cannot be probed.

Sync functions: the endpoints run them in the thread pool.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nhihub.api.context import ApiContext
from nhihub.api.errors import ApiError
from nhihub.reports.timeutil import taiwan_now
from nhihub.service.uploads import (
    BatchView,
    UploadRejected,
    get_batch,
    result_file,
    submit_upload,
)
from nhihub.service.visits import Viewer

# UploadRejected.reason -> our error code (its RtnCode is the service's too)
_REJECTIONS = {
    "unknown_institution": "unknown-institution",
    "bad_kind": "bad-kind",
    "too_large": "too-large",
    "bad_token": "institution-mismatch",
}


def submit(
    ctx: ApiContext,
    viewer: Viewer,
    *,
    raw: bytes,
    kind: str,
    channel: str,
    file_name: str | None,
    uploaded_at: dt.datetime | None,
    client_info: dict[str, Any] | None = None,
) -> int:
    """Store an upload of the viewer's institution; returns the batch id (NHI's Opcode). The
    in-process worker (or a ``nhihub worker``) picks it up within a fraction of a second."""
    if viewer.role != "institution" or viewer.institution is None:
        raise ApiError("staff-cannot-upload")
    try:
        with ctx.write() as conn:
            return submit_upload(
                conn,
                institution=viewer.institution,
                raw=raw,
                kind=kind,
                channel=channel,
                settings=ctx.settings,
                file_name=file_name,
                uploaded_at=uploaded_at or taiwan_now(),
                token_id=viewer.token_id,
                client_info=client_info,
            )
    except UploadRejected as exc:
        raise ApiError(
            _REJECTIONS.get(exc.reason, "upload-rejected"),
            message_zh=exc.message_zh,
            message_en=exc.message_en,
        ) from None


def visible_batch(ctx: ApiContext, viewer: Viewer, batch_id: int) -> BatchView:
    """The batch if the viewer may see it, else 404 ``batch-not-found`` (never 403)."""
    with ctx.read() as conn:
        batch = get_batch(conn, batch_id)
    if batch is None or not viewer.may_see(batch.institution):
        raise ApiError("batch-not-found")
    return batch


def fetch_result(ctx: ApiContext, viewer: Viewer, batch_id: int, fmt: str) -> bytes | None:
    """The result file of a visible batch in ``fmt`` (json, csv, nhi-text, nhi-zip); ``None``
    while the batch is not processed yet."""
    batch = visible_batch(ctx, viewer, batch_id)
    if not batch.finished:
        return None
    # A write transaction: a purged (or first asked) result is rebuilt and kept again.
    with ctx.write() as conn:
        return result_file(conn, batch_id, fmt, ctx.settings)
