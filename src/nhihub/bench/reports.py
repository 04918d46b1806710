"""The 1.0-vs-2.0 pre-check report over a large region, on SQLite and on PostgreSQL.

Issue #5: the report over 7 days of a large region (2 million 1.0 and 2 million 2.0 pre-check
records) within 30 seconds on each backend. The rows are loaded straight into ``v1_records`` and
``precheck_records`` (SQLite: ``executemany`` in one transaction; PostgreSQL: ``COPY``), the
match indexes built after the load, then timed:

- *region*: the report for the region as a whole (``institution=None``, the insurer's view);
- *every institution*: the report run once for each institution of the region, one after the
  other (the sum is timed: what a night job producing every institution's report costs).

The region: ``INSTITUTIONS`` institutions of very different sizes (a few medical centres, many
clinics: weights 1/rank^0.8), visits over the 7 days before the as-of date (Sundays quiet);
98.5 % of the 1.0 records have a pre-check copy (99 % of those successful, 95 % via Web-API), the
rest of the 2.0 rows are pre-checks without a 1.0 record. PostgreSQL runs only when
``NHIHUB_BENCH_PG_DSN`` or ``NHIHUB_TEST_PG_DSN`` names a server (a scratch database is created
and dropped). ``quick`` uses 20,000 + 20,000 rows.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, text

from nhihub.bench import Figure
from nhihub.reports.precheck_db import precheck_report
from nhihub.storage import create_engine_for, upgrade
from nhihub.storage.schema import institutions, precheck_records, upload_batches, v1_records

TARGET_SECONDS = 30.0
FULL_ROWS = 2_000_000
QUICK_ROWS = 20_000
INSTITUTIONS = 300
QUICK_INSTITUTIONS = 20
AS_OF = dt.date(2024, 3, 21)
PG_ENV = ("NHIHUB_BENCH_PG_DSN", "NHIHUB_TEST_PG_DSN")

# Shares of the synthetic region (not NHI statistics: plausible values for a load test).
MATCHED = 0.985  # 1.0 records with a 2.0 pre-check copy
V1_SUCCESS = 0.995
PRECHECK_SUCCESS = 0.99
WEB_API = 0.95
CATEGORIES = ("01",) * 14 + ("02", "03", "04", "05", "06", "AA", "AC", "AE", "AF")

MATCH_COLUMNS = (
    "batch_id",
    "record_index",
    "institution_code",
    "person_hash",
    "birth_date",
    "visit_at",
    "visit_date",
    "category",
    "success",
)
PRECHECK_COLUMNS = (*MATCH_COLUMNS, "m15", "channel")

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Chunk:
    """The rows of one institution and one visit date: a 1.0 batch and two pre-check batches."""

    batches: list[Row]  # (id, institution, channel, kind)
    v1: list[Row]
    precheck: list[Row]


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, exactly (largest remainders)."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    parts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[
        : total - sum(parts)
    ]:
        parts[i] += 1
    return parts


def institution_codes(n: int) -> list[str]:
    return [f"35{i:08d}" for i in range(1, n + 1)]


def _precheck(
    rng: random.Random,
    ids: tuple[int, int, int],
    counters: list[int],
    code: str,
    key: Row,
    ok: bool,
) -> Row:
    """A pre-check row: Web-API (batch ids[1]) or VPN (ids[2]), numbered per batch."""
    web = rng.random() < WEB_API
    slot = 0 if web else 1
    counters[slot] += 1
    m15 = f"{rng.getrandbits(80):020X}"
    channel = "web-api" if web else "vpn"
    return (ids[1 + slot], counters[slot], code, *key, ok, m15, channel)


def region_chunks(rows: int, n_institutions: int, as_of: dt.date, seed: int = 5) -> Iterator[Chunk]:
    """The synthetic region: ``rows`` 1.0 records and ``rows`` pre-check records."""
    rng = random.Random(seed)
    codes = institution_codes(n_institutions)
    days = [as_of - dt.timedelta(days=d) for d in range(7, 0, -1)]
    day_weights = [0.2 if d.weekday() == 6 else 1.0 for d in days]
    per_institution = _split(rows, [1 / (i + 1) ** 0.8 for i in range(n_institutions)])
    birth_base = dt.date(1930, 1, 1)
    batch_id = 0
    for code, count in zip(codes, per_institution, strict=True):
        for day, n in zip(days, _split(count, day_weights), strict=True):
            ids = (batch_id + 1, batch_id + 2, batch_id + 3)
            batch_id += 3
            batches = [(ids[0], code, "vpn", "A1"), (ids[1], code, "web-api", "A2"),
                       (ids[2], code, "vpn", "A2")]  # fmt: skip
            v1: list[Row] = []
            pre: list[Row] = []
            pre_index = [0, 0]
            midnight = dt.datetime.combine(day, dt.time())

            for i in range(1, n + 1):
                at = midnight + dt.timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600))
                key = (
                    rng.randbytes(32),
                    birth_base + dt.timedelta(days=rng.randrange(33_000)),
                    at,
                    day,
                    rng.choice(CATEGORIES),
                )
                v1.append((ids[0], i, code, *key, rng.random() < V1_SUCCESS))
                if rng.random() < MATCHED:
                    pre.append(
                        _precheck(rng, ids, pre_index, code, key, rng.random() < PRECHECK_SUCCESS)
                    )
            while len(pre) < n:  # pre-checks with no 1.0 record
                at = midnight + dt.timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600))
                key = (rng.randbytes(32), birth_base, at, day, rng.choice(CATEGORIES))
                pre.append(_precheck(rng, ids, pre_index, code, key, True))
            yield Chunk(batches, v1, pre)


# -- loading -------------------------------------------------------------------------------------


def _prepare(conn: Connection, codes: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        institutions.insert(),
        [{"code": c, "name": f"bench {c}", "level": "clinic", "created_at": now} for c in codes],
    )


def _batch_params(chunk: Chunk, received: dt.datetime) -> list[dict[str, Any]]:
    return [
        {"id": b[0], "institution_code": b[1], "channel": b[2], "kind": b[3],
         "format_version": "1.0" if b[3] == "A1" else "2.0", "file_size": 0,
         "raw_sha256": b"\0" * 32, "received_at": received, "status": "done"}
        for b in chunk.batches
    ]  # fmt: skip


def _drop_indexes(conn: Connection) -> None:
    for table in (v1_records, precheck_records):
        for index in table.indexes:
            index.drop(conn)


def _create_indexes(conn: Connection) -> None:
    for table in (v1_records, precheck_records):
        for index in table.indexes:
            index.create(conn)


def _sqlite_value(value: Any) -> Any:
    # The text SQLAlchemy's SQLite dialect writes for DATE / DATETIME (the report compares them).
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )


def load_sqlite(conn: Connection, chunks: Iterator[Chunk], codes: list[str]) -> int:
    """Bulk-load on SQLite inside the caller's transaction; returns the rows loaded."""
    _prepare(conn, codes)
    _drop_indexes(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    v1_sql = _insert_sql(v1_records, MATCH_COLUMNS)
    pre_sql = _insert_sql(precheck_records, PRECHECK_COLUMNS)
    received = dt.datetime.now(dt.UTC)
    loaded = 0
    for chunk in chunks:
        conn.execute(upload_batches.insert(), _batch_params(chunk, received))
        cursor.executemany(v1_sql, [tuple(map(_sqlite_value, r)) for r in chunk.v1])
        cursor.executemany(pre_sql, [tuple(map(_sqlite_value, r)) for r in chunk.precheck])
        loaded += len(chunk.v1) + len(chunk.precheck)
    _create_indexes(conn)
    return loaded


def load_postgresql(conn: Connection, chunks: Iterator[Chunk], codes: list[str]) -> int:
    """Bulk-load on PostgreSQL with COPY inside the caller's transaction."""
    _prepare(conn, codes)
    _drop_indexes(conn)
    raw = conn.connection.driver_connection
    received = dt.datetime.now(dt.UTC)
    loaded = 0
    pending: list[Chunk] = []

    def flush() -> None:
        cursor = raw.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY v1_records ({', '.join(MATCH_COLUMNS)}) FROM STDIN") as copy:
            for c in pending:
                for r in c.v1:
                    copy.write_row(r)
        cols = ", ".join(PRECHECK_COLUMNS)
        with cursor.copy(f"COPY precheck_records ({cols}) FROM STDIN") as copy:
            for c in pending:
                for r in c.precheck:
                    copy.write_row(r)
        pending.clear()

    for chunk in chunks:
        conn.execute(upload_batches.insert(), _batch_params(chunk, received))
        pending.append(chunk)
        loaded += len(chunk.v1) + len(chunk.precheck)
        if len(pending) >= 200:
            flush()
    flush()
    _create_indexes(conn)
    return loaded


# -- timing --------------------------------------------------------------------------------------


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _analyze(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE v1_records"))
            conn.execute(text("VACUUM ANALYZE precheck_records"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def measure(engine: Engine, backend: str, rows: int, n_institutions: int) -> list[Figure]:
    """Load the region into the (empty, migrated) database behind ``engine`` and time it."""
    codes = institution_codes(n_institutions)
    load = load_postgresql if backend == "PostgreSQL" else load_sqlite
    loaded = 0

    def do_load() -> None:
        nonlocal loaded
        with engine.begin() as conn:
            loaded = load(conn, region_chunks(rows, n_institutions, AS_OF), codes)

    load_s = _timed(do_load)
    _analyze(engine)
    label = f"{rows:,} + {rows:,}"
    with engine.connect() as conn:
        region_s = _timed(lambda: precheck_report(conn, None, AS_OF))
        every_s = _timed(lambda: [precheck_report(conn, c, AS_OF) for c in codes])
    target = f"<= {TARGET_SECONDS:.0f} s"
    return [
        Figure(f"{backend}: load {label} rows", loaded / load_s, "rows/s"),
        Figure(f"{backend}: report, region ({label})", region_s, "s", target,
               region_s <= TARGET_SECONDS),
        Figure(f"{backend}: report, each of {n_institutions} institutions", every_s, "s",
               target, every_s <= TARGET_SECONDS),
    ]  # fmt: skip


def _sqlite(rows: int, n_institutions: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="nhihub-bench-") as tmp:
        engine = create_engine_for(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            upgrade(engine)
            return measure(engine, "SQLite", rows, n_institutions)
        finally:
            engine.dispose()


def _pg_dsn() -> str | None:
    for name in PG_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _postgresql(dsn: str, rows: int, n_institutions: int) -> list[Figure]:
    admin = create_engine_for(dsn, isolation_level="AUTOCOMMIT")
    name = f"nhihub_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine_for(admin.url.set(database=name))
        try:
            upgrade(engine)
            return measure(engine, "PostgreSQL", rows, n_institutions)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(quick: bool) -> list[Figure]:
    rows = QUICK_ROWS if quick else FULL_ROWS
    n_institutions = QUICK_INSTITUTIONS if quick else INSTITUTIONS
    figures = _sqlite(rows, n_institutions)
    dsn = _pg_dsn()
    if dsn is not None:
        figures += _postgresql(dsn, rows, n_institutions)
    return figures
