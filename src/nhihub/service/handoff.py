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
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nhihub.service.spec import service_spec


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

    @contextmanager
    def worker_running(self) -> Iterator[None]:
        """While a worker of this process runs: uploads committed meanwhile are kept for it."""
        with self._lock:
            self._workers += 1
        try:
            yield
        finally:
            with self._lock:
                self._workers -= 1
                if self._workers == 0:
                    self._drop_all()

    def keep(self, digest: bytes, raw: bytes) -> None:
        """Keep a just-committed upload if a worker of this process will process it."""
        with self._lock:
            self._expire()
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
        by another worker, or will be read from the store)."""
        with self._lock:
            self._drop_all()

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            self._expire()
            return self._size

    def _expire(self) -> None:
        limit = self._clock() - self._max_seconds
        while self._kept and next(iter(self._kept.values()))[1] < limit:
            self._pop_oldest()

    def _pop_oldest(self) -> None:
        _, (raw, _) = self._kept.popitem(last=False)
        self._size -= len(raw)

    def _drop_all(self) -> None:
        self._kept.clear()
        self._size = 0


handoff = Handoff()
