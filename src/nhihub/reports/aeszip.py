"""Password-protected zip files in the WinZip AES format (AE-2, AES-256), written with
``cryptography``; 7-Zip, WinZip, WinRAR, macOS Archive Utility (recent) and ``7z``/``bsdtar``
open them. Pure: bytes in, bytes out.

The format (WinZip "AES Encryption Information", AE-2), per file:

- compression method 99 in the headers; extra field 0x9901 = (vendor version 2, ``"AE"``,
  strength 3 = AES-256, the real method: 8 deflate or 0 stored); CRC-32 written as 0 (AE-2);
- file data = salt (16 bytes) | password verifier (2) | encrypted data | authentication code (10);
- keys: PBKDF2-HMAC-SHA1(password, salt, 1000 iterations) -> 32-byte AES key | 32-byte HMAC key
  | 2-byte verifier;
- encryption: AES-CTR with a 16-byte little-endian counter starting at 1 (not the big-endian
  counter of NIST CTR, hence the keystream is built here from AES-ECB of the counter blocks);
- authentication: the first 10 bytes of HMAC-SHA1 over the encrypted data.

Passwords are printable ASCII: every unzip tool turns ASCII into the same bytes, which is not
true of other characters.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import zlib
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

SALT_BYTES = 16  # AES-256
KEY_BYTES = 32
VERIFIER_BYTES = 2
MAC_BYTES = 10
ITERATIONS = 1000
METHOD_AES = 99
METHOD_DEFLATE = 8
METHOD_STORED = 0
AES_EXTRA_ID = 0x9901
AE_2 = 2
STRENGTH_256 = 3
VERSION_NEEDED = 51  # 5.1: AES encryption
FLAG_ENCRYPTED = 0x0001
FLAG_UTF8 = 0x0800  # file names are UTF-8 (APPNOTE 4.4.4 bit 11)
MAX_SIZE = 0xFFFF_FFFF  # no ZIP64 here: the reports are far smaller


class ZipPasswordError(ValueError):
    """A password the archive cannot use; the message is zh-TW / English."""


def check_password(password: str, min_length: int = 1) -> bytes:
    """The password as bytes: printable ASCII of at least ``min_length`` characters."""
    if len(password) < min_length:
        raise ZipPasswordError(
            f"密碼至少 {min_length} 個字元 / the password needs at least {min_length} characters"
        )
    if not all(" " <= ch <= "~" for ch in password):
        raise ZipPasswordError(
            "密碼限英數字與半形符號 / the password must be printable ASCII (letters, digits, signs)"
        )
    return password.encode("ascii")


def derive_keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES key, HMAC key, password verifier) of WinZip AES-256."""
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA1(),
        length=2 * KEY_BYTES + VERIFIER_BYTES,
        salt=salt,
        iterations=ITERATIONS,
    )
    material = kdf.derive(password)
    return material[:KEY_BYTES], material[KEY_BYTES : 2 * KEY_BYTES], material[2 * KEY_BYTES :]


def ctr_le(key: bytes, data: bytes) -> bytes:
    """AES-CTR with a little-endian 128-bit counter starting at 1 (encrypts and decrypts)."""
    n = len(data)
    blocks = (n + 15) // 16
    counters = b"".join(i.to_bytes(16, "little") for i in range(1, blocks + 1))
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    stream = encryptor.update(counters) + encryptor.finalize()
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")
    return mixed.to_bytes(n, "little")


def _dos_time(when: dt.datetime) -> tuple[int, int]:
    when = max(when, dt.datetime(1980, 1, 1))
    time_ = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    date_ = ((when.year - 1980) << 9) | (when.month << 5) | when.day
    return time_, date_


def _encrypt_member(data: bytes, password: bytes, salt: bytes) -> tuple[bytes, int]:
    """The member's file data (salt | verifier | ciphertext | MAC) and its real method."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflater.compress(data) + deflater.flush()
    method = METHOD_DEFLATE
    if len(packed) >= len(data):
        packed, method = data, METHOD_STORED
    aes_key, mac_key, verifier = derive_keys(password, salt)
    encrypted = ctr_le(aes_key, packed)
    mac = hmac.HMAC(mac_key, hashes.SHA1())
    mac.update(encrypted)
    return salt + verifier + encrypted + mac.finalize()[:MAC_BYTES], method


def aes_zip(
    files: Sequence[tuple[str, bytes]],
    password: str,
    *,
    when: dt.datetime | None = None,
    min_password_length: int = 1,
    salts: Sequence[bytes] | None = None,
) -> bytes:
    """A zip of ``files`` (name, content), each encrypted with AES-256 under ``password``.

    ``when`` is the files' modification time (local time, as zip stores it; default now).
    ``salts`` (16 bytes per file) is for reproducible tests only; normally random.
    """
    secret = check_password(password, min_password_length)
    if salts is not None and (len(salts) != len(files) or any(len(s) != SALT_BYTES for s in salts)):
        raise ValueError("one 16-byte salt per file")
    time_, date_ = _dos_time(when or dt.datetime.now())
    out = bytearray()
    central = bytearray()
    for i, (name, content) in enumerate(files):
        salt = salts[i] if salts is not None else os.urandom(SALT_BYTES)
        body, method = _encrypt_member(content, secret, salt)
        if len(body) > MAX_SIZE or len(content) > MAX_SIZE or len(out) > MAX_SIZE:
            raise ValueError("file too large for a zip without ZIP64")
        encoded = name.encode("utf-8")
        flags = FLAG_ENCRYPTED | (0 if name.isascii() else FLAG_UTF8)
        extra = struct.pack("<HHH2sBH", AES_EXTRA_ID, 7, AE_2, b"AE", STRENGTH_256, method)
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, VERSION_NEEDED, flags, METHOD_AES, time_, date_,
            0, len(body), len(content), len(encoded), len(extra),
        )  # fmt: skip
        out += encoded + extra + body
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, VERSION_NEEDED, VERSION_NEEDED, flags, METHOD_AES,
            time_, date_, 0, len(body), len(content), len(encoded), len(extra), 0, 0, 0, 0,
            offset,
        )  # fmt: skip
        central += encoded + extra
    start = len(out)
    out += central
    out += struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(files), len(files), len(central), start, 0
    )
    return bytes(out)
