"""Code tables (代碼表) of the upload formats, loaded from ``data/codes/<name>.tsv``.

Every table has the columns ``code name_zh name_en`` and may add columns of its own (``accumulates``
in ``m07``, ``max_mb2`` in ``h00`` ...); lines starting with ``#`` are comments naming the source.
The helpers below answer the questions the checks ask, so no code value is written in code.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One row of a code table; ``extra`` holds the table's own columns (text as written)."""

    code: str
    name_zh: str
    name_en: str
    extra: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SequenceForm:
    """A regular form of the visit sequence number M13 (``m13-forms``): ``prefix`` followed by
    ``width`` characters of ``chars`` (``digits`` or ``alnum``), within ``low``..``high`` when
    both are set (digits only)."""

    kind: str
    prefix: str
    chars: str
    width: int
    low: int | None
    high: int | None

    def matches(self, value: str) -> bool:
        if len(value) != len(self.prefix) + self.width or not value.startswith(self.prefix):
            return False
        rest = value[len(self.prefix) :]
        if not rest.isascii():
            return False
        if self.chars == "digits":
            if not rest.isdigit():
                return False
            n = int(rest)
            return (self.low is None or n >= self.low) and (self.high is None or n <= self.high)
        return rest.isalnum() and rest.upper() == rest


def _data_dir() -> resources.abc.Traversable:
    return resources.files("nhihub.specs").joinpath("data/codes")


@cache
def table_names() -> tuple[str, ...]:
    """The names of every code table (file names without ``.tsv``), sorted."""
    return tuple(sorted(p.name[:-4] for p in _data_dir().iterdir() if p.name.endswith(".tsv")))


@cache
def code_entries(name: str) -> Mapping[str, CodeEntry]:
    """Every row of table ``name`` by code, in file order (read once, read-only)."""
    if name not in table_names():
        raise KeyError(f"unknown code table {name!r}")
    text = _data_dir().joinpath(f"{name}.tsv").read_text("utf-8")
    rows = csv.DictReader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    entries: dict[str, CodeEntry] = {}
    for row in rows:
        code = row.pop("code")
        if code in entries:
            raise ValueError(f"code table {name}: duplicate code {code!r}")
        entries[code] = CodeEntry(
            code=code,
            name_zh=row.pop("name_zh"),
            name_en=row.pop("name_en"),
            extra=MappingProxyType({k: v or "" for k, v in row.items()}),
        )
    return MappingProxyType(entries)


def code_table(name: str) -> dict[str, str]:
    """Table ``name`` as ``{code: official zh-TW name}`` (a fresh dict)."""
    return {code: e.name_zh for code, e in code_entries(name).items()}


@cache
def codes(name: str) -> frozenset[str]:
    """The codes of table ``name``, for fast membership tests."""
    return frozenset(code_entries(name))


def code_name(name: str, code: str, lang: str = "zh") -> str | None:
    """The zh-TW (``lang="zh"``) or English name of ``code`` in table ``name``, or ``None``."""
    entry = code_entries(name).get(code)
    if entry is None:
        return None
    return entry.name_en if lang == "en" else entry.name_zh


def _column(name: str, column: str) -> dict[str, str]:
    return {code: e.extra[column] for code, e in code_entries(name).items()}


# -- helpers the checks use ------------------------------------------------------------------


@cache
def accumulating_categories() -> frozenset[str]:
    """Visit categories (M07) that accumulate a visit sequence number (累計就醫序號)."""
    return frozenset(c for c, v in _column("m07", "accumulates").items() if v == "yes")


@cache
def abnormal_sequence_codes() -> frozenset[str]:
    """The announced abnormal visit sequence numbers (公告之異常代碼) for M13."""
    return codes("m13-abnormal")


@cache
def sequence_forms() -> tuple[SequenceForm, ...]:
    """The regular forms of M13 (card, virtual card, preventive care)."""
    out = []
    for code, e in code_entries("m13-forms").items():
        low, high = e.extra["min"], e.extra["max"]
        out.append(
            SequenceForm(
                kind=code,
                prefix=e.extra["prefix"],
                chars=e.extra["chars"],
                width=int(e.extra["width"]),
                low=int(low) if low else None,
                high=int(high) if high else None,
            )
        )
    return tuple(out)


def sequence_kind(value: str) -> str | None:
    """What an M13 value is: a form name of ``m13-forms`` (``card``, ``virtual-w`` ...),
    ``abnormal`` for an announced abnormal code, or ``None``. Abnormal codes win over forms
    (IC09 is both an abnormal code and IC**)."""
    if value in abnormal_sequence_codes():
        return "abnormal"
    for form in sequence_forms():
        if form.matches(value):
            return form.kind
    return None


@cache
def allowed_categories() -> Mapping[str, frozenset[str]]:
    """Medical-care category (M56) -> the visit categories (M07) it allows (D066). Categories
    without an entry are not restricted."""
    return MappingProxyType(
        {code: frozenset(v.split(",")) for code, v in _column("m56-m07", "m07").items()}
    )


@cache
def max_order_lines() -> Mapping[str, int]:
    """Data type (H00 / A00) -> most MB2 lines a record may carry (AG)."""
    return MappingProxyType({c: int(v) for c, v in _column("h00", "max_mb2").items()})


@cache
def replacement_marks() -> frozenset[str]:
    """Card-replacement marks (M12) that make a visit a 補卡 case."""
    return frozenset(c for c, v in _column("m12", "replacement").items() if v == "yes")


@cache
def birth_order() -> Mapping[str, int]:
    """Newborn visit mark (M10) -> the birth order it stands for (BB02)."""
    return MappingProxyType({c: int(v) for c, v in _column("m10", "order").items()})


@cache
def order_count_fields() -> Mapping[str, str]:
    """Prescription kind (D04) -> the MB1 field with its number of dispensings (M24-M29)."""
    return MappingProxyType(_column("d04", "count_field"))


@cache
def order_reference_tables() -> Mapping[str, str]:
    """Order type (D02) -> the master file its order code (D06) belongs to, where known."""
    return MappingProxyType({c: v for c, v in _column("d02", "reference").items() if v})
