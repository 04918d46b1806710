"""API tokens: handed out once, stored only as a hash.

Tokens carry 256 random bits, so a plain SHA-256 suffices (no salt or slow hash needed: there is
nothing to guess), and the hash does not depend on keys that may rotate.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "nhh_"
TOKEN_RANDOM_BYTES = 32


def new_token() -> str:
    """A fresh API token, e.g. ``nhh_3q2...``; show it once, store :func:`hash_token` of it."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)


def hash_token(token: str) -> bytes:
    """SHA-256 of the token text (32 bytes), the only form kept in the database."""
    return hashlib.sha256(token.strip().encode("utf-8")).digest()
