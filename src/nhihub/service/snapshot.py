"""Load the :class:`~nhihub.service.chain.Snapshot` a batch's stateful rules need: only the
stored rows the batch's identifiers lead to, in a few bulk queries.

What is loaded follows from three sets of identifiers (:class:`SnapshotKeys`). Every query is a
lookup per identifier, so loading for a *superset* of a batch's identifiers gives the rules the
same answers: the extra rows are of visits and prescriptions no record of the batch asks about.
That lets a large upload's snapshot be loaded from identifiers scanned in its bytes before its
records are read (:func:`nhihub.service.checking.scan_keys`); once they are read,
:meth:`SnapshotKeys.covers` proves the scan saw every identifier they need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from nhihub.service import _queries as q
from nhihub.service.chain import Snapshot
from nhihub.service.facts import RecordFacts, RefillFacts, VisitFacts
from nhihub.service.spec import service_spec


@dataclass(frozen=True, slots=True)
class SnapshotKeys:
    """``m15s``/``m16s``: the records' M15 and M16; ``targets``: M15s whose referrers (visits
    naming them in M16) are loaded - deletions and prescriptions, besides every visit that has
    refill rows."""

    m15s: frozenset[str]
    m16s: frozenset[str]
    targets: frozenset[str]

    @classmethod
    def of(cls, records: Iterable[RecordFacts]) -> SnapshotKeys:
        """Exactly what these records need."""
        delete = service_spec().delete_op
        m15s: set[str] = set()
        m16s: set[str] = set()
        targets: set[str] = set()
        for r in records:
            if r.m15:
                m15s.add(r.m15)
                if r.h01 == delete or r.refill_count:
                    targets.add(r.m15)
            if r.m16:
                m16s.add(r.m16)
        return cls(frozenset(m15s), frozenset(m16s), frozenset(targets))

    def covers(self, records: Iterable[RecordFacts]) -> bool:
        """True when a snapshot loaded for these keys holds all that ``records`` need."""
        need = SnapshotKeys.of(records)
        return need.m15s <= self.m15s and need.m16s <= self.m16s and need.targets <= self.targets


def load_snapshot(conn: Connection, records: Iterable[RecordFacts]) -> Snapshot:
    """The snapshot of exactly what ``records`` need (see :func:`load_snapshot_for`)."""
    return load_snapshot_for(conn, SnapshotKeys.of(records))


def load_snapshot_for(conn: Connection, keys: SnapshotKeys) -> Snapshot:
    """Current versions of the M15s and M16s (and of the 補卡 visits an M16 finds through M52),
    the refills of every prescription involved, the refills the M15s dispensed before, and the
    visits that name a target or a visit with refills in their M16."""
    spec = service_spec()
    m15s, m16s = keys.m15s, keys.m16s
    # key sets looked up more than once are prepared once (see q.Keys)
    own = q.Keys(m15s)
    both = q.Keys(m15s | m16s)
    visits: dict[str, VisitFacts] = q.visit_facts(conn, both)
    by_m52: dict[str, str] = {}
    unresolved = {m for m in m16s if m not in visits or visits[m].deleted}
    for v in q.replacement_visits(conn, unresolved):
        if v.m52 is not None and v.m12 in spec.replacement_m12:
            visits.setdefault(v.m15, v)
            by_m52[v.m52] = v.m15
    claimed = q.refills_claimed(conn, own)
    more = (set(by_m52.values()) | {r.m15 for r in claimed}) - both.set
    prescriptions = q.Keys(both.set | more) if more else both
    refills: dict[str, dict[int, RefillFacts]] = q.refill_rows(conn, prescriptions)
    targets = keys.targets | {m for m in m15s if m in refills}
    referrers: dict[str, set[str]] = {}
    for v in q.referrer_facts(conn, own if targets == own.set else targets):
        if v.m16 is None:
            continue
        # the referrer's own current row may be loaded already (without its refill claim)
        if v.m15 not in visits or visits[v.m15].refill_no is None:
            visits[v.m15] = v
        referrers.setdefault(v.m16, set()).add(v.m15)
    return Snapshot(
        visits=visits,
        by_m52=by_m52,
        refills=refills,
        referrers={m: frozenset(s) for m, s in referrers.items()},
    )
