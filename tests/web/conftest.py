"""Fixtures of the web console tests: the app on a real database (``fresh_engine``: SQLite file
and PostgreSQL, emptied before each test), the demo's institutions, tokens and processed
uploads (:func:`nhihub.api.demo.load_demo`), among them the pre-check institution with 1.0 and
2.0 pre-check uploads for the comparison report, synthetic upload files with known errors
(:mod:`nhihub.synth`), and a signed-in :class:`Console` client."""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from nhihub.api import create_app
from nhihub.api.demo import (
    PRECHECK_ROLE,
    PRECHECK_V1,
    PRECHECK_V2,
    DemoPlan,
    DemoResult,
    demo_config,
    load_demo,
    with_known_error,
)
from nhihub.config import Settings
from nhihub.formats import Record
from nhihub.service import drain
from nhihub.storage import create_engine_for, upgrade
from nhihub.synth import generate

MAX_UPLOAD = 512 * 1024
ERROR_RATE = 0.08  # of the pre-check institution's records for uploads with errors


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


@dataclass(frozen=True)
class PrecheckData:
    """The demo's pre-check institution: its 1.0 upload and 2.0 pre-check (A2, Web-API) of the
    same visits, some 1.0 visits without a pre-check (planned by :func:`plan_demo`); and records
    of it with injected errors, for uploads."""

    code: str
    v1: tuple[Record, ...]
    v2: tuple[Record, ...]
    with_errors: tuple[Record, ...]  # its 2.0 records, some with an injected error


@pytest.fixture(scope="session")
def precheck_data(plan: DemoPlan) -> PrecheckData:
    code = plan.code(PRECHECK_ROLE)
    cfg = demo_config()
    faulty = generate(
        int(cfg["seed"]), int(cfg["records"]), as_of=plan.as_of, error_rate=ERROR_RATE
    )
    mine = [r for r in faulty.iter_records() if r.mb1.get("M05") == code]
    # The errors are injected at random over every institution's records, and the demo's data
    # follow the clock: at some minutes none fell on this institution's records. The demo's
    # known error (an unknown visit category, Y008) makes sure there is always one.
    with_errors = with_known_error(mine, plan.as_of)
    return PrecheckData(
        code, plan.batch(PRECHECK_V1).records, plan.batch(PRECHECK_V2).records, tuple(with_errors)
    )


@dataclass
class World:
    """The demo (institutions, tokens, processed uploads, the pre-check institution's among
    them) and records of the pre-check institution for uploads."""

    demo: DemoResult
    precheck: PrecheckData
    engine: Engine
    settings: Settings

    def token(self, role: str) -> str:
        if role == "staff":
            return self.demo.staff_token
        return self.demo.tokens[self.demo.plan.code(role)]

    def code(self, role: str) -> str:
        return self.demo.plan.code(role)

    def batch(self, role: str) -> int:
        return self.demo.batches[role].id

    def process(self) -> list[int]:
        return drain(self.engine, self.settings)


def build_world(engine: Engine, settings: Settings, plan: DemoPlan, data: PrecheckData) -> World:
    return World(load_demo(engine, settings, plan), data, engine, settings)


@pytest.fixture
def fresh_world(
    fresh_engine: Engine, settings: Settings, plan: DemoPlan, precheck_data: PrecheckData
) -> World:
    """The world on a database emptied for this test: for tests that change data (uploads,
    revoked tokens, removed raw files)."""
    return build_world(fresh_engine, settings, plan, precheck_data)


@pytest.fixture(scope="session")
def world(
    db_url: str,
    db_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
    keys: tuple[bytes, bytes],
    plan: DemoPlan,
    precheck_data: PrecheckData,
) -> Iterator[World]:
    """The world built once per backend and shared by the tests that only read (they may add
    audit entries and cached result files, nothing a page shows)."""
    backend = "pg" if db_url.startswith("postgresql") else "sqlite"
    url = db_factory.url(backend, "webshared")
    shared = Settings(
        db_url=url,
        data_dir=tmp_path_factory.mktemp(f"webshared-{backend}"),
        data_key=keys[0],
        lookup_key=keys[1],
        data_key_id=1,
        max_upload_bytes=MAX_UPLOAD,
    )
    engine = create_engine_for(url)
    upgrade(engine)
    yield build_world(engine, shared, plan, precheck_data)
    engine.dispose()


WorldBuilder = Callable[[Engine, Settings], World]


@pytest.fixture(scope="session")
def world_builder(plan: DemoPlan, precheck_data: PrecheckData) -> WorldBuilder:
    """``world_builder(engine, settings)``: the same world on a database of the caller's."""

    def build(engine: Engine, settings: Settings) -> World:
        return build_world(engine, settings, plan, precheck_data)

    return build


NONCE = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """A TestClient that signs in through the login form like a person would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def sign_in(self, token: str, next_url: str = "") -> Response:
        self.client.cookies.clear()  # a fresh browser
        page = self.client.get("/console/login")
        nonce = NONCE.search(page.text)
        assert nonce is not None
        return self.client.post(
            "/console/login",
            data={"token": token, "csrf": nonce.group(1), "next": next_url},
            follow_redirects=False,
        )

    def csrf(self, path: str = "/console/uploads") -> str:
        found = NONCE.search(self.client.get(path).text)
        assert found is not None
        return found.group(1)

    def get(self, path: str, **kwargs: object) -> Response:
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> Response:
        return self.client.post(path, **kwargs)  # type: ignore[arg-type]


def _client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def console(world: World) -> Iterator[Console]:
    """A browser-like client of the app on the shared world."""
    for client in _client(world.settings, world.engine):
        yield Console(client)


@pytest.fixture
def fresh_console(settings: Settings, fresh_engine: Engine) -> Iterator[Console]:
    """A client of the app on the fresh database (with ``fresh_world``)."""
    for client in _client(settings, fresh_engine):
        yield Console(client)


# -- reading the encrypted zips (WinZip AES-256) -------------------------------------------------


@pytest.fixture(scope="session")
def aes_unzip() -> Callable[[bytes, str], dict[str, bytes]]:
    """``aes_unzip(archive, password) -> {name: content}`` (see :func:`read_aes_zip`)."""
    return read_aes_zip


class BadZip(Exception):
    pass


def read_aes_zip(archive: bytes, password: str) -> dict[str, bytes]:
    """Every member of a WinZip AES-256 zip, decrypted and authenticated, with the standard
    library and AES from ``cryptography`` (no code shared with ``nhihub.reports.aeszip``)."""
    eocd = archive.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise BadZip("no end of central directory")
    (count,) = struct.unpack("<H", archive[eocd + 10 : eocd + 12])
    (cd_offset,) = struct.unpack("<I", archive[eocd + 16 : eocd + 20])
    members: dict[str, bytes] = {}
    pos = cd_offset
    for _ in range(count):
        head = struct.unpack("<IHHHHHHIIIHHHHHII", archive[pos : pos + 46])
        flags, method, size, usize = head[3], head[4], head[8], head[9]
        name_len, extra_len, comment_len, offset = head[10], head[11], head[12], head[16]
        name = archive[pos + 46 : pos + 46 + name_len].decode("utf-8" if flags & 0x800 else "cp437")
        extra = archive[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        pos += 46 + name_len + extra_len + comment_len
        if method != 99 or not flags & 1:
            raise BadZip(f"{name}: not AES-encrypted")
        real_method = struct.unpack("<H", extra[9:11])[0]
        local = struct.unpack("<IHHHHHIIIHH", archive[offset : offset + 30])
        start = offset + 30 + local[9] + local[10]
        body = archive[start : start + size]
        salt, verifier, encrypted, mac = body[:16], body[16:18], body[18:-10], body[-10:]
        material = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, 1000, 66)
        if material[64:66] != verifier:
            raise BadZip("wrong password")
        if not hmac.compare_digest(mac, hmac.new(material[32:64], encrypted, "sha1").digest()[:10]):
            raise BadZip("authentication code mismatch")
        block = Cipher(algorithms.AES(material[:32]), modes.ECB()).encryptor()
        stream = b"".join(
            block.update(i.to_bytes(16, "little")) for i in range(1, len(encrypted) // 16 + 2)
        )
        plain = bytes(a ^ b for a, b in zip(encrypted, stream, strict=False))
        if real_method == 8:
            plain = zlib.decompress(plain, -15)
        if len(plain) != usize:
            raise BadZip("size mismatch")
        members[name] = plain
    return members
