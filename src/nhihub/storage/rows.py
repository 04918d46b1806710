"""Typed rows exchanged with the repository functions (plain frozen dataclasses)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

Findings = tuple[tuple[str | None, str], ...]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Institution:
    """醫事機構: ``level`` and ``medical_type`` (醫事類別) are codes (see data/codes.tsv)."""

    code: str
    name: str
    level: str
    medical_type: str | None = None
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    role: str
    institution_code: str | None
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewBatch:
    """What is known of an upload when it arrives (the raw bytes are passed beside it)."""

    institution_code: str
    channel: str  # vpn | web-api | web | cli
    kind: str  # sType: A1 | A2 | ZZ
    file_name: str | None = None
    format_version: str | None = None
    uploaded_at: dt.datetime | None = None  # client's sUploadDT, Taiwan local time
    token_id: int | None = None
    client_info: dict[str, Any] | None = None  # transport fields, never PII


@dataclass(frozen=True, slots=True)
class BatchCounts:
    """Counts of NHI's upload-result screen, plus the records applied to stored visits."""

    records: int = 0
    valid_records: int = 0
    orders: int = 0
    valid_orders: int = 0
    invalid_records: int = 0
    invalid_orders: int = 0
    applied_records: int = 0


@dataclass(frozen=True, slots=True)
class Batch:
    """An upload batch (the raw bytes are read separately with ``load_raw``)."""

    id: int
    institution_code: str
    token_id: int | None
    channel: str
    kind: str
    format_version: str | None
    file_name: str | None
    file_size: int
    raw_sha256: bytes
    raw_path: str | None
    received_at: dt.datetime
    uploaded_at: dt.datetime | None
    client_info: dict[str, Any] | None
    status: str
    counts: BatchCounts
    claimed_by: str | None
    lease_until: dt.datetime | None
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error_code: str | None
    error_detail: str | None


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What happened to one record of a batch; ``findings`` are (field, check code) pairs."""

    record_index: int
    valid: bool
    findings: Findings = ()
    m15: str | None = None
    line: int | None = None
    applied: bool = False


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One MB2 line of a visit's current version: the columns queries need. The whole line, as
    read, is in the visit's record JSON (``record["mb2"][line_no - 1]``)."""

    line_no: int
    order_type: str | None = None  # D02
    seq: str | None = None  # D03
    rx_kind: str | None = None  # D04
    dispense_mode: str | None = None  # D05
    item_code: str | None = None  # D06
    days: int | None = None  # D09
    quantity: str | None = None  # D10


@dataclass(frozen=True, slots=True)
class Visit:
    """A visit record as stored under its 就醫識別碼 (M15).

    On the way in ``version``/``person_id``/``superseded_at`` are ignored (storage assigns the
    version; the person ID is only ever stored encrypted). On the way out ``person_id`` is filled
    only when the caller asked for it with a cipher, and ``superseded_at`` only for earlier
    versions. ``orders`` go in with the record; reads leave them empty (``get_order_lines``).
    """

    m15: str
    institution_code: str
    person_hash: bytes
    person_enc: bytes
    birth_date: dt.date | None
    visit_at: dt.datetime | None
    category: str | None
    h01: str
    record: dict[str, Any]
    batch_id: int
    record_index: int
    received_at: dt.datetime
    h00: str | None = None
    m12: str | None = None
    m16: str | None = None
    m52: str | None = None
    deleted: bool = False
    orders: tuple[OrderLine, ...] = ()
    version: int = 0
    person_id: str | None = None
    superseded_at: dt.datetime | None = None

    @property
    def visit_date(self) -> dt.date | None:
        return None if self.visit_at is None else self.visit_at.date()

    @property
    def order_key(self) -> tuple[int, int]:
        """Receiving order: the last received version of a visit is the one with the highest
        (batch id, record index) - batch ids are handed out as uploads are stored."""
        return (self.batch_id, self.record_index)


@dataclass(frozen=True, slots=True)
class Refill:
    """State of one refill (第幾次調劑) of a chronic continuous prescription (慢連箋)."""

    m15: str  # the prescribing visit
    refill_no: int
    state: str  # not_dispensed | dispensed | cancelled
    rx_kind: str | None = None  # C | F
    dispensed_by: str | None = None
    dispensing_m15: str | None = None
    dispensed_at: dt.datetime | None = None  # M11 of the dispensing visit, Taiwan local
    batch_id: int | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class V1Record:
    """A format-1.0 record kept for the 1.0-vs-2.0 comparison report (match columns only)."""

    batch_id: int
    record_index: int
    institution_code: str
    person_hash: bytes | None
    birth_date: dt.date | None
    visit_at: dt.datetime | None
    category: str | None
    success: bool

    @property
    def visit_date(self) -> dt.date | None:
        return None if self.visit_at is None else self.visit_at.date()


@dataclass(frozen=True, slots=True)
class PrecheckRecord:
    """A 2.0 pre-check (sType A2) record: the same match columns, its M15 and channel."""

    batch_id: int
    record_index: int
    institution_code: str
    person_hash: bytes | None
    birth_date: dt.date | None
    visit_at: dt.datetime | None
    category: str | None
    success: bool
    channel: str
    m15: str | None = None

    @property
    def visit_date(self) -> dt.date | None:
        return None if self.visit_at is None else self.visit_at.date()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who (token, role, institution) did what (action) to which object, and when."""

    action: str
    object_type: str
    object_id: str | None = None
    token_id: int | None = None
    role: str | None = None
    institution_code: str | None = None
    detail: dict[str, Any] | None = None
    at: dt.datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A result file of a batch; ``content`` is ``None`` once purged (regenerate it)."""

    batch_id: int
    format: str
    content: bytes | None
    created_at: dt.datetime
    purged_at: dt.datetime | None
