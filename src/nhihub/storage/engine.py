"""Engines for SQLite (the embedded default) and PostgreSQL, and the unit-of-work helper.

SQLite: WAL journal (readers never block the writer), foreign keys on, a busy timeout, and
``synchronous=FULL`` so an acknowledged upload survives a power cut. Python's sqlite3 module
starts transactions on its own and breaks SAVEPOINT; the engine takes over (the recipe from the
SQLAlchemy docs) and emits ``BEGIN`` itself, ``BEGIN IMMEDIATE`` for a unit of work so two
writers queue on the busy timeout instead of failing when one upgrades its read lock.

PostgreSQL: psycopg 3. ``postgresql://`` and ``postgres://`` are rewritten to
``postgresql+psycopg://``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_BUSY_TIMEOUT_MS = 30_000
_WAL_RETRY_SECONDS = 0.01
_WRITE_OPTION = "nhihub_write"


class UnsupportedDatabase(ValueError):
    """A database URL for a backend nhihub does not support."""


def normalize_url(url: str | URL) -> URL:
    """Parse a URL and pick the driver nhihub uses for it (psycopg 3 for PostgreSQL)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises several kinds
        raise UnsupportedDatabase(f"無法解析資料庫網址 / invalid database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    raise UnsupportedDatabase(
        f"不支援的資料庫 {backend!r}（僅 sqlite、postgresql）/ "
        f"unsupported database {backend!r} (sqlite or postgresql only)"
    )


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, ``None`` for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine_for(
    url: str | URL,
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    echo: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``; for a SQLite file, its directory is created if missing."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": busy_timeout_ms / 1000},
            **kwargs,
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would break SAVEPOINT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            _wal(cursor, busy_timeout_ms)
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Put the database in WAL mode (kept in the file: once is enough). Switching a new
    database needs it to itself, and SQLite answers "locked" at once instead of waiting when
    another connection is using it (several processes starting on a new database): wait and try
    again, as long as the busy timeout."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_RETRY_SECONDS)


def is_postgresql(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


_ON_COMMIT = "nhihub.on_commit"  # keys of the connection's info dict
_ON_ROLLBACK = "nhihub.on_rollback"


def on_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` after the :func:`unit_of_work` that ``conn`` belongs to has committed:
    never after a rollback, and never for a transaction begun some other way. It must not
    raise (the commit has happened)."""
    conn.info.setdefault(_ON_COMMIT, []).append(callback)


def on_rollback(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the :func:`unit_of_work` that ``conn`` belongs to has ended
    without committing (its block raised, or the commit failed), before the error goes on. It
    must not raise."""
    conn.info.setdefault(_ON_ROLLBACK, []).append(callback)


@contextmanager
def unit_of_work(engine: Engine, *, cache_kib: int | None = None) -> Iterator[Connection]:
    """One connection and one transaction for a unit of work: committed when the block ends,
    rolled back if it raises (then the :func:`on_commit` callbacks are dropped and the
    :func:`on_rollback` ones run). On SQLite the write lock is taken at the start.

    ``cache_kib`` (SQLite): the connection's page cache for this transaction, restored after
    it ends. A transaction that writes more pages than the cache holds spills dirty pages to the
    WAL before its commit and writes them again later (a large batch's apply: visits, order
    lines, outcomes and their indexes)."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        conn.info.pop(_ON_COMMIT, None)  # the info dict outlives checkouts of the connection
        # held here too: a connection lost meanwhile could not be asked for it
        undo: list[Callable[[], None]] = []
        conn.info[_ON_ROLLBACK] = undo
        dbapi: Any = None
        before = 0
        if cache_kib and conn.dialect.name == "sqlite":
            # on the driver's connection: through SQLAlchemy it would begin a transaction
            dbapi = conn.connection.dbapi_connection
            before = int(dbapi.execute("PRAGMA cache_size").fetchone()[0])
            dbapi.execute(f"PRAGMA cache_size = {-int(cache_kib)}")
        committed = False
        try:
            with conn.begin():
                yield conn
            committed = True
            callbacks: list[Callable[[], None]] = conn.info.pop(_ON_COMMIT, [])
        finally:
            if not conn.invalidated:  # (an invalidated one would reconnect to be asked)
                conn.info.pop(_ON_COMMIT, None)
                conn.info.pop(_ON_ROLLBACK, None)
            if not committed:
                for callback in undo:
                    callback()
            if dbapi is not None:
                try:
                    dbapi.execute(f"PRAGMA cache_size = {before}")  # frees the pages above it
                except sqlite3.Error:
                    conn.invalidate()  # not back to the pool with the larger cache
    for callback in callbacks:
        callback()


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (a plain deferred transaction, rolled back at the end)."""
    with engine.connect() as conn, conn.begin() as trans:
        yield conn
        trans.rollback()
