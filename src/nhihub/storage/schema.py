"""The database schema (SQLAlchemy Core, one :data:`metadata`). docs/storage.md describes every
table; migrations in ``migrations/versions`` must produce exactly this (a test compares them).

Design notes:
- Columns the reports and the operations filter on are real, indexed columns; the full record
  is kept as JSON beside them, with M03 (身分證號) removed: the person ID exists only encrypted
  (``person_enc``) and as a keyed hash (``person_hash``).
- Moments (received, claimed, purged) are UTC (:class:`UtcDateTime`); values from the files
  (birth date M04, visit date-time M11) are Taiwan local calendar values in plain Date/DateTime.
- Codes (levels, channels, statuses) are short ASCII strings listed in ``data/codes.tsv``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from nhihub.storage.types import BigId, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

M15 = 20  # 就醫識別碼 length
INSTITUTION = 10  # 醫事機構代碼 length
HASH = 32  # SHA-256 / HMAC-SHA256 output

institutions = Table(
    "institutions",
    metadata,
    Column("code", String(INSTITUTION), primary_key=True, comment="醫事機構代碼"),
    Column("name", String(200), nullable=False, comment="機構名稱"),
    Column("level", String(20), nullable=False, comment="層級 (codes.tsv institution_level)"),
    Column("medical_type", String(2), comment="醫事類別 (M56 codes)"),
    Column("contract_start", Date, comment="特約起日"),
    Column("contract_end", Date, comment="特約迄日"),
    Column("created_at", UtcDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", LargeBinary(HASH), nullable=False, unique=True),
    Column("role", String(16), nullable=False, comment="institution | staff"),
    Column("institution_code", ForeignKey("institutions.code"), index=True),
    Column("label", String(100)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

upload_batches = Table(
    "upload_batches",
    metadata,
    Column("id", Integer, primary_key=True, comment="also the NHI Opcode"),
    Column("institution_code", ForeignKey("institutions.code"), nullable=False),
    Column("token_id", ForeignKey("api_tokens.id")),
    Column("channel", String(8), nullable=False, comment="vpn | web-api | web | cli"),
    Column("kind", String(2), nullable=False, comment="sType: A1 正式 | A2 預檢 | ZZ 測試"),
    Column("format_version", String(4), comment="2.0 | 1.0, once read"),
    Column("file_name", String(255)),
    Column("file_size", BigInteger, nullable=False),
    Column("raw_sha256", LargeBinary(HASH), nullable=False),
    Column("raw_path", String(500), comment="file holding the encrypted raw upload"),
    Column("received_at", UtcDateTime, nullable=False),
    Column("uploaded_at", DateTime, comment="client's sUploadDT, Taiwan local time"),
    Column("client_info", JSON, comment="transport fields (sSamId, sMrecs...), no PII"),
    Column("status", String(12), nullable=False, server_default=text("'received'")),
    Column("records", Integer, nullable=False, server_default=text("0")),
    Column("valid_records", Integer, nullable=False, server_default=text("0")),
    Column("orders", Integer, nullable=False, server_default=text("0")),
    Column("valid_orders", Integer, nullable=False, server_default=text("0")),
    Column("invalid_records", Integer, nullable=False, server_default=text("0")),
    Column("invalid_orders", Integer, nullable=False, server_default=text("0")),
    Column("applied_records", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", String(100), comment="worker holding the lease"),
    Column("lease_until", UtcDateTime),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("error_code", String(16)),
    Column("error_detail", Text),
    Index("ix_upload_batches_status_id", "status", "id"),
    Index("ix_upload_batches_institution_received", "institution_code", "received_at"),
)

# The encrypted raw upload, beside its batch rather than in it: SQLite rewrites a whole row on
# every UPDATE, so a blob in upload_batches was copied again by each claim, lease renewal and
# finish (two extra copies of a 22 MB upload per batch, each written to the WAL and checkpointed).
upload_raw = Table(
    "upload_raw",
    metadata,
    Column("batch_id", ForeignKey("upload_batches.id"), primary_key=True),
    Column("raw_enc", LargeBinary, nullable=False, comment="encrypted raw upload"),
)

upload_results = Table(
    "upload_results",
    metadata,
    Column("batch_id", ForeignKey("upload_batches.id"), nullable=False),
    Column("format", String(16), nullable=False, comment="nhi-zip | nhi-text | json | csv ..."),
    Column("content_enc", LargeBinary, comment="encrypted result; NULL once purged"),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("purged_at", UtcDateTime),
    PrimaryKeyConstraint("batch_id", "format"),
)

record_outcomes = Table(
    "record_outcomes",
    metadata,
    Column("batch_id", ForeignKey("upload_batches.id"), nullable=False),
    Column("record_index", Integer, nullable=False, comment="1-based, file order"),
    Column("line", Integer),
    Column("m15", String(M15)),
    Column("valid", Boolean, nullable=False),
    Column("applied", Boolean, nullable=False, server_default=text("false")),
    Column("findings", JSON, nullable=False, comment='[["M16", "AA"], [null, "Y000"]]'),
    PrimaryKeyConstraint("batch_id", "record_index"),
)


def _not_null(column: str) -> dict[str, Any]:
    """The options of a partial index over the rows where ``column`` is set (both backends)."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


def _visit_columns() -> list[Column[object]]:
    """Columns shared by ``visits`` (current version) and ``visit_versions`` (earlier ones)."""
    return [
        Column("institution_code", String(INSTITUTION), nullable=False, comment="M05"),
        Column("person_hash", LargeBinary(HASH), nullable=False, comment="HMAC of M03"),
        Column("person_enc", LargeBinary, nullable=False, comment="AES-GCM of M03"),
        Column("birth_date", Date, comment="M04"),
        Column("visit_at", DateTime, comment="M11, Taiwan local"),
        Column("visit_date", Date, comment="date of M11"),
        Column("category", String(2), comment="M07 就醫類別"),
        Column("h00", String(1), comment="資料型態"),
        Column("h01", String(1), nullable=False, comment="資料格式 A-E"),
        Column("m12", String(1), comment="補卡註記"),
        Column("m16", String(M15), comment="原就醫識別碼"),
        Column("m52", String(M15), comment="實際就醫識別碼 (補卡)"),
        Column("deleted", Boolean, nullable=False, server_default=text("false")),
        Column("version", Integer, nullable=False),
        Column("batch_id", ForeignKey("upload_batches.id"), nullable=False),
        Column("record_index", Integer, nullable=False),
        Column("received_at", UtcDateTime, nullable=False),
        Column("record", JSON, nullable=False, comment="header/mb1/mb2 without M03"),
    ]


visits = Table(
    "visits",
    metadata,
    Column("m15", String(M15), primary_key=True, comment="就醫識別碼"),
    *_visit_columns(),
    Index("ix_visits_institution_visit_date", "institution_code", "visit_date"),
    Index("ix_visits_match", "person_hash", "birth_date", "visit_at", "category"),
    # Most visits have no M16 / M52 and both are only looked up by value: no entry for NULL.
    Index("ix_visits_m16", "m16", **_not_null("m16")),
    Index("ix_visits_m52", "m52", **_not_null("m52")),
)

visit_versions = Table(
    "visit_versions",
    metadata,
    Column("m15", ForeignKey("visits.m15"), nullable=False),
    *_visit_columns(),
    Column("superseded_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("m15", "version"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("m15", ForeignKey("visits.m15"), nullable=False),
    Column("line_no", Integer, nullable=False, comment="1-based MB2 position"),
    Column("order_type", String(1), comment="D02 醫令類別"),
    Column("seq", String(4), comment="D03 醫令序號"),
    Column("rx_kind", String(1), comment="D04 處方種類"),
    Column("dispense_mode", String(1), comment="D05 醫令調劑方式"),
    Column("item_code", String(20), comment="D06 診療項目代號"),
    Column("days", Integer, comment="D09 天數"),
    Column("quantity", String(10), comment="D10 總量, as written"),
    PrimaryKeyConstraint("m15", "line_no"),
)

refills = Table(
    "refills",
    metadata,
    Column("m15", String(M15), nullable=False, comment="prescribing visit"),
    Column("refill_no", Integer, nullable=False, comment="第幾次調劑 (M33/M34)"),
    Column("rx_kind", String(1), comment="C 慢連箋 | F 管制慢連箋"),
    Column("state", String(16), nullable=False, comment="not_dispensed | dispensed | cancelled"),
    Column("dispensed_by", String(INSTITUTION)),
    Column("dispensing_m15", String(M15)),
    Column("dispensed_at", DateTime, comment="M11 of the dispensing visit, Taiwan local"),
    Column("batch_id", ForeignKey("upload_batches.id"), comment="batch of the last change"),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("m15", "refill_no"),
    Index("ix_refills_dispensing_m15", "dispensing_m15"),
)


def _match_columns() -> list[Column[object]]:
    """The 1.0-vs-2.0 report's match key and grouping columns."""
    return [
        Column("batch_id", ForeignKey("upload_batches.id"), nullable=False),
        Column("record_index", Integer, nullable=False),
        Column("institution_code", String(INSTITUTION), nullable=False),
        Column("person_hash", LargeBinary(HASH)),
        Column("birth_date", Date),
        Column("visit_at", DateTime),
        Column("visit_date", Date),
        Column("category", String(2)),
        Column("success", Boolean, nullable=False),
    ]


v1_records = Table(
    "v1_records",
    metadata,
    *_match_columns(),
    PrimaryKeyConstraint("batch_id", "record_index"),
    Index("ix_v1_records_institution_visit_date", "institution_code", "visit_date"),
    Index("ix_v1_records_match", "person_hash", "birth_date", "visit_at", "category"),
)

precheck_records = Table(
    "precheck_records",
    metadata,
    *_match_columns(),
    Column("m15", String(M15)),
    Column("channel", String(8), nullable=False),
    PrimaryKeyConstraint("batch_id", "record_index"),
    Index("ix_precheck_records_institution_visit_date", "institution_code", "visit_date"),
    Index("ix_precheck_records_match", "person_hash", "birth_date", "visit_at", "category"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("token_id", ForeignKey("api_tokens.id")),
    Column("role", String(16)),
    Column("institution_code", String(INSTITUTION), comment="the actor's institution"),
    Column("action", String(32), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64)),
    Column("detail", JSON, comment="never person IDs in clear"),
    Index("ix_audit_log_object", "object_type", "object_id"),
)

ALL_TABLES = tuple(metadata.sorted_tables)
