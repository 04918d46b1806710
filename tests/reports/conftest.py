"""Fixtures for the report tests: institutions and batches on the real test databases, and an
independent reader of WinZip AES zips (written from the format description, sharing no code
with ``nhihub.reports.aeszip``: stdlib PBKDF2/HMAC, zip parsed from the central directory)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import Connection

from nhihub.protect import PiiCipher
from nhihub.storage import Institution, NewBatch, create_batch, insert_institution

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
CLINIC = "3501200000"
OTHER = "3501200011"

MakeBatch = Callable[..., int]


class BadZip(Exception):
    """The independent reader refused the archive (wrong password, altered bytes...)."""


def _aes_ctr_little_endian(key: bytes, data: bytes) -> bytes:
    out = bytearray()
    block = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    counter = 1
    for start in range(0, len(data), 16):
        pad = block.update(counter.to_bytes(16, "little"))
        out += bytes(a ^ b for a, b in zip(data[start : start + 16], pad, strict=False))
        counter += 1
    return bytes(out)


def read_aes_zip(archive: bytes, password: str) -> dict[str, bytes]:
    """Every member of a WinZip AES-256 (AE-1/AE-2) zip, decrypted and checked."""
    eocd = archive.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise BadZip("no end of central directory")
    fields = struct.unpack("<IHHHHIIH", archive[eocd : eocd + 22])
    count, cd_offset = fields[4], fields[6]
    members: dict[str, bytes] = {}
    pos = cd_offset
    for _ in range(count):
        head = struct.unpack("<IHHHHHHIIIHHHHHII", archive[pos : pos + 46])
        if head[0] != 0x02014B50:
            raise BadZip("bad central directory entry")
        flags, method, size, usize = head[3], head[4], head[8], head[9]
        name_len, extra_len, comment_len, offset = head[10], head[11], head[12], head[16]
        raw_name = archive[pos + 46 : pos + 46 + name_len]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        extra = archive[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        pos += 46 + name_len + extra_len + comment_len
        if method != 99 or not flags & 1:
            raise BadZip(f"{name}: not AES-encrypted")
        header_id, data_size, vendor_version, vendor, strength, real_method = struct.unpack(
            "<HHH2sBH", extra[:11]
        )
        if header_id != 0x9901 or vendor != b"AE" or strength != 3 or data_size != 7:
            raise BadZip(f"{name}: bad AES extra field")
        local = struct.unpack("<IHHHHHIIIHH", archive[offset : offset + 30])
        if local[0] != 0x04034B50:
            raise BadZip("bad local header")
        start = offset + 30 + local[9] + local[10]
        body = archive[start : start + size]
        salt, verifier = body[:16], body[16:18]
        encrypted, mac = body[18:-10], body[-10:]
        material = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, 1000, 66)
        if material[64:66] != verifier:
            raise BadZip("wrong password")
        expected = hmac.new(material[32:64], encrypted, "sha1").digest()[:10]
        if not hmac.compare_digest(mac, expected):
            raise BadZip("authentication code mismatch")
        plain = _aes_ctr_little_endian(material[:32], encrypted)
        if real_method == 8:
            plain = zlib.decompress(plain, -15)
        elif real_method != 0:
            raise BadZip(f"unknown method {real_method}")
        if len(plain) != usize:
            raise BadZip("size mismatch")
        if vendor_version == 1 and zlib.crc32(plain) != head[7]:
            raise BadZip("CRC mismatch")
        members[name] = plain
    return members


@pytest.fixture(scope="session")
def aes_unzip() -> Callable[[bytes, str], dict[str, bytes]]:
    """The independent reader: ``aes_unzip(archive, password) -> {name: content}``."""
    return read_aes_zip


@pytest.fixture(scope="session")
def bad_zip() -> type[Exception]:
    """What the independent reader raises for a wrong password or altered bytes."""
    return BadZip


@pytest.fixture
def clinics(conn: Connection) -> tuple[str, str]:
    insert_institution(conn, Institution(CLINIC, "測試診所", "clinic", "11"), now=T0)
    insert_institution(conn, Institution(OTHER, "另一診所", "clinic", "11"), now=T0)
    return CLINIC, OTHER


@pytest.fixture
def make_batch(conn: Connection, clinics: tuple[str, str], pii_cipher: PiiCipher) -> MakeBatch:
    def make(
        *,
        institution_code: str = CLINIC,
        kind: str = "A1",
        channel: str = "web-api",
        raw: bytes = b"<RECS></RECS>",
        now: dt.datetime = T0,
        **fields: Any,
    ) -> int:
        new = NewBatch(institution_code=institution_code, channel=channel, kind=kind, **fields)
        return create_batch(conn, new, raw, pii_cipher, now=now)

    return make
