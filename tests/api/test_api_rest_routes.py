"""REST endpoints under /api/v1: uploads, status, results in every format, the upload list,
visits, refills, online issuing, and per-institution isolation, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nhihub.storage import read_only, revoke_token
from nhihub.visitid import decode

UPLOADS = "/api/v1/uploads"


def _upload(client: TestClient, world: Any, role: str, raw: bytes, kind: str = "A1") -> int:
    answer = client.post(f"{UPLOADS}?kind={kind}", content=raw, headers=world.auth(role))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "received"
    assert answer.headers["Location"] == f"{UPLOADS}/{body['batch_id']}"
    return int(body["batch_id"])


# -- uploads, status, results --------------------------------------------------------------------


def test_raw_upload_status_and_results(
    client: TestClient, world: Any, files: Any, process: Any
) -> None:
    records = files.records("prescriber")
    batch_id = _upload(client, world, "prescriber", files.of("prescriber"))
    auth = world.auth("prescriber")

    status = client.get(f"{UPLOADS}/{batch_id}", headers=auth).json()
    assert status["status"] == "received"
    assert status["channel"] == "web"
    assert status["institution"] == world.code("prescriber")
    pending = client.get(f"{UPLOADS}/{batch_id}/result", headers=auth)
    assert pending.status_code == 202
    assert pending.json()["code"] == "result-not-ready"
    assert pending.headers["Retry-After"] == "1"

    process()
    status = client.get(f"{UPLOADS}/{batch_id}", headers=auth).json()
    assert status["status"] == "done"
    assert status["records"] == len(records)
    assert status["invalid_records"] >= 1  # the demo file has injected errors
    assert status["valid_records"] + status["invalid_records"] == len(records)
    assert status["orders"] == sum(len(r.mb2) for r in records)
    assert status["verdict"] == "檢核有誤"

    as_json = client.get(f"{UPLOADS}/{batch_id}/result?format=json", headers=auth)
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/json")
    document = json.loads(as_json.content)
    assert document["records"] == len(records)
    assert len(document["invalid"]) == status["invalid_records"]

    as_csv = client.get(f"{UPLOADS}/{batch_id}/result?format=csv", headers=auth)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8"))))
    assert {r["code"] for r in rows} >= {
        e["code"] for i in document["invalid"] for e in i["errors"]
    }

    nhi = client.get(f"{UPLOADS}/{batch_id}/result?format=nhi", headers=auth)
    assert nhi.headers["content-type"].startswith("text/plain")
    text = nhi.content.decode("cp950")
    assert text.startswith("檢核結果")
    assert f"無效明細筆數=[{status['invalid_records']}]" in text

    zipped = client.get(f"{UPLOADS}/{batch_id}/result?format=nhi-zip", headers=auth)
    assert zipped.headers["content-type"] == "application/zip"
    assert "attachment" in zipped.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as zf:
        assert zf.read(zf.namelist()[0]) == nhi.content

    bad = client.get(f"{UPLOADS}/{batch_id}/result?format=xml", headers=auth)
    assert (bad.status_code, bad.json()["code"]) == (422, "bad-format")


def test_multipart_upload_keeps_the_file_name(
    client: TestClient, world: Any, files: Any, process: Any
) -> None:
    answer = client.post(
        UPLOADS,
        files={"file": ("day.xml", files.of("dental"), "application/xml")},
        headers=world.auth("dental"),
    )
    assert answer.status_code == 202
    batch_id = answer.json()["batch_id"]
    process()
    status = client.get(f"{UPLOADS}/{batch_id}", headers=world.auth("dental")).json()
    assert status["file_name"] == "day.xml"
    assert status["status"] == "done"
    assert status["records"] == len(files.records("dental"))


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"params": {"kind": "B9"}, "content": b"<x/>"}, 422, "bad-kind"),
        ({"content": b""}, 422, "empty-upload"),
        ({"files": {"other": ("a.xml", b"<x/>")}}, 415, "unsupported-media"),
    ],
)
def test_bad_uploads(
    request_kwargs: dict[str, Any], status: int, code: str, client: TestClient, world: Any
) -> None:
    answer = client.post(UPLOADS, headers=world.auth("clinic"), **request_kwargs)
    assert answer.status_code == status
    body = answer.json()
    assert body["code"] == code
    assert body["message"] and body["message_en"]


@pytest.mark.parametrize("batch_id", ["0", "abc", "99999999999999999999"])
def test_bad_batch_ids(batch_id: str, client: TestClient, world: Any) -> None:
    answer = client.get(f"{UPLOADS}/{batch_id}", headers=world.auth("clinic"))
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid-request")
    assert "batch_id" in answer.json()["message_en"]


def test_staff_cannot_upload(client: TestClient, world: Any, files: Any) -> None:
    answer = client.post(UPLOADS, content=files.of("clinic"), headers=world.auth("staff"))
    assert (answer.status_code, answer.json()["code"]) == (403, "staff-cannot-upload")


def test_a_file_that_is_not_xml_still_gets_a_result(
    client: TestClient, world: Any, process: Any
) -> None:
    batch_id = _upload(client, world, "clinic", b"\x00\xff not an upload file \x00")
    process()
    status = client.get(f"{UPLOADS}/{batch_id}", headers=world.auth("clinic")).json()
    assert status["status"] in ("done", "rejected")
    result = client.get(f"{UPLOADS}/{batch_id}/result?format=json", headers=world.auth("clinic"))
    assert result.status_code == 200
    assert json.loads(result.content)["file_errors"]


# -- the upload list ---------------------------------------------------------------------------


def test_upload_list_is_per_institution(client: TestClient, world: Any, files: Any) -> None:
    own = _upload(client, world, "clinic", files.of("clinic"))
    other = _upload(client, world, "dental", files.of("dental"))
    mine = client.get(UPLOADS, headers=world.auth("clinic")).json()
    assert [u["id"] for u in mine["uploads"]] == [own]
    assert mine["institution"] == world.code("clinic")
    assert mine["uploads"][0]["links"]["self"] == f"{UPLOADS}/{own}"

    everything = client.get(UPLOADS, headers=world.auth("staff")).json()
    assert [u["id"] for u in everything["uploads"]] == [own, other]
    one = client.get(
        UPLOADS, params={"institution": world.code("dental")}, headers=world.auth("staff")
    ).json()
    assert [u["id"] for u in one["uploads"]] == [other]

    refused = client.get(
        UPLOADS, params={"institution": world.code("dental")}, headers=world.auth("clinic")
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "institution-mismatch")


def test_upload_list_date_range(client: TestClient, world: Any, files: Any) -> None:
    batch_id = _upload(client, world, "clinic", files.of("clinic"))
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    auth = world.auth("clinic")

    def ids(**params: str) -> list[int]:
        answer = client.get(UPLOADS, params=params, headers=auth)
        assert answer.status_code == 200
        return [u["id"] for u in answer.json()["uploads"]]

    assert ids(**{"from": today.isoformat(), "to": today.isoformat()}) == [batch_id]
    roc = f"{today.year - 1911:03d}{today:%m%d}"
    assert ids(**{"from": roc}) == [batch_id]
    assert ids(**{"to": (today - dt.timedelta(days=1)).isoformat()}) == []
    assert ids(**{"from": (today + dt.timedelta(days=1)).isoformat()}) == []
    bad = client.get(UPLOADS, params={"from": "2024/01/01"}, headers=auth)
    assert (bad.status_code, bad.json()["code"]) == (422, "bad-date")


# -- isolation -----------------------------------------------------------------------------------


def test_other_institutions_batches_look_absent(
    client: TestClient, world: Any, files: Any, process: Any
) -> None:
    batch_id = _upload(client, world, "prescriber", files.of("prescriber"))
    process()
    for template in (UPLOADS + "/{}", UPLOADS + "/{}/result?format=json"):
        path = template.format(batch_id)
        foreign = client.get(path, headers=world.auth("clinic"))
        absent = client.get(template.format(999999), headers=world.auth("clinic"))
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json() == absent.json()
        assert client.get(path, headers=world.auth("staff")).status_code == 200


def test_cross_institution_delete_is_refused(
    client: TestClient, world: Any, files: Any, process: Any, fresh_engine: Engine
) -> None:
    """The clinic uploads an H01=D (整筆刪除) of the hospital's visit: refused, visit kept."""
    _upload(client, world, "prescriber", files.of("prescriber"))
    process()
    target = world.plan.prescription
    original = next(r for r in files.records("prescriber") if r.mb1.get("M15") == target)
    attack = copy.deepcopy(original)
    attack.header["H01"] = "D"
    for forged_m05 in (original.mb1["M05"], world.code("clinic")):
        attack.mb1["M05"] = forged_m05
        batch_id = _upload(client, world, "clinic", files.build([attack]))
        process()
        status = client.get(f"{UPLOADS}/{batch_id}", headers=world.auth("clinic")).json()
        assert status["invalid_records"] == 1
        assert status["applied_records"] == 0
    visit = client.get(f"/api/v1/visits/{target}", headers=world.auth("prescriber")).json()
    assert visit["deleted"] is False
    assert visit["versions"] == 1


# -- visits and refills --------------------------------------------------------------------------


@pytest.fixture
def dispensed(client: TestClient, world: Any, files: Any, process: Any) -> dict[str, int]:
    """Prescription at the hospital, refill at the pharmacy, the same refill again elsewhere."""
    ids = {
        role: _upload(client, world, role, files.of(role))
        for role in ("prescriber", "pharmacy", "second_pharmacy")
    }
    process()
    return ids


def test_visit_by_m15(client: TestClient, world: Any, dispensed: dict[str, int]) -> None:
    m15 = world.plan.prescription
    answer = client.get(f"/api/v1/visits/{m15}", headers=world.auth("prescriber"))
    assert answer.status_code == 200
    visit = answer.json()
    assert visit["m15"] == m15
    assert visit["institution"] == world.code("prescriber")
    assert visit["person_id"] is None  # the API never returns person IDs
    assert "M03" not in visit["record"]["mb1"]
    assert visit["refills"]
    assert (
        client.get(f"/api/v1/visits/{m15.lower()}", headers=world.auth("prescriber")).json()["m15"]
        == m15
    )

    foreign = client.get(f"/api/v1/visits/{m15}", headers=world.auth("pharmacy"))
    absent = client.get("/api/v1/visits/00000000000000000000", headers=world.auth("pharmacy"))
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == absent.json()
    assert client.get(f"/api/v1/visits/{m15}", headers=world.auth("staff")).status_code == 200


def test_duplicate_dispensing_is_refused_with_d025(
    client: TestClient, world: Any, dispensed: dict[str, int]
) -> None:
    auth = world.auth("second_pharmacy")
    result = client.get(
        f"{UPLOADS}/{dispensed['second_pharmacy']}/result?format=json", headers=auth
    )
    invalid = json.loads(result.content)["invalid"]
    duplicate = next(i for i in invalid if i["M15"] == world.plan.duplicate)
    assert [e["code"] for e in duplicate["errors"]] == ["D025"]
    nhi = client.get(f"{UPLOADS}/{dispensed['second_pharmacy']}/result?format=nhi", headers=auth)
    assert ":D025;" in nhi.content.decode("cp950")


def test_refill_status_for_the_pharmacy(
    client: TestClient, world: Any, dispensed: dict[str, int]
) -> None:
    m15 = world.plan.prescription
    # Any institution holding the prescription's identifier may ask (處方狀態檢查).
    answer = client.get(f"/api/v1/refills/{m15}", headers=world.auth("second_pharmacy"))
    assert answer.status_code == 200
    status = answer.json()
    assert status["found"] is True
    assert status["prescription"] == m15
    refill = next(r for r in status["refills"] if r["refill_no"] == world.plan.refill_no)
    assert refill["state"] == "dispensed"
    assert refill["dispensed_by"] == world.code("pharmacy")
    assert refill["dispensing_m15"] is None  # only the dispensing pharmacy and staff see it
    own = client.get(f"/api/v1/refills/{m15}", headers=world.auth("pharmacy")).json()
    mine = next(r for r in own["refills"] if r["refill_no"] == world.plan.refill_no)
    assert mine["dispensing_m15"] is not None


def test_refill_status_codes(client: TestClient, world: Any) -> None:
    unknown = client.get("/api/v1/refills/00000000000000000000", headers=world.auth("pharmacy"))
    assert unknown.status_code == 200
    assert (unknown.json()["found"], unknown.json()["code"]) == (False, "D024")
    bad = client.get("/api/v1/refills/not-an-identifier", headers=world.auth("pharmacy"))
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid-visit-id")
    assert bad.json()["message"].startswith("D074")


# -- online issuing --------------------------------------------------------------------------------


def test_issue_visit_identifier(client: TestClient, world: Any) -> None:
    body = {"person": "A123456789", "at": "1130914093000"}
    answer = client.post("/api/v1/visit-ids", json=body, headers=world.auth("clinic"))
    assert answer.status_code == 200
    issued = answer.json()
    assert issued["channel"] == "web"
    visit = decode(issued["code"])
    assert (visit.institution, visit.at, visit.channel.value) == (
        world.code("clinic"),
        "1130914093000",
        "web",
    )
    explicit = {**body, "institution": world.code("clinic")}
    again = client.post("/api/v1/visit-ids", json=explicit, headers=world.auth("clinic"))
    assert again.json()["code"] == issued["code"]  # deterministic for the same visit


@pytest.mark.parametrize(
    ("role", "body", "status", "code"),
    [
        (
            "clinic",
            {"person": "A123456789", "at": "1130914093000", "institution": "other"},
            422,
            "invalid-request",
        ),
        ("staff", {"person": "A123456789", "at": "1130914093000"}, 403, "staff-cannot-issue"),
        ("clinic", {"person": "A1234567890123", "at": "1130914093000"}, 422, "invalid-request"),
        ("clinic", {"person": "A123456789", "at": "1131314093000"}, 422, "invalid-request"),
        ("clinic", {"at": "1130914093000"}, 422, "invalid-request"),
    ],
)
def test_issue_refusals(
    role: str, body: dict[str, str], status: int, code: str, client: TestClient, world: Any
) -> None:
    answer = client.post("/api/v1/visit-ids", json=body, headers=world.auth(role))
    assert answer.status_code == status
    assert answer.json()["code"] == code
    if "person" in body:
        assert body["person"] not in answer.text  # never echo a person ID


def test_issue_for_another_institution_is_refused(client: TestClient, world: Any) -> None:
    body = {"person": "A123456789", "at": "1130914093000", "institution": world.code("dental")}
    answer = client.post("/api/v1/visit-ids", json=body, headers=world.auth("clinic"))
    assert (answer.status_code, answer.json()["code"]) == (403, "institution-mismatch")


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nhh_unknown"}, {"Authorization": "Basic abc"}],
)
def test_missing_or_invalid_token_is_401(headers: dict[str, str], client: TestClient) -> None:
    for method, path in (("GET", UPLOADS), ("GET", f"{UPLOADS}/1"), ("POST", UPLOADS)):
        answer = client.request(method, path, headers=headers, content=b"<x/>")
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(client: TestClient, world: Any, fresh_engine: Engine) -> None:
    from nhihub.protect import hash_token
    from nhihub.storage import get_token_by_hash, unit_of_work

    assert client.get(UPLOADS, headers=world.auth("clinic")).status_code == 200
    with unit_of_work(fresh_engine) as conn:
        stored = get_token_by_hash(conn, hash_token(world.tokens["clinic"]))
        assert stored is not None
        revoke_token(conn, stored.id)
    assert client.get(UPLOADS, headers=world.auth("clinic")).status_code == 401


def test_reads_are_audited_without_person_ids(
    client: TestClient, world: Any, dispensed: dict[str, int], fresh_engine: Engine
) -> None:
    from nhihub.storage import list_audit

    client.get(f"/api/v1/visits/{world.plan.prescription}", headers=world.auth("prescriber"))
    client.post(
        "/api/v1/visit-ids",
        json={"person": "A123456789", "at": "1130914093000"},
        headers=world.auth("clinic"),
    )
    with read_only(fresh_engine) as conn:
        entries = list_audit(conn)
    actions = {e.action for e in entries}
    assert {"visit.read", "visit_id.issue", "batch.upload"} <= actions
    assert "A123456789" not in json.dumps([str(e) for e in entries])
