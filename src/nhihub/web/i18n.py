"""The console's labels in zh-TW (default) and English, from ``data/i18n.tsv``.

One file holds every label of the templates and every message the routes show; a test checks
that each key used (``t(...)`` in a template, ``L(...)`` in Python) exists in both
languages. Names that already exist as data elsewhere (field names, check-code wording, code
tables, report headings) come from there, not from here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

LANGS = ("zh", "en")


@dataclass(frozen=True, slots=True)
class ConsoleSpec:
    """``data/console.json``: languages, session and page settings, masking of fields."""

    languages: Mapping[str, str]  # our code -> HTML lang tag (zh -> zh-TW)
    default_language: str
    session_hours: int
    login_minutes: int
    refresh_seconds: int
    default_range_days: int
    max_range_days: int
    records_per_page: int
    upload_kinds: tuple[str, ...]
    hidden_fields: frozenset[str]
    year_only_fields: frozenset[str]


def _read(name: str) -> str:
    return resources.files("nhihub.web").joinpath(f"data/{name}").read_text("utf-8")


def parse_console_spec(data: Mapping[str, Any]) -> ConsoleSpec:
    languages = MappingProxyType(dict(data["languages"]))
    if set(languages) != set(LANGS) or data["default_language"] not in languages:
        raise ValueError(f"console.json: languages must be {LANGS}")
    return ConsoleSpec(
        languages=languages,
        default_language=str(data["default_language"]),
        session_hours=int(data["session_hours"]),
        login_minutes=int(data["login_minutes"]),
        refresh_seconds=int(data["refresh_seconds"]),
        default_range_days=int(data["default_range_days"]),
        max_range_days=int(data["max_range_days"]),
        records_per_page=int(data["records_per_page"]),
        upload_kinds=tuple(data["upload_kinds"]),
        hidden_fields=frozenset(data["hidden_fields"]),
        year_only_fields=frozenset(data["year_only_fields"]),
    )


@cache
def console_spec() -> ConsoleSpec:
    return parse_console_spec(json.loads(_read("console.json")))


def parse_labels(text: str) -> Mapping[str, Mapping[str, str]]:
    """``key -> {"zh": ..., "en": ...}`` from the TSV (``#`` comment lines, a header line
    ``key zh en``). Duplicate keys and empty labels are refused."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != ["key", *LANGS]:
        raise ValueError("i18n.tsv: the first line must be the header key, zh, en")
    labels: dict[str, Mapping[str, str]] = {}
    for n, row in enumerate(rows[1:], 2):
        if len(row) != 1 + len(LANGS) or not all(cell.strip() for cell in row):
            raise ValueError(f"i18n.tsv line {n}: a key and a label in each language")
        key = row[0].strip()
        if key in labels:
            raise ValueError(f"i18n.tsv line {n}: duplicate key {key!r}")
        labels[key] = MappingProxyType(dict(zip(LANGS, row[1:], strict=True)))
    return MappingProxyType(labels)


@cache
def labels() -> Mapping[str, Mapping[str, str]]:
    return parse_labels(_read("i18n.tsv"))


def normalize_lang(value: str | None) -> str | None:
    """Our language code for what a user or a browser sends (``en``, ``zh-TW``, ``zh_tw``,
    ``zh-Hant``...); ``None`` when it is neither."""
    if not value:
        return None
    tag = value.strip().lower().replace("_", "-")
    for lang in LANGS:
        if tag == lang or tag.startswith(f"{lang}-"):
            return lang
    return None


def text(key: str, lang: str, **values: object) -> str:
    """The label ``key`` in ``lang``, with ``{name}`` placeholders filled from ``values``.
    An unknown key raises ``KeyError``: a page never shows a raw key."""
    label = labels()[key][lang if lang in LANGS else LANGS[0]]
    return label.format(**values) if values else label


def L(key: str) -> str:  # a marker, named like gettext's _()
    """Mark a label key used from Python (the test finds these); returns the key unchanged."""
    return key


@dataclass(frozen=True, slots=True)
class Translator:
    """``t('key')`` inside the templates, bound to one language."""

    lang: str

    def __call__(self, key: str, **values: object) -> str:
        return text(key, self.lang, **values)

    @property
    def html_lang(self) -> str:
        return console_spec().languages[self.lang]

    def pick(self, zh: str, en: str) -> str:
        """One of two texts already available in both languages (from other data files)."""
        return en if self.lang == "en" else zh


__all__ = [
    "LANGS",
    "ConsoleSpec",
    "L",
    "Translator",
    "console_spec",
    "labels",
    "normalize_lang",
    "parse_console_spec",
    "parse_labels",
    "text",
]
