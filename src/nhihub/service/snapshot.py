"""Load the :class:`~nhihub.service.chain.Snapshot` a batch's stateful rules need: only the
stored rows the batch's identifiers lead to, in a few bulk queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from nhihub.service import _queries as q
from nhihub.service.chain import Snapshot
from nhihub.service.facts import RecordFacts, RefillFacts, VisitFacts
from nhihub.service.spec import service_spec


def load_snapshot(conn: Connection, records: Sequence[RecordFacts]) -> Snapshot:
    """Current versions of the records' M15 and M16 (and of the 補卡 visits an M16 finds
    through M52), the refills of every prescription involved, the refills the records' visits
    dispensed before, and the visits that name a deleted or prescribing record in their M16."""
    spec = service_spec()
    m15s = {r.m15 for r in records if r.m15}
    m16s = {r.m16 for r in records if r.m16}
    visits: dict[str, VisitFacts] = q.visit_facts(conn, m15s | m16s)
    by_m52: dict[str, str] = {}
    unresolved = {m for m in m16s if m not in visits or visits[m].deleted}
    for v in q.replacement_visits(conn, unresolved):
        if v.m52 is not None and v.m12 in spec.replacement_m12:
            visits.setdefault(v.m15, v)
            by_m52[v.m52] = v.m15
    claimed = q.refills_claimed(conn, m15s)
    prescriptions = m15s | m16s | set(by_m52.values()) | {r.m15 for r in claimed}
    refills: dict[str, dict[int, RefillFacts]] = q.refill_rows(conn, prescriptions)
    targets = {
        r.m15
        for r in records
        if r.m15 and (r.h01 == spec.delete_op or r.refill_count or r.m15 in refills)
    }
    referrers: dict[str, set[str]] = {}
    for v in q.referrer_facts(conn, targets):
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
