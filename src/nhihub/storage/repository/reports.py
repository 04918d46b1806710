"""Rows kept for the 1.0-vs-2.0 comparison report: 1.0 records and 2.0 pre-check records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from nhihub.storage.codes import check_code
from nhihub.storage.rows import PrecheckRecord, V1Record
from nhihub.storage.schema import precheck_records, v1_records


def _match_params(row: V1Record | PrecheckRecord) -> dict[str, Any]:
    return {
        "batch_id": row.batch_id,
        "record_index": row.record_index,
        "institution_code": row.institution_code,
        "person_hash": row.person_hash,
        "birth_date": row.birth_date,
        "visit_at": row.visit_at,
        "visit_date": row.visit_date,
        "category": row.category,
        "success": row.success,
    }


def insert_v1_records(conn: Connection, rows: Sequence[V1Record]) -> None:
    if rows:
        conn.execute(v1_records.insert(), [_match_params(r) for r in rows])


def insert_precheck_records(conn: Connection, rows: Sequence[PrecheckRecord]) -> None:
    for r in rows:
        check_code("channel", r.channel)
    if rows:
        conn.execute(
            precheck_records.insert(),
            [{**_match_params(r), "m15": r.m15, "channel": r.channel} for r in rows],
        )


def get_v1_records(conn: Connection, batch_id: int) -> list[V1Record]:
    rows = conn.execute(
        select(v1_records)
        .where(v1_records.c.batch_id == batch_id)
        .order_by(v1_records.c.record_index)
    )
    fields = V1Record.__dataclass_fields__
    return [V1Record(**{k: r._mapping[k] for k in fields}) for r in rows]


def get_precheck_records(conn: Connection, batch_id: int) -> list[PrecheckRecord]:
    rows = conn.execute(
        select(precheck_records)
        .where(precheck_records.c.batch_id == batch_id)
        .order_by(precheck_records.c.record_index)
    )
    fields = PrecheckRecord.__dataclass_fields__
    return [PrecheckRecord(**{k: r._mapping[k] for k in fields}) for r in rows]
