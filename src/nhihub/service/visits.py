"""Reading stored visits and the refill status of a prescription, for a :class:`Viewer`.

- :func:`get_visit`: the current version of a visit. An institution sees only its own visits;
  insurer staff (健保署) see all. The person ID is decrypted only when a cipher is passed and the
  viewer is entitled (the visit's institution or staff); otherwise it stays encrypted.
- :func:`refill_status`: what a pharmacy asks before dispensing (處方狀態檢查): each refill of
  the prescription an identifier names, not dispensed / dispensed where and when / cancelled.
  Any institution may ask (it holds the identifier printed on the prescription); no personal
  data in the answer. A malformed identifier is :class:`InvalidVisitId` (D074).

Both append an audit entry (who read what), so call them in a transaction that commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

from nhihub.checks.visitids import IDENTIFIER_SHAPE
from nhihub.protect import PiiCipher
from nhihub.service import _queries as q
from nhihub.service.facts import refill_allowance
from nhihub.service.spec import service_spec
from nhihub.specs.catalogue import message
from nhihub.storage import (
    AuditEntry,
    Refill,
    append_audit,
    code_table,
    get_refills,
    get_visit_versions,
)
from nhihub.storage import get_visit as _get_visit

Role = Literal["institution", "staff"]
D074 = service_spec().findings["bad_identifier"].code
NO_PRESCRIPTION = service_spec().findings["no_prescription"].code


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: an institution (``institution`` set) or insurer staff; ``token_id`` for
    the audit log (``None``: a local operator, e.g. the CLI)."""

    role: Role
    institution: str | None = None
    token_id: int | None = None

    def __post_init__(self) -> None:
        if (self.role == "institution") != (self.institution is not None):
            raise ValueError(
                "機構身分須有機構代碼，署方不可有 / an institution viewer needs an institution "
                "code, staff must not have one"
            )

    @classmethod
    def staff(cls, token_id: int | None = None) -> Viewer:
        return cls("staff", None, token_id)

    @classmethod
    def of_institution(cls, code: str, token_id: int | None = None) -> Viewer:
        return cls("institution", code, token_id)

    def may_see(self, institution: str) -> bool:
        return self.role == "staff" or self.institution == institution


class InvalidVisitId(ValueError):
    """Not a visit identifier (20 symbols, digits and letters without I and O): NHI's D074
    就醫識別碼有誤，無法執行處方狀態檢查."""

    def __init__(self, value: str) -> None:
        self.code = D074
        self.message_zh = message(D074, "zh")
        self.message_en = message(D074, "en")
        self.value = value
        super().__init__(f"{D074} {self.message_zh} / {self.message_en}")


@dataclass(frozen=True, slots=True)
class VisitView:
    """The current version of a visit: its columns, the stored record (without M03), the order
    lines and, for a chronic prescription, its refills. ``person_id`` only when decrypted for an
    entitled viewer."""

    m15: str
    institution: str
    category: str | None
    h00: str | None
    h01: str
    deleted: bool
    version: int
    versions: int  # stored versions, the current one included
    batch_id: int
    record_index: int
    received_at: dt.datetime
    visit_at: dt.datetime | None
    birth_date: dt.date | None
    m12: str | None
    m16: str | None
    m52: str | None
    record: dict[str, Any]
    person_id: str | None = None
    refills: tuple[RefillView, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "m15": self.m15,
            "institution": self.institution,
            "category": self.category,
            "h00": self.h00,
            "h01": self.h01,
            "deleted": self.deleted,
            "version": self.version,
            "versions": self.versions,
            "batch_id": self.batch_id,
            "record_index": self.record_index,
            "received_at": self.received_at.isoformat(),
            "visit_at": None if self.visit_at is None else self.visit_at.isoformat(),
            "birth_date": None if self.birth_date is None else self.birth_date.isoformat(),
            "m12": self.m12,
            "m16": self.m16,
            "m52": self.m52,
            "person_id": self.person_id,
            "record": self.record,
            "refills": [r.to_dict() for r in self.refills],
        }


@dataclass(frozen=True, slots=True)
class RefillView:
    """One refill: ``state`` not_dispensed / dispensed / cancelled (names in zh-TW and English),
    where (``dispensed_by``) and when (``dispensed_at``, Taiwan local) it was dispensed.
    ``dispensing_m15`` only for staff and the dispensing institution."""

    refill_no: int
    state: str
    state_zh: str
    state_en: str
    rx_kind: str | None = None
    dispensed_by: str | None = None
    dispensed_at: dt.datetime | None = None
    dispensing_m15: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "refill_no": self.refill_no,
            "state": self.state,
            "state_zh": self.state_zh,
            "state_en": self.state_en,
            "rx_kind": self.rx_kind,
            "dispensed_by": self.dispensed_by,
            "dispensed_at": None if self.dispensed_at is None else self.dispensed_at.isoformat(),
            "dispensing_m15": self.dispensing_m15,
        }


@dataclass(frozen=True, slots=True)
class RefillStatus:
    """The refills of the prescription ``m15`` names (through M52 for a 補卡 visit:
    ``prescription`` is then the stored visit's M15). ``code`` is D024 when no chronic
    prescription was uploaded for it (no visit, deleted, or no refills)."""

    m15: str
    found: bool
    prescription: str | None = None
    institution: str | None = None
    refill_count: int = 0
    refills: tuple[RefillView, ...] = field(default_factory=tuple)
    code: str | None = None

    @property
    def message_zh(self) -> str | None:
        return None if self.code is None else message(self.code, "zh")

    @property
    def message_en(self) -> str | None:
        return None if self.code is None else message(self.code, "en")

    def to_dict(self) -> dict[str, Any]:
        return {
            "m15": self.m15,
            "found": self.found,
            "prescription": self.prescription,
            "institution": self.institution,
            "refill_count": self.refill_count,
            "refills": [r.to_dict() for r in self.refills],
            "code": self.code,
            "message": self.message_zh,
            "message_en": self.message_en,
        }


def _refill_view(r: Refill, viewer: Viewer) -> RefillView:
    zh, en = code_table()["refill_state"][r.state]
    show = viewer.role == "staff" or (
        r.dispensed_by is not None and viewer.institution == r.dispensed_by
    )
    return RefillView(
        refill_no=r.refill_no,
        state=r.state,
        state_zh=zh,
        state_en=en,
        rx_kind=r.rx_kind,
        dispensed_by=r.dispensed_by,
        dispensed_at=r.dispensed_at,
        dispensing_m15=r.dispensing_m15 if show else None,
    )


def _audit(conn: Connection, viewer: Viewer, action: str, m15: str, detail: dict[str, Any]) -> None:
    append_audit(
        conn,
        AuditEntry(
            action=action,
            object_type="visit",
            object_id=m15[:64],
            token_id=viewer.token_id,
            role=viewer.role,
            institution_code=viewer.institution,
            detail=detail,
        ),
    )


def get_visit(
    conn: Connection, m15: str, *, viewer: Viewer, cipher: PiiCipher | None = None
) -> VisitView | None:
    """The current version of a visit (deleted ones too: ``deleted``), or ``None`` when there is
    none the viewer may see. With ``cipher`` the person ID is decrypted for an entitled viewer.
    Every call is audit-logged (refusals too)."""
    visit = _get_visit(conn, m15)
    if visit is None or not viewer.may_see(visit.institution_code):
        _audit(conn, viewer, "visit.read", m15, {"found": False})
        return None
    person = None if cipher is None else cipher.decrypt(visit.person_enc)
    versions = len(get_visit_versions(conn, m15)) + 1
    refills = tuple(_refill_view(r, viewer) for r in get_refills(conn, m15))
    _audit(
        conn,
        viewer,
        "visit.read",
        m15,
        {"found": True, "person_id": "decrypted" if person is not None else "withheld"},
    )
    return VisitView(
        m15=visit.m15,
        institution=visit.institution_code,
        category=visit.category,
        h00=visit.h00,
        h01=visit.h01,
        deleted=visit.deleted,
        version=visit.version,
        versions=versions,
        batch_id=visit.batch_id,
        record_index=visit.record_index,
        received_at=visit.received_at,
        visit_at=visit.visit_at,
        birth_date=visit.birth_date,
        m12=visit.m12,
        m16=visit.m16,
        m52=visit.m52,
        record=visit.record,
        person_id=person,
        refills=refills,
    )


def refill_status(conn: Connection, m15: str, *, viewer: Viewer) -> RefillStatus:
    """Each refill's state for the prescription ``m15`` names; :class:`InvalidVisitId` (D074)
    when ``m15`` is not shaped like a visit identifier. Audit-logged."""
    value = m15.strip().upper()
    if not IDENTIFIER_SHAPE.fullmatch(value):
        raise InvalidVisitId(m15)
    spec = service_spec()
    visit = _get_visit(conn, value)
    if visit is None or visit.deleted:
        found = [
            v
            for v in q.replacement_visits(conn, [value])
            if v.m12 in spec.replacement_m12 and v.m52 == value
        ]
        visit = _get_visit(conn, found[0].m15) if found else None
    if visit is None or visit.deleted:
        _audit(conn, viewer, "refill.status", value, {"found": False})
        return RefillStatus(value, found=False, code=NO_PRESCRIPTION)
    rows = get_refills(conn, visit.m15)
    count, _kind = refill_allowance(visit.record.get("mb1", {}))
    _audit(conn, viewer, "refill.status", value, {"found": True, "refills": len(rows)})
    return RefillStatus(
        m15=value,
        found=True,
        prescription=visit.m15,
        institution=visit.institution_code,
        refill_count=count,
        refills=tuple(_refill_view(r, viewer) for r in rows),
        code=None if rows else NO_PRESCRIPTION,
    )
