"""Repository functions the service needs beyond :mod:`nhihub.storage.repository`: bulk reads of
the facts the stateful rules look at, bulk refill writes, fast inserts of new visits and record
outcomes (JSON serialised where the record was read), the Y000 lookup, and the batch list of all
institutions. Plain SQLAlchemy Core on the caller's connection; no commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Connection, Text, bindparam, cast, delete, select, text, tuple_

from nhihub.service.facts import RefillFacts, VisitFacts, refill_claim
from nhihub.storage import Batch, RecordOutcome, check_code
from nhihub.storage.repository._common import chunks, upsert_insert
from nhihub.storage.repository.batches import _BATCH_COLUMNS, _batch
from nhihub.storage.schema import (
    order_lines,
    record_outcomes,
    refills,
    upload_batches,
    visits,
)

if TYPE_CHECKING:
    from nhihub.service.checking import PreparedVisit

# Any fixed 64-bit number (not the migrations' one): serialises the apply phase of batches on
# PostgreSQL, so the stateful rules always see every earlier applied batch.
_APPLY_LOCK_ID = 0x6E68_6170_706C  # "nhappl"

_FACT_COLUMNS = (
    visits.c.m15,
    visits.c.institution_code,
    visits.c.person_hash,
    visits.c.category,
    visits.c.visit_at,
    visits.c.deleted,
    visits.c.batch_id,
    visits.c.record_index,
    visits.c.m12,
    visits.c.m16,
    visits.c.m52,
)


def lock_apply(conn: Connection) -> None:
    """Take the apply lock for the rest of the transaction (PostgreSQL; SQLite's unit of work
    holds the database's write lock already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPLY_LOCK_ID})


def _facts(row: Any, refill: tuple[int | None, str | None] = (None, None)) -> VisitFacts:
    return VisitFacts(
        m15=row.m15,
        institution=row.institution_code,
        person_hash=row.person_hash,
        category=row.category,
        visit_at=row.visit_at,
        deleted=bool(row.deleted),
        order_key=(row.batch_id, row.record_index),
        m12=row.m12,
        m16=row.m16,
        m52=row.m52,
        refill_no=refill[0],
        refill_kind=refill[1],
    )


def visit_facts(conn: Connection, m15s: Iterable[str]) -> dict[str, VisitFacts]:
    """Current versions (deleted too) of these visits, without their records."""
    found: dict[str, VisitFacts] = {}
    for chunk in chunks(sorted(set(m15s))):
        for row in conn.execute(select(*_FACT_COLUMNS).where(visits.c.m15.in_(chunk))):
            found[row.m15] = _facts(row)
    return found


def replacement_visits(conn: Connection, identifiers: Iterable[str]) -> list[VisitFacts]:
    """Live visits whose M52 (實際就醫識別碼) is one of ``identifiers``."""
    out: list[VisitFacts] = []
    for chunk in chunks(sorted(set(identifiers))):
        rows = conn.execute(
            select(*_FACT_COLUMNS).where(visits.c.m52.in_(chunk), visits.c.deleted.is_(False))
        )
        out.extend(_facts(r) for r in rows)
    return out


def referrer_facts(conn: Connection, m15s: Iterable[str]) -> list[VisitFacts]:
    """Live visits whose M16 names one of ``m15s``, with the refill each dispenses (M33/M34,
    read from the stored record)."""
    out: list[VisitFacts] = []
    for chunk in chunks(sorted(set(m15s))):
        rows = conn.execute(
            select(*_FACT_COLUMNS, visits.c.record).where(
                visits.c.m16.in_(chunk), visits.c.deleted.is_(False)
            )
        )
        for r in rows:
            record = r.record if isinstance(r.record, dict) else {}
            mb1 = record.get("mb1") if isinstance(record.get("mb1"), dict) else {}
            out.append(_facts(r, refill_claim(mb1 or {})))
    return out


def _refill(row: Any) -> RefillFacts:
    return RefillFacts(
        m15=row.m15,
        refill_no=row.refill_no,
        state=row.state,
        rx_kind=row.rx_kind,
        dispensed_by=row.dispensed_by,
        dispensing_m15=row.dispensing_m15,
        dispensed_at=row.dispensed_at,
    )


def refill_rows(conn: Connection, m15s: Iterable[str]) -> dict[str, dict[int, RefillFacts]]:
    """Refill rows of these prescribing visits."""
    found: dict[str, dict[int, RefillFacts]] = {}
    for chunk in chunks(sorted(set(m15s))):
        for row in conn.execute(select(refills).where(refills.c.m15.in_(chunk))):
            found.setdefault(row.m15, {})[row.refill_no] = _refill(row)
    return found


def refills_claimed(conn: Connection, dispensing_m15s: Iterable[str]) -> list[RefillFacts]:
    """Refill rows recorded as dispensed by one of these visits."""
    out: list[RefillFacts] = []
    for chunk in chunks(sorted(set(dispensing_m15s))):
        rows = conn.execute(select(refills).where(refills.c.dispensing_m15.in_(chunk)))
        out.extend(_refill(r) for r in rows)
    return out


def write_refills(
    conn: Connection,
    rows: Sequence[RefillFacts],
    removed: Sequence[tuple[str, int]],
    *,
    batch_id: int,
    now: dt.datetime,
) -> None:
    """Insert or overwrite refill rows and remove others, in a few statements."""
    for chunk in chunks(sorted(removed)):
        conn.execute(delete(refills).where(tuple_(refills.c.m15, refills.c.refill_no).in_(chunk)))
    if not rows:
        return
    for r in rows:
        check_code("refill_state", r.state)
    stmt = upsert_insert(conn, refills)
    stmt = stmt.on_conflict_do_update(
        index_elements=[refills.c.m15, refills.c.refill_no],
        set_={
            name: stmt.excluded[name]
            for name in (
                "rx_kind",
                "state",
                "dispensed_by",
                "dispensing_m15",
                "dispensed_at",
                "batch_id",
                "updated_at",
            )
        },
    )
    conn.execute(
        stmt,
        [
            {
                "m15": r.m15,
                "refill_no": r.refill_no,
                "rx_kind": r.rx_kind,
                "state": r.state,
                "dispensed_by": r.dispensed_by,
                "dispensing_m15": r.dispensing_m15,
                "dispensed_at": r.dispensed_at,
                "batch_id": batch_id,
                "updated_at": now,
            }
            for r in rows
        ],
    )


def executemany(conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Execute ``stmt`` for many parameter sets at the driver level.

    The statement is compiled once and every value goes through its column type's bind
    processor (so stored values are exactly what SQLAlchemy would store), but the per-row work
    of SQLAlchemy's executemany is skipped: several times faster for large inserts.
    """
    if not rows:
        return
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    positional = bool(dialect.positional)
    names = list(compiled.positiontup or ()) if positional else list(compiled.binds)
    escaped = compiled.escaped_bind_names
    procs = [
        (
            escaped.get(name, name),
            compiled.binds[name].key,
            compiled.binds[name].type._cached_bind_processor(dialect),
        )
        for name in names
    ]
    params: list[Any]
    if positional:
        params = [tuple(p(row[key]) if p else row[key] for _, key, p in procs) for row in rows]
    else:
        params = [{n: (p(row[key]) if p else row[key]) for n, key, p in procs} for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _json_param(conn: Connection, name: str) -> Any:
    """A bound parameter carrying JSON already serialised (PostgreSQL needs the cast)."""
    param = bindparam(name, type_=Text())
    return cast(param, JSON) if conn.dialect.name == "postgresql" else param


_VISIT_VALUE_FIELDS = (
    "m15",
    "institution_code",
    "person_hash",
    "person_enc",
    "birth_date",
    "visit_at",
    "category",
    "h00",
    "h01",
    "m12",
    "m16",
    "m52",
)


def insert_new_visits(
    conn: Connection,
    rows: Sequence[PreparedVisit],
    *,
    batch_id: int,
    received_at: dt.datetime,
) -> set[str]:
    """Insert first versions of visits not stored yet (``ON CONFLICT DO NOTHING``) with their
    order lines; returns the identifiers inserted. The others must go through
    :func:`nhihub.storage.upsert_visits`. One M15 at most once in ``rows``."""
    inserted: set[str] = set()
    if not rows:
        return inserted
    stmt = (
        upsert_insert(conn, visits)
        .values(record=_json_param(conn, "record_text"))
        .on_conflict_do_nothing(index_elements=[visits.c.m15])
    )
    for chunk in chunks(rows):
        params = []
        for r in chunk:
            p: dict[str, Any] = {name: getattr(r, name) for name in _VISIT_VALUE_FIELDS}
            p["visit_date"] = None if r.visit_at is None else r.visit_at.date()
            p["deleted"] = False
            p["version"] = 1
            p["batch_id"] = batch_id
            p["record_index"] = r.record_index
            p["received_at"] = received_at
            p["record_text"] = r.record_json
            params.append(p)
        executemany(conn, stmt, params)
        keys = {r.m15: r.record_index for r in chunk}
        got = conn.execute(
            select(visits.c.m15, visits.c.batch_id, visits.c.record_index).where(
                visits.c.m15.in_(list(keys))
            )
        )
        mine = {m for m, b, i in got if b == batch_id and keys.get(m) == i}
        inserted |= mine
        lines = [
            {
                "m15": r.m15,
                "line_no": o.line_no,
                "order_type": o.order_type,
                "seq": o.seq,
                "rx_kind": o.rx_kind,
                "dispense_mode": o.dispense_mode,
                "item_code": o.item_code,
                "days": o.days,
                "quantity": o.quantity,
            }
            for r in chunk
            if r.m15 in mine
            for o in r.orders
        ]
        executemany(conn, order_lines.insert(), lines)
    return inserted


def insert_outcomes(conn: Connection, batch_id: int, outcomes: Sequence[RecordOutcome]) -> None:
    """Store the outcome of each record (replacing any left from an earlier attempt)."""
    conn.execute(delete(record_outcomes).where(record_outcomes.c.batch_id == batch_id))
    if not outcomes:
        return
    stmt = record_outcomes.insert().values(findings=_json_param(conn, "findings_text"))
    for chunk in chunks(outcomes, 2000):
        executemany(
            conn,
            stmt,
            [
                {
                    "batch_id": batch_id,
                    "record_index": o.record_index,
                    "line": o.line,
                    "m15": o.m15,
                    "valid": o.valid,
                    "applied": o.applied,
                    "findings_text": json.dumps(
                        [list(f) for f in o.findings], ensure_ascii=False, separators=(",", ":")
                    ),
                }
                for o in chunk
            ],
        )


def v2_visit_keys(
    conn: Connection, person_hashes: Iterable[bytes]
) -> set[tuple[bytes, dt.datetime | None, str]]:
    """(person hash, visit time, institution) of the live 2.0 visits of these persons: the Y000
    match key of a 1.0 record."""
    found: set[tuple[bytes, dt.datetime | None, str]] = set()
    for chunk in chunks(sorted(set(person_hashes))):
        rows = conn.execute(
            select(visits.c.person_hash, visits.c.visit_at, visits.c.institution_code).where(
                visits.c.person_hash.in_(chunk), visits.c.deleted.is_(False)
            )
        )
        found.update((bytes(h), at, inst) for h, at, inst in rows)
    return found


def list_all_batches(
    conn: Connection,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    institution_code: str | None = None,
) -> list[Batch]:
    """Batches received in ``[since, until)``, of one institution or all, oldest first."""
    query = select(*_BATCH_COLUMNS)
    b = upload_batches.c
    if institution_code is not None:
        query = query.where(b.institution_code == institution_code)
    if since is not None:
        query = query.where(b.received_at >= since)
    if until is not None:
        query = query.where(b.received_at < until)
    return [_batch(r) for r in conn.execute(query.order_by(b.id))]
