"""Keys of the visit-identifier codec.

- The **master key** is held by the insurer only (環境變數 ``NHIHUB_MASTER_KEY`` or configuration).
- The **envelope key** ``K_env = HMAC(master, "nhihub/visitid/envelope")`` encrypts the outer layer;
  every institution key file carries it, so it is not secret from institutions.
- An **institution key** ``K_i = HMAC-SHA512(master, "nhihub/visitid/institution/" + code)``,
  64 bytes: its first half is the inner layer's FF1 key, its second half keys the person tag. An
  institution's key file holds its own ``K_i`` only.

All HMACs are HMAC-SHA256 unless said otherwise.

A :class:`Keyring` is either the insurer's (derives any ``K_i``: issues and decodes every code) or
one institution's (issues and decodes that institution's codes only). Without a configured master
key, :func:`load_keyring` falls back to a clearly marked, public development key and warns once on
stderr; :attr:`Keyring.is_development` tells, and the pre-check must refuse to decode with it.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from nhihub.visitid.errors import KeyScopeError, VisitIdError
from nhihub.visitid.ff1 import FF1
from nhihub.visitid.layout import INSTITUTION_SHAPE, RADIX

ENV_VAR = "NHIHUB_MASTER_KEY"
KEY_FILE_FORMAT = "nhihub-visitid-institution-key/1"
MIN_MASTER_KEY_BYTES = 16
INSTITUTION_KEY_BYTES = 64
# Public on purpose: anyone can decode what it issued. Never use it for real data.
DEVELOPMENT_MASTER_KEY = b"nhihub DEVELOPMENT master key - NOT SECRET - never use with real data"
DEVELOPMENT_WARNING = (
    f"警告：未設定 {ENV_VAR}，使用公開的開發用金鑰，不可用於真實資料 / "
    f"warning: {ENV_VAR} is not set; using the public development key, never use it with real data"
)
INSTITUTION_CACHE_SIZE = 32_768  # more than the ~30,000 NHI-contracted institutions

_ENVELOPE_LABEL = b"nhihub/visitid/envelope"
_INSTITUTION_LABEL = b"nhihub/visitid/institution/"
_KEY_ID_LABEL = b"nhihub/visitid/key-id"


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


@dataclass(frozen=True, slots=True)
class InstitutionCipher:
    """What the codec needs for one institution: the inner layer's FF1 (first half of ``K_i``)
    and the person-tag key (second half)."""

    institution: str
    ff1: FF1
    tag_key: bytes

    @classmethod
    def from_key(cls, institution: str, institution_key: bytes) -> InstitutionCipher:
        return cls(institution, FF1(institution_key[:32], RADIX), institution_key[32:])


class Keyring:
    """The insurer's keys (master) or one institution's keys. Build with :meth:`from_master`,
    :meth:`development`, :meth:`for_institution` or :func:`load_keyring`.

    Holds the AES contexts it has built (envelope, and per institution a bounded cache), so keep
    and reuse one keyring rather than rebuilding it per code.
    """

    __slots__ = (
        "_cache",
        "_envelope",
        "_envelope_key",
        "_institution",
        "_institution_key",
        "_is_development",
        "_master",
    )

    def __init__(
        self,
        *,
        envelope_key: bytes,
        master: bytes | None,
        institution: str | None,
        institution_key: bytes | None,
        is_development: bool,
    ) -> None:
        self._master = master
        self._envelope_key = envelope_key
        self._institution = institution
        self._institution_key = institution_key
        self._is_development = is_development
        self._envelope = FF1(envelope_key, RADIX)
        self._cache: dict[str, InstitutionCipher] = {}

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_master(cls, master: bytes, *, is_development: bool = False) -> Keyring:
        """The insurer's keyring from the master key (at least 16 bytes)."""
        if len(master) < MIN_MASTER_KEY_BYTES:
            raise VisitIdError("key")
        return cls(
            envelope_key=_hmac(master, _ENVELOPE_LABEL),
            master=master,
            institution=None,
            institution_key=None,
            is_development=is_development,
        )

    @classmethod
    def development(cls) -> Keyring:
        """The insurer's keyring under the public development key (tests, demos)."""
        return cls.from_master(DEVELOPMENT_MASTER_KEY, is_development=True)

    @classmethod
    def for_institution(
        cls,
        institution: str,
        institution_key: bytes,
        envelope_key: bytes,
        *,
        is_development: bool = False,
    ) -> Keyring:
        """One institution's keyring: issues and decodes that institution's codes only."""
        if len(institution_key) != INSTITUTION_KEY_BYTES or len(envelope_key) != 32:
            raise VisitIdError("key-file")
        return cls(
            envelope_key=envelope_key,
            master=None,
            institution=institution,
            institution_key=institution_key,
            is_development=is_development,
        )

    # -- what it is ----------------------------------------------------------------------------

    @property
    def is_development(self) -> bool:
        """True when these keys come from the public development key: never decode real data."""
        return self._is_development

    @property
    def institution(self) -> str | None:
        """The one institution this keyring serves, or ``None`` for the insurer's keyring."""
        return self._institution

    @property
    def key_id(self) -> str:
        """A short public fingerprint of the envelope key: equal for the insurer's keyring and
        every institution key file derived from the same master key."""
        return _hmac(self._envelope_key, _KEY_ID_LABEL)[:8].hex()

    # -- keys ----------------------------------------------------------------------------------

    def institution_key(self, institution: str) -> bytes:
        """``K_i`` of a (canonical) institution code; :class:`KeyScopeError` for an institution
        keyring asked about another institution."""
        if self._master is not None:
            label = _INSTITUTION_LABEL + institution.encode("ascii")
            return hmac.digest(self._master, label, "sha512")
        if institution != self._institution or self._institution_key is None:
            raise KeyScopeError
        return self._institution_key

    def derive_institution(self, institution: str) -> Keyring:
        """The keyring to hand to one institution (insurer's keyring only)."""
        if self._master is None:
            raise KeyScopeError
        if not INSTITUTION_SHAPE.fullmatch(institution):
            raise VisitIdError("institution")
        return Keyring.for_institution(
            institution,
            self.institution_key(institution),
            self._envelope_key,
            is_development=self._is_development,
        )

    def to_key_file(self, institution: str | None = None) -> str:
        """The JSON text of an institution key file: this institution keyring's, or, for the
        insurer's keyring, ``institution``'s."""
        if self._master is not None:
            if institution is None:
                raise KeyScopeError
            return self.derive_institution(institution).to_key_file()
        if institution not in (None, self._institution) or self._institution_key is None:
            raise KeyScopeError
        document = {
            "format": KEY_FILE_FORMAT,
            "institution": self._institution,
            "institution_key": self._institution_key.hex(),
            "envelope_key": self._envelope_key.hex(),
            "key_id": self.key_id,
            "development": self._is_development,
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_key_file(cls, text: str) -> Keyring:
        """Parse the JSON text of an institution key file (:meth:`to_key_file`)."""
        try:
            document: Any = json.loads(text)
            if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
                raise ValueError
            institution = document["institution"]
            development = document["development"]
            if not isinstance(institution, str) or not isinstance(development, bool):
                raise ValueError
            if not INSTITUTION_SHAPE.fullmatch(institution):
                raise ValueError
            keyring = cls.for_institution(
                institution,
                bytes.fromhex(document["institution_key"]),
                bytes.fromhex(document["envelope_key"]),
                is_development=development,
            )
            if document.get("key_id", keyring.key_id) != keyring.key_id:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise VisitIdError("key-file") from None
        return keyring

    # -- ciphers (used by the codec) -----------------------------------------------------------

    @property
    def envelope(self) -> FF1:
        return self._envelope

    def cipher(self, institution: str) -> InstitutionCipher:
        """The inner-layer cipher of a canonical institution code, built once and cached."""
        found = self._cache.get(institution)
        if found is None:
            found = InstitutionCipher.from_key(institution, self.institution_key(institution))
            if len(self._cache) >= INSTITUTION_CACHE_SIZE:
                self._cache.clear()  # rare (more institutions than NHI has): start over
            self._cache[institution] = found
        return found

    def __repr__(self) -> str:  # never show key bytes
        scope = "insurer" if self._master is not None else f"institution {self._institution}"
        dev = ", development" if self._is_development else ""
        return f"<Keyring {scope}, key_id {self.key_id}{dev}>"


def parse_master_key(text: str) -> bytes:
    """A master key written as hexadecimal digits (white space ignored), at least 32 digits."""
    digits = "".join(text.split())
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise VisitIdError("key") from None
    if len(key) < MIN_MASTER_KEY_BYTES:
        raise VisitIdError("key")
    return key


@cache
def _warn_development_key() -> None:
    # cached: the warning is printed once per process, however many keyrings are loaded
    print(DEVELOPMENT_WARNING, file=sys.stderr)


def load_keyring(
    master_key: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Keyring:
    """The insurer's keyring from configuration (``master_key``, hexadecimal), else from the
    environment variable ``NHIHUB_MASTER_KEY``, else the development key with a warning on
    stderr (once per process). An empty value counts as unset."""
    env = os.environ if environ is None else environ
    text = master_key or env.get(ENV_VAR, "")
    if text.strip():
        return Keyring.from_master(parse_master_key(text))
    _warn_development_key()
    return Keyring.development()


@cache
def default_keyring() -> Keyring:
    """:func:`load_keyring` from the environment, loaded on first use and kept for the process."""
    return load_keyring()
