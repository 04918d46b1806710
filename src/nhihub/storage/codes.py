"""Code lists of the storage layer (institution levels, channels, statuses...), loaded from
``data/codes.tsv``. Stored values are the ``code`` column; names are for display."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def code_table() -> dict[str, dict[str, tuple[str, str]]]:
    """domain -> code -> (zh-TW name, English name), in file order."""
    text = resources.files("nhihub.storage").joinpath("data/codes.tsv").read_text("utf-8")
    rows = csv.DictReader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    table: dict[str, dict[str, tuple[str, str]]] = {}
    for r in rows:
        table.setdefault(r["domain"], {})[r["code"]] = (r["name_zh"], r["name_en"])
    return table


def codes(domain: str) -> tuple[str, ...]:
    """The stored values of one domain; ``KeyError`` for an unknown domain."""
    return tuple(code_table()[domain])


def check_code(domain: str, value: str) -> str:
    """Return ``value`` if it belongs to ``domain``, else raise ``ValueError`` (zh-TW / English)."""
    if value not in code_table()[domain]:
        allowed = ", ".join(codes(domain))
        raise ValueError(
            f"{domain} 不接受 {value!r}（可用：{allowed}）/ invalid {domain} {value!r}"
        )
    return value
