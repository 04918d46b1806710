"""docs/storage.md describes every table and column of the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nhihub.storage import code_table, codes
from nhihub.storage.schema import metadata

DOC = (Path(__file__).resolve().parents[2] / "docs" / "storage.md").read_text(encoding="utf-8")


def _section(table: str) -> str:
    match = re.search(rf"^### `{table}`\n(.*?)(?=^### |^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/storage.md has no section for table {table}"
    return match.group(1)


@pytest.mark.parametrize("table", sorted(metadata.tables))
def test_every_column_is_documented(table: str) -> None:
    section = _section(table)
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {
        name for line in rows for name in re.findall(r"`([a-z0-9_]+)`", line.split("|")[1])
    }
    missing = sorted(c.name for c in metadata.tables[table].c if c.name not in documented)
    assert not missing, f"{table}: columns missing from docs/storage.md: {missing}"


def test_every_stored_code_is_documented() -> None:
    for domain in (
        "institution_level",
        "token_role",
        "channel",
        "upload_kind",
        "batch_status",
        "refill_state",
    ):
        for code in codes(domain):
            assert f"`{code}`" in DOC, f"{domain} {code} not in docs/storage.md"
    assert all(zh and en for table in code_table().values() for zh, en in table.values())
