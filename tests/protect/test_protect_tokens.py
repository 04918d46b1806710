from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nhihub.protect import TOKEN_PREFIX, hash_token, new_token


def test_new_tokens_are_unique_and_prefixed() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(t.startswith(TOKEN_PREFIX) and len(t) >= len(TOKEN_PREFIX) + 43 for t in tokens)


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=8))
def test_hash_is_stable_32_bytes_and_not_the_token(token: str) -> None:
    digest = hash_token(token)
    assert digest == hash_token(token)
    assert len(digest) == 32
    assert token.encode() not in digest


def test_hash_ignores_surrounding_white_space_only() -> None:
    token = new_token()
    assert hash_token(f"  {token}\n") == hash_token(token)
    assert hash_token(token + "x") != hash_token(token)
