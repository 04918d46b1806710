"""The operations of format 2.0 and the dispensing chain, end to end through the store on SQLite
and PostgreSQL: small synthetic uploads are submitted, processed, and the stored state and the
reported codes are checked."""

from __future__ import annotations

import copy
import datetime as dt

from service_kit import (
    AS_OF,
    Hub,
    Pool,
    action,
    after_visit,
    before_deadline,
    clone,
    new_m15,
    received,
    upload_bytes,
    visit_time,
)

from nhihub.formats.model import Record
from nhihub.storage import get_precheck_records, get_v1_records, get_visit_versions, read_only
from nhihub.synth import generate

PHARMACY_B = "5901010002"
PHARMACY_C = "5901010003"


def _f_kind(rec: Record) -> Record:
    """The same visit written as a 管制藥品慢連箋 (F: M22, M29, M34, D04=F)."""
    out = copy.deepcopy(rec)
    m = out.mb1
    for old, new in (("M21", "M22"), ("M26", "M29"), ("M33", "M34")):
        if old in m:
            m[new] = m.pop(old)
    for line in out.mb2:
        if line.get("D04") == "C":
            line["D04"] = "F"
    return out


def _elsewhere(rec: Record, pharmacy: str) -> Record:
    """The same dispensing done by another pharmacy (its own visit identifier)."""
    return clone(rec, M05=pharmacy, M15=new_m15(pharmacy))


# -- A / B: insert or replace -------------------------------------------------------------------


def test_insert_stores_every_valid_record(hub: Hub, pool: Pool) -> None:
    visits = pool.visits(3)
    inst = visits[0].mb1["M05"]
    records = [clone(v, M05=inst) for v in visits]
    view = hub.send(inst, records)
    assert view.status == "done"
    assert (view.counts.records, view.counts.valid_records, view.counts.applied_records) == (
        3,
        3,
        3,
    )
    assert view.counts.orders == sum(len(r.mb2) for r in records)
    stored = hub.visit(records[1].mb1["M15"])
    assert stored is not None and stored.version == 1 and not stored.deleted
    assert "M03" not in stored.record["mb1"]
    assert stored.record["mb1"]["M44"] == records[1].mb1["M44"]
    assert hub.settings.cipher().decrypt(stored.person_enc) == records[1].mb1["M03"]


def test_correction_replaces_and_the_last_received_wins(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1)[0]
    inst, m15 = rec.mb1["M05"], rec.mb1["M15"]
    hub.send(inst, [rec])
    second = hub.send(inst, [clone(rec, M44="1000"), clone(rec, M44="2000")])
    assert second.counts.applied_records == 2
    stored = hub.visit(m15)
    assert stored is not None and stored.record["mb1"]["M44"] == "2000"
    with read_only(hub.engine) as conn:
        history = get_visit_versions(conn, m15)
    assert [v.record["mb1"]["M44"] for v in history] == [rec.mb1["M44"], "1000"]
    assert stored.version == 3


def test_abnormal_upload_replaces_normal(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=1)[0]
    abnormal = next(r for r in pool.records if r.header.get("H01") == "B")
    inst = rec.mb1["M05"]
    hub.send(inst, [rec])
    # B carries what an abnormal upload carries: take a generated one and give it rec's identity
    b = clone(abnormal, M03=rec.mb1["M03"], M05=inst, M15=rec.mb1["M15"])
    view = hub.send(inst, [b])
    assert hub.codes(view.id) == {1: set()}
    stored = hub.visit(rec.mb1["M15"])
    assert stored is not None and stored.h01 == "B"


def test_correction_after_the_next_month_is_refused_bk(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2)
    p = chain.prescription
    visit = visit_time(p)
    first = hub.send(chain.institution, [p], at=after_visit(p))
    assert first.counts.applied_records == 1
    deadline = dt.datetime(visit.year + visit.month // 12, visit.month % 12 + 1, 1)
    deadline = dt.datetime(deadline.year + deadline.month // 12, deadline.month % 12 + 1, 1)
    late = hub.send(
        chain.institution, [clone(p, M44="1")], at=received(deadline + dt.timedelta(hours=1))
    )
    assert hub.findings(late.id) == {1: {("M15", "BK")}}
    in_time = hub.send(
        chain.institution, [clone(p, M44="2")], at=received(deadline - dt.timedelta(hours=1))
    )
    assert hub.codes(in_time.id) == {1: set()}
    stored = hub.visit(chain.m15)
    assert stored is not None and stored.record["mb1"]["M44"] == "2"


def test_another_institutions_identifier_is_refused_d004(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=2)[0]
    inst = rec.mb1["M05"]
    hub.send(inst, [rec])
    other = PHARMACY_B
    view = hub.send(other, [clone(rec, M05=other, M44="9")])
    assert hub.findings(view.id) == {1: {("M15", "D004")}}
    stored = hub.visit(rec.mb1["M15"])
    assert stored is not None and stored.institution_code == inst and stored.version == 1


def test_records_of_another_institution_are_refused_07(hub: Hub, pool: Pool) -> None:
    a, b = pool.visits(2, skip=3)
    uploader = a.mb1["M05"]
    foreign = clone(b, M05=PHARMACY_C)
    view = hub.send(uploader, [clone(a, M05=uploader), foreign])
    assert hub.findings(view.id)[2] == {("M05", "07")}
    assert hub.applied(view.id) == {1: True, 2: False}
    assert hub.visit(foreign.mb1["M15"]) is None


# -- D: delete --------------------------------------------------------------------------------


def test_delete_own_record(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=4)[0]
    inst = rec.mb1["M05"]
    hub.send(inst, [rec])
    view = hub.send(inst, [action(rec, "D")])
    assert hub.codes(view.id) == {1: set()} and view.counts.applied_records == 1
    stored = hub.visit(rec.mb1["M15"])
    assert stored is not None and stored.deleted and stored.h01 == "D"
    again = hub.send(inst, [action(rec, "D")])
    assert hub.findings(again.id) == {1: {("M15", "D001")}}


def test_delete_unknown_or_foreign_record_is_d001(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=5)[0]
    inst = rec.mb1["M05"]
    unknown = hub.send(inst, [action(rec, "D")])
    assert hub.findings(unknown.id) == {1: {("M15", "D001")}}
    hub.send(inst, [rec])
    foreign = hub.send(PHARMACY_B, [action(rec, "D", M05=PHARMACY_B)])
    assert hub.findings(foreign.id) == {1: {("M15", "D001")}}
    wrong_person = hub.send(inst, [action(rec, "D", M03="A123456789")])
    assert hub.findings(wrong_person.id) == {1: {("M15", "D001")}}
    stored = hub.visit(rec.mb1["M15"])
    assert stored is not None and not stored.deleted


def test_delete_prescription_dispensed_elsewhere_is_d039(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    hub.send(r2.mb1["M05"], [r2])
    view = hub.send(chain.institution, [action(chain.prescription, "D")])
    assert hub.findings(view.id) == {1: {("M15", "D039")}}
    stored = hub.visit(chain.m15)
    assert stored is not None and not stored.deleted


def test_delete_visit_another_institution_executed_on_is_d039(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(1, skip=1)
    p = clone(chain.prescription, M26=None, M21=None, M33=None)
    for line in p.mb2:
        line["D04"] = "A"
    p.mb1["M24"] = "1"
    hub.send(chain.institution, [p])
    dispensing = clone(chain.refills[0], M07="AF", M33=None)
    hub.send(dispensing.mb1["M05"], [dispensing])
    view = hub.send(chain.institution, [action(p, "D")])
    assert hub.findings(view.id) == {1: {("M15", "D039")}}


def test_delete_dispensing_gives_the_refill_back(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=2)
    r2 = chain.refills[0]
    pharmacy = r2.mb1["M05"]
    hub.send(chain.institution, [chain.prescription])
    hub.send(pharmacy, [r2])
    assert hub.states(chain.m15)[2] == "dispensed"
    view = hub.send(pharmacy, [action(r2, "D")])
    assert hub.codes(view.id) == {1: set()}
    refill = hub.refills(chain.m15)[2]
    assert refill.state == "not_dispensed" and refill.dispensed_by is None


def test_delete_dispensing_when_a_later_refill_went_elsewhere_is_d035(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=3)
    r2, r3 = chain.refills[0], chain.refills[1]
    r3 = _elsewhere(r3, PHARMACY_C) if r3.mb1["M05"] == r2.mb1["M05"] else r3
    hub.send(chain.institution, [chain.prescription])
    hub.send(r2.mb1["M05"], [r2])
    hub.send(r3.mb1["M05"], [r3])
    view = hub.send(r2.mb1["M05"], [action(r2, "D")])
    assert hub.findings(view.id) == {1: {("M15", "D035")}}
    assert hub.refills(chain.m15)[2].dispensing_m15 == r2.mb1["M15"]


def test_deleted_prescription_takes_its_refills_and_comes_back(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, elsewhere=False)
    p = chain.prescription
    hub.send(chain.institution, [p], at=after_visit(p, 1))
    assert hub.states(chain.m15) == {1: "dispensed", 2: "not_dispensed", 3: "not_dispensed"}
    hub.send(chain.institution, [action(p, "D")], at=after_visit(p, 2))
    assert hub.states(chain.m15) == {}
    again = hub.send(chain.institution, [clone(p, M44="7")], at=after_visit(p, 3))
    assert hub.codes(again.id) == {1: set()}
    assert hub.states(chain.m15) == {1: "dispensed", 2: "not_dispensed", 3: "not_dispensed"}


# -- C / E: cancel and restore refills -----------------------------------------------------------


def test_cancel_and_restore_not_dispensed_refills(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=4)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    hub.send(r2.mb1["M05"], [r2])
    cancel = hub.send(chain.institution, [action(chain.prescription, "C")])
    assert hub.codes(cancel.id) == {1: set()} and cancel.counts.applied_records == 1
    assert hub.states(chain.m15) == {1: "dispensed", 2: "dispensed", 3: "cancelled"}
    again = hub.send(chain.institution, [action(chain.prescription, "C")])
    assert hub.findings(again.id) == {1: {("H01", "D034")}}
    restore = hub.send(chain.institution, [action(chain.prescription, "E")])
    assert hub.codes(restore.id) == {1: set()}
    assert hub.states(chain.m15)[3] == "not_dispensed"
    nothing = hub.send(chain.institution, [action(chain.prescription, "E")])
    assert hub.findings(nothing.id) == {1: {("H01", "D038")}}


def test_cancel_only_by_the_prescriber(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=5)
    hub.send(chain.institution, [chain.prescription])
    other = hub.send(PHARMACY_B, [action(chain.prescription, "C", M05=PHARMACY_B)])
    assert hub.findings(other.id) == {1: {("M15", "D001")}}
    plain = pool.visits(1, skip=6)[0]
    hub.send(plain.mb1["M05"], [plain])
    no_refills = hub.send(plain.mb1["M05"], [action(plain, "C")])
    assert hub.findings(no_refills.id) == {1: {("M15", "D001")}}
    assert "cancelled" not in hub.states(chain.m15).values()


def test_dispensing_visits_cannot_cancel_d053(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=6)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    hub.send(r2.mb1["M05"], [r2])
    by_category = hub.send(r2.mb1["M05"], [action(r2, "C", M07="AE")])
    assert hub.findings(by_category.id) == {1: {("H01", "D053")}}
    by_stored = hub.send(r2.mb1["M05"], [action(r2, "E")])
    assert hub.findings(by_stored.id) == {1: {("H01", "D053")}}


# -- the dispensing chain -----------------------------------------------------------------------


def test_refill_dispensed_once_d025(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=7)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    first = hub.send(r2.mb1["M05"], [r2])
    assert hub.codes(first.id) == {1: set()}
    twice = _elsewhere(r2, PHARMACY_B)
    second = hub.send(PHARMACY_B, [twice])
    assert hub.findings(second.id) == {1: {("M33", "D025")}}
    assert hub.applied(second.id) == {1: False}
    assert hub.visit(twice.mb1["M15"]) is None
    assert hub.refills(chain.m15)[2].dispensed_by == r2.mb1["M05"]


def test_same_refill_twice_in_one_batch_first_wins(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=8)
    r2 = chain.refills[0]
    pharmacy = r2.mb1["M05"]
    twice = clone(r2, M15=new_m15(pharmacy))
    hub.send(chain.institution, [chain.prescription])
    view = hub.send(pharmacy, [r2, twice])
    assert hub.findings(view.id) == {1: set(), 2: {("M33", "D025")}}
    assert hub.refills(chain.m15)[2].dispensing_m15 == r2.mb1["M15"]


def test_re_upload_of_a_dispensing_is_a_correction(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=9)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    hub.send(r2.mb1["M05"], [r2])
    again = hub.send(r2.mb1["M05"], [clone(r2, M44="12")])
    assert hub.codes(again.id) == {1: set()}
    stored = hub.visit(r2.mb1["M15"])
    assert stored is not None and stored.version == 2
    assert hub.refills(chain.m15)[2].dispensing_m15 == r2.mb1["M15"]


def test_correction_moving_to_another_refill_releases_the_first(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=10)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    hub.send(r2.mb1["M05"], [r2])
    hub.send(r2.mb1["M05"], [clone(r2, M33="3")])
    assert hub.states(chain.m15) == {1: "dispensed", 2: "not_dispensed", 3: "dispensed"}


def test_no_prescription_is_a_warning_d024_and_later_reconciled(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=11)
    r2 = chain.refills[0]
    early = hub.send(r2.mb1["M05"], [r2])
    assert hub.findings(early.id) == {1: {("M33", "D024"), ("M16", "D049")}}
    assert early.counts.valid_records == 1 and early.counts.applied_records == 1
    hub.send(chain.institution, [chain.prescription])
    assert hub.refills(chain.m15)[2].dispensing_m15 == r2.mb1["M15"]


def test_refill_above_the_allowed_count_d019(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=12)
    r2 = chain.refills[0]
    hub.send(chain.institution, [chain.prescription])
    view = hub.send(r2.mb1["M05"], [clone(r2, M33="4")])
    assert hub.findings(view.id) == {1: {("M33", "D019")}}


def test_refills_out_of_order_d022(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=0)
    r2, r3 = chain.refills[0], chain.refills[1]
    hub.send(chain.institution, [chain.prescription])
    hub.send(r3.mb1["M05"], [r3])
    # refill 2 dispensed after refill 3 (its visit time later than refill 3's)
    late_two = clone(r2, M11=r3.mb1["M11"][:7] + "235959")
    for line in late_two.mb2:
        line["D01"] = late_two.mb1["M11"]
    view = hub.send(r2.mb1["M05"], [late_two], at=received(AS_OF + dt.timedelta(days=1)))
    assert hub.findings(view.id) == {1: {("M33", "D022")}}


def test_cancelled_refill_cannot_be_dispensed_d023_d073(hub: Hub, pool: Pool) -> None:
    for skip, convert, code, field in ((13, False, "D023", "M33"), (14, True, "D073", "M34")):
        chain = pool.chain(2, skip=skip)
        p, r2 = chain.prescription, chain.refills[0]
        if convert:
            p, r2 = _f_kind(p), _f_kind(r2)
        hub.send(chain.institution, [p])
        hub.send(chain.institution, [action(p, "C")])
        view = hub.send(r2.mb1["M05"], [r2])
        assert hub.findings(view.id) == {1: {(field, code)}}
        assert hub.states(chain.m15)[2] == "cancelled"


def test_original_visit_checks_d049_to_d052(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2, skip=15)
    r2 = chain.refills[0]
    pharmacy = r2.mb1["M05"]
    hub.send(chain.institution, [chain.prescription])
    wrong_m17 = hub.send(pharmacy, [clone(r2, M17=PHARMACY_C)])
    assert hub.findings(wrong_m17.id) == {1: {("M17", "D049")}}
    own = pool.chain(1, elsewhere=False, skip=1)
    missing_own = clone(own.refills[0], M16=new_m15(own.institution))
    view = hub.send(own.institution, [missing_own])
    assert hub.findings(view.id) == {1: {("M16", "D051"), ("M33", "D024")}}
    course = next(r for r in pool.records if r.mb1.get("M07") == "AA")
    inst = course.mb1["M05"]
    hub.send(inst, [course])
    af = clone(r2, M07="AF", M33=None, M16=course.mb1["M15"], M17=inst)
    elsewhere = hub.send(pharmacy, [af])
    assert hub.findings(elsewhere.id) == {1: {("M16", "D050")}}
    assert elsewhere.counts.valid_records == 1
    own_af = clone(af, M05=inst, M15=new_m15(inst))
    here = hub.send(inst, [own_af])
    assert hub.findings(here.id) == {1: {("M16", "D052")}}
    assert here.counts.invalid_records == 1


def test_reducing_the_refill_count_d016_d063(hub: Hub, pool: Pool) -> None:
    fewer = {"M26": "2", "M21": "56"}
    away = pool.chain(2, skip=16)
    hub.send(away.institution, [away.prescription])
    for r in away.refills[:2]:
        hub.send(r.mb1["M05"], [r])
    late = before_deadline(away.prescription)
    view = hub.send(away.institution, [clone(away.prescription, **fewer)], at=late)
    assert hub.findings(view.id) == {1: {("M26", "D063")}}
    home = pool.chain(2, elsewhere=False)
    hub.send(home.institution, [home.prescription, *home.refills[:2]])
    late = before_deadline(home.prescription)
    view = hub.send(home.institution, [clone(home.prescription, **fewer)], at=late)
    assert hub.findings(view.id) == {1: {("M26", "D016")}}
    assert set(hub.states(home.m15)) == {1, 2, 3}
    open_chain = pool.chain(2, skip=17)
    hub.send(open_chain.institution, [open_chain.prescription])
    hub.send(open_chain.refills[0].mb1["M05"], [open_chain.refills[0]])
    late = before_deadline(open_chain.prescription)
    ok = hub.send(open_chain.institution, [clone(open_chain.prescription, **fewer)], at=late)
    assert hub.codes(ok.id) == {1: set()}
    assert hub.states(open_chain.m15) == {1: "dispensed", 2: "dispensed"}


def test_replacement_visit_is_found_through_m52(hub: Hub, pool: Pool) -> None:
    rep = copy.deepcopy(pool.replacements[0])
    inst, real = rep.mb1["M05"], rep.mb1["M52"]
    hub.send(inst, [rep])
    chain = pool.chain(1, skip=18)
    af = clone(chain.refills[0], M07="AF", M33=None, M16=real, M17=inst)
    view = hub.send(af.mb1["M05"], [af])
    assert hub.codes(view.id) == {1: set()}


# -- other kinds of upload -------------------------------------------------------------------


def test_precheck_upload_never_changes_visits(hub: Hub, pool: Pool) -> None:
    a, b = pool.visits(2, skip=7)
    inst = a.mb1["M05"]
    bad = clone(b, M05=inst, M15=None)
    view = hub.send(inst, [a, bad], kind="A2")
    assert view.status == "done" and view.counts.applied_records == 0
    assert hub.visit(a.mb1["M15"]) is None
    with read_only(hub.engine) as conn:
        rows = get_precheck_records(conn, view.id)
    assert [(r.record_index, r.success, r.channel) for r in rows] == [
        (1, True, "web-api"),
        (2, False, "web-api"),
    ]
    assert rows[0].m15 == a.mb1["M15"]


def test_v1_upload_is_kept_for_the_report_and_y000_enforced(hub: Hub) -> None:
    result = generate(5, 60, as_of=AS_OF)
    v2 = list(result.iter_records())
    v1 = list(result.paired_v1())
    inst = v2[0].mb1["M05"]
    mine2 = [r for r in v2 if r.mb1["M05"] == inst]
    mine1 = [r for r in v1 if r.mb1["A14"] == inst]
    assert mine1 and len(mine1) == len(mine2)
    hub.send(inst, mine2[:1])
    view = hub.send(inst, mine1, version="1.0")
    assert view.format_version == "1.0" and view.counts.applied_records == 0
    codes = hub.codes(view.id)
    assert codes[1] == {"Y000"} and all(not c for i, c in codes.items() if i > 1)
    with read_only(hub.engine) as conn:
        rows = get_v1_records(conn, view.id)
    assert [r.success for r in rows] == [False] + [True] * (len(mine1) - 1)


def test_connectivity_test_stores_nothing_but_the_batch(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=9)[0]
    view = hub.send(rec.mb1["M05"], [rec], kind="ZZ")
    assert view.status == "done" and view.counts.records == 1
    assert view.counts.applied_records == 0
    assert hub.visit(rec.mb1["M15"]) is None
    with read_only(hub.engine) as conn:
        assert get_precheck_records(conn, view.id) == []


def test_structural_error_rejects_the_whole_batch(hub: Hub, pool: Pool) -> None:
    a, b = pool.visits(2, skip=10)
    inst = a.mb1["M05"]
    data = upload_bytes([a, clone(b, M05=inst)])
    view = hub.send(inst, [], raw=data[: data.rfind(b"</REC>")])
    assert view.status == "rejected" and view.error_code is not None
    assert view.counts.applied_records == 0 and view.counts.records >= 1
    assert hub.visit(a.mb1["M15"]) is None
    assert hub.applied(view.id) == dict.fromkeys(hub.applied(view.id), False)
