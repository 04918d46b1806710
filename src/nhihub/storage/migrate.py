"""Schema migrations (Alembic), shipped inside the package and run from code: no alembic.ini.

``upgrade(url_or_engine)`` creates the schema on an empty database or brings an older one to the
newest revision; it is safe to call on every start, also from several processes at once (a
PostgreSQL advisory lock, SQLite's write lock).
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from nhihub.storage.engine import create_engine_for, is_postgresql, unit_of_work

# Any fixed 64-bit number: serialises concurrent upgrades on one PostgreSQL database.
_PG_LOCK_ID = 0x6E6869687562  # "nhihub"


def alembic_config(conn: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("nhihub.storage").joinpath("migrations"))
    )
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migration revisions found")
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(target: str | URL | Engine, revision: str = "head") -> str | None:
    """Create or upgrade the schema; returns the revision the database is at afterwards."""
    engine = target if isinstance(target, Engine) else create_engine_for(target)
    try:
        with unit_of_work(engine) as conn:
            if is_postgresql(conn):
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            command.upgrade(alembic_config(conn), revision)
            return current_revision(conn)
    finally:
        if engine is not target:
            engine.dispose()
