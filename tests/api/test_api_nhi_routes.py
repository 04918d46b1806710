"""NHI-compatible VNHI_Upload / VNHI_Download: the protocol round trip and every RtnCode, on
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

UPLOAD = "/nhi/VNHI_Upload"
DOWNLOAD = "/nhi/VNHI_Download"


def _unzip_text(encoded: str) -> str:
    data = base64.b64decode(encoded, validate=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert len(names) == 1
        raw = zf.read(names[0])
    return raw.decode("cp950")  # NHI's result text is Big5


def test_round_trip(client: TestClient, world: Any, files: Any, process: Any) -> None:
    hosp, token = world.code("prescriber"), world.tokens["prescriber"]
    records = files.records("prescriber")
    answer = client.post(UPLOAD, json=files.nhi_upload(hosp, files.of("prescriber"), token=token))
    assert answer.status_code == 200
    body = answer.json()
    assert body["RtnCode"] == "0000"
    opcode = body["Opcode"]
    assert opcode.isdigit()

    pending = client.post(DOWNLOAD, json=files.nhi_download(hosp, opcode, token=token))
    assert pending.status_code == 200
    assert pending.json()["RtnCode"] == "5002"
    assert "tx_result_json" not in pending.json()

    assert process() == [int(opcode)]
    done = client.post(DOWNLOAD, json=files.nhi_download(hosp, opcode, token=token))
    assert done.json()["RtnCode"] == "0000"
    assert done.json()["Opcode"] == opcode
    text = _unzip_text(done.json()["tx_result_json"])
    assert text.startswith("檢核結果")
    assert f"接收筆數=[{len(records)}]" in text
    assert f"醫事機構代碼=[{hosp}]" in text
    assert "上傳日期時間=[1130915093000]" in text  # sUploadDT, as an ROC date-time
    assert "錯誤原因:" in text  # the prescriber's file has invalid records
    assert "\r\n" in text


def test_token_in_authorization_header(
    client: TestClient, world: Any, files: Any, process: Any
) -> None:
    hosp = world.code("dental")
    body = files.nhi_upload(hosp, files.of("dental"))  # no sSignature
    answer = client.post(UPLOAD, json=body, headers=world.auth("dental"))
    assert answer.json()["RtnCode"] == "0000"
    opcode = answer.json()["Opcode"]
    process()
    done = client.post(
        DOWNLOAD, json=files.nhi_download(hosp, opcode), headers=world.auth("dental")
    )
    assert done.json()["RtnCode"] == "0000"
    text = _unzip_text(done.json()["tx_result_json"])
    assert f"接收筆數=[{len(files.records('dental'))}]" in text


@pytest.mark.parametrize("prefix", ["/V1000", "/V2000"])
def test_nhi_own_paths(prefix: str, client: TestClient, world: Any, files: Any) -> None:
    hosp, token = world.code("dental"), world.tokens["dental"]
    answer = client.post(
        f"{prefix}/VNHI_Upload", json=files.nhi_upload(hosp, files.of("dental"), token=token)
    )
    assert answer.json()["RtnCode"] == "0000"
    pending = client.post(
        f"{prefix}/VNHI_Download",
        json=files.nhi_download(hosp, answer.json()["Opcode"], token=token),
    )
    assert pending.json()["RtnCode"] == "5002"


def test_field_names_in_other_case(client: TestClient, world: Any, files: Any) -> None:
    hosp, token = world.code("dental"), world.tokens["dental"]
    body = files.nhi_upload(hosp, files.of("dental"), token=token)
    lowered = {("sHospid" if k == "sHospId" else k): v for k, v in body.items()}
    lowered["sSamid"] = lowered.pop("sSamId")
    assert client.post(UPLOAD, json=lowered).json()["RtnCode"] == "0000"


def _rtn(client: TestClient, path: str, body: object, **kwargs: object) -> dict[str, str]:
    answer = client.post(path, json=body, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 200  # NHI's clients read RtnCode, not the HTTP status
    document: dict[str, str] = answer.json()
    assert {"RtnCode", "message", "message_en"} <= set(document)
    if document["RtnCode"] not in ("0000", "5002"):
        assert "code" in document  # our finer reason beside NHI's RtnCode
    return document


def test_9002_without_or_with_a_wrong_token(client: TestClient, world: Any, files: Any) -> None:
    hosp = world.code("clinic")
    raw = files.of("clinic")
    assert _rtn(client, UPLOAD, files.nhi_upload(hosp, raw))["RtnCode"] == "9002"
    assert _rtn(client, UPLOAD, files.nhi_upload(hosp, raw, token="nhh_wrong"))["RtnCode"] == "9002"
    bad_header = {"Authorization": "Bearer nhh_wrong"}
    assert (
        _rtn(client, UPLOAD, files.nhi_upload(hosp, raw), headers=bad_header)["RtnCode"] == "9002"
    )


def test_9002_for_another_institutions_token(client: TestClient, world: Any, files: Any) -> None:
    # sHospId must be the token's institution: a clinic's token cannot upload for the hospital.
    hosp = world.code("prescriber")
    body = files.nhi_upload(hosp, files.of("prescriber"), token=world.tokens["clinic"])
    answer = _rtn(client, UPLOAD, body)
    assert (answer["RtnCode"], answer["code"]) == ("9002", "institution-mismatch")
    staff = files.nhi_upload(hosp, files.of("prescriber"), token=world.staff)
    assert _rtn(client, UPLOAD, staff)["RtnCode"] == "9002"


def test_9005_unknown_institution(client: TestClient, world: Any, files: Any) -> None:
    body = files.nhi_upload("9999999999", files.of("clinic"), token=world.tokens["clinic"])
    answer = _rtn(client, UPLOAD, body)
    assert answer["RtnCode"] == "9005"
    assert answer["message"].startswith("醫療院所代號不存在")


def test_5003_bad_stype(client: TestClient, world: Any, files: Any) -> None:
    hosp, token = world.code("clinic"), world.tokens["clinic"]
    answer = _rtn(
        client, UPLOAD, files.nhi_upload(hosp, files.of("clinic"), token=token, kind="B1")
    )
    assert answer["RtnCode"] == "5003"
    assert "作業類別錯誤" in answer["message"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"sPatData": "not base64!"}, "bad-base64"),
        ({"sPatData": ""}, "missing-field"),
        ({"sUploadDT": "2024-09-15"}, "bad-upload-dt"),
        ({"sMrecs": "x"}, "bad-field"),
    ],
)
def test_9999_bad_fields(
    change: dict[str, str], code: str, client: TestClient, world: Any, files: Any
) -> None:
    hosp, token = world.code("clinic"), world.tokens["clinic"]
    body = {**files.nhi_upload(hosp, files.of("clinic"), token=token), **change}
    answer = _rtn(client, UPLOAD, body)
    assert (answer["RtnCode"], answer["code"]) == ("9999", code)


def test_9999_not_json(client: TestClient, world: Any) -> None:
    for content in (b"{not json", b"[1, 2]", "\udcff".encode("utf-8", "surrogatepass")):
        answer = client.post(UPLOAD, content=content, headers={"Content-Type": "application/json"})
        assert answer.status_code == 200
        assert answer.json()["RtnCode"] == "9999"


def test_download_codes(client: TestClient, world: Any, files: Any, process: Any) -> None:
    hosp, token = world.code("clinic"), world.tokens["clinic"]
    opcode = _rtn(client, UPLOAD, files.nhi_upload(hosp, files.of("clinic"), token=token))["Opcode"]
    process()
    # unknown Opcode, malformed Opcode
    assert (
        _rtn(client, DOWNLOAD, files.nhi_download(hosp, "999999", token=token))["RtnCode"] == "9999"
    )
    bad = _rtn(client, DOWNLOAD, files.nhi_download(hosp, "abc", token=token))
    assert (bad["RtnCode"], bad["code"]) == ("9999", "bad-opcode")
    # another institution asking for this Opcode: answered as if it did not exist
    other = world.code("dental")
    foreign = _rtn(
        client, DOWNLOAD, files.nhi_download(other, opcode, token=world.tokens["dental"])
    )
    missing = _rtn(
        client, DOWNLOAD, files.nhi_download(other, "999999", token=world.tokens["dental"])
    )
    assert foreign == missing
    # the clinic's token with the dental clinic's sHospId
    assert (
        _rtn(client, DOWNLOAD, files.nhi_download(other, opcode, token=token))["RtnCode"] == "9002"
    )
    assert (
        _rtn(client, DOWNLOAD, files.nhi_download("9999999999", opcode, token=token))["RtnCode"]
        == "9005"
    )
    assert _rtn(client, DOWNLOAD, files.nhi_download(hosp, opcode))["RtnCode"] == "9002"


def test_precheck_a2_is_reported_but_never_stored(
    client: TestClient, world: Any, files: Any, process: Any
) -> None:
    hosp, token = world.code("dental"), world.tokens["dental"]
    records = files.records("dental")
    answer = _rtn(
        client, UPLOAD, files.nhi_upload(hosp, files.of("dental"), token=token, kind="A2")
    )
    process()
    done = _rtn(client, DOWNLOAD, files.nhi_download(hosp, answer["Opcode"], token=token))
    assert done["RtnCode"] == "0000"
    status = client.get(f"/api/v1/uploads/{answer['Opcode']}", headers=world.auth("dental")).json()
    assert status["kind"] == "A2"
    assert status["records"] == len(records)
    visit = client.get(f"/api/v1/visits/{records[0].mb1['M15']}", headers=world.auth("dental"))
    assert visit.status_code == 404  # a pre-check never changes stored visits


def test_batch_keeps_transport_fields_never_the_signature(
    client: TestClient, world: Any, files: Any, fresh_engine: object
) -> None:
    from nhihub.storage import get_batch, read_only

    hosp, token = world.code("dental"), world.tokens["dental"]
    opcode = _rtn(client, UPLOAD, files.nhi_upload(hosp, files.of("dental"), token=token))["Opcode"]
    with read_only(fresh_engine) as conn:  # type: ignore[arg-type]
        batch = get_batch(conn, int(opcode))
    assert batch is not None
    assert batch.channel == "web-api"
    assert batch.client_info is not None
    assert batch.client_info["sSamId"] == "000000000001"
    assert token not in str(batch.client_info)
    assert batch.uploaded_at is not None and batch.uploaded_at.year == 2024
