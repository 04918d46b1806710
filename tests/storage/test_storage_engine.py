from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from nhihub.storage import (
    UnsupportedDatabase,
    create_engine_for,
    create_token,
    normalize_url,
    on_commit,
    on_rollback,
    unit_of_work,
)
from nhihub.storage.engine import read_only


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
        ("sqlite://", "sqlite"),
    ],
)
def test_normalize_url(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "oracle://x"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsupportedDatabase) as info:
        normalize_url(url)
    assert "/" in str(info.value)  # zh-TW / English


def test_sqlite_creates_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "nhihub.db"
    engine = create_engine_for(f"sqlite:///{path}", busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def _scratch_table(engine: Engine) -> None:
    with unit_of_work(engine) as conn:
        conn.execute(text("DROP TABLE IF EXISTS scratch"))
        conn.execute(text("CREATE TABLE scratch (n INTEGER PRIMARY KEY)"))


def test_unit_of_work_commits_or_rolls_back(fresh_engine: Engine) -> None:
    _scratch_table(fresh_engine)
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
    with pytest.raises(RuntimeError), unit_of_work(fresh_engine) as conn:
        conn.execute(text("INSERT INTO scratch VALUES (2)"))
        raise RuntimeError("boom")
    with read_only(fresh_engine) as conn:
        assert conn.execute(text("SELECT n FROM scratch")).scalars().all() == [1]
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("DROP TABLE scratch"))


def test_unit_of_work_widens_sqlite_cache_for_its_transaction_only(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'c.db'}", pool_size=1, max_overflow=0)
    try:
        _scratch_table(engine)
        with read_only(engine) as conn:
            default = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        with unit_of_work(engine, cache_kib=4096) as conn:  # the pool's only connection
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -4096
            conn.execute(text("INSERT INTO scratch VALUES (1)"))
        with pytest.raises(RuntimeError), unit_of_work(engine, cache_kib=8192) as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -8192
            conn.execute(text("INSERT INTO scratch VALUES (2)"))
            raise RuntimeError("boom")
        with read_only(engine) as conn:  # the same connection, its cache as before
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == default
            assert conn.execute(text("SELECT n FROM scratch")).scalars().all() == [1]
    finally:
        engine.dispose()


def test_on_commit_runs_after_the_commit_only(fresh_engine: Engine) -> None:
    _scratch_table(fresh_engine)
    ran: list[str] = []
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
        on_commit(conn, lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
    with pytest.raises(RuntimeError), unit_of_work(fresh_engine) as conn:
        on_commit(conn, lambda: ran.append("rolled back"))
        raise RuntimeError("boom")
    with unit_of_work(fresh_engine):  # a later unit on the same pooled connection
        pass
    assert ran == ["committed"]
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("DROP TABLE scratch"))


def test_on_rollback_runs_after_a_rollback_only(fresh_engine: Engine) -> None:
    ran: list[str] = []
    with unit_of_work(fresh_engine) as conn:
        on_rollback(conn, lambda: ran.append("committed"))
    assert ran == []
    with pytest.raises(RuntimeError), unit_of_work(fresh_engine) as conn:
        on_rollback(conn, lambda: ran.append("rolled back"))
        on_commit(conn, lambda: ran.append("committed"))
        raise RuntimeError("boom")
    assert ran == ["rolled back"]
    with unit_of_work(fresh_engine):  # a later unit on the same pooled connection
        pass
    assert ran == ["rolled back"]


def test_on_rollback_runs_when_the_connection_was_lost(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    ran: list[str] = []
    try:
        with pytest.raises(RuntimeError, match="lost"), unit_of_work(engine) as c:
            on_rollback(c, lambda: ran.append("rolled back"))
            c.invalidate()
            raise RuntimeError("lost")
    finally:
        engine.dispose()
    assert ran == ["rolled back"]


def test_a_connection_lost_inside_a_unit_of_work_keeps_the_error(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        with pytest.raises(RuntimeError, match="lost"), unit_of_work(engine, cache_kib=4096) as c:
            on_commit(c, lambda: None)
            c.invalidate()  # as on a dropped connection
            raise RuntimeError("lost")
    finally:
        engine.dispose()


def test_unit_of_work_cache_is_sqlite_only(fresh_engine: Engine) -> None:
    _scratch_table(fresh_engine)
    with unit_of_work(fresh_engine, cache_kib=4096) as conn:
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
    with read_only(fresh_engine) as conn:
        assert conn.execute(text("SELECT n FROM scratch")).scalars().all() == [1]
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("DROP TABLE scratch"))


def test_savepoints_work_inside_a_transaction(fresh_engine: Engine) -> None:
    _scratch_table(fresh_engine)
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
        with conn.begin_nested():
            conn.execute(text("INSERT INTO scratch VALUES (2)"))
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO scratch VALUES (3)"))
        nested.rollback()
    with read_only(fresh_engine) as conn:
        assert conn.execute(text("SELECT n FROM scratch ORDER BY n")).scalars().all() == [1, 2]
    with unit_of_work(fresh_engine) as conn:
        conn.execute(text("DROP TABLE scratch"))


def test_foreign_keys_are_enforced(conn: Connection, clinic: str) -> None:
    with pytest.raises(IntegrityError), conn.begin_nested():
        create_token(conn, b"h" * 32, role="institution", institution_code="0000000000")


def test_sqlite_write_lock_is_taken_at_start(tmp_path: Path) -> None:
    """Two units of work on SQLite queue on the write lock instead of failing on upgrade."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'lock.db'}", busy_timeout_ms=0)
    try:
        _scratch_table(engine)
        with unit_of_work(engine):
            with pytest.raises(OperationalError, match="locked"), unit_of_work(engine):
                pass
            with read_only(engine) as reader:  # readers are not blocked (WAL)
                assert reader.execute(text("SELECT count(*) FROM scratch")).scalar() == 0
    finally:
        engine.dispose()


def test_a_new_database_busy_elsewhere_is_switched_to_wal_once_free(tmp_path: Path) -> None:
    """Several processes starting on a new database: SQLite refuses the switch to WAL at once
    while another connection uses the file; the engine waits for it (the busy timeout)."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, other.execute, ("COMMIT",))
    release.start()
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    finally:
        release.join()
        engine.dispose()
        other.close()
