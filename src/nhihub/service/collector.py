"""One pause of Python's garbage collector per process, shared by the threads that use it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CollectorPause:
    """Pauses Python's cyclic garbage collector while batches (or parts of one) are processed
    in this process.

    A batch holds tens of thousands of checked records (acyclic: reference counting frees
    them); the collector would scan them again and again as they pile up, which cost about a
    fifth of the storing process's time, and about 7% of a checking process's. Cycles made
    meanwhile are collected once the last batch in progress ends. The collector is
    process-wide, hence one pause per process, shared by the threads that process batches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._resume:
                    gc.enable()


collector_paused = CollectorPause()
