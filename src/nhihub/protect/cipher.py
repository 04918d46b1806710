"""Encryption of person IDs (身分證號) at rest and keyed hashes for exact-match lookups.

Blob layout: ``key_id (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext + 16-byte tag``. The
associated data binds the blob to its key id and to a purpose label, so a person-ID blob cannot be
passed off as another kind of data (or the reverse) and a flipped key-id byte is detected.

Key id 0 is reserved for the public development keys; real keys use 1-255. Old keys stay usable
for decryption (``retired_keys``) so data can be re-encrypted under a new key at leisure.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1
DEV_KEY_ID = 0

PURPOSE_PERSON_ID = "person-id"
PURPOSE_RAW_UPLOAD = "raw-upload"

# Public development keys: derived from fixed labels, so anyone can recompute them. They exist
# so that `make run` works without setup; configuration warns loudly whenever they are used.
DEV_DATA_KEY = hashlib.sha256(b"nhihub development data key - public, NOT secret").digest()
DEV_LOOKUP_KEY = hashlib.sha256(b"nhihub development lookup key - public, NOT secret").digest()

_HASH_PREFIX = PURPOSE_PERSON_ID.encode("ascii") + b"\x00"
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class PiiError(ValueError):
    """A blob that cannot be decrypted, or a key that cannot be used (message: zh-TW / English)."""


def normalize_person_id(person_id: str) -> str:
    """Canonical form for hashing: NFKC (full-width -> half-width), no white space, ASCII
    letters upper-cased - the same folding as the identifier checks, so ``a123456789`` and
    ``Ａ１２３４５６７８９`` find the same person."""
    if person_id.isascii() and person_id.isalnum():
        # The usual ID: NFKC leaves ASCII alone and there is no white space to drop.
        return person_id.upper()
    folded = unicodedata.normalize("NFKC", person_id)
    return "".join(folded.split()).translate(_ASCII_UPPER)


def _check_key(key: bytes, name: str) -> bytes:
    if len(key) != KEY_BYTES:
        raise PiiError(f"{name} 長度須為 {KEY_BYTES} 位元組 / {name} must be {KEY_BYTES} bytes")
    return bytes(key)


def _check_key_id(key_id: int) -> int:
    if not 0 <= key_id <= 255:
        raise PiiError(f"金鑰編號須為 0-255 / key id must be 0-255, got {key_id}")
    return key_id


class PiiCipher:
    """AES-GCM encryption of person IDs and HMAC-SHA256 lookup hashes.

    ``data_key`` encrypts (under ``key_id``); ``retired_keys`` maps older key ids to keys that
    are still accepted for decryption. ``lookup_key`` keys the lookup hash; changing it means
    recomputing every stored hash (see docs/storage.md).
    """

    __slots__ = ("_aad", "_aead", "_key_id", "_lookup_key")

    def __init__(
        self,
        data_key: bytes,
        lookup_key: bytes,
        *,
        key_id: int = 1,
        retired_keys: Mapping[int, bytes] | None = None,
    ) -> None:
        self._key_id = _check_key_id(key_id)
        self._aead: dict[int, AESGCM] = {}
        for old_id, old_key in (retired_keys or {}).items():
            self._aead[_check_key_id(old_id)] = AESGCM(_check_key(old_key, "retired data key"))
        self._aead[key_id] = AESGCM(_check_key(data_key, "data key"))
        if len(lookup_key) < KEY_BYTES:
            raise PiiError(
                f"查詢金鑰至少 {KEY_BYTES} 位元組 / lookup key must be at least {KEY_BYTES} bytes"
            )
        self._lookup_key = bytes(lookup_key)
        # associated data by purpose: built once, not per value
        self._aad: dict[str, bytes] = {}

    def __repr__(self) -> str:  # never show key material
        return f"PiiCipher(key_id={self._key_id})"

    @property
    def key_id(self) -> int:
        """The id written into new blobs."""
        return self._key_id

    @property
    def is_development(self) -> bool:
        return self._key_id == DEV_KEY_ID

    # -- person IDs -----------------------------------------------------------------------------

    def encrypt(self, person_id: str) -> bytes:
        """Encrypt a person ID exactly as given (a random nonce each time)."""
        return self.encrypt_bytes(person_id.encode("utf-8"), PURPOSE_PERSON_ID)

    def decrypt(self, blob: bytes) -> str:
        """Decrypt a blob made by :meth:`encrypt`; :class:`PiiError` if it was altered or the key
        is wrong."""
        return self.decrypt_bytes(blob, PURPOSE_PERSON_ID).decode("utf-8")

    def lookup_hash(self, person_id: str) -> bytes:
        """HMAC-SHA256 of the normalised ID: equal IDs give equal hashes under one lookup key."""
        message = _HASH_PREFIX + normalize_person_id(person_id).encode("utf-8")
        return hmac.digest(self._lookup_key, message, "sha256")

    # -- any protected bytes (raw uploads hold person IDs too) ------------------------------------

    def encrypt_many(self, person_ids: Sequence[str]) -> list[bytes]:
        """:meth:`encrypt` for many IDs at once (one call for all the random nonces)."""
        aead = self._aead[self._key_id]
        aad = self._associated(PURPOSE_PERSON_ID)
        header = aad[:HEADER_BYTES]
        nonces = os.urandom(NONCE_BYTES * len(person_ids))
        out = []
        for i, person_id in enumerate(person_ids):
            nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
            out.append(header + nonce + aead.encrypt(nonce, person_id.encode("utf-8"), aad))
        return out

    def encrypt_bytes(self, data: bytes, purpose: str) -> bytes:
        aad = self._associated(purpose)
        nonce = os.urandom(NONCE_BYTES)
        return aad[:HEADER_BYTES] + nonce + self._aead[self._key_id].encrypt(nonce, data, aad)

    def _associated(self, purpose: str) -> bytes:
        """Key id byte + purpose label: what a blob is bound to."""
        aad = self._aad.get(purpose)
        if aad is None:
            aad = self._aad[purpose] = bytes([self._key_id]) + purpose.encode("utf-8")
        return aad

    def decrypt_bytes(self, blob: bytes, purpose: str) -> bytes:
        if len(blob) < HEADER_BYTES + NONCE_BYTES + TAG_BYTES:
            raise PiiError("加密資料長度不足 / encrypted value is too short")
        key_id = blob[0]
        aead = self._aead.get(key_id)
        if aead is None:
            raise PiiError(f"未知的金鑰編號 {key_id} / unknown key id {key_id}")
        nonce = blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return aead.decrypt(
                nonce, blob[HEADER_BYTES + NONCE_BYTES :], blob[:HEADER_BYTES] + purpose.encode()
            )
        except InvalidTag:
            raise PiiError(
                "解密失敗：金鑰錯誤或資料遭竄改 / decryption failed: wrong key or altered data"
            ) from None

    # -- rotation ----------------------------------------------------------------------------

    @staticmethod
    def key_id_of(blob: bytes) -> int:
        if not blob:
            raise PiiError("加密資料長度不足 / encrypted value is too short")
        return blob[0]

    def needs_rotation(self, blob: bytes) -> bool:
        """True when the blob was written under another key than the current one."""
        return self.key_id_of(blob) != self._key_id

    def rotate(self, blob: bytes, purpose: str = PURPOSE_PERSON_ID) -> bytes:
        """Re-encrypt a blob under the current key (unchanged when already current)."""
        if not self.needs_rotation(blob):
            return blob
        return self.encrypt_bytes(self.decrypt_bytes(blob, purpose), purpose)


def development_cipher() -> PiiCipher:
    """A cipher over the public development keys (key id 0). Never for real data."""
    return PiiCipher(DEV_DATA_KEY, DEV_LOOKUP_KEY, key_id=DEV_KEY_ID)
