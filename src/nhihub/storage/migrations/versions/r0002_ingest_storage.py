"""Storage for faster ingestion: raw uploads in their own table, partial M16 / M52 indexes.

- ``upload_raw``: the encrypted raw upload out of the ``upload_batches`` row. SQLite rewrites a
  whole row on every UPDATE: with the upload in the batch row, each claim, lease renewal and
  finish copied it again (to the WAL, then the database file).
- ``ix_visits_m16`` / ``ix_visits_m52`` only over visits that have the value (most have none).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ALTER TABLE ... DROP COLUMN exists since SQLite 3.35. Alembic's batch mode would rebuild
# upload_batches instead, which fails while other tables' rows refer to it (foreign keys on).
_SQLITE_DROP_COLUMN = (3, 35, 0)


_PARTIAL = ("m16", "m52")


def _index(column: str, *, partial: bool) -> None:
    where = sa.text(f"{column} IS NOT NULL") if partial else None
    op.drop_index(op.f(f"ix_visits_{column}"), table_name="visits")
    op.create_index(
        op.f(f"ix_visits_{column}"),
        "visits",
        [column],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    for column in _PARTIAL:
        _index(column, partial=True)
    op.create_table(
        "upload_raw",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("raw_enc", sa.LargeBinary(), nullable=False, comment="encrypted raw upload"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["upload_batches.id"],
            name=op.f("fk_upload_raw_batch_id_upload_batches"),
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_upload_raw")),
    )
    op.execute(
        "INSERT INTO upload_raw (batch_id, raw_enc) "
        "SELECT id, raw_enc FROM upload_batches WHERE raw_enc IS NOT NULL"
    )
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("upload_batches", "raw_enc")
    elif sqlite3.sqlite_version_info >= _SQLITE_DROP_COLUMN:
        op.execute("ALTER TABLE upload_batches DROP COLUMN raw_enc")
    else:  # pragma: no cover - an old SQLite library: the column stays, emptied
        op.execute("UPDATE upload_batches SET raw_enc = NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite" or sqlite3.sqlite_version_info >= _SQLITE_DROP_COLUMN:
        op.add_column(
            "upload_batches",
            sa.Column(
                "raw_enc",
                sa.LargeBinary(),
                nullable=True,
                comment="encrypted raw upload (or raw_path)",
            ),
        )
    op.execute(
        "UPDATE upload_batches SET raw_enc = "
        "(SELECT r.raw_enc FROM upload_raw r WHERE r.batch_id = upload_batches.id)"
    )
    op.drop_table("upload_raw")
    for column in _PARTIAL:
        _index(column, partial=False)
