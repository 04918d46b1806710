from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, inspect, text

from nhihub.protect import PURPOSE_RAW_UPLOAD, PiiCipher
from nhihub.storage import (
    Institution,
    RawMissing,
    create_engine_for,
    current_revision,
    head_revision,
    insert_institution,
    load_raw,
    metadata,
    unit_of_work,
    upgrade,
)
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


def _index_sql(conn: Connection, name: str) -> str:
    if conn.dialect.name == "postgresql":
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    else:
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    return str(conn.execute(text(query), {"name": name}).scalar_one())


def test_m16_and_m52_indexes_are_partial(conn: Connection) -> None:
    for name in ("ix_visits_m16", "ix_visits_m52"):
        assert "IS NOT NULL" in _index_sql(conn, name).upper()


def test_raw_uploads_move_out_of_the_batch_rows_and_back(
    db_url: str, db_factory: Any, pii_cipher: PiiCipher, tmp_path: Path
) -> None:
    """0002 moves the encrypted raw uploads of existing batches to ``upload_raw`` and makes the
    M16 / M52 indexes partial (the downgrade undoes both)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'raw_move.db'}"
    else:
        url = db_factory.url("pg", "raw_move")
    engine = create_engine_for(url)
    blob = pii_cipher.encrypt_bytes(b"<RECS></RECS>", PURPOSE_RAW_UPLOAD)
    try:
        assert upgrade(engine, "0001") == "0001"
        with unit_of_work(engine) as conn:
            insert_institution(conn, Institution("0401180014", "x", "clinic"))
            for raw in (blob, None):
                conn.execute(
                    text(
                        "INSERT INTO upload_batches (institution_code, channel, kind, file_size,"
                        " raw_sha256, raw_enc, received_at, status) VALUES ('0401180014', 'cli',"
                        " 'A1', 1, :h, :raw, :at, 'received')"
                    ),
                    {"h": b"\0" * 32, "raw": raw, "at": dt.datetime(2024, 1, 1)},
                )
        assert upgrade(engine) == head_revision()
        with unit_of_work(engine) as conn:
            assert "raw_enc" not in {c["name"] for c in inspect(conn).get_columns("upload_batches")}
            assert "IS NOT NULL" in _index_sql(conn, "ix_visits_m16").upper()
            assert load_raw(conn, 1, pii_cipher) == b"<RECS></RECS>"
            with pytest.raises(RawMissing):
                load_raw(conn, 2, pii_cipher)
            command.downgrade(alembic_config(conn), "0001")
        with unit_of_work(engine) as conn:
            rows = conn.execute(text("SELECT id, raw_enc FROM upload_batches ORDER BY id")).all()
            assert [(i, None if r is None else bytes(r)) for i, r in rows] == [(1, blob), (2, None)]
            assert "upload_raw" not in inspect(conn).get_table_names()
            assert "IS NOT NULL" not in _index_sql(conn, "ix_visits_m52").upper()
    finally:
        engine.dispose()
