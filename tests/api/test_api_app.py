"""The application: OpenAPI, error bodies (never a traceback), size limits, health, prefixes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from nhihub.api import create_app
from nhihub.api.limits import ENVELOPE_BYTES, SMALL_BODY_BYTES
from nhihub.config import Settings

SECRET_PERSON = "A123456789"


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/nhi/VNHI_Upload",
        "/nhi/VNHI_Download",
        "/api/v1/uploads",
        "/api/v1/uploads/{batch_id}",
        "/api/v1/uploads/{batch_id}/result",
        "/api/v1/visits/{m15}",
        "/api/v1/refills/{m15}",
        "/api/v1/visit-ids",
        "/healthz",
    } <= paths
    assert "/V1000/VNHI_Upload" not in paths  # aliases work but are not listed twice
    nhi_body = spec["paths"]["/nhi/VNHI_Upload"]["post"]["requestBody"]["content"]
    assert "sPatData" in nhi_body["application/json"]["schema"]["properties"]
    assert client.get("/docs").status_code == 200


def test_health(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["worker"] is False


def test_unknown_route_and_method(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "route-not-found"
    wrong = client.get("/nhi/VNHI_Upload")
    assert wrong.status_code == 200  # an NHI path: RtnCode in a 200 answer
    assert (wrong.json()["RtnCode"], wrong.json()["code"]) == ("9999", "method-not-allowed")
    put = client.put("/api/v1/uploads")
    assert (put.status_code, put.json()["code"]) == (405, "method-not-allowed")


def test_validation_errors_name_fields_never_values(client: TestClient, world: Any) -> None:
    answer = client.post(
        "/api/v1/visit-ids", json={"person": SECRET_PERSON}, headers=world.auth("clinic")
    )
    assert answer.status_code == 422
    body = answer.json()
    assert set(body) == {"code", "message", "message_en"}
    assert "at" in body["message_en"]
    assert SECRET_PERSON not in answer.text
    not_json = client.post(
        "/api/v1/visit-ids",
        content=b"{",
        headers={**world.auth("clinic"), "Content-Type": "application/json"},
    )
    assert (not_json.status_code, not_json.json()["code"]) == (422, "invalid-request")


def test_unexpected_error_is_500_without_details(
    client: TestClient,
    world: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"value {SECRET_PERSON} broke it")

    monkeypatch.setattr("nhihub.api.rest_routes.list_batches", broken)
    monkeypatch.setattr("nhihub.api.nhi_routes.parse_upload", broken)
    with caplog.at_level(logging.ERROR):
        answer = client.get("/api/v1/uploads", headers=world.auth("clinic"))
        nhi = client.post(
            "/nhi/VNHI_Upload",
            json={"sHospId": world.code("clinic"), "sSignature": world.tokens["clinic"]},
        )
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal"
    assert (nhi.status_code, nhi.json()["RtnCode"]) == (200, "9999")
    for text in (answer.text, nhi.text, caplog.text):
        assert SECRET_PERSON not in text
    assert "Traceback" not in answer.text
    assert "RuntimeError" in caplog.text  # logged: type and place


def test_database_busy_is_503(
    client: TestClient, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr("nhihub.api.rest_routes.list_batches", busy)
    answer = client.get("/api/v1/uploads", headers=world.auth("clinic"))
    assert (answer.status_code, answer.json()["code"]) == (503, "unavailable")
    assert answer.headers["Retry-After"]


# -- size limits -------------------------------------------------------------------------------


def test_upload_over_the_limit_by_content_length(
    client: TestClient, world: Any, settings: Settings
) -> None:
    too_big = b"<" * (settings.max_upload_bytes + ENVELOPE_BYTES + 1)
    answer = client.post("/api/v1/uploads", content=too_big, headers=world.auth("clinic"))
    assert answer.status_code == 413
    assert answer.json()["code"] == "too-large"
    assert "上限" in answer.json()["message"]


def test_raw_upload_over_the_file_limit(client: TestClient, world: Any, settings: Settings) -> None:
    # Within the envelope allowance, but the file itself is over NHIHUB_MAX_UPLOAD_BYTES.
    answer = client.post(
        "/api/v1/uploads",
        content=b"<" * (settings.max_upload_bytes + 1),
        headers=world.auth("clinic"),
    )
    assert (answer.status_code, answer.json()["code"]) == (413, "too-large")


def test_streamed_upload_is_cut_off(client: TestClient, world: Any, settings: Settings) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(200):  # far more than the limit, sent without a Content-Length
            yield b"<" * 16384

    answer = client.post("/api/v1/uploads", content=chunks(), headers=world.auth("clinic"))
    assert (answer.status_code, answer.json()["code"]) == (413, "too-large")


def test_nhi_upload_over_the_limit(
    client: TestClient, world: Any, files: Any, settings: Settings
) -> None:
    raw = b"<" * (settings.max_upload_bytes + 1)
    body = files.nhi_upload(world.code("clinic"), raw, token=world.tokens["clinic"])
    answer = client.post("/nhi/VNHI_Upload", json=body)
    assert answer.status_code == 413
    assert (answer.json()["RtnCode"], answer.json()["code"]) == ("9999", "too-large")


def test_small_endpoints_have_a_small_limit(client: TestClient, world: Any) -> None:
    body = {"person": "A" * (SMALL_BODY_BYTES + 1), "at": "1130914093000"}
    answer = client.post("/api/v1/visit-ids", json=body, headers=world.auth("clinic"))
    assert answer.status_code == 413


# -- configuration -----------------------------------------------------------------------------


def test_custom_nhi_prefix(settings: Settings, fresh_engine: Engine, world: Any) -> None:
    app = create_app(settings, engine=fresh_engine, nhi_prefixes=("/sandbox/nhi",))
    with TestClient(app) as client:
        answer = client.post("/sandbox/nhi/VNHI_Download", json={"sHospId": world.code("clinic")})
        assert answer.json()["RtnCode"] == "9002"
        assert client.post("/nhi/VNHI_Download", json={}).status_code == 404


@pytest.mark.parametrize("prefixes", [(), ("nhi",), ("/nhi/",)])
def test_bad_prefixes(prefixes: tuple[str, ...], settings: Settings, fresh_engine: Engine) -> None:
    with pytest.raises(ValueError):
        create_app(settings, engine=fresh_engine, nhi_prefixes=prefixes)
