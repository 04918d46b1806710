"""Storage: SQLAlchemy Core schema, engines for SQLite and PostgreSQL, packaged Alembic
migrations, typed rows and repository functions. See docs/storage.md.

Typical use::

    engine = create_engine_for(settings.db_url)
    upgrade(engine)                       # create or upgrade the schema on first use
    with unit_of_work(engine) as conn:    # one transaction per unit of work
        batch_id = create_batch(conn, NewBatch(...), raw, settings.cipher())
"""

from nhihub.storage.codes import check_code, code_table, codes
from nhihub.storage.engine import (
    UnsupportedDatabase,
    create_engine_for,
    is_postgresql,
    normalize_url,
    on_commit,
    on_rollback,
    read_only,
    unit_of_work,
)
from nhihub.storage.mapping import (
    order_lines_of,
    precheck_record_of,
    record_json,
    v1_record_of,
    visit_from_record,
)
from nhihub.storage.migrate import current_revision, head_revision, upgrade
from nhihub.storage.repository import *  # noqa: F403 - the repository API is the storage API
from nhihub.storage.repository import __all__ as _repository_all
from nhihub.storage.rows import (
    ApiToken,
    AuditEntry,
    Batch,
    BatchCounts,
    Institution,
    NewBatch,
    OrderLine,
    PrecheckRecord,
    RecordOutcome,
    Refill,
    StoredResult,
    V1Record,
    Visit,
    utcnow,
)
from nhihub.storage.schema import metadata

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Batch",
    "BatchCounts",
    "Institution",
    "NewBatch",
    "OrderLine",
    "PrecheckRecord",
    "RecordOutcome",
    "Refill",
    "StoredResult",
    "UnsupportedDatabase",
    "V1Record",
    "Visit",
    "check_code",
    "code_table",
    "codes",
    "create_engine_for",
    "current_revision",
    "head_revision",
    "is_postgresql",
    "metadata",
    "normalize_url",
    "order_lines_of",
    "precheck_record_of",
    "on_commit",
    "on_rollback",
    "read_only",
    "record_json",
    "unit_of_work",
    "upgrade",
    "utcnow",
    "v1_record_of",
    "visit_from_record",
    *_repository_all,
]
