"""Benchmarks run by ``make bench``. Each module exposes ``run(quick: bool) -> list[Figure]``.

Targets are ratios measured in the same run (e.g. nhihub's rate over plain lxml parsing), so they
do not depend on how fast the machine is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
