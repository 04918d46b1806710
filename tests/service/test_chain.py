"""The stateful rules as pure functions: plan() and plan_batch() over hand-made snapshots."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from nhihub.service.chain import (
    ChainContext,
    ChainState,
    DeleteVisit,
    SetRefill,
    Snapshot,
    StoreVisit,
    correction_deadline,
    plan,
    plan_batch,
)
from nhihub.service.facts import RecordFacts, RefillFacts, VisitFacts

CTX = ChainContext(received_local=dt.datetime(2024, 10, 15, 12, 0))
HOSPITAL = "0401180014"
PHARMACIES = ("5901010001", "5901010002", "5901010003")
P = "P" * 19 + "1"
T0 = dt.datetime(2024, 10, 1, 9, 0)


def rec(
    index: int,
    m15: str,
    *,
    h01: str = "A",
    institution: str = HOSPITAL,
    category: str = "01",
    batch: int = 10,
    at: dt.datetime = T0,
    **kw: object,
) -> RecordFacts:
    values: dict[str, object] = {
        "index": index,
        "order_key": (batch, index),
        "h01": h01,
        "m15": m15,
        "institution": institution,
        "person_hash": b"p",
        "category": category,
        "visit_at": at,
        "m12": "1",
        "m16": None,
        "m17": None,
        "m52": None,
    }
    values.update(kw)
    return RecordFacts(**values)  # type: ignore[arg-type]


def prescription_snapshot(count: int = 3, *, dispensed: dict[int, str] | None = None) -> Snapshot:
    """A stored prescription P with ``count`` refills; ``dispensed`` refill -> pharmacy."""
    visit = VisitFacts(P, HOSPITAL, b"p", "01", T0, False, (1, 1))
    rows = {}
    for n in range(1, count + 1):
        by = (dispensed or {}).get(n)
        rows[n] = RefillFacts(
            P,
            n,
            "dispensed" if by else "not_dispensed",
            "C",
            by,
            None if by is None else f"D{n}".ljust(20, "0"),
            None if by is None else T0 + dt.timedelta(days=28 * (n - 1)),
        )
    return Snapshot(visits={P: visit}, refills={P: rows})


def dispensing(
    index: int, pharmacy: str, refill: int, *, days: int = 28, **kw: object
) -> RecordFacts:
    return rec(
        index,
        f"R{index}{pharmacy}".ljust(20, "0")[:20],
        institution=pharmacy,
        category="AE",
        m16=P,
        m17=HOSPITAL,
        refill_no=refill,
        refill_kind="C",
        at=T0 + dt.timedelta(days=days * (refill - 1), minutes=index),
        **kw,
    )


def codes(findings: tuple[object, ...]) -> set[str]:
    return {f.code for f in findings}  # type: ignore[attr-defined]


def test_correction_deadline_is_the_end_of_the_next_month() -> None:
    assert correction_deadline(dt.datetime(2024, 8, 31, 23, 0), 1) == dt.datetime(2024, 10, 1)
    assert correction_deadline(dt.datetime(2024, 11, 5), 1) == dt.datetime(2025, 1, 1)
    assert correction_deadline(dt.datetime(2024, 12, 5), 1) == dt.datetime(2025, 2, 1)


def test_new_visit_is_stored_without_findings() -> None:
    p = plan(rec(1, "N" * 20), ChainState(Snapshot(), CTX.spec), CTX)
    assert p.findings == () and p.effects == (StoreVisit(1, "N" * 20),)


def test_older_version_than_the_stored_one_is_only_history() -> None:
    stored = VisitFacts("N" * 20, HOSPITAL, b"p", "01", T0, False, (20, 1))
    p = plan(rec(1, "N" * 20, batch=10), ChainState(Snapshot({stored.m15: stored}), CTX.spec), CTX)
    assert p.findings == () and p.effects == (StoreVisit(1, "N" * 20),)


def test_prescription_creates_its_refills_and_the_first_fill() -> None:
    p = plan(rec(1, P, refill_count=3, count_kind="C", refill_no=1, refill_kind="C"),
             ChainState(Snapshot(), CTX.spec), CTX)  # fmt: skip
    writes = {e.refill_no: e.refill for e in p.effects if isinstance(e, SetRefill)}
    assert sorted(writes) == [1, 2, 3]
    assert writes[1] is not None and writes[1].state == "dispensed"
    assert writes[1].dispensed_by == HOSPITAL and writes[1].dispensing_m15 == P
    assert all(w is not None and w.state == "not_dispensed" for n, w in writes.items() if n > 1)


def test_plan_batch_leaves_the_snapshot_alone_and_first_dispensing_wins() -> None:
    snap = prescription_snapshot()
    before = {n: r for n, r in snap.refills[P].items()}
    plans = plan_batch(
        [dispensing(1, PHARMACIES[0], 2), dispensing(2, PHARMACIES[1], 2)], snap, CTX
    )
    assert plans[0].valid and codes(plans[0].findings) == set()
    assert codes(plans[1].findings) == {"D025"} and not plans[1].valid
    assert dict(snap.refills[P]) == before


def test_dispensing_codes() -> None:
    snap = prescription_snapshot(dispensed={2: PHARMACIES[2]})
    state = ChainState(snap, CTX.spec)
    assert codes(plan(dispensing(1, PHARMACIES[0], 4), state, CTX).findings) == {"D019"}
    assert codes(plan(dispensing(1, PHARMACIES[0], 2), state, CTX).findings) == {"D025"}
    early_three = dispensing(1, PHARMACIES[0], 3, days=1)  # before refill 2's time
    assert codes(plan(early_three, state, CTX).findings) == {"D022"}
    assert codes(plan(dispensing(1, PHARMACIES[0], 3), state, CTX).findings) == set()
    orphan = dispensing(1, PHARMACIES[0], 2)._replace(m16="X" * 20)
    assert codes(plan(orphan, state, CTX).findings) == {"D049", "D024"}
    own = dispensing(1, HOSPITAL, 3)._replace(m17=HOSPITAL)
    assert codes(plan(own, state, CTX).findings) == set()


def test_cancelled_refill_codes_by_kind() -> None:
    snap = prescription_snapshot()
    rows = {n: r._replace(state="cancelled") for n, r in snap.refills[P].items()}
    state = ChainState(replace(snap, refills={P: rows}), CTX.spec)
    assert plan(dispensing(1, PHARMACIES[0], 2), state, CTX).findings[0].code == "D023"
    f_rows = {n: r._replace(rx_kind="F") for n, r in rows.items()}
    f_state = ChainState(replace(snap, refills={P: f_rows}), CTX.spec)
    f_rec = dispensing(1, PHARMACIES[0], 2)._replace(refill_kind="F")
    finding = plan(f_rec, f_state, CTX).findings[0]
    assert (finding.field, finding.code) == ("M34", "D073")


def test_cancel_delete_restore() -> None:
    snap = prescription_snapshot(dispensed={2: PHARMACIES[0]})
    state = ChainState(snap, CTX.spec)
    cancel = plan(rec(1, P, h01="C"), state, CTX)
    assert cancel.valid
    assert {(e.refill_no, e.refill.state) for e in cancel.effects if isinstance(e, SetRefill)
            and e.refill} == {(1, "cancelled"), (3, "cancelled")}  # fmt: skip
    assert codes(plan(rec(1, P, h01="E"), state, CTX).findings) == {"D038"}
    assert codes(plan(rec(1, P, h01="D"), state, CTX).findings) == {"D039"}
    other = rec(1, P, h01="C", institution=PHARMACIES[1])
    assert codes(plan(other, state, CTX).findings) == {"D001"}
    assert codes(plan(rec(1, P, h01="C", category="AF"), state, CTX).findings) == {"D053"}


def test_delete_releases_the_dispensed_refill() -> None:
    snap = prescription_snapshot()
    r = dispensing(1, PHARMACIES[0], 2)
    state = ChainState(snap, CTX.spec)
    first = plan(r, state, CTX)
    state.apply(r, first.effects)
    gone = plan(r._replace(h01="D", index=2, order_key=(10, 2)), state, CTX)
    assert gone.valid and DeleteVisit(2, r.m15) in gone.effects
    released = [e.refill for e in gone.effects if isinstance(e, SetRefill)]
    assert released and released[0] is not None and released[0].state == "not_dispensed"


def test_m52_finds_only_replacement_visits() -> None:
    real = "M" * 20
    visit = VisitFacts("V" * 20, HOSPITAL, b"p", "01", T0, False, (1, 1), m12="2", m52=real)
    state = ChainState(Snapshot({visit.m15: visit}, by_m52={real: visit.m15}), CTX.spec)
    assert state.original(real) == visit
    normal = visit._replace(m12="1")
    state = ChainState(Snapshot({visit.m15: normal}, by_m52={real: visit.m15}), CTX.spec)
    assert state.original(real) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(PHARMACIES), st.integers(1, 5), st.integers(0, 60)),
        min_size=1,
        max_size=12,
    )
)
def test_a_refill_is_never_dispensed_twice(events: list[tuple[str, int, int]]) -> None:
    """Whatever pharmacies send, in whatever order: each refill has at most one dispensing,
    every accepted dispensing is within the allowed count, and only dispensing codes appear."""
    records = [
        dispensing(i, pharmacy, refill)._replace(visit_at=T0 + dt.timedelta(days=day, minutes=i))
        for i, (pharmacy, refill, day) in enumerate(events, 1)
    ]
    snap = prescription_snapshot()
    plans = plan_batch(records, snap, CTX)
    state = ChainState(snap, CTX.spec)
    claimed: dict[int, str] = {}
    for r, p in zip(records, plans, strict=True):
        assert codes(p.findings) <= {"D019", "D022", "D025"}
        if p.valid:
            state.apply(r, p.effects)
            assert r.refill_no is not None and r.refill_no <= 3
            assert r.refill_no not in claimed
            claimed[r.refill_no] = r.m15
    rows = state.refills(P)
    assert {n: row.dispensing_m15 for n, row in rows.items() if row.state == "dispensed"} == claimed
