"""Phase 2 of processing a batch, inside ONE transaction: take the apply lock, load the snapshot,
plan the stateful rules (pure), write the valid records' effects, the record outcomes, the
report rows and the batch's outcome. Either all of it commits or none of it.

The records are planned and written part by part in file order (:class:`_Apply`): from a
finished phase 1 (:func:`apply_checked`), or while the worker processes are still reading the
later parts of a large upload (:func:`apply_stream`). The stateful rules fold over the parts
exactly as over the whole batch; the snapshot is loaded before the first part, for the
identifiers the upload's bytes show, and checked to cover every record once it is read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from nhihub.formats.model import FileError, Finding
from nhihub.service import _queries as q
from nhihub.service.chain import (
    ChainContext,
    DeleteVisit,
    Plan,
    Planner,
    SetRefill,
    StoreVisit,
)
from nhihub.service.checking import CheckedRecord, CheckedUpload, CheckStream
from nhihub.service.facts import RefillFacts
from nhihub.service.prepared import PreparedVisit
from nhihub.service.snapshot import SnapshotKeys, load_snapshot_for
from nhihub.service.spec import service_spec
from nhihub.storage import (
    AuditEntry,
    Batch,
    BatchCounts,
    PrecheckRecord,
    V1Record,
    append_audit,
    finish_batch,
    hold_batch,
    insert_precheck_records,
    insert_v1_records,
    mark_visit_deleted,
    upsert_visits,
)
from nhihub.storage.repository._common import chunks
from nhihub.storage.schema import record_outcomes
from nhihub.visitid import TAIWAN

log = logging.getLogger(__name__)

BeforeCommit = Callable[[int], None]
_PART = 2000  # records planned and written at a time when phase 1 is finished
# New visits are inserted about this many at a time, in key order: the indexes are then written
# page after page rather than all over the place. Not more: the last flush of a streamed batch
# runs after every part is checked, with nothing left to overlap it (5,000 cost ~0.1 s there on
# the ingest bench; 1,000 a fifth of that, for ~0.02 s more in all).
_FLUSH = 1000


class LeaseLost(RuntimeError):
    """The worker no longer holds the batch (another worker took it over): roll back."""


class SnapshotMissed(RuntimeError):
    """A record needs an identifier the scan of the upload did not see (written in an unusual
    way): roll back and apply the checked records with :func:`apply_checked`."""


@dataclass(frozen=True, slots=True)
class Applied:
    """How a batch ended: status, counts, and the file error that rejected it, if any."""

    status: str
    counts: BatchCounts
    error_code: str | None = None


def taiwan_local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(TAIWAN).replace(tzinfo=None)


class _Apply:
    """One batch's phase 2 in the caller's transaction, fed its records part by part."""

    def __init__(
        self,
        conn: Connection,
        batch: Batch,
        version: str | None,
        *,
        worker: str,
        now: dt.datetime,
        file_errors: Sequence[FileError] = (),
    ) -> None:
        self.conn = conn
        self.batch = batch
        self.worker = worker
        self.now = now
        self.file_error = file_errors[0] if file_errors else None
        if self.file_error is not None:
            self.mode = "rejected"  # nothing is applied; every record is still reported
        elif batch.kind == "A1" and version in ("2.0", "1.0"):
            self.mode = f"A1 {version}"
        elif batch.kind == "A2" and version == "2.0":
            self.mode = "A2"
        else:
            self.mode = "report"
        self.version = version
        self.planner: Planner | None = None
        self.stored: set[str] = set()  # M15s with a stored visit (before or in this batch)
        self.pending: list[PreparedVisit] = []
        self.refills: dict[tuple[str, int], RefillFacts | None] = {}  # changed, not written yet
        self.records = self.valid = self.orders = self.bad_orders = self.applied = 0
        c = record_outcomes.c
        self.flags = {b: q.bound(conn, c.valid, b) for b in (False, True)}
        self.findings_json: dict[tuple[tuple[str | None, str], ...], str] = {(): "[]"}

    @property
    def stateful(self) -> bool:
        """The stateful rules run and visits change: a format-2.0 A1 upload."""
        return self.mode == "A1 2.0"

    def begin(self, keys: SnapshotKeys | None) -> None:
        """Lock, and load the snapshot for ``keys`` (stateful batches)."""
        conn, batch = self.conn, self.batch
        if not hold_batch(conn, batch.id, self.worker):
            raise LeaseLost(f"batch {batch.id} was taken over by another worker")
        q.lock_apply(conn)
        q.delete_outcomes(conn, batch.id)  # left from an earlier attempt
        if self.stateful:
            assert keys is not None
            snapshot = load_snapshot_for(conn, keys)
            self.planner = Planner(snapshot, ChainContext(taiwan_local(batch.received_at)))
            self.stored = set(snapshot.visits)

    def add(self, part: Sequence[CheckedRecord]) -> None:
        """Plan and write the next records (in file order) and store their outcomes."""
        extra = self._v1(part) if self.mode == "A1 1.0" else {}
        if self.mode == "A2":
            rows = [r.match for r in part if isinstance(r.match, PrecheckRecord)]
            insert_precheck_records(self.conn, rows)
        batch_id = self.batch.id
        flags = self.flags
        planner = self.planner
        outcomes: list[tuple[Any, ...]] = []
        for r in part:
            findings = r.findings
            ok = r.valid
            applied = False
            if planner is not None and r.facts is not None:
                p = planner.plan(r.facts)
                if p.findings:
                    findings = findings + p.findings
                    ok = ok and p.valid
                if p.valid:
                    applied = self._effects(r, p)
            finding = extra.get(r.index)
            if finding is not None:
                findings = (*findings, finding)
                ok = False
            outcomes.append(
                (
                    batch_id,
                    r.index,
                    r.line,
                    r.m15[:20] if r.m15 else None,
                    flags[ok],
                    flags[applied],
                    self._json(findings),
                )
            )
            self.valid += ok
            self.applied += applied
            self.orders += r.orders
            self.bad_orders += r.invalid_orders
        self.records += len(part)
        if len(self.pending) >= _FLUSH:
            self._flush()
            self._write_refills()
        q.insert_outcome_rows(self.conn, outcomes)

    def _effects(self, r: CheckedRecord, p: Plan) -> bool:
        """Carry out a valid record's effects; whether it changed stored data."""
        applied = False
        for effect in p.effects:
            if isinstance(effect, StoreVisit):
                if r.visit is not None:
                    self.pending.append(r.visit)
                    applied = True
            elif isinstance(effect, DeleteVisit):
                self._flush()  # earlier versions first, in receiving order
                outcome = mark_visit_deleted(
                    self.conn,
                    effect.m15,
                    batch_id=self.batch.id,
                    record_index=r.index,
                    received_at=self.batch.received_at,
                    now=self.now,
                )
                applied = applied or outcome == "deleted"
            elif isinstance(effect, SetRefill):
                self.refills[(effect.m15, effect.refill_no)] = effect.refill
                applied = True
        return applied

    def _flush(self) -> None:
        """Store pending visit versions: first versions of new visits by the fast insert, the
        rest (corrections, several versions in one batch, a concurrent insert) by
        ``upsert_visits``."""
        pending = self.pending
        if not pending:
            return
        batch, stored = self.batch, self.stored
        keys = [p.row[0] for p in pending]  # the M15s
        counts = Counter(keys)
        pairs = list(zip(pending, keys, strict=True))
        fast = [p for p, m15 in pairs if counts[m15] == 1 and m15 not in stored]
        inserted = q.insert_new_visits(
            self.conn, fast, batch_id=batch.id, received_at=batch.received_at
        )
        rest = [p for p, m15 in pairs if m15 not in inserted]
        if rest:
            dialect = self.conn.dialect
            visits = [p.to_visit(dialect, batch.id, batch.received_at) for p in rest]
            upsert_visits(self.conn, visits, now=self.now)
        stored.update(counts)
        pending.clear()

    def _write_refills(self) -> None:
        """Write the refills changed since the last call, as they are now. Written along with
        the visits, not all at the end: what is left for the end, with nothing to overlap it,
        stays small. A refill changed again later is simply written again."""
        changed = self.refills
        if not changed:
            return
        q.write_refills(
            self.conn,
            [r for r in changed.values() if r is not None],
            [k for k, r in changed.items() if r is None],
            batch_id=self.batch.id,
            now=self.now,
        )
        changed.clear()

    def _v1(self, part: Sequence[CheckedRecord]) -> dict[int, Finding]:
        """1.0 records: Y000 when the visit is stored in 2.0 already (same person, visit time
        and institution); every record kept for the 1.0-vs-2.0 report with its success flag."""
        rule = service_spec().findings["already_v2"]
        rows = [r for r in part if isinstance(r.match, V1Record)]
        hashes = [r.match.person_hash for r in rows if r.valid and r.match and r.match.person_hash]
        keys = q.v2_visit_keys(self.conn, [h for h in hashes if h is not None])
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
        insert_v1_records(self.conn, out)
        return extra

    def _json(self, findings: Sequence[Finding]) -> str:
        """The outcome's findings as JSON text (the same few combinations recur: kept)."""
        key = tuple([(f.field, f.code) for f in findings]) if findings else ()
        text = self.findings_json.get(key)
        if text is None:
            text = json.dumps([list(f) for f in key], ensure_ascii=False, separators=(",", ":"))
            self.findings_json[key] = text
        return text

    def finish(self, before_commit: BeforeCommit | None) -> Applied:
        """The refills, the batch's outcome and the audit entry."""
        conn, batch, now = self.conn, self.batch, self.now
        self._flush()
        self._write_refills()
        status, error_code, detail = "done", None, None
        if self.file_error is not None:
            status, error_code = "rejected", self.file_error.code
            detail = self.file_error.detail or None
        counts = BatchCounts(
            records=self.records,
            valid_records=self.valid,
            orders=self.orders,
            valid_orders=self.orders - self.bad_orders,
            invalid_records=self.records - self.valid,
            invalid_orders=self.bad_orders,
            applied_records=self.applied,
        )
        held = finish_batch(
            conn,
            batch.id,
            self.worker,
            status=status,
            counts=counts,
            format_version=self.version,
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
                    "records": self.records,
                    "valid": self.valid,
                    "applied": self.applied,
                    "worker": self.worker,
                },
            ),
            now=now,
        )
        log.info(
            "batch %d %s: %d records, %d valid, %d applied",
            batch.id,
            status,
            self.records,
            self.valid,
            self.applied,
        )
        if before_commit is not None:
            before_commit(batch.id)
        return Applied(status, counts, error_code)


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
    run = _Apply(
        conn, batch, checked.version, worker=worker, now=now, file_errors=checked.file_errors
    )
    facts = [r.facts for r in checked.records if r.facts is not None]
    run.begin(SnapshotKeys.of(facts) if run.stateful else None)
    for part in chunks(checked.records, _PART):
        run.add(part)
    return run.finish(before_commit)


def apply_stream(
    conn: Connection,
    batch: Batch,
    stream: CheckStream,
    *,
    worker: str,
    now: dt.datetime,
    before_commit: BeforeCommit | None = None,
) -> Applied:
    """Apply a batch whose parts are still being checked (:meth:`CheckPool.stream`), each part
    as soon as it is ready, in the caller's transaction. Besides :class:`LeaseLost`, raises
    :class:`~nhihub.service.checking.PartFileErrors` and :class:`SnapshotMissed`: the caller
    rolls back and applies the batch from a finished phase 1 instead."""
    run = _Apply(conn, batch, stream.version, worker=worker, now=now)
    keys = stream.keys if run.stateful else None
    run.begin(keys)
    for part in stream.parts():
        if keys is not None and not keys.covers(r.facts for r in part if r.facts is not None):
            raise SnapshotMissed(f"batch {batch.id}: an identifier escaped the scan")
        run.add(part)
    return run.finish(before_commit)
