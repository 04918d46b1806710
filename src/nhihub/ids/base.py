"""What the identifier validators share: input normalisation, the verdict type and the message
tables (``data/reasons.tsv``, ``data/kinds.tsv``)."""

from __future__ import annotations

import csv
import unicodedata
from functools import cache
from importlib import resources
from typing import Literal, NamedTuple

Gender = Literal["M", "F"]

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Verdict(NamedTuple):
    """What a validator found: the canonical form, ``None`` or a reason code, and the gender
    encoded in the number (only for valid numbers that encode one)."""

    normalized: str
    reason: str | None
    gender: Gender | None = None


def normalize(value: str) -> str:
    """Fold what people type into the canonical characters: NFKC (full-width -> half-width),
    white space removed anywhere, ASCII letters upper-cased.

    Only ``a``-``z`` are upper-cased, so a look-alike such as the dotless ``ı`` never becomes a
    valid ``I``.
    """
    folded = unicodedata.normalize("NFKC", value)
    return "".join(folded.split()).translate(_ASCII_UPPER)


def _table(name: str) -> dict[str, tuple[str, str]]:
    text = resources.files("nhihub.ids").joinpath(f"data/{name}").read_text("utf-8")
    rows = csv.reader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    next(rows)  # header
    return {code: (zh, en) for code, zh, en in rows}


@cache
def reasons() -> dict[str, tuple[str, str]]:
    """Reason code -> (zh-TW message, English message)."""
    return _table("reasons.tsv")


@cache
def kind_names() -> dict[str, tuple[str, str]]:
    """Kind -> (zh-TW name, English name); includes ``unknown``."""
    return _table("kinds.tsv")


def reason_message(reason: str) -> tuple[str, str]:
    """(zh-TW, English) message of a reason code; ``KeyError`` for an unknown code."""
    return reasons()[reason]
