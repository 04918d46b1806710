"""Signed cookies of the console: the session and the sign-in form's anti-forgery nonce.

The session cookie holds the SHA-256 of the token (never the token), a CSRF token and an
expiry, signed with HMAC-SHA256 under a key derived from the data key; it is HttpOnly and
SameSite=Strict. Every request looks the token hash up again, so a revoked token ends its
sessions at once. Forms that change something carry the session's CSRF token in a hidden field
(``csrf``); it must equal the cookie's (compared in constant time).

Pure: keys and the clock are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "nhihub_console"
LOGIN_COOKIE = "nhihub_login"
LANG_COOKIE = "nhihub_lang"
SESSION_PURPOSE = "session"
LOGIN_PURPOSE = "login"
_KEY_LABEL = b"nhihub web console cookie v1:"
CSRF_BYTES = 32
MAX_COOKIE = 1024  # ours are ~200 characters; anything far longer is not ours


def cookie_key(secret: bytes, purpose: str) -> bytes:
    """The signing key of one kind of cookie, derived from a secret (the data key)."""
    return hmac.new(secret, _KEY_LABEL + purpose.encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, object], key: bytes) -> str:
    """``base64(json).base64(hmac)``."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(value: str, key: bytes) -> dict[str, object] | None:
    """The payload of a cookie signed with ``key``; ``None`` for anything else."""
    if not value or len(value) > MAX_COOKIE or value.count(".") != 1:
        return None
    body, mac_text = value.split(".")
    try:
        mac = _unb64(mac_text)
        expected = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            return None
        data = json.loads(_unb64(body))
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def new_csrf() -> str:
    return secrets.token_urlsafe(CSRF_BYTES)


def same_token(expected: str, given: str | None) -> bool:
    """A submitted CSRF token or nonce equals the expected one (constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class WebSession:
    token_hash: bytes  # SHA-256 of the API token
    csrf: str
    expires: int  # Unix time

    def encode(self, key: bytes) -> str:
        return sign({"h": _b64(self.token_hash), "c": self.csrf, "e": self.expires}, key)


def new_session(token_hash: bytes, now: float, lifetime_seconds: int) -> WebSession:
    return WebSession(token_hash, new_csrf(), int(now) + lifetime_seconds)


def decode_session(value: str | None, key: bytes, now: float) -> WebSession | None:
    """The session of a cookie that is ours, intact and not expired."""
    data = unsign(value or "", key)
    if data is None:
        return None
    h, c, e = data.get("h"), data.get("c"), data.get("e")
    if not isinstance(h, str) or not isinstance(c, str) or not isinstance(e, int):
        return None
    try:
        token_hash = _unb64(h)
    except (binascii.Error, ValueError):
        return None
    if len(token_hash) != hashlib.sha256().digest_size or not c or e <= now:
        return None
    return WebSession(token_hash, c, e)


def login_cookie(nonce: str, now: float, lifetime_seconds: int, key: bytes) -> str:
    """The sign-in form's nonce cookie (the form repeats the nonce in a hidden field)."""
    return sign({"n": nonce, "e": int(now) + lifetime_seconds}, key)


def login_nonce(value: str | None, key: bytes, now: float) -> str | None:
    data = unsign(value or "", key)
    if data is None:
        return None
    n, e = data.get("n"), data.get("e")
    if not isinstance(n, str) or not isinstance(e, int) or e <= now or not n:
        return None
    return n


__all__ = [
    "LANG_COOKIE",
    "LOGIN_COOKIE",
    "LOGIN_PURPOSE",
    "SESSION_COOKIE",
    "SESSION_PURPOSE",
    "WebSession",
    "cookie_key",
    "decode_session",
    "login_cookie",
    "login_nonce",
    "new_csrf",
    "new_session",
    "same_token",
    "sign",
    "unsign",
]
