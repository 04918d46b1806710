"""What the reader and the writer need to know beyond the field tables, loaded from
``data/reader.json``: the element layout, accepted encodings, limits, the check code reported for
each kind of structural problem, and the bilingual details of file errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from nhihub.specs.fields import VERSIONS, segment_ids


@dataclass(frozen=True, slots=True)
class Layout:
    """Element names of the file layout: RECS > REC > (MSH, MB > (MB1, MB2*))."""

    root: str
    record: str
    header: str
    body: str
    visit: str
    order: str

    @property
    def structural(self) -> frozenset[str]:
        return frozenset((self.root, self.record, self.header, self.body, self.visit, self.order))


@dataclass(frozen=True, slots=True)
class Limits:
    max_text: int  # longest text kept of a field without a width; longer -> AC, text cut
    max_orders: int  # MB2 lines kept per record; more are counted, not kept
    release_bytes: int  # bytes read inside one record before its finished parts are released
    max_pending_bytes: int  # bytes read without anything to release -> the file is rejected
    max_prolog_bytes: int  # bytes before the root element
    max_file_errors: int  # non-fatal file errors before reading stops
    max_decode_errors: int  # invalid byte sequences before reading stops
    max_problems: int  # structural findings kept per record
    chunk_size: int  # bytes read per step


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    layout: Layout
    encodings: dict[str, str]  # declared name (lower case) -> Python codec
    default_codec: str
    writer_labels: dict[str, str]  # codec -> name written in the XML declaration
    limits: Limits
    codes: dict[str, str]  # kind of problem -> check code
    libxml2_errors: dict[str, int]
    details: dict[str, str]
    writer_errors: dict[str, str]
    field_names: frozenset[str]  # every field id of every version

    def detail(self, key: str, **values: object) -> str:
        return self.details[key].format(**values)

    def writer_error(self, key: str, **values: object) -> str:
        return self.writer_errors[key].format(**values)

    def codec(self, label: str) -> str | None:
        """The Python codec for an encoding name as declared or as passed to the writer."""
        return self.encodings.get(label.strip().lower())


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


@cache
def reader_spec() -> ReaderSpec:
    """``data/reader.json`` (read once)."""
    text = resources.files("nhihub.formats").joinpath("data/reader.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    names = frozenset(
        fid for v in VERSIONS for seg in ("MSH", "MB1", "MB2") for fid in segment_ids(v, seg)
    )
    return ReaderSpec(
        layout=Layout(**raw["layout"]),
        encodings=_plain(raw["encodings"]),
        default_codec=raw["default_codec"],
        writer_labels=_plain(raw["writer_labels"]),
        limits=Limits(**raw["limits"]),
        codes=_plain(raw["codes"]),
        libxml2_errors=_plain(raw["libxml2_errors"]),
        details=_plain(raw["details"]),
        writer_errors=_plain(raw["writer_errors"]),
        field_names=names,
    )
