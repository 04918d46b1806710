"""Institutions (醫事機構) and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, select, update

from nhihub.storage.codes import check_code
from nhihub.storage.repository._common import now_or
from nhihub.storage.rows import ApiToken, Institution
from nhihub.storage.schema import api_tokens, institutions

_INSTITUTION_FIELDS = (
    "code",
    "name",
    "level",
    "medical_type",
    "contract_start",
    "contract_end",
)


def _institution(row: Any) -> Institution:
    return Institution(**{name: row._mapping[name] for name in _INSTITUTION_FIELDS})


def insert_institution(
    conn: Connection, institution: Institution, *, now: dt.datetime | None = None
) -> None:
    """Add an institution; ``IntegrityError`` if the code exists already."""
    check_code("institution_level", institution.level)
    values = {name: getattr(institution, name) for name in _INSTITUTION_FIELDS}
    conn.execute(institutions.insert().values(created_at=now_or(now), **values))


def update_institution(conn: Connection, institution: Institution) -> bool:
    """Replace name, level, 醫事類別 and contract period; False if the code is unknown."""
    check_code("institution_level", institution.level)
    values = {name: getattr(institution, name) for name in _INSTITUTION_FIELDS if name != "code"}
    result = conn.execute(
        update(institutions).where(institutions.c.code == institution.code).values(**values)
    )
    return result.rowcount == 1


def get_institution(conn: Connection, code: str) -> Institution | None:
    row = conn.execute(select(institutions).where(institutions.c.code == code)).first()
    return None if row is None else _institution(row)


def list_institutions(conn: Connection) -> list[Institution]:
    rows = conn.execute(select(institutions).order_by(institutions.c.code))
    return [_institution(r) for r in rows]


def _token(row: Any) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        role=m["role"],
        institution_code=m["institution_code"],
        label=m["label"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


def create_token(
    conn: Connection,
    token_hash: bytes,
    *,
    role: str,
    institution_code: str | None = None,
    label: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store a token's hash (``nhihub.protect.hash_token``); returns the token id.

    An ``institution`` token belongs to exactly one institution; a ``staff`` token to none.
    """
    check_code("token_role", role)
    if (role == "institution") != (institution_code is not None):
        raise ValueError(
            "機構權杖須指定機構，署方權杖不可指定 / an institution token needs an institution "
            "code, a staff token must not have one"
        )
    result = conn.execute(
        api_tokens.insert()
        .values(
            token_hash=token_hash,
            role=role,
            institution_code=institution_code,
            label=label,
            created_at=now_or(now),
        )
        .returning(api_tokens.c.id)
    )
    return int(result.scalar_one())


def get_token_by_hash(conn: Connection, token_hash: bytes) -> ApiToken | None:
    """The token with this hash, revoked or not (the caller checks ``active``)."""
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash)).first()
    return None if row is None else _token(row)


def revoke_token(conn: Connection, token_id: int, *, now: dt.datetime | None = None) -> bool:
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now_or(now))
    )
    return result.rowcount == 1
