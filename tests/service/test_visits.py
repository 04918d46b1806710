"""Reading visits and refill status as an institution or as staff: visibility, decryption of the
person ID, the audit log, D074 and the M52 link."""

from __future__ import annotations

import copy

import pytest
from service_kit import Hub, Pool

from nhihub.service import (
    InvalidVisitId,
    Viewer,
    authenticate,
    create_token,
    get_visit,
    refill_status,
)
from nhihub.storage import list_audit, read_only, unit_of_work


def test_viewer_roles() -> None:
    assert Viewer.staff().may_see("anything")
    clinic = Viewer.of_institution("3501200000", token_id=4)
    assert clinic.may_see("3501200000") and not clinic.may_see("3501200001")
    with pytest.raises(ValueError):
        Viewer("institution", None)
    with pytest.raises(ValueError):
        Viewer("staff", "3501200000")


def test_institutions_see_only_their_own_visits(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1)[0]
    inst, m15 = rec.mb1["M05"], rec.mb1["M15"]
    hub.send(inst, [rec])
    cipher = hub.settings.cipher()
    with unit_of_work(hub.engine) as conn:
        viewer = authenticate(conn, create_token(conn, institution=inst, role="institution"))
        assert viewer is not None
        own = get_visit(conn, m15, viewer=viewer, cipher=cipher)
        other = get_visit(conn, m15, viewer=Viewer.of_institution("3501200009"), cipher=cipher)
        staff = get_visit(conn, m15, viewer=Viewer.staff())
        missing = get_visit(conn, "X" * 20, viewer=Viewer.staff())
    assert own is not None and own.person_id == rec.mb1["M03"]
    assert own.versions == 1 and own.record["mb1"]["M15"] == m15
    assert "M03" not in own.to_dict()["record"]["mb1"]
    assert other is None and missing is None
    assert staff is not None and staff.person_id is None
    with read_only(hub.engine) as conn:
        entries = list_audit(conn, object_type="visit", object_id=m15)
    assert [(e.action, e.institution_code, (e.detail or {}).get("found")) for e in entries] == [
        ("visit.read", inst, True),
        ("visit.read", "3501200009", False),
        ("visit.read", None, True),
    ]
    assert (
        entries[0].token_id == viewer.token_id
        and (entries[0].detail or {})["person_id"] == "decrypted"
    )


def test_refill_status(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(2)
    r2 = chain.refills[0]
    pharmacy = r2.mb1["M05"]
    hub.send(chain.institution, [chain.prescription])
    hub.send(pharmacy, [r2])
    with unit_of_work(hub.engine) as conn:
        seen_by_pharmacy = refill_status(conn, chain.m15, viewer=Viewer.of_institution(pharmacy))
        seen_by_other = refill_status(
            conn, chain.m15.lower(), viewer=Viewer.of_institution("5901010099")
        )
    assert seen_by_pharmacy.found and seen_by_pharmacy.code is None
    assert seen_by_pharmacy.prescription == chain.m15 and seen_by_pharmacy.refill_count == 3
    states = {r.refill_no: (r.state, r.dispensed_by) for r in seen_by_pharmacy.refills}
    assert states == {
        1: ("dispensed", chain.institution),
        2: ("dispensed", pharmacy),
        3: ("not_dispensed", None),
    }
    two = seen_by_pharmacy.refills[1]
    assert two.dispensing_m15 == r2.mb1["M15"] and two.state_zh == "已調劑"
    assert two.dispensed_at is not None
    assert seen_by_other.refills[1].dispensing_m15 is None  # not the dispenser: no identifier
    assert seen_by_other.to_dict()["refills"][2]["state_en"] == "not dispensed"


def test_refill_status_codes(hub: Hub, pool: Pool) -> None:
    with unit_of_work(hub.engine) as conn:
        with pytest.raises(InvalidVisitId) as caught:
            refill_status(conn, "NOT-AN-ID", viewer=Viewer.staff())
        unknown = refill_status(conn, "1" * 20, viewer=Viewer.staff())
    assert caught.value.code == "D074" and "就醫識別碼有誤" in caught.value.message_zh
    assert not unknown.found and unknown.code == "D024" and unknown.message_en


def test_refill_status_through_m52(hub: Hub, pool: Pool) -> None:
    rep = copy.deepcopy(pool.replacements[0])
    hub.send(rep.mb1["M05"], [rep])
    with unit_of_work(hub.engine) as conn:
        status = refill_status(conn, rep.mb1["M52"], viewer=Viewer.staff())
    assert status.found and status.prescription == rep.mb1["M15"]
    assert status.code == "D024" and status.refills == ()
