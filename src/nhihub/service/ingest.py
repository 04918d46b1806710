"""Upload a file and wait for its result in one call (``nhihub ingest``): submit it as the given
institution, then process waiting batches in this process until it is done (batches received
before it are processed first, in order; if another worker holds it, wait for that worker)."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nhihub.config import Settings
from nhihub.results import FileSummary
from nhihub.service.checking import CheckPool
from nhihub.service.handoff import handoff
from nhihub.service.results import rebuild_summary, result_dict
from nhihub.service.uploads import BatchView, batch_view, rejection, submit_upload
from nhihub.service.worker import new_worker_id, process_next
from nhihub.storage import get_batch, read_only, unit_of_work


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The processed batch, its check summary and the JSON result (``nhihub check``'s object
    plus batch id, status and ``applied_records``)."""

    batch: BatchView
    summary: FileSummary
    result: dict[str, Any]

    @property
    def exit_code(self) -> int:
        """0 every record valid and the file accepted, 1 otherwise (as ``nhihub check``)."""
        ok = self.batch.status == "done" and self.batch.counts.invalid_records == 0
        return 0 if ok else 1


def ingest_file(
    engine: Engine,
    path: str | os.PathLike[str],
    *,
    institution: str,
    kind: str = "A1",
    settings: Settings,
    jobs: int | None = None,
    poll: float = 0.2,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Submit ``path`` (channel ``cli``) and process it synchronously. ``OSError`` when the file
    cannot be read; :class:`~nhihub.service.uploads.UploadRejected` when it is refused.
    ``now`` (aware): the receiving time, which the checks take as the upload time."""
    file = Path(path)
    size = file.stat().st_size
    if size > settings.max_upload_bytes:
        raise rejection("too_large", size=size, limit=settings.max_upload_bytes)
    raw = file.read_bytes()
    # this process processes what it submits: the worker takes the bytes, and the check starts
    # in its pool while the upload is stored (nhihub.service.handoff)
    with CheckPool(jobs) as pool, handoff.worker_running(pool):
        with unit_of_work(engine) as conn:
            batch_id = submit_upload(
                conn,
                institution=institution,
                raw=raw,
                kind=kind,
                channel="cli",
                settings=settings,
                file_name=file.name,
                now=now,
            )
        del raw
        worker = new_worker_id()
        while True:
            with read_only(engine) as conn:
                batch = get_batch(conn, batch_id)
            if batch is not None and batch.status in ("done", "failed", "rejected"):
                break
            if process_next(engine, worker, settings, pool=pool) is None:
                time.sleep(poll)  # another worker holds it
    with read_only(engine) as conn:
        summary = rebuild_summary(conn, batch, settings)
    return IngestReport(batch_view(batch), summary, result_dict(summary, batch))
