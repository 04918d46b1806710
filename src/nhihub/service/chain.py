"""The stateful rules of format 2.0 (operations A-E and the dispensing chain) as pure functions.

:func:`plan` looks at one record and a read-only view of the store (:class:`ChainState`) and
returns a :class:`Plan`: the check findings and the *effects* the record would have (store a
version, delete, change refill states). Nothing is written here. :func:`plan_batch` folds a whole
batch in receiving order over a private working copy of a :class:`Snapshot`, so a record sees the
effects of the valid records before it (two dispensings of one refill in one batch: the first
wins, the second gets D025). The service loads the snapshot, plans, then writes the effects in
one transaction.

Which code is reported for what, and on which field, is data (``data/service.json``); the
decisions behind them are in docs/service.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nhihub.checks import is_valid
from nhihub.formats.model import Finding
from nhihub.service.facts import (
    CANCELLED,
    DISPENSED,
    NOT_DISPENSED,
    RecordFacts,
    RefillFacts,
    VisitFacts,
)
from nhihub.service.spec import ServiceSpec, service_spec

RefillKey = tuple[str, int]  # (prescribing visit M15, refill number)
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class StoreVisit:
    """Store the record as a version of its visit (A/B)."""

    index: int
    m15: str


@dataclass(frozen=True, slots=True)
class DeleteVisit:
    """整筆刪除 (D): a deleted version of the visit."""

    index: int
    m15: str


@dataclass(frozen=True, slots=True)
class SetRefill:
    """Write a refill's new state; ``refill`` ``None`` removes the row."""

    m15: str
    refill_no: int
    refill: RefillFacts | None


Effect = StoreVisit | DeleteVisit | SetRefill


@dataclass(frozen=True, slots=True)
class Plan:
    """What one record would do: its findings, and the effects applied if it is valid."""

    findings: tuple[Finding, ...] = ()
    effects: tuple[Effect, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.findings or is_valid(self.findings)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored state a batch's rules need, loaded for the batch's identifiers.

    - ``visits``: current versions by M15 (deleted ones too) of the records' M15 and M16, of the
      visits found through M52, and of the ``referrers``;
    - ``by_m52``: 實際就醫識別碼 -> M15 of the 補卡 visit that carries it;
    - ``refills``: refill rows by prescribing visit, for every prescription the batch touches;
    - ``referrers``: M15 -> M15s of stored visits whose M16 names it (loaded for deletions and
      prescriptions).
    """

    visits: Mapping[str, VisitFacts] = field(default_factory=dict)
    by_m52: Mapping[str, str] = field(default_factory=dict)
    refills: Mapping[str, Mapping[int, RefillFacts]] = field(default_factory=dict)
    referrers: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChainContext:
    """``received_local``: when the batch was received, Taiwan local time (correction deadline)."""

    received_local: dt.datetime
    spec: ServiceSpec = field(default_factory=service_spec)


class ChainState:
    """A working copy of a snapshot that the fold updates with each valid record's effects.
    :func:`plan` only reads it."""

    def __init__(self, snapshot: Snapshot, spec: ServiceSpec) -> None:
        self._spec = spec
        self._visits: dict[str, VisitFacts] = dict(snapshot.visits)
        self._by_m52: dict[str, str] = dict(snapshot.by_m52)
        self._refills: dict[str, dict[int, RefillFacts]] = {
            m15: dict(rows) for m15, rows in snapshot.refills.items()
        }
        self._referrers: dict[str, set[str]] = {
            m15: set(refs) for m15, refs in snapshot.referrers.items()
        }
        self._claims: dict[str, set[RefillKey]] = {}
        for rows in self._refills.values():
            for row in rows.values():
                if row.dispensing_m15 is not None:
                    self._claims.setdefault(row.dispensing_m15, set()).add((row.m15, row.refill_no))

    # -- reads --------------------------------------------------------------------------------

    def visit(self, m15: str) -> VisitFacts | None:
        """The current version, deleted or not."""
        return self._visits.get(m15)

    def live(self, m15: str) -> VisitFacts | None:
        """The current version unless it is deleted."""
        v = self._visits.get(m15)
        return None if v is None or v.deleted else v

    def original(self, identifier: str) -> VisitFacts | None:
        """The visit an M16 names: the visit with that M15, else the 補卡 visit whose M52 is it
        (an identifier handed out at the real visit, e.g. printed on a prescription)."""
        v = self.live(identifier)
        if v is not None:
            return v
        m15 = self._by_m52.get(identifier)
        if m15 is None:
            return None
        v = self.live(m15)
        if v is None or v.m52 != identifier or v.m12 not in self._spec.replacement_m12:
            return None
        return v

    def refills(self, m15: str) -> Mapping[int, RefillFacts]:
        return self._refills.get(m15, {})

    def claims(self, dispensing_m15: str) -> frozenset[RefillKey]:
        """Refills recorded as dispensed by this visit."""
        return frozenset(self._claims.get(dispensing_m15, ()))

    def claims_any(self, dispensing_m15: str) -> bool:
        """Whether this visit is recorded as having dispensed a refill."""
        return bool(self._claims.get(dispensing_m15))

    def referrers(self, m15: str) -> list[VisitFacts]:
        """Live visits whose M16 names ``m15``, in receiving order."""
        found = [self.live(r) for r in self._referrers.get(m15, ())]
        live = [v for v in found if v is not None and v.m16 == m15]
        return sorted(live, key=lambda v: v.order_key)

    # -- the fold -------------------------------------------------------------------------------

    def apply(self, rec: RecordFacts, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, StoreVisit):
                self._store(rec)
            elif isinstance(effect, DeleteVisit):
                current = self._visits.get(rec.m15)
                if current is not None and rec.order_key > current.order_key:
                    self._visits[rec.m15] = current._replace(deleted=True, order_key=rec.order_key)
            else:
                self._set_refill(effect)

    def _store(self, rec: RecordFacts) -> None:
        current = self._visits.get(rec.m15)
        if current is not None and current.order_key > rec.order_key:
            return  # an older version: kept in the history, not current
        # every field, in VisitFacts order (a plain tuple made into the named tuple: this runs
        # for every stored visit of a batch)
        self._visits[rec.m15] = _new_tuple(
            VisitFacts,
            (
                rec.m15,
                rec.institution,
                rec.person_hash,
                rec.category,
                rec.visit_at,
                False,
                rec.order_key,
                rec.m12,
                rec.m16,
                rec.m52,
                rec.refill_no,
                rec.refill_kind,
            ),
        )
        if rec.m16:
            self._referrers.setdefault(rec.m16, set()).add(rec.m15)
        if rec.m52 and rec.m12 in self._spec.replacement_m12:
            self._by_m52[rec.m52] = rec.m15

    def _set_refill(self, effect: SetRefill) -> None:
        rows = self._refills.setdefault(effect.m15, {})
        old = rows.get(effect.refill_no)
        key = (effect.m15, effect.refill_no)
        if old is not None and old.dispensing_m15 is not None:
            self._claims.get(old.dispensing_m15, set()).discard(key)
        if effect.refill is None:
            rows.pop(effect.refill_no, None)
            return
        rows[effect.refill_no] = effect.refill
        if effect.refill.dispensing_m15 is not None:
            self._claims.setdefault(effect.refill.dispensing_m15, set()).add(key)


# -- the rules -------------------------------------------------------------------------------


class _Out:
    """Findings and refill writes collected while planning one record."""

    def __init__(self, rec: RecordFacts, ctx: ChainContext) -> None:
        self.rec = rec
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.writes: dict[RefillKey, RefillFacts | None] = {}
        self.claims: set[RefillKey] = set()

    def add(self, rule: str, kind: str | None = None) -> None:
        r = self.ctx.spec.findings[rule]
        name = r.field
        if name in ("refill_number", "refill_count"):
            spec = self.ctx.spec
            k = spec.kind(kind) if kind is not None else spec.refill_kinds[0]
            name = k.number_field if name == "refill_number" else k.count_field
        self.findings.append(Finding(name, r.code))

    def plan(self, *head: Effect) -> Plan:
        writes = tuple(SetRefill(m15, n, row) for (m15, n), row in self.writes.items())
        return Plan(tuple(self.findings), (*head, *writes))


def _released(row: RefillFacts) -> RefillFacts:
    return row._replace(
        state=NOT_DISPENSED, dispensed_by=None, dispensing_m15=None, dispensed_at=None
    )


def _dispensed(row: RefillFacts, rec: RecordFacts) -> RefillFacts:
    return row._replace(
        state=DISPENSED,
        dispensed_by=rec.institution,
        dispensing_m15=rec.m15,
        dispensed_at=rec.visit_at,
    )


def _month_start(at: dt.datetime, months_after: int) -> dt.datetime:
    total = at.year * 12 + at.month - 1 + months_after
    return dt.datetime(total // 12, total % 12 + 1, 1)


def correction_deadline(visit_at: dt.datetime, months: int) -> dt.datetime:
    """The first moment a correction is too late: the start of the month after the month that
    is ``months`` after the visit month (``months`` 1: after the end of the next month)."""
    return _month_start(visit_at, months + 1)


def _same_owner(current: VisitFacts, rec: RecordFacts) -> bool:
    if current.institution != rec.institution:
        return False
    return rec.person_hash is None or current.person_hash in (None, rec.person_hash)


def plan(rec: RecordFacts, state: ChainState, ctx: ChainContext) -> Plan:
    """The findings and effects of one record that passed the record checks (pure)."""
    spec = ctx.spec
    if rec.h01 in spec.store_ops:
        return _plan_store(rec, state, ctx)
    if rec.h01 == spec.delete_op:
        return _plan_delete(rec, state, ctx)
    if rec.h01 in (spec.cancel_op, spec.restore_op):
        return _plan_cancel(rec, state, ctx, cancel=rec.h01 == spec.cancel_op)
    return Plan()  # H01 itself is checked by the record checks


def _plan_store(rec: RecordFacts, state: ChainState, ctx: ChainContext) -> Plan:
    current = state.visit(rec.m15)
    if (
        current is None
        and not rec.refill_count
        and rec.category not in ctx.spec.dispensing_categories
        and not state.refills(rec.m15)
        and not state.claims_any(rec.m15)
    ):
        # The usual record: a new visit, no prescription, no dispensing (what the rules below
        # come to in that case, without their bookkeeping).
        return Plan((), (StoreVisit(rec.index, rec.m15),))
    out = _Out(rec, ctx)
    if current is not None and current.institution != rec.institution:
        out.add("foreign_visit")  # the identifier belongs to another institution's visit
        return out.plan()
    store = StoreVisit(rec.index, rec.m15)
    if current is not None and current.order_key > rec.order_key:
        return Plan((), (store,))  # a later version is stored already: keep this one as history
    if current is not None:
        visit_at = current.visit_at or rec.visit_at
        late = visit_at is not None and ctx.received_local >= correction_deadline(
            visit_at, ctx.spec.correction_months
        )
        if late:
            out.add("late_correction")
            return out.plan()
    rows = state.refills(rec.m15)
    if rec.refill_count or rows:
        _prescription(out, rows, state)
    if rec.category in ctx.spec.dispensing_categories:
        _dispensing(out, state)
    for key in sorted(state.claims(rec.m15) - out.claims):
        if key in out.writes:
            continue
        row = state.refills(key[0]).get(key[1])
        if row is not None and row.dispensing_m15 == rec.m15:
            out.writes[key] = _released(row)  # an earlier version dispensed it, this one does not
    return out.plan(store)


def _prescription(out: _Out, rows: Mapping[int, RefillFacts], state: ChainState) -> None:
    """The refill rows of a chronic continuous prescription (慢連箋) the record issues."""
    rec = out.rec
    count = rec.refill_count
    kind = rec.count_kind or next((r.rx_kind for r in rows.values() if r.rx_kind), None)
    for n, row in sorted(rows.items()):
        if n > count:
            if row.state == DISPENSED:
                here = row.dispensed_by == rec.institution
                out.add("reduced_dispensed_here" if here else "reduced_dispensed_elsewhere", kind)
            else:
                out.writes[(rec.m15, n)] = None
        elif row.rx_kind != kind:
            out.writes[(rec.m15, n)] = row._replace(rx_kind=kind)
    fresh = {
        n: RefillFacts(rec.m15, n, NOT_DISPENSED, kind)
        for n in range(1, count + 1)
        if n not in rows
    }
    if fresh and not rows:
        # A prescription uploaded after its dispensings (or again after a deletion): the refills
        # that stored dispensings took are theirs, the first received first.
        for v in state.referrers(rec.m15):
            if v.category not in out.ctx.spec.dispensing_categories or v.refill_no is None:
                continue
            free = fresh.get(v.refill_no)
            if free is not None and free.state == NOT_DISPENSED:
                fresh[v.refill_no] = free._replace(
                    state=DISPENSED,
                    dispensed_by=v.institution,
                    dispensing_m15=v.m15,
                    dispensed_at=v.visit_at,
                )
    for n, row in fresh.items():
        out.writes[(rec.m15, n)] = row
    n_self = rec.refill_no
    if n_self is not None and n_self <= count:
        # the prescriber dispensed this fill itself (M33/M34 on the prescribing visit)
        key = (rec.m15, n_self)
        written = out.writes.get(key)
        target = written if key in out.writes else rows.get(n_self)
        if target is not None and (
            target.state == NOT_DISPENSED or target.dispensing_m15 == rec.m15
        ):
            out.writes[key] = _dispensed(target, rec)
            out.claims.add(key)


def _dispensing(out: _Out, state: ChainState) -> None:
    """A dispensing visit (AE/AF): its original visit (D049-D052) and the refill it dispenses."""
    rec = out.rec
    own = rec.m17 is not None and rec.m17 == rec.institution
    original = state.original(rec.m16) if rec.m16 else None
    if original is None:
        out.add("original_missing_own" if own else "original_missing_elsewhere")
    elif original.institution != rec.m17:
        out.add("original_institution_own" if own else "original_institution_elsewhere")
    elif original.category not in out.ctx.spec.original_categories:
        out.add("original_category_own" if own else "original_category_elsewhere")
    n = rec.refill_no
    if n is None:
        return
    kind = rec.refill_kind
    rows = state.refills(original.m15) if original is not None else {}
    if original is None or not rows:
        out.add("no_prescription", kind)
        return
    row = rows.get(n)
    if n > max(rows):
        out.add("above_allowed", kind)
    elif row is None:
        out.add("out_of_order", kind)
    elif row.state == CANCELLED:
        rule_kind = row.rx_kind or kind
        spec = out.ctx.spec
        code = (spec.kind(rule_kind) if rule_kind else spec.refill_kinds[0]).cancelled_code
        name = out.ctx.spec.kind(kind).number_field if kind else None
        out.findings.append(Finding(name, code))
    elif row.state == DISPENSED and row.dispensing_m15 != rec.m15:
        out.add("dispensed_elsewhere", kind)
    elif _out_of_order(rows, n, rec):
        out.add("out_of_order", kind)
    else:
        key = (original.m15, n)
        out.claims.add(key)
        if row.dispensing_m15 != rec.m15 or row.dispensed_at != rec.visit_at:
            out.writes[key] = _dispensed(row, rec)


def _out_of_order(rows: Mapping[int, RefillFacts], n: int, rec: RecordFacts) -> bool:
    """Refills are dispensed in number order: an earlier refill dispensed after this visit, or a
    later one dispensed before it, is out of order. Compared on the visits' times (M11), so the
    order in which pharmacies upload does not matter."""
    at = rec.visit_at
    if at is None:
        return False
    for k, r in rows.items():
        if r.state != DISPENSED or r.dispensed_at is None or r.dispensing_m15 == rec.m15:
            continue
        if (k < n and r.dispensed_at > at) or (k > n and r.dispensed_at < at):
            return True
    return False


def _plan_delete(rec: RecordFacts, state: ChainState, ctx: ChainContext) -> Plan:
    out = _Out(rec, ctx)
    current = state.visit(rec.m15)
    if current is None or current.deleted or not _same_owner(current, rec):
        out.add("not_found")
        return out.plan()
    if current.order_key > rec.order_key:
        return Plan()  # a later version was received after this deletion: nothing to delete
    rows = state.refills(rec.m15)
    elsewhere = any(
        r.state == DISPENSED and r.dispensed_by != rec.institution for r in rows.values()
    ) or any(v.institution != rec.institution for v in state.referrers(rec.m15))
    if elsewhere:
        out.add("executed_elsewhere_prescribing")
        return out.plan()
    for m15, n in sorted(state.claims(rec.m15)):
        later = state.refills(m15)
        if any(
            k > n
            and (
                r.state == CANCELLED or (r.state == DISPENSED and r.dispensed_by != rec.institution)
            )
            for k, r in later.items()
        ):
            out.add("executed_elsewhere_dispensing")
            return out.plan()
        out.writes[(m15, n)] = _released(later[n])
    for n in rows:
        out.writes[(rec.m15, n)] = None  # the prescription's refills go with it
    return out.plan(DeleteVisit(rec.index, rec.m15))


def _plan_cancel(rec: RecordFacts, state: ChainState, ctx: ChainContext, *, cancel: bool) -> Plan:
    out = _Out(rec, ctx)
    current = state.live(rec.m15)
    dispensing = ctx.spec.dispensing_categories
    if rec.category in dispensing or (current is not None and current.category in dispensing):
        out.add("cancel_by_dispenser")
        return out.plan()
    rows = state.refills(rec.m15)
    if current is None or not _same_owner(current, rec) or not rows:
        out.add("not_found")
        return out.plan()
    source, target = (NOT_DISPENSED, CANCELLED) if cancel else (CANCELLED, NOT_DISPENSED)
    for n, row in sorted(rows.items()):
        if row.state == source:
            out.writes[(rec.m15, n)] = row._replace(state=target)
    if not out.writes:
        out.add("nothing_to_cancel" if cancel else "nothing_to_restore")
    return out.plan()


class Planner:
    """The fold of :func:`plan_batch`, fed one record at a time in receiving order (so a batch
    can be planned and written part by part while the rest is still being read)."""

    def __init__(self, snapshot: Snapshot, ctx: ChainContext) -> None:
        self._state = ChainState(snapshot, ctx.spec)
        self._ctx = ctx

    def plan(self, rec: RecordFacts) -> Plan:
        """The record's plan; a valid record's effects are seen by the records after it."""
        p = plan(rec, self._state, self._ctx)
        if p.valid:
            self._state.apply(rec, p.effects)
        return p


def plan_batch(records: Sequence[RecordFacts], snapshot: Snapshot, ctx: ChainContext) -> list[Plan]:
    """Plan every record in receiving order; each valid record's effects are seen by the later
    ones. The snapshot is not changed."""
    planner = Planner(snapshot, ctx)
    return [planner.plan(rec) for rec in records]
