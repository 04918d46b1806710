from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, inspect

from nhihub.storage import current_revision, head_revision, metadata, upgrade
from nhihub.storage.migrate import alembic_config


def _diffs(conn: Connection, target: MetaData) -> list[object]:
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(ctx, target))


def test_migrations_produce_exactly_the_metadata(conn: Connection) -> None:
    assert _diffs(conn, metadata) == []


def test_comparison_would_notice_a_difference(conn: Connection) -> None:
    changed = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["visits"].append_column(Column("extra", Integer))
    diffs = _diffs(conn, changed)
    assert any("extra" in repr(d) for d in diffs)


def test_database_is_at_head(conn: Connection) -> None:
    assert current_revision(conn) == head_revision()
    assert set(metadata.tables) <= set(inspect(conn).get_table_names())


def test_upgrade_is_idempotent(fresh_engine: Engine) -> None:
    assert upgrade(fresh_engine) == head_revision()
    assert upgrade(fresh_engine) == head_revision()


def test_upgrade_from_url_creates_a_new_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "new" / "nhihub.db"
    assert upgrade(f"sqlite:///{path}") == head_revision()
    assert path.is_file()


def test_migrations_are_package_files() -> None:
    location = Path(alembic_config().get_main_option("script_location") or "")
    assert (location / "env.py").is_file()
    assert (location / "script.py.mako").is_file()
    assert list((location / "versions").glob("r*.py"))


def test_concurrent_first_upgrades(db_url: str, db_factory: Any, tmp_path: Path) -> None:
    """Several processes starting at once on an empty database: one creates, others wait."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        url = db_factory.url("pg", "upgrade_race")
    results: list[str | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            start.wait()
            results.append(upgrade(url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [head_revision()] * 3
