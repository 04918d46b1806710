"""Alembic environment: always runs on a connection handed over by ``nhihub.storage.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from nhihub.storage.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run migrations through nhihub.storage.migrate (no alembic.ini is shipped)")
run_migrations(_connection)
