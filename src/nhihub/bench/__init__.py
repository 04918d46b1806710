"""Benchmarks run by ``make bench``. Each module exposes ``run(quick: bool) -> list[Figure]``.

Targets are ratios measured in the same run (e.g. nhihub's rate over plain lxml parsing), so they
do not depend on how fast the machine is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None


def best_of(
    work: Callable[[], T], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, T]:
    """Seconds of the fastest of ``repeats`` runs of ``work`` by ``clock`` (wall time by
    default; ``time.process_time`` where other processes on the machine must not count), and
    the result of the last run."""
    best = float("inf")
    result: T
    for _ in range(max(1, repeats)):
        start = clock()
        result = work()
        best = min(best, clock() - start)
    return best, result
