"""From the reader's :class:`~nhihub.formats.model.Record` to storage rows (pure functions).

Which field fills which column is data (``data/record-fields.json``). Values that do not parse
(a bad date) become ``None``: only the service decides whether such a record may be stored.
The stored record JSON never contains the person ID (M03 / A12).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic_core import to_json

from nhihub.formats.model import Record
from nhihub.ids.rocdate import RocDateError, parse_roc_date, parse_roc_datetime
from nhihub.protect import PiiCipher
from nhihub.storage.rows import OrderLine, PrecheckRecord, V1Record, Visit


@cache
def record_fields() -> dict[str, Any]:
    text = resources.files("nhihub.storage").joinpath("data/record-fields.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _spec(version: str) -> dict[str, Any]:
    try:
        spec: dict[str, Any] = record_fields()[version]
    except KeyError:
        raise ValueError(f"unknown format version {version!r}") from None
    return spec


@dataclass(frozen=True, slots=True)
class Layout:
    """The field ids of one format version that fill storage columns (from
    ``data/record-fields.json``); ``""`` where the version has no such field."""

    version: str
    person_id: str
    birth_date: str
    institution_code: str
    category: str
    visit_at: str
    m12: str
    m15: str
    m16: str
    m52: str
    h00: str
    h01: str
    orders: tuple[tuple[str, str], ...]  # (order_lines column, MB2 field id)
    pii: frozenset[str]


@cache
def layout(version: str) -> Layout:
    spec = _spec(version)
    mb1: dict[str, str] = spec["mb1"]
    return Layout(
        version=version,
        **{name: mb1.get(name, "") for name in _MB1_COLUMNS},
        h00=spec["header"]["h00"],
        h01=spec["header"]["h01"],
        orders=tuple(spec["mb2"].items()),
        pii=frozenset(spec["pii"]),
    )


_MB1_COLUMNS = (
    "person_id",
    "birth_date",
    "institution_code",
    "category",
    "visit_at",
    "m12",
    "m15",
    "m16",
    "m52",
)


def _field(record: Record, name: str) -> str | None:
    field_id: str = getattr(layout(record.version), name)
    value = record.mb1.get(field_id) if field_id else None
    return value or None


def parse_date(value: str | None) -> dt.date | None:
    """A 民國 date as written in the file, ``None`` when absent or not a date."""
    try:
        return None if value is None else parse_roc_date(value)
    except RocDateError:
        return None


def parse_datetime(value: str | None) -> dt.datetime | None:
    """A 民國 date-time as written in the file, ``None`` when absent or not a date-time."""
    try:
        return None if value is None else parse_roc_datetime(value)
    except RocDateError:
        return None


def person_id_of(record: Record) -> str | None:
    return _field(record, "person_id")


def record_json(record: Record) -> dict[str, Any]:
    """The record as JSON-ready data, without the person ID fields."""
    pii = layout(record.version).pii
    return {
        "version": record.version,
        "header": dict(record.header),
        "mb1": {k: v for k, v in record.mb1.items() if k not in pii},
        "mb2": [dict(line) for line in record.mb2],
    }


# The stdlib encoder: compact, without the cycle check (a record is plain dicts of strings).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def record_json_text(record: Record) -> str:
    """:func:`record_json` serialised compactly (the text stored in ``visits.record``), without
    copying the record first: ``json.dumps(record_json(record), ensure_ascii=False,
    separators=(",", ":"))``."""
    mb1 = record.mb1
    pii = layout(record.version).pii
    if not pii.isdisjoint(mb1):
        mb1 = dict(mb1)  # keeps the order; cheaper than filtering item by item
        for name in pii:
            mb1.pop(name, None)
    data = {"version": record.version, "header": record.header, "mb1": mb1, "mb2": record.mb2}
    # pydantic-core's Rust encoder: the stdlib's text for dicts of strings (a test compares
    # them) in about half the time; built for every stored visit of an ingest.
    try:
        return to_json(data).decode()
    except ValueError:  # pragma: no cover - text it refuses (a lone surrogate; the reader
        return stdlib_json_text(data)  # never makes one)


def stdlib_json_text(data: dict[str, Any]) -> str:
    """``json.dumps(data, ensure_ascii=False, separators=(",", ":"))``."""
    return _JSON.encode(data)


@cache
def _order_fields(version: str) -> tuple[tuple[str, ...], int | None]:
    """The MB2 field ids of the order-line columns, and where ``days`` is among them."""
    orders = layout(version).orders
    days_at = next((i for i, (name, _) in enumerate(orders) if name == "days"), None)
    return tuple(fid for _, fid in orders), days_at


def order_values(record: Record, key: str | None = None) -> list[tuple[Any, ...]]:
    """The order lines' values, in ``line_no`` then ``layout().orders`` column order: texts as
    written (``None`` when absent or empty), ``days`` a number when it is digits. ``key``: a
    value put first in every line (the visit's M15, as the rows are inserted)."""
    fields, days_at = _order_fields(record.version)
    lines: list[tuple[Any, ...]] = []
    for n, data in enumerate(record.mb2, 1):
        values: list[Any] = list(map(data.get, fields))
        if "" in values:
            values = [v or None for v in values]
        if days_at is not None:
            days = values[days_at]
            values[days_at] = int(days) if days is not None and days.isdigit() else None
        lines.append((n, *values) if key is None else (key, n, *values))
    return lines


def order_lines_of(record: Record) -> tuple[OrderLine, ...]:
    names = ("line_no", *(name for name, _ in layout(record.version).orders))
    return tuple(OrderLine(**dict(zip(names, v, strict=True))) for v in order_values(record))


def visit_from_record(
    record: Record,
    cipher: PiiCipher,
    *,
    batch_id: int,
    received_at: dt.datetime,
    institution_code: str | None = None,
) -> Visit:
    """A storable visit version of a (valid) 2.0 record: person ID encrypted and hashed.

    ``institution_code`` is used when the record has no M05 (the uploading institution).
    """
    m15 = _field(record, "m15")
    person_id = person_id_of(record)
    institution = _field(record, "institution_code") or institution_code
    if m15 is None or person_id is None or institution is None:
        raise ValueError("a stored visit needs M15, M03 and an institution code")
    lay = layout(record.version)
    return Visit(
        m15=m15,
        institution_code=institution,
        person_hash=cipher.lookup_hash(person_id),
        person_enc=cipher.encrypt(person_id),
        birth_date=parse_date(_field(record, "birth_date")),
        visit_at=parse_datetime(_field(record, "visit_at")),
        category=_field(record, "category"),
        h00=record.header.get(lay.h00) or None,
        h01=record.header.get(lay.h01) or "A",
        m12=_field(record, "m12"),
        m16=_field(record, "m16"),
        m52=_field(record, "m52"),
        record=record_json(record),
        batch_id=batch_id,
        record_index=record.index,
        received_at=received_at,
        orders=order_lines_of(record),
    )


def _match_values(record: Record, cipher: PiiCipher, institution_code: str) -> dict[str, Any]:
    person_id = person_id_of(record)
    return {
        "record_index": record.index,
        "institution_code": _field(record, "institution_code") or institution_code,
        "person_hash": None if person_id is None else cipher.lookup_hash(person_id),
        "birth_date": parse_date(_field(record, "birth_date")),
        "visit_at": parse_datetime(_field(record, "visit_at")),
        "category": _field(record, "category"),
    }


def v1_record_of(
    record: Record, cipher: PiiCipher, *, batch_id: int, institution_code: str, success: bool
) -> V1Record:
    """The comparison-report row of a 1.0 record (A12, A13, A17, A23)."""
    return V1Record(
        batch_id=batch_id, success=success, **_match_values(record, cipher, institution_code)
    )


def precheck_record_of(
    record: Record,
    cipher: PiiCipher,
    *,
    batch_id: int,
    institution_code: str,
    channel: str,
    success: bool,
) -> PrecheckRecord:
    """The comparison-report row of a 2.0 pre-check record (M03, M04, M11, M07)."""
    return PrecheckRecord(
        batch_id=batch_id,
        success=success,
        channel=channel,
        m15=_field(record, "m15"),
        **_match_values(record, cipher, institution_code),
    )
