"""Signed cookies: what goes in comes out only with the right key, unaltered and unexpired;
anything else (hostile text included) is ``None``, never an exception."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from nhihub.web.session import (
    WebSession,
    cookie_key,
    decode_session,
    login_cookie,
    login_nonce,
    new_csrf,
    new_session,
    same_token,
    sign,
    unsign,
)

SECRET = b"k" * 32
KEY = cookie_key(SECRET, "session")
HASH = hashlib.sha256(b"nhh_token").digest()
NOW = 1_700_000_000.0


def test_keys_differ_by_purpose_and_secret() -> None:
    assert cookie_key(SECRET, "session") != cookie_key(SECRET, "login")
    assert cookie_key(SECRET, "session") != cookie_key(b"j" * 32, "session")


def test_session_round_trip_and_expiry() -> None:
    session = new_session(HASH, NOW, 3600)
    value = session.encode(KEY)
    assert "nhh_token" not in value
    assert decode_session(value, KEY, NOW + 10) == session
    assert decode_session(value, KEY, NOW + 3600) is None
    assert decode_session(value, cookie_key(SECRET, "login"), NOW) is None


def test_each_session_has_its_own_csrf_token() -> None:
    a, b = new_session(HASH, NOW, 60), new_session(HASH, NOW, 60)
    assert a.csrf != b.csrf and len(a.csrf) >= 40


def test_altered_cookies_are_refused() -> None:
    value = new_session(HASH, NOW, 3600).encode(KEY)
    body, mac = value.split(".")
    assert (
        decode_session(body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"), KEY, NOW)
        is None
    )
    forged = sign({"h": "AAAA", "c": "x", "e": int(NOW) + 60}, KEY)
    assert decode_session(forged, KEY, NOW) is None  # not a SHA-256
    wrong_types = sign({"h": 1, "c": "x", "e": "soon"}, KEY)
    assert decode_session(wrong_types, KEY, NOW) is None
    assert decode_session(None, KEY, NOW) is None
    assert unsign("x" * 5000, KEY) is None


@given(st.text(max_size=300))
def test_unsign_never_raises(value: str) -> None:
    assert unsign(value, KEY) is None or isinstance(unsign(value, KEY), dict)
    assert decode_session(value, KEY, NOW) is None or isinstance(
        decode_session(value, KEY, NOW), WebSession
    )


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=20), max_size=4))
def test_sign_round_trip(payload: dict[str, object]) -> None:
    assert unsign(sign(payload, KEY), KEY) == payload


def test_login_nonce() -> None:
    key = cookie_key(SECRET, "login")
    nonce = new_csrf()
    value = login_cookie(nonce, NOW, 60, key)
    assert login_nonce(value, key, NOW) == nonce
    assert login_nonce(value, key, NOW + 61) is None
    assert login_nonce(value, KEY, NOW) is None


def test_same_token() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("abc", None)
    assert not same_token("", "")
