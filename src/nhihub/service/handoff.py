"""Uploads handed from the receiving side to the worker of the same process.

The embedded default (``nhihub serve``, ``nhihub ingest``) receives an upload and processes it in
one process. The upload is stored encrypted first (that copy is what counts: it survives a
crash); without the hand-off the worker then read it back and decrypted it, about 40 ms for a
22 MB upload, before anything else could start. While a worker runs in this process
(:meth:`Handoff.worker_running`), :func:`~nhihub.service.uploads.submit_upload` keeps the bytes
here once its transaction has committed, and the worker takes them.

Kept by their SHA-256, which the batch stores: bytes found under a batch's digest are that
batch's bytes. The uploads hold person IDs in plain text, so little is kept and not for long:
at most ``handoff_max_bytes`` (``data/service.json``, the oldest dropped first), none longer than
``handoff_max_seconds`` (another process's worker may have taken the batch), nothing once the
worker finds no batch waiting (:meth:`Handoff.forget`) or the last worker of the process stops.

Checking ahead: while the upload is still being stored (encrypted, written, committed: about
0.15 s for 22 MB), the worker's processes would wait. When the worker registered its pool
(:meth:`Handoff.worker_running`) and the upload is large enough for it, ``submit_upload``
starts the check as soon as the batch has its id (:meth:`Handoff.start`); the worker takes the
running check with the batch (:meth:`Handoff.take_started`) if it is for that very batch and job,
else it is cancelled. One upload at most is checked ahead; it is cancelled when the upload's
transaction rolls back, after ``handoff_max_seconds``, on :meth:`Handoff.forget` and when the
last worker stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nhihub.service.checking import CheckJob, CheckPool, CheckStream
from nhihub.service.spec import service_spec

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Started:
    """An upload checked ahead of its claim; ``committed`` once its transaction has."""

    batch_id: int
    digest: bytes
    job: CheckJob
    pool: CheckPool
    stream: CheckStream
    at: float
    committed: bool = False


class Handoff:
    """Uploads kept for this process's worker, by SHA-256 digest. ``clock``: seconds, monotonic
    (tests)."""

    def __init__(
        self,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        spec = service_spec()
        self._max_bytes = spec.handoff_max_bytes if max_bytes is None else max_bytes
        self._max_seconds = spec.handoff_max_seconds if max_seconds is None else max_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()  # oldest first
        self._size = 0
        self._workers = 0
        self._pools: list[CheckPool] = []  # of the running workers that check ahead
        self._started: _Started | None = None

    @contextmanager
    def worker_running(self, pool: CheckPool | None = None) -> Iterator[None]:
        """While a worker of this process runs: uploads committed meanwhile are kept for it;
        with its ``pool``, large uploads are also checked ahead in it."""
        with self._lock:
            self._workers += 1
            if pool is not None:
                self._pools.append(pool)
        try:
            yield
        finally:
            with self._lock:
                self._workers -= 1
                if pool is not None:
                    self._pools.remove(pool)
                    self._stop_started_in(pool)
                if self._workers == 0:
                    self._drop_all()

    def start(
        self, batch_id: int, digest: bytes, raw: bytes, make_job: Callable[[], CheckJob]
    ) -> bool:
        """Start checking an upload being stored (batch ``batch_id``; ``make_job()`` gives
        the job as the worker will make it) in a running worker's pool, if there is one, it
        wants the upload and nothing else is checked ahead. Returns whether it started: the
        caller then cancels it (:meth:`cancel`) should the upload not be committed."""
        with self._lock:
            self._expire()
            pool = self._pools[-1] if self._pools else None
            if (
                pool is None
                or self._started is not None
                or type(raw) is not bytes
                or len(raw) > self._max_bytes
                or not pool.wants(raw)
            ):
                return False
            try:
                job = make_job()
                stream = pool.stream(raw, job)
            except Exception as exc:  # only a head start: never the upload's failure
                log.warning("check ahead not started (%s)", type(exc).__name__)
                return False
            if stream is None:
                return False
            self._started = _Started(batch_id, digest, job, pool, stream, self._clock())
            return True

    def cancel(self, digest: bytes) -> None:
        """Stop checking ahead the upload with this digest (its transaction rolled back)."""
        with self._lock:
            if self._started is not None and self._started.digest == digest:
                self._stop_started()

    def take_started(
        self, batch_id: int, digest: bytes, job: CheckJob, pool: CheckPool
    ) -> CheckStream | None:
        """The check started ahead in ``pool`` for this batch, its digest and ``job``, removed
        from here; ``None`` if there is none. One started for this batch id but anything else
        is cancelled; one for another batch stays (a batch received before it is processed
        first)."""
        with self._lock:
            self._expire()
            started = self._started
            if started is None or started.batch_id != batch_id:
                return None
            if (started.digest, started.job, started.pool) == (digest, job, pool):
                self._started = None
                return started.stream
            self._stop_started()
            return None

    def keep(self, digest: bytes, raw: bytes) -> None:
        """Keep a just-committed upload if a worker of this process will process it."""
        with self._lock:
            self._expire()
            if self._started is not None and self._started.digest == digest:
                self._started.committed = True
            if (
                self._workers == 0
                or type(raw) is not bytes  # immutable: what was hashed is what is taken
                or len(raw) > self._max_bytes
                or digest in self._kept
            ):
                return
            self._kept[digest] = (raw, self._clock())
            self._size += len(raw)
            while self._size > self._max_bytes:
                self._pop_oldest()

    def take(self, digest: bytes) -> bytes | None:
        """The upload with this digest, removed from here; ``None`` if not kept."""
        with self._lock:
            self._expire()
            item = self._kept.pop(digest, None)
            if item is None:
                return None
            self._size -= len(item[0])
            return item[0]

    def forget(self) -> None:
        """Drop everything kept (the worker found no batch waiting: whatever is kept was taken
        by another worker, or will be read from the store). An upload checked ahead whose
        transaction has not ended yet stays: the worker could not see its batch yet."""
        with self._lock:
            started = self._started
            pending = started is not None and not started.committed
            if pending:
                self._started = None  # kept out of _drop_all
            self._drop_all()
            if pending:
                self._started = started

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            self._expire()
            return self._size

    def _expire(self) -> None:
        limit = self._clock() - self._max_seconds
        while self._kept and next(iter(self._kept.values()))[1] < limit:
            self._pop_oldest()
        if self._started is not None and self._started.at < limit:
            self._stop_started()

    def _stop_started(self) -> None:
        if self._started is not None:
            self._started.stream.cancel()
            self._started = None

    def _stop_started_in(self, pool: CheckPool) -> None:
        if self._started is not None and self._started.pool is pool:
            self._stop_started()

    def _pop_oldest(self) -> None:
        _, (raw, _) = self._kept.popitem(last=False)
        self._size -= len(raw)

    def _drop_all(self) -> None:
        self._kept.clear()
        self._size = 0
        self._stop_started()


handoff = Handoff()
