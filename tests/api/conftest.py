"""Fixtures of the API tests: the app on a real database (SQLite file and PostgreSQL through
``fresh_engine``, emptied before each test, because the app commits), institutions and tokens,
and upload files made by :mod:`nhihub.synth` through the demo planner."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nhihub.api import create_app
from nhihub.api.demo import DemoPlan, encode_records
from nhihub.config import Settings
from nhihub.formats import Record
from nhihub.service import create_token, drain
from nhihub.storage import insert_institution, unit_of_work

MAX_UPLOAD = 2 * 1024 * 1024  # small, so the size-limit tests stay cheap; above any demo upload


@pytest.fixture
def settings(fresh_db_url: str, tmp_path: Path, keys: tuple[bytes, bytes]) -> Settings:
    return Settings(
        db_url=fresh_db_url,
        data_dir=tmp_path,
        data_key=keys[0],
        lookup_key=keys[1],
        data_key_id=1,
        max_upload_bytes=MAX_UPLOAD,
    )


@dataclass
class World:
    """Institutions of the plan with one token each, and a staff token."""

    plan: DemoPlan
    tokens: dict[str, str]  # role -> token
    staff: str

    def code(self, role: str) -> str:
        return self.plan.code(role)

    def auth(self, role: str) -> dict[str, str]:
        token = self.staff if role == "staff" else self.tokens[role]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(fresh_engine: Engine, plan: DemoPlan) -> World:
    with unit_of_work(fresh_engine) as conn:
        for item in plan.institutions:
            insert_institution(conn, item.institution)
        tokens = {
            item.role: create_token(conn, institution=item.institution.code, role="institution")
            for item in plan.institutions
        }
        staff = create_token(conn, institution=None, role="staff")
    return World(plan, tokens, staff)


@pytest.fixture
def client(settings: Settings, fresh_engine: Engine) -> Iterator[TestClient]:
    """The app without its worker (tests process batches with :func:`process`)."""
    app = create_app(settings, engine=fresh_engine)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


Drain = Callable[[], list[int]]


@pytest.fixture
def process(fresh_engine: Engine, settings: Settings) -> Drain:
    """Call to run the worker until no batch is waiting; returns the processed batch ids."""

    def run() -> list[int]:
        return drain(fresh_engine, settings)

    return run


class Files:
    """Upload files and NHI request bodies for the tests."""

    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan

    def records(self, role: str) -> tuple[Record, ...]:
        return next(b for b in self.plan.batches if b.role == role).records

    def of(self, role: str) -> bytes:
        """The demo upload of an institution (``prescriber`` has invalid records)."""
        return encode_records(self.records(role))

    def build(self, records: Iterable[Record]) -> bytes:
        return encode_records(records)

    @staticmethod
    def nhi_upload(
        hosp: str, raw: bytes, *, token: str | None = None, kind: str = "A1"
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sSamId": "000000000001",
            "sHospId": hosp,
            "sClientRandom": "0123456789",
            "sType": kind,
            "sMrecs": "1",
            "sPrecs": "1",
            "sPatData": base64.b64encode(raw).decode("ascii"),
            "sUploadDT": "20240915093000123",
        }
        if token is not None:
            body["sSignature"] = token
        return body

    @staticmethod
    def nhi_download(hosp: str, opcode: object, *, token: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sSamId": "000000000001",
            "sHospId": hosp,
            "sClientRandom": "0123456789",
            "sType": "A1",
            "sOpcode": opcode,
        }
        if token is not None:
            body["sSignature"] = token
        return body


@pytest.fixture(scope="session")
def files(plan: DemoPlan) -> Files:
    return Files(plan)
