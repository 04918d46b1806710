"""Helpers shared by the repository modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from nhihub.storage.rows import utcnow

T = TypeVar("T")

# Rows per statement for IN (...) lists and multi-row inserts: far below SQLite's 32 766 and
# PostgreSQL's 65 535 bound parameters even with ~20 columns per row.
CHUNK = 500


def now_or(now: dt.datetime | None) -> dt.datetime:
    return utcnow() if now is None else now


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT supporting ON CONFLICT (both SQLite and PostgreSQL have it)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
