"""The check-code catalogue (檢核代碼表), loaded from ``data/checkcodes.tsv``.

Every NHI check code with its severity, NHI's official zh-TW wording (reproduced exactly: users
know it by heart), nhihub's English translation, whether nhihub checks it (``claimed``) and what
the check needs besides the record (``needs``). See docs/checks.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Literal

Severity = Literal["error", "warning"]
SEVERITIES: tuple[str, ...] = ("error", "warning")

# What a check needs besides the record itself (column ``needs``); ``ref:<table>`` names a master
# file of :class:`nhihub.checks.References`.
NEEDS: tuple[str, ...] = ("", "codec", "file", "state", "nhi", "spec", "scope")
REFERENCE_PREFIX = "ref:"

# NHI codes: 2 digits (master data), Y/C/D/E + 3 digits, A*/B* + optional 2 digits; project-own
# codes NH + 3 digits. Used by the catalogue test to find codes in source files.
CODE_PATTERN = re.compile(r"^(?:\d{2}|[YCDE]\d{3}|[AB][A-Z](?:\d{2})?|NH\d{3})$")


@dataclass(frozen=True, slots=True)
class CheckCode:
    code: str
    severity: Severity
    message_zh: str
    message_en: str
    claimed: bool
    needs: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def reference_table(self) -> str | None:
        """The master file this check needs (``drugs`` ...), or ``None``."""
        return self.needs[len(REFERENCE_PREFIX) :] if self.needs.startswith("ref:") else None


def _parse(text: str) -> dict[str, CheckCode]:
    rows = csv.DictReader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    out: dict[str, CheckCode] = {}
    for r in rows:
        code = r["code"]
        severity = r["severity"]
        needs = r["needs"] or ""
        if not CODE_PATTERN.match(code):
            raise ValueError(f"check code {code!r} does not match the code pattern")
        if code in out:
            raise ValueError(f"check code {code!r} listed twice")
        if severity not in SEVERITIES:
            raise ValueError(f"check code {code}: unknown severity {severity!r}")
        if r["claimed"] not in ("yes", "no"):
            raise ValueError(f"check code {code}: claimed must be yes or no")
        if needs not in NEEDS and not needs.startswith(REFERENCE_PREFIX):
            raise ValueError(f"check code {code}: unknown needs {needs!r}")
        out[code] = CheckCode(
            code=code,
            severity="error" if severity == "error" else "warning",
            message_zh=r["message_zh"],
            message_en=r["message_en"],
            claimed=r["claimed"] == "yes",
            needs=needs,
        )
    return out


@cache
def catalogue() -> Mapping[str, CheckCode]:
    """Every check code by code, in the catalogue's order (read once, read-only)."""
    text = resources.files("nhihub.specs").joinpath("data/checkcodes.tsv").read_text("utf-8")
    return MappingProxyType(_parse(text))


def message(code: str, lang: str = "zh") -> str:
    """The message of ``code``: NHI's zh-TW wording (``lang="zh"``) or the English translation
    (``lang="en"``). An unknown code gives the code itself, so rendering never fails."""
    entry = catalogue().get(code)
    if entry is None:
        return code
    return entry.message_en if lang == "en" else entry.message_zh


def severity(code: str) -> Severity:
    """``error`` (rejects the record) or ``warning`` (keeps it); unknown codes are errors."""
    entry = catalogue().get(code)
    return "error" if entry is None else entry.severity


def is_error(code: str) -> bool:
    return severity(code) == "error"


@cache
def error_codes() -> frozenset[str]:
    """Codes of severity ``error`` (for fast validity tests on the hot path)."""
    return frozenset(c for c, e in catalogue().items() if e.severity == "error")


@cache
def warning_codes() -> frozenset[str]:
    return frozenset(c for c, e in catalogue().items() if e.severity == "warning")


def claimed_codes() -> tuple[str, ...]:
    """The codes nhihub checks, in catalogue order."""
    return tuple(c for c, e in catalogue().items() if e.claimed)
