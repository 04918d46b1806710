"""API tokens: :func:`create_token` hands a token out once (only its SHA-256 is stored) and
:func:`authenticate` turns a presented token into a :class:`~nhihub.service.visits.Viewer`."""

from __future__ import annotations

from sqlalchemy import Connection

from nhihub.protect import hash_token, new_token
from nhihub.service.uploads import rejection
from nhihub.service.visits import Viewer
from nhihub.storage import AuditEntry, append_audit, get_institution, get_token_by_hash
from nhihub.storage import create_token as _store_token


def create_token(
    conn: Connection,
    *,
    institution: str | None,
    role: str,
    label: str | None = None,
) -> str:
    """A new token for an institution (``role`` ``institution``) or for insurer staff
    (``staff``, no institution); returns the token text, to be shown once.
    :class:`~nhihub.service.uploads.UploadRejected` (9005) for an unknown institution,
    ``ValueError`` for a wrong role or combination."""
    if institution is not None and get_institution(conn, institution) is None:
        raise rejection("unknown_institution", institution=institution)
    token = new_token()
    token_id = _store_token(
        conn, hash_token(token), role=role, institution_code=institution, label=label
    )
    append_audit(
        conn,
        AuditEntry(
            action="token.create",
            object_type="token",
            object_id=str(token_id),
            role=role,
            institution_code=institution,
            detail={"label": label} if label else None,
        ),
    )
    return token


def authenticate(conn: Connection, token: str) -> Viewer | None:
    """The viewer a token stands for; ``None`` for an unknown or revoked token."""
    if not token or not token.strip():
        return None
    stored = get_token_by_hash(conn, hash_token(token))
    if stored is None or not stored.active:
        return None
    if stored.role == "staff":
        return Viewer.staff(stored.id)
    if stored.institution_code is None:  # pragma: no cover - the storage refuses it
        return None
    return Viewer.of_institution(stored.institution_code, stored.id)
