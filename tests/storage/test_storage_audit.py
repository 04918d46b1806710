from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection

from nhihub.protect import hash_token, new_token
from nhihub.storage import AuditEntry, append_audit, create_token, list_audit

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
M15 = "0USE4FA11RP4J370WR4K"


def test_append_and_list(conn: Connection, clinic: str) -> None:
    token = create_token(conn, hash_token(new_token()), role="institution", institution_code=clinic)
    read = AuditEntry(
        "visit.read", "visit", M15, token, "institution", clinic, {"fields": ["M07"]}, at=T0
    )
    first = append_audit(conn, read)
    second = append_audit(conn, AuditEntry("batch.upload", "batch", "7"), now=T0)
    assert second > first
    entries = list_audit(conn)
    assert entries == [
        AuditEntry(
            "visit.read", "visit", M15, token, "institution", clinic, {"fields": ["M07"]}, T0, first
        ),
        AuditEntry("batch.upload", "batch", "7", at=T0, id=second),
    ]
    assert [e.id for e in list_audit(conn, object_type="visit", object_id=M15)] == [first]
    assert [e.id for e in list_audit(conn, institution_code=clinic)] == [first]
    assert list_audit(conn, since=T0 + dt.timedelta(seconds=1)) == []
    assert len(list_audit(conn, limit=1)) == 1


@pytest.mark.parametrize(
    "entry",
    [
        AuditEntry("visit.read", "person", "A123456789"),
        AuditEntry("visit.read", "visit", M15, detail={"query": "id=a123456789"}),
        AuditEntry("visit.read", "visit", M15, detail={"ids": ["x", "F812345678"]}),
        AuditEntry("lookup A123456789", "visit"),
    ],
)
def test_person_ids_are_refused(conn: Connection, entry: AuditEntry) -> None:
    with pytest.raises(ValueError, match="must not contain a person ID"):
        append_audit(conn, entry)
    assert list_audit(conn) == []


def test_visit_identifiers_are_not_mistaken_for_person_ids(conn: Connection) -> None:
    m15 = "A1234567890000000000"  # starts like a national ID but is 20 characters long
    append_audit(conn, AuditEntry("visit.read", "visit", m15, detail={"m16": m15}))
    assert [e.object_id for e in list_audit(conn)] == [m15]
