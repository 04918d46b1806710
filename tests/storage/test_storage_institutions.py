from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from nhihub.protect import hash_token, new_token
from nhihub.storage import (
    Institution,
    create_token,
    get_institution,
    get_token_by_hash,
    insert_institution,
    list_institutions,
    revoke_token,
    update_institution,
)

NOW = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
CENTER = Institution(
    "0401180014",
    "台大醫院",
    "medical_center",
    "12",
    contract_start=dt.date(1995, 3, 1),
    contract_end=dt.date(2027, 2, 28),
)


def test_insert_and_get(conn: Connection) -> None:
    insert_institution(conn, CENTER, now=NOW)
    insert_institution(conn, Institution("3501200000", "診所", "clinic"))
    assert get_institution(conn, CENTER.code) == CENTER
    assert get_institution(conn, "9999999999") is None
    assert [i.code for i in list_institutions(conn)] == ["0401180014", "3501200000"]


def test_duplicate_code_is_refused(conn: Connection) -> None:
    insert_institution(conn, CENTER)
    with pytest.raises(IntegrityError), conn.begin_nested():
        insert_institution(conn, CENTER)


def test_unknown_level_is_refused(conn: Connection) -> None:
    with pytest.raises(ValueError, match="institution_level"):
        insert_institution(conn, Institution("1", "x", "hospital"))


def test_update(conn: Connection) -> None:
    insert_institution(conn, CENTER)
    changed = Institution(CENTER.code, "新名稱", "regional_hospital", None, None, None)
    assert update_institution(conn, changed)
    assert get_institution(conn, CENTER.code) == changed
    assert not update_institution(conn, Institution("9999999999", "x", "clinic"))


def test_tokens_are_found_by_hash_only(conn: Connection) -> None:
    insert_institution(conn, CENTER)
    token = new_token()
    token_id = create_token(
        conn, hash_token(token), role="institution", institution_code=CENTER.code, now=NOW
    )
    staff_id = create_token(conn, hash_token(new_token()), role="staff", label="署方")
    found = get_token_by_hash(conn, hash_token(token))
    assert found is not None and found.id == token_id and found.active
    assert (found.role, found.institution_code, found.created_at) == (
        "institution",
        CENTER.code,
        NOW,
    )
    assert get_token_by_hash(conn, hash_token(token + "x")) is None
    staff = get_token_by_hash(conn, hash_token(new_token()))
    assert staff is None and staff_id != token_id


def test_token_hash_is_unique(conn: Connection) -> None:
    digest = hash_token(new_token())
    create_token(conn, digest, role="staff")
    with pytest.raises(IntegrityError), conn.begin_nested():
        create_token(conn, digest, role="staff")


@pytest.mark.parametrize(
    ("role", "institution"), [("institution", None), ("staff", "0401180014"), ("admin", None)]
)
def test_token_role_and_institution_must_agree(
    conn: Connection, role: str, institution: str | None
) -> None:
    insert_institution(conn, CENTER)
    with pytest.raises(ValueError):
        create_token(conn, b"x" * 32, role=role, institution_code=institution)


def test_revoke(conn: Connection) -> None:
    digest = hash_token(new_token())
    token_id = create_token(conn, digest, role="staff")
    assert revoke_token(conn, token_id, now=NOW)
    assert not revoke_token(conn, token_id)  # already revoked
    token = get_token_by_hash(conn, digest)
    assert token is not None and not token.active and token.revoked_at == NOW
