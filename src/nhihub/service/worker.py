"""The worker: claims stored uploads one at a time under a lease and processes them.

1. Claim (own short transaction, committed): the oldest waiting batch, or one whose worker's
   lease ran out (it died). On PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps several worker
   processes from taking the same batch.
2. Phase 1, no transaction held: decrypt the raw upload, read and check it (in worker processes
   for large uploads); the lease is renewed while this runs.
3. Phase 2, ONE transaction (:func:`nhihub.service.apply.apply_checked`): the stateful rules, the
   valid records' changes, the outcomes and the batch's status. A crash anywhere leaves the batch
   wholly applied or not at all; a batch whose worker died is claimed again once its lease ran
   out, and processed from the start.

Logging names batches, counts and statuses only: never a record's content.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from nhihub.config import Settings
from nhihub.service.apply import (
    BeforeCommit,
    LeaseLost,
    SnapshotMissed,
    apply_checked,
    apply_stream,
)
from nhihub.service.checking import (
    CheckPool,
    PartFileErrors,
    check_job,
    check_serial,
)
from nhihub.service.collector import collector_paused
from nhihub.service.handoff import handoff
from nhihub.service.spec import service_spec
from nhihub.service.uploads import purge_results
from nhihub.storage import (
    Batch,
    RawMissing,
    claim_next_batch,
    load_raw,
    mark_batch_failed,
    read_only,
    release_batch,
    renew_lease,
    unit_of_work,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerHooks:
    """Test hooks. ``before_commit(batch_id)`` runs inside the apply transaction after every
    write of the batch and before the commit (e.g. to kill the worker at that very point)."""

    before_commit: BeforeCommit | None = None


def new_worker_id() -> str:
    """A worker name unique across hosts, processes and threads (no personal data)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{secrets.token_hex(3)}"


class _Renewer:
    """Renews the lease while phase 1 runs (called every ~1000 records)."""

    def __init__(
        self,
        engine: Engine,
        batch_id: int,
        worker: str,
        settings: Settings,
        now: dt.datetime | None,
    ) -> None:
        self.engine = engine
        self.batch_id = batch_id
        self.worker = worker
        self.lease = settings.worker_lease_seconds
        self.now = now
        self.last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last < self.lease / 3:
            return
        with unit_of_work(self.engine) as conn:
            held = renew_lease(
                conn, self.batch_id, self.worker, lease_seconds=self.lease, now=self.now
            )
        if not held:
            raise LeaseLost(f"batch {self.batch_id} was taken over by another worker")
        self.last = time.monotonic()


def _process(
    engine: Engine,
    batch: Batch,
    worker: str,
    settings: Settings,
    now: dt.datetime | None,
    pool: CheckPool,
    hooks: WorkerHooks | None,
) -> None:
    raw = handoff.take(batch.raw_sha256)  # stored by this process just now
    if raw is None:
        with read_only(engine) as conn:
            raw = load_raw(conn, batch.id, settings.cipher())
    job = check_job(
        batch.id,
        batch.institution_code,
        batch.kind,
        batch.channel,
        batch.received_at,
        settings,
        engine.dialect,
    )
    before_commit = None if hooks is None else hooks.before_commit
    moment = utcnow() if now is None else now
    cache = service_spec().apply_cache_kib
    started = handoff.take_started(batch.id, batch.raw_sha256, job, pool)  # checked ahead
    stream = started or pool.stream(raw, job)
    if stream is None:
        checked = pool.check(raw, job, tick=_Renewer(engine, batch.id, worker, settings, now))
    else:
        # A large upload: its parts are stored while the later ones are still being read.
        try:
            with unit_of_work(engine, cache_kib=cache) as conn:
                apply_stream(
                    conn, batch, stream, worker=worker, now=moment, before_commit=before_commit
                )
            return
        except SnapshotMissed:  # rolled back: apply the checked records with a full snapshot
            log.info("batch %d: identifiers outside the scan, applied again", batch.id)
            stream.cancel()
            # the parts stored already were let go: the upload is read again (a rare case)
            checked = pool.check(raw, job, tick=_Renewer(engine, batch.id, worker, settings, now))
        except PartFileErrors:  # rolled back: read serially, to report the file errors exactly
            log.info("batch %d: file errors in a part, read again serially", batch.id)
            checked = check_serial(raw, job)
        finally:
            stream.cancel()
    del raw
    with unit_of_work(engine, cache_kib=cache) as conn:
        apply_checked(conn, batch, checked, worker=worker, now=moment, before_commit=before_commit)


def _give_up(
    engine: Engine, batch: Batch, worker: str, reason: str, now: dt.datetime | None
) -> None:
    zh, en = service_spec().batch_errors[reason]
    with unit_of_work(engine) as conn:
        mark_batch_failed(
            conn, batch.id, worker, error_code=reason, error_detail=f"{zh} / {en}", now=now
        )


def process_next(
    engine: Engine,
    worker_id: str,
    settings: Settings,
    now: dt.datetime | None = None,
    *,
    pool: CheckPool | None = None,
    hooks: WorkerHooks | None = None,
) -> int | None:
    """Claim and process one batch; returns its id, ``None`` when nothing is waiting.

    ``now`` (aware UTC) replaces the clock for the claim, the lease and the stored times (tests:
    a moment after a dead worker's lease ran out). ``pool`` checks large uploads in worker
    processes. An unexpected error gives the batch back for another attempt, up to
    ``max_attempts`` (data/service.json), then marks it ``failed``.
    """
    with unit_of_work(engine) as conn:
        batch = claim_next_batch(
            conn, worker_id, lease_seconds=settings.worker_lease_seconds, now=now
        )
    if batch is None:
        handoff.forget()  # what is kept was taken elsewhere, or will be read back
        return None
    log.info("batch %d claimed by %s (attempt %d)", batch.id, worker_id, batch.attempts)
    try:
        with collector_paused():
            _process(engine, batch, worker_id, settings, now, pool or CheckPool(1), hooks)
    except LeaseLost:
        log.warning("batch %d: lease lost, another worker processes it", batch.id)
    except RawMissing:
        log.error("batch %d: raw upload missing", batch.id)
        _give_up(engine, batch, worker_id, "raw_missing", now)
    except Exception as exc:
        # Only the type: messages of errors raised on record values could carry personal data.
        log.error("batch %d: processing failed (%s)", batch.id, type(exc).__name__)
        if batch.attempts >= service_spec().max_attempts:
            _give_up(engine, batch, worker_id, "internal", now)
        else:
            with unit_of_work(engine) as conn:
                release_batch(conn, batch.id, worker_id)
    return batch.id


def drain(
    engine: Engine,
    settings: Settings,
    *,
    worker_id: str | None = None,
    jobs: int | None = 1,
    now: dt.datetime | None = None,
    until: Callable[[], bool] | None = None,
) -> list[int]:
    """Process batches until none is waiting (or ``until()`` is true); returns their ids.
    ``jobs``: processes for checking large uploads (``None``: every CPU)."""
    wid = worker_id or new_worker_id()
    done: list[int] = []
    with CheckPool(jobs) as pool, handoff.worker_running(pool):
        while until is None or not until():
            batch_id = process_next(engine, wid, settings, now, pool=pool)
            if batch_id is None:
                break
            done.append(batch_id)
    return done


def run_worker(
    engine: Engine,
    settings: Settings,
    stop: threading.Event,
    poll: float = 0.2,
    *,
    worker_id: str | None = None,
    jobs: int | None = None,
    purge_every: float = 3600.0,
) -> None:
    """Process batches until ``stop`` is set, waiting ``poll`` seconds when idle; purges result
    files past their retention every ``purge_every`` seconds. Never raises on a batch's error."""
    wid = worker_id or new_worker_id()
    last_purge = float("-inf")
    log.info("worker %s started", wid)
    with CheckPool(jobs) as pool, handoff.worker_running(pool):
        while not stop.is_set():
            batch_id: int | None = None
            try:
                if time.monotonic() - last_purge >= purge_every:
                    with unit_of_work(engine) as conn:
                        purged = purge_results(conn, utcnow(), settings)
                    if purged:
                        log.info("purged %d result files", purged)
                    last_purge = time.monotonic()
                batch_id = process_next(engine, wid, settings, pool=pool)
            except Exception as exc:  # the database is away: wait and try again
                log.error("worker %s: %s", wid, type(exc).__name__)
            if batch_id is None:
                stop.wait(poll)
    log.info("worker %s stopped", wid)
