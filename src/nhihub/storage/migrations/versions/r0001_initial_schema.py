"""Initial schema: institutions, tokens, batches, results, visits, refills, report rows, audit.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("code", sa.String(length=10), nullable=False, comment="醫事機構代碼"),
        sa.Column("name", sa.String(length=200), nullable=False, comment="機構名稱"),
        sa.Column(
            "level",
            sa.String(length=20),
            nullable=False,
            comment="層級 (codes.tsv institution_level)",
        ),
        sa.Column(
            "medical_type", sa.String(length=2), nullable=True, comment="醫事類別 (M56 codes)"
        ),
        sa.Column("contract_start", sa.Date(), nullable=True, comment="特約起日"),
        sa.Column("contract_end", sa.Date(), nullable=True, comment="特約迄日"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_institutions")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False, comment="institution | staff"),
        sa.Column("institution_code", sa.String(length=10), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_code"],
            ["institutions.code"],
            name=op.f("fk_api_tokens_institution_code_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_api_tokens_institution_code"), "api_tokens", ["institution_code"], unique=False
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column(
            "institution_code",
            sa.String(length=10),
            nullable=True,
            comment="the actor's institution",
        ),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True, comment="never person IDs in clear"),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_audit_log_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"], unique=False)
    op.create_table(
        "upload_batches",
        sa.Column("id", sa.Integer(), nullable=False, comment="also the NHI Opcode"),
        sa.Column("institution_code", sa.String(length=10), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel", sa.String(length=8), nullable=False, comment="vpn | web-api | web | cli"
        ),
        sa.Column(
            "kind",
            sa.String(length=2),
            nullable=False,
            comment="sType: A1 正式 | A2 預檢 | ZZ 測試",
        ),
        sa.Column(
            "format_version", sa.String(length=4), nullable=True, comment="2.0 | 1.0, once read"
        ),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("raw_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "raw_enc", sa.LargeBinary(), nullable=True, comment="encrypted raw upload (or raw_path)"
        ),
        sa.Column(
            "raw_path",
            sa.String(length=500),
            nullable=True,
            comment="file holding the encrypted raw upload",
        ),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(),
            nullable=True,
            comment="client's sUploadDT, Taiwan local time",
        ),
        sa.Column(
            "client_info",
            sa.JSON(),
            nullable=True,
            comment="transport fields (sSamId, sMrecs...), no PII",
        ),
        sa.Column(
            "status", sa.String(length=12), server_default=sa.text("'received'"), nullable=False
        ),
        sa.Column("records", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("valid_records", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("orders", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("valid_orders", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("invalid_records", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("invalid_orders", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("applied_records", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "claimed_by", sa.String(length=100), nullable=True, comment="worker holding the lease"
        ),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_code"],
            ["institutions.code"],
            name=op.f("fk_upload_batches_institution_code_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_upload_batches_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_batches")),
    )
    op.create_index(
        "ix_upload_batches_institution_received",
        "upload_batches",
        ["institution_code", "received_at"],
        unique=False,
    )
    op.create_index("ix_upload_batches_status_id", "upload_batches", ["status", "id"], unique=False)
    op.create_table(
        "precheck_records",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_index", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(length=10), nullable=False),
        sa.Column("person_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("visit_at", sa.DateTime(), nullable=True),
        sa.Column("visit_date", sa.Date(), nullable=True),
        sa.Column("category", sa.String(length=2), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("m15", sa.String(length=20), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["upload_batches.id"],
            name=op.f("fk_precheck_records_batch_id_upload_batches"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "record_index", name=op.f("pk_precheck_records")),
    )
    op.create_index(
        "ix_precheck_records_institution_visit_date",
        "precheck_records",
        ["institution_code", "visit_date"],
        unique=False,
    )
    op.create_index(
        "ix_precheck_records_match",
        "precheck_records",
        ["person_hash", "birth_date", "visit_at", "category"],
        unique=False,
    )
    op.create_table(
        "record_outcomes",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_index", sa.Integer(), nullable=False, comment="1-based, file order"),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("m15", sa.String(length=20), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("applied", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False, comment='[["M16", "AA"], [null, "Y000"]]'),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["upload_batches.id"],
            name=op.f("fk_record_outcomes_batch_id_upload_batches"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "record_index", name=op.f("pk_record_outcomes")),
    )
    op.create_table(
        "refills",
        sa.Column("m15", sa.String(length=20), nullable=False, comment="prescribing visit"),
        sa.Column("refill_no", sa.Integer(), nullable=False, comment="第幾次調劑 (M33/M34)"),
        sa.Column("rx_kind", sa.String(length=1), nullable=True, comment="C 慢連箋 | F 管制慢連箋"),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
            comment="not_dispensed | dispensed | cancelled",
        ),
        sa.Column("dispensed_by", sa.String(length=10), nullable=True),
        sa.Column("dispensing_m15", sa.String(length=20), nullable=True),
        sa.Column(
            "dispensed_at",
            sa.DateTime(),
            nullable=True,
            comment="M11 of the dispensing visit, Taiwan local",
        ),
        sa.Column("batch_id", sa.Integer(), nullable=True, comment="batch of the last change"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["upload_batches.id"], name=op.f("fk_refills_batch_id_upload_batches")
        ),
        sa.PrimaryKeyConstraint("m15", "refill_no", name=op.f("pk_refills")),
    )
    op.create_index("ix_refills_dispensing_m15", "refills", ["dispensing_m15"], unique=False)
    op.create_table(
        "upload_results",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column(
            "format",
            sa.String(length=16),
            nullable=False,
            comment="nhi-zip | nhi-text | json | csv ...",
        ),
        sa.Column(
            "content_enc",
            sa.LargeBinary(),
            nullable=True,
            comment="encrypted result; NULL once purged",
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["upload_batches.id"],
            name=op.f("fk_upload_results_batch_id_upload_batches"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "format", name=op.f("pk_upload_results")),
    )
    op.create_index(
        op.f("ix_upload_results_created_at"), "upload_results", ["created_at"], unique=False
    )
    op.create_table(
        "v1_records",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_index", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(length=10), nullable=False),
        sa.Column("person_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("visit_at", sa.DateTime(), nullable=True),
        sa.Column("visit_date", sa.Date(), nullable=True),
        sa.Column("category", sa.String(length=2), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["upload_batches.id"], name=op.f("fk_v1_records_batch_id_upload_batches")
        ),
        sa.PrimaryKeyConstraint("batch_id", "record_index", name=op.f("pk_v1_records")),
    )
    op.create_index(
        "ix_v1_records_institution_visit_date",
        "v1_records",
        ["institution_code", "visit_date"],
        unique=False,
    )
    op.create_index(
        "ix_v1_records_match",
        "v1_records",
        ["person_hash", "birth_date", "visit_at", "category"],
        unique=False,
    )
    op.create_table(
        "visits",
        sa.Column("m15", sa.String(length=20), nullable=False, comment="就醫識別碼"),
        sa.Column("institution_code", sa.String(length=10), nullable=False, comment="M05"),
        sa.Column("person_hash", sa.LargeBinary(length=32), nullable=False, comment="HMAC of M03"),
        sa.Column("person_enc", sa.LargeBinary(), nullable=False, comment="AES-GCM of M03"),
        sa.Column("birth_date", sa.Date(), nullable=True, comment="M04"),
        sa.Column("visit_at", sa.DateTime(), nullable=True, comment="M11, Taiwan local"),
        sa.Column("visit_date", sa.Date(), nullable=True, comment="date of M11"),
        sa.Column("category", sa.String(length=2), nullable=True, comment="M07 就醫類別"),
        sa.Column("h00", sa.String(length=1), nullable=True, comment="資料型態"),
        sa.Column("h01", sa.String(length=1), nullable=False, comment="資料格式 A-E"),
        sa.Column("m12", sa.String(length=1), nullable=True, comment="補卡註記"),
        sa.Column("m16", sa.String(length=20), nullable=True, comment="原就醫識別碼"),
        sa.Column("m52", sa.String(length=20), nullable=True, comment="實際就醫識別碼 (補卡)"),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_index", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False, comment="header/mb1/mb2 without M03"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["upload_batches.id"], name=op.f("fk_visits_batch_id_upload_batches")
        ),
        sa.PrimaryKeyConstraint("m15", name=op.f("pk_visits")),
    )
    op.create_index(
        "ix_visits_institution_visit_date",
        "visits",
        ["institution_code", "visit_date"],
        unique=False,
    )
    op.create_index("ix_visits_m16", "visits", ["m16"], unique=False)
    op.create_index("ix_visits_m52", "visits", ["m52"], unique=False)
    op.create_index(
        "ix_visits_match",
        "visits",
        ["person_hash", "birth_date", "visit_at", "category"],
        unique=False,
    )
    op.create_table(
        "order_lines",
        sa.Column("m15", sa.String(length=20), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False, comment="1-based MB2 position"),
        sa.Column("order_type", sa.String(length=1), nullable=True, comment="D02 醫令類別"),
        sa.Column("seq", sa.String(length=4), nullable=True, comment="D03 醫令序號"),
        sa.Column("rx_kind", sa.String(length=1), nullable=True, comment="D04 處方種類"),
        sa.Column("dispense_mode", sa.String(length=1), nullable=True, comment="D05 醫令調劑方式"),
        sa.Column("item_code", sa.String(length=20), nullable=True, comment="D06 診療項目代號"),
        sa.Column("days", sa.Integer(), nullable=True, comment="D09 天數"),
        sa.Column("quantity", sa.String(length=10), nullable=True, comment="D10 總量, as written"),
        sa.ForeignKeyConstraint(["m15"], ["visits.m15"], name=op.f("fk_order_lines_m15_visits")),
        sa.PrimaryKeyConstraint("m15", "line_no", name=op.f("pk_order_lines")),
    )
    op.create_table(
        "visit_versions",
        sa.Column("m15", sa.String(length=20), nullable=False),
        sa.Column("institution_code", sa.String(length=10), nullable=False, comment="M05"),
        sa.Column("person_hash", sa.LargeBinary(length=32), nullable=False, comment="HMAC of M03"),
        sa.Column("person_enc", sa.LargeBinary(), nullable=False, comment="AES-GCM of M03"),
        sa.Column("birth_date", sa.Date(), nullable=True, comment="M04"),
        sa.Column("visit_at", sa.DateTime(), nullable=True, comment="M11, Taiwan local"),
        sa.Column("visit_date", sa.Date(), nullable=True, comment="date of M11"),
        sa.Column("category", sa.String(length=2), nullable=True, comment="M07 就醫類別"),
        sa.Column("h00", sa.String(length=1), nullable=True, comment="資料型態"),
        sa.Column("h01", sa.String(length=1), nullable=False, comment="資料格式 A-E"),
        sa.Column("m12", sa.String(length=1), nullable=True, comment="補卡註記"),
        sa.Column("m16", sa.String(length=20), nullable=True, comment="原就醫識別碼"),
        sa.Column("m52", sa.String(length=20), nullable=True, comment="實際就醫識別碼 (補卡)"),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("record_index", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False, comment="header/mb1/mb2 without M03"),
        sa.Column("superseded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["upload_batches.id"],
            name=op.f("fk_visit_versions_batch_id_upload_batches"),
        ),
        sa.ForeignKeyConstraint(["m15"], ["visits.m15"], name=op.f("fk_visit_versions_m15_visits")),
        sa.PrimaryKeyConstraint("m15", "version", name=op.f("pk_visit_versions")),
    )


def downgrade() -> None:
    op.drop_table("visit_versions")
    op.drop_table("order_lines")
    op.drop_index("ix_visits_match", table_name="visits")
    op.drop_index("ix_visits_m52", table_name="visits")
    op.drop_index("ix_visits_m16", table_name="visits")
    op.drop_index("ix_visits_institution_visit_date", table_name="visits")
    op.drop_table("visits")
    op.drop_index("ix_v1_records_match", table_name="v1_records")
    op.drop_index("ix_v1_records_institution_visit_date", table_name="v1_records")
    op.drop_table("v1_records")
    op.drop_index(op.f("ix_upload_results_created_at"), table_name="upload_results")
    op.drop_table("upload_results")
    op.drop_index("ix_refills_dispensing_m15", table_name="refills")
    op.drop_table("refills")
    op.drop_table("record_outcomes")
    op.drop_index("ix_precheck_records_match", table_name="precheck_records")
    op.drop_index("ix_precheck_records_institution_visit_date", table_name="precheck_records")
    op.drop_table("precheck_records")
    op.drop_index("ix_upload_batches_status_id", table_name="upload_batches")
    op.drop_index("ix_upload_batches_institution_received", table_name="upload_batches")
    op.drop_table("upload_batches")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_api_tokens_institution_code"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("institutions")
