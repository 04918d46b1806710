"""Phase 2 of processing a batch, inside ONE transaction: take the apply lock, load the snapshot,
plan the stateful rules (pure), write the valid records' effects, the record outcomes, the
report rows and the batch's outcome. Either all of it commits or none of it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from nhihub.formats.model import Finding
from nhihub.service import _queries as q
from nhihub.service.chain import ChainContext, DeleteVisit, Plan, StoreVisit, plan_batch
from nhihub.service.checking import CheckedRecord, CheckedUpload, PreparedVisit
from nhihub.service.facts import RefillFacts
from nhihub.service.snapshot import load_snapshot
from nhihub.service.spec import service_spec
from nhihub.storage import (
    AuditEntry,
    Batch,
    BatchCounts,
    PrecheckRecord,
    RecordOutcome,
    V1Record,
    append_audit,
    finish_batch,
    insert_precheck_records,
    insert_v1_records,
    mark_visit_deleted,
    upsert_visits,
)
from nhihub.visitid import TAIWAN

log = logging.getLogger(__name__)

BeforeCommit = Callable[[int], None]


class LeaseLost(RuntimeError):
    """The worker no longer holds the batch (another worker took it over): roll back."""


@dataclass(frozen=True, slots=True)
class Applied:
    """How a batch ended: status, counts, and the file error that rejected it, if any."""

    status: str
    counts: BatchCounts
    error_code: str | None = None


def taiwan_local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(TAIWAN).replace(tzinfo=None)


def _flush(
    conn: Connection,
    pending: list[PreparedVisit],
    stored: set[str],
    batch: Batch,
    now: dt.datetime,
) -> None:
    """Store pending visit versions: first versions of new visits by the fast insert, the rest
    (corrections, several versions in one batch, a concurrent insert) by ``upsert_visits``."""
    if not pending:
        return
    counts: dict[str, int] = {}
    for p in pending:
        counts[p.m15] = counts.get(p.m15, 0) + 1
    fast = [p for p in pending if counts[p.m15] == 1 and p.m15 not in stored]
    inserted = q.insert_new_visits(conn, fast, batch_id=batch.id, received_at=batch.received_at)
    rest = [p.to_visit(batch.id, batch.received_at) for p in pending if p.m15 not in inserted]
    if rest:
        upsert_visits(conn, rest, now=now)
    stored.update(p.m15 for p in pending)
    pending.clear()


def _apply_v2(
    conn: Connection, batch: Batch, records: Sequence[CheckedRecord], now: dt.datetime
) -> tuple[dict[int, Plan], set[int]]:
    facts = [r.facts for r in records if r.facts is not None]
    if not facts:
        return {}, set()
    snapshot = load_snapshot(conn, facts)
    plans = plan_batch(facts, snapshot, ChainContext(taiwan_local(batch.received_at)))
    prepared = {r.index: r.visit for r in records if r.visit is not None}
    stored = {m15 for m15 in snapshot.visits}
    pending: list[PreparedVisit] = []
    refills: dict[tuple[str, int], RefillFacts | None] = {}
    applied: set[int] = set()
    for f, p in zip(facts, plans, strict=True):
        if not p.valid:
            continue
        for effect in p.effects:
            if isinstance(effect, StoreVisit):
                visit = prepared.get(f.index)
                if visit is not None:
                    pending.append(visit)
                    applied.add(f.index)
            elif isinstance(effect, DeleteVisit):
                _flush(conn, pending, stored, batch, now)
                outcome = mark_visit_deleted(
                    conn,
                    effect.m15,
                    batch_id=batch.id,
                    record_index=f.index,
                    received_at=batch.received_at,
                    now=now,
                )
                if outcome == "deleted":
                    applied.add(f.index)
            else:
                refills[(effect.m15, effect.refill_no)] = effect.refill
                applied.add(f.index)
    _flush(conn, pending, stored, batch, now)
    q.write_refills(
        conn,
        [r for r in refills.values() if r is not None],
        [k for k, r in refills.items() if r is None],
        batch_id=batch.id,
        now=now,
    )
    return {f.index: p for f, p in zip(facts, plans, strict=True)}, applied


def _apply_v1(conn: Connection, records: Sequence[CheckedRecord]) -> dict[int, Finding]:
    """1.0 records: Y000 when the visit is stored in 2.0 already (same person, visit time and
    institution); every record kept for the 1.0-vs-2.0 report with its success flag."""
    rule = service_spec().findings["already_v2"]
    rows = [r for r in records if isinstance(r.match, V1Record)]
    hashes = [r.match.person_hash for r in rows if r.valid and r.match and r.match.person_hash]
    keys = q.v2_visit_keys(conn, [h for h in hashes if h is not None])
    extra: dict[int, Finding] = {}
    out: list[V1Record] = []
    for r in rows:
        m = r.match
        assert isinstance(m, V1Record)
        key = (m.person_hash, m.visit_at, m.institution_code)
        if r.valid and m.person_hash is not None and key in keys:
            extra[r.index] = Finding(rule.field, rule.code)
            m = replace(m, success=False)
        out.append(m)
    insert_v1_records(conn, out)
    return extra


def apply_checked(
    conn: Connection,
    batch: Batch,
    checked: CheckedUpload,
    *,
    worker: str,
    now: dt.datetime,
    before_commit: BeforeCommit | None = None,
) -> Applied:
    """Apply a checked batch in the caller's transaction (which must be a unit of work: it is
    committed by the caller). :class:`LeaseLost` when the worker lost the batch."""
    q.lock_apply(conn)
    plans: dict[int, Plan] = {}
    extra: dict[int, Finding] = {}
    applied: set[int] = set()
    status, error_code, detail = "done", None, None
    if checked.file_errors:
        status, error_code = "rejected", checked.file_errors[0].code
        detail = checked.file_errors[0].detail or None
    elif batch.kind == "A1" and checked.version == "2.0":
        plans, applied = _apply_v2(conn, batch, checked.records, now)
    elif batch.kind == "A1" and checked.version == "1.0":
        extra = _apply_v1(conn, checked.records)
    elif batch.kind == "A2" and checked.version == "2.0":
        rows = [r.match for r in checked.records if isinstance(r.match, PrecheckRecord)]
        insert_precheck_records(conn, rows)
    outcomes: list[RecordOutcome] = []
    records = valid = orders = bad_orders = 0
    for r in checked.records:
        findings = list(r.findings)
        ok = r.valid
        p = plans.get(r.index)
        if p is not None:
            findings.extend(p.findings)
            ok = ok and p.valid
        if r.index in extra:
            findings.append(extra[r.index])
            ok = False
        outcomes.append(
            RecordOutcome(
                record_index=r.index,
                valid=ok,
                findings=tuple((f.field, f.code) for f in findings),
                m15=r.m15[:20] if r.m15 else None,
                line=r.line,
                applied=r.index in applied,
            )
        )
        records += 1
        valid += ok
        orders += r.orders
        bad_orders += r.invalid_orders
    q.insert_outcomes(conn, batch.id, outcomes)
    counts = BatchCounts(
        records=records,
        valid_records=valid,
        orders=orders,
        valid_orders=orders - bad_orders,
        invalid_records=records - valid,
        invalid_orders=bad_orders,
        applied_records=len(applied),
    )
    held = finish_batch(
        conn,
        batch.id,
        worker,
        status=status,
        counts=counts,
        format_version=checked.version,
        error_code=error_code,
        error_detail=detail,
        now=now,
    )
    if not held:
        raise LeaseLost(f"batch {batch.id} was taken over by another worker")
    append_audit(
        conn,
        AuditEntry(
            action="batch.process",
            object_type="batch",
            object_id=str(batch.id),
            institution_code=batch.institution_code,
            detail={
                "status": status,
                "records": records,
                "valid": valid,
                "applied": len(applied),
                "worker": worker,
            },
        ),
        now=now,
    )
    log.info(
        "batch %d %s: %d records, %d valid, %d applied",
        batch.id,
        status,
        records,
        valid,
        len(applied),
    )
    if before_commit is not None:
        before_commit(batch.id)
    return Applied(status, counts, error_code)
