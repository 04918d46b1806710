"""Field tables of the upload formats (欄位表), loaded from ``data/fields-<version>.tsv``.

Columns of the TSV: ``segment id name_zh name_en type length`` where ``type`` is
``X`` (text), ``9`` (digits, fixed width when ``length`` is set), ``N`` (a number, may carry a
decimal point), ``D`` (ROC date YYYMMDD) or ``T`` (ROC date-time YYYMMDDHHMMSS); ``length`` is the
maximum length in characters (empty: not limited by the format); ``source`` says where the width
comes from (``ref``, ``card``, ``claims`` or ``decided``; see docs/file-format.md).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
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
    source: str = ""


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
            source=r.get("source") or "",
        )
        for r in rows
    )


@cache
def by_id(version: str) -> dict[str, FieldSpec]:
    return {f.id: f for f in fields(version)}


def segment_fields(version: str, segment: str) -> tuple[FieldSpec, ...]:
    return tuple(f for f in fields(version) if f.segment == segment)


@cache
def segment_ids(version: str, segment: str) -> frozenset[str]:
    """The field ids allowed in one segment (MSH, MB1, MB2) of a format version."""
    return frozenset(f.id for f in segment_fields(version, segment))


def detect_version(header_ids: Iterable[str]) -> str | None:
    """The format version whose header (MSH) fields appear among ``header_ids``, if any.

    2.0 wins when both versions' header fields are present: its checks then flag the others.
    """
    present = set(header_ids)
    for version in VERSIONS:
        if present & segment_ids(version, "MSH"):
            return version
    return None
