"""Field tables of the upload formats (欄位表), loaded from ``data/fields-<version>.tsv``.

Columns of the TSV: ``segment id name_zh name_en type length`` where ``type`` is
``X`` (text), ``9`` (digits, fixed width when ``length`` is set), ``N`` (a number, may carry a
decimal point), ``D`` (ROC date YYYMMDD) or ``T`` (ROC date-time YYYMMDDHHMMSS); ``length`` is the
maximum length in characters (empty: not limited by the format).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

VERSIONS = ("2.0", "1.0")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    segment: str  # MSH, MB1 or MB2
    id: str
    name_zh: str
    name_en: str
    type: str
    length: int | None


@cache
def fields(version: str) -> tuple[FieldSpec, ...]:
    """Every field of a format version, in file order."""
    if version not in VERSIONS:
        raise ValueError(f"unknown format version {version!r}")
    text = resources.files("nhihub.specs").joinpath(f"data/fields-{version}.tsv").read_text("utf-8")
    rows = csv.DictReader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    return tuple(
        FieldSpec(
            segment=r["segment"],
            id=r["id"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            type=r["type"],
            length=int(r["length"]) if r["length"] else None,
        )
        for r in rows
    )


@cache
def by_id(version: str) -> dict[str, FieldSpec]:
    return {f.id: f for f in fields(version)}


def segment_fields(version: str, segment: str) -> tuple[FieldSpec, ...]:
    return tuple(f for f in fields(version) if f.segment == segment)
