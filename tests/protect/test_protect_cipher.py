from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.protect import (
    DEV_DATA_KEY,
    DEV_KEY_ID,
    DEV_LOOKUP_KEY,
    PURPOSE_PERSON_ID,
    PURPOSE_RAW_UPLOAD,
    PiiCipher,
    PiiError,
    development_cipher,
    normalize_person_id,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
LOOKUP_A = bytes(range(100, 132))
LOOKUP_B = bytes(range(101, 133))
CIPHER = PiiCipher(KEY_A, LOOKUP_A, key_id=1)

person_ids = st.text(min_size=0, max_size=40)
taiwan_ids = st.from_regex(r"[A-Z][12][0-9]{8}", fullmatch=True)


@given(person_ids)
def test_round_trip(person_id: str) -> None:
    assert CIPHER.decrypt(CIPHER.encrypt(person_id)) == person_id


@given(st.binary(max_size=2000), st.sampled_from([PURPOSE_RAW_UPLOAD, "result"]))
def test_bytes_round_trip(data: bytes, purpose: str) -> None:
    assert CIPHER.decrypt_bytes(CIPHER.encrypt_bytes(data, purpose), purpose) == data


@given(taiwan_ids)
def test_ciphertext_never_contains_the_plaintext(person_id: str) -> None:
    blob = CIPHER.encrypt(person_id)
    assert person_id.encode() not in blob
    assert person_id.encode("utf-16-le") not in blob
    assert bytes.fromhex(person_id.encode().hex()) not in blob


def test_random_nonce_gives_different_blobs() -> None:
    assert CIPHER.encrypt("A123456789") != CIPHER.encrypt("A123456789")


def test_blob_starts_with_key_id() -> None:
    blob = PiiCipher(KEY_A, LOOKUP_A, key_id=7).encrypt("A123456789")
    assert blob[0] == 7
    assert PiiCipher.key_id_of(blob) == 7


@given(taiwan_ids, st.data())
def test_any_altered_byte_is_detected(person_id: str, data: st.DataObject) -> None:
    blob = bytearray(CIPHER.encrypt(person_id))
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(PiiError):
        CIPHER.decrypt(bytes(blob))


def test_truncated_blob_is_refused() -> None:
    blob = CIPHER.encrypt("A123456789")
    for cut in (0, 1, 12, 28, len(blob) - 1):
        with pytest.raises(PiiError):
            CIPHER.decrypt(blob[:cut])


def test_wrong_key_fails() -> None:
    other = PiiCipher(KEY_B, LOOKUP_A, key_id=1)
    with pytest.raises(PiiError, match="wrong key or altered data"):
        other.decrypt(CIPHER.encrypt("A123456789"))


def test_unknown_key_id_fails_with_message() -> None:
    other = PiiCipher(KEY_A, LOOKUP_A, key_id=2)
    with pytest.raises(PiiError, match="unknown key id 1"):
        other.decrypt(CIPHER.encrypt("A123456789"))


def test_purpose_is_bound() -> None:
    blob = CIPHER.encrypt_bytes(b"A123456789", PURPOSE_RAW_UPLOAD)
    with pytest.raises(PiiError):
        CIPHER.decrypt_bytes(blob, PURPOSE_PERSON_ID)
    with pytest.raises(PiiError):
        CIPHER.decrypt(blob)


def test_rotation_with_retired_key() -> None:
    old_blob = CIPHER.encrypt("A123456789")
    rotated = PiiCipher(KEY_B, LOOKUP_A, key_id=2, retired_keys={1: KEY_A})
    assert rotated.decrypt(old_blob) == "A123456789"
    assert rotated.needs_rotation(old_blob)
    new_blob = rotated.rotate(old_blob)
    assert PiiCipher.key_id_of(new_blob) == 2
    assert not rotated.needs_rotation(new_blob)
    assert rotated.rotate(new_blob) is new_blob
    assert rotated.decrypt(new_blob) == "A123456789"
    with pytest.raises(PiiError):
        CIPHER.decrypt(new_blob)  # the old key alone cannot read the new blob


@given(taiwan_ids)
def test_lookup_hash_is_stable_and_normalised(person_id: str) -> None:
    again = PiiCipher(KEY_B, LOOKUP_A, key_id=3)  # the data key does not matter
    assert CIPHER.lookup_hash(person_id) == again.lookup_hash(person_id)
    assert CIPHER.lookup_hash(person_id) == CIPHER.lookup_hash(f" {person_id.lower()} ")
    assert len(CIPHER.lookup_hash(person_id)) == 32


@given(taiwan_ids)
def test_lookup_hash_depends_on_the_key(person_id: str) -> None:
    assert CIPHER.lookup_hash(person_id) != PiiCipher(KEY_A, LOOKUP_B).lookup_hash(person_id)


@given(taiwan_ids, taiwan_ids)
def test_lookup_hash_separates_ids(a: str, b: str) -> None:
    assert (CIPHER.lookup_hash(a) == CIPHER.lookup_hash(b)) == (a == b)


def test_lookup_hash_does_not_contain_the_id() -> None:
    assert b"A123456789" not in CIPHER.lookup_hash("A123456789")


@given(taiwan_ids)
def test_lookup_hash_folds_full_width_and_other_digit_forms(person_id: str) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in person_id)  # Ａ１２… full-width forms
    assert CIPHER.lookup_hash(wide) == CIPHER.lookup_hash(person_id)


def test_normalize_person_id() -> None:
    assert normalize_person_id(" a123 456789\t") == "A123456789"
    assert normalize_person_id("Ａ１２３４５６７８９") == "A123456789"


@pytest.mark.parametrize(
    ("data_key", "lookup_key", "key_id", "message"),
    [
        (b"short", LOOKUP_A, 1, "data key must be 32 bytes"),
        (KEY_A, b"short", 1, "lookup key must be at least 32 bytes"),
        (KEY_A, LOOKUP_A, 256, "key id must be 0-255"),
        (KEY_A, LOOKUP_A, -1, "key id must be 0-255"),
    ],
)
def test_bad_keys_are_refused(
    data_key: bytes, lookup_key: bytes, key_id: int, message: str
) -> None:
    with pytest.raises(PiiError, match=message):
        PiiCipher(data_key, lookup_key, key_id=key_id)


def test_repr_hides_keys() -> None:
    text = repr(CIPHER)
    assert KEY_A.hex() not in text and "key_id=1" in text


def test_development_cipher() -> None:
    dev = development_cipher()
    assert dev.is_development and dev.key_id == DEV_KEY_ID
    assert not CIPHER.is_development
    real = PiiCipher(secrets.token_bytes(32), secrets.token_bytes(32))
    assert DEV_DATA_KEY != DEV_LOOKUP_KEY
    with pytest.raises(PiiError):
        real.decrypt(dev.encrypt("A123456789"))
