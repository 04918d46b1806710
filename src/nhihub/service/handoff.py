"""Uploads handed from the receiving side to the worker of the same process.

The embedded default (``nhihub serve``, ``nhihub ingest``) receives an upload and processes it in
one process. The upload is stored encrypted first (that copy is what counts: it survives a
crash); without the hand-off the worker then read it back and decrypted it, about 40 ms for a
22 MB upload, before anything else could start. While a worker runs in this process
(:meth:`Handoff.worker_running`), :func:`~nhihub.service.uploads.submit_upload` keeps the bytes
here and the worker takes them.

Kept by their SHA-256, which the batch stores: bytes found under a batch's digest are that
batch's bytes whatever happened in between (a rolled-back upload, another database in the same
process), so nothing needs invalidating. Memory is bounded (``handoff_max_bytes`` of
``data/service.json``, the oldest dropped first); a process with no worker running keeps nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from nhihub.service.spec import service_spec


class Handoff:
    """Uploads kept for this process's worker, by SHA-256 digest."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self._max = service_spec().handoff_max_bytes if max_bytes is None else max_bytes
        self._lock = threading.Lock()
        self._kept: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._workers = 0

    @contextmanager
    def worker_running(self) -> Iterator[None]:
        """While a worker of this process runs: uploads stored meanwhile are kept for it."""
        with self._lock:
            self._workers += 1
        try:
            yield
        finally:
            with self._lock:
                self._workers -= 1
                if self._workers == 0:
                    self._kept.clear()
                    self._size = 0

    def keep(self, digest: bytes, raw: bytes) -> None:
        """Keep a just-stored upload if a worker of this process will process it."""
        with self._lock:
            if self._workers == 0 or len(raw) > self._max or digest in self._kept:
                return
            self._kept[digest] = raw
            self._size += len(raw)
            while self._size > self._max:
                _, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped)

    def take(self, digest: bytes) -> bytes | None:
        """The upload with this digest, removed from here; ``None`` if not kept."""
        with self._lock:
            raw = self._kept.pop(digest, None)
            if raw is not None:
                self._size -= len(raw)
            return raw

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            return self._size


handoff = Handoff()
