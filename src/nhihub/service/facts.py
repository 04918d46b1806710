"""What the stateful rules look at: the facts of an incoming 2.0 record, of a stored visit and of
a refill. Plain frozen values (named tuples: tens of thousands are made per upload, several
times faster than frozen dataclasses); :func:`record_facts` extracts them from a record (pure)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import NamedTuple

from nhihub.formats.model import Record
from nhihub.ids.rocdate import ROC_OFFSET
from nhihub.service.spec import ServiceSpec, service_spec

OrderKey = tuple[int, int]  # (batch id, record index): the receiving order


class RecordFacts(NamedTuple):
    """An incoming format-2.0 record as the stateful rules see it.

    ``refill_no``/``refill_kind``: the refill this visit dispenses (M33 慢連箋 or M34 管制藥品
    慢連箋, the first that is a positive number). ``refill_count``/``count_kind``: the allowed
    dispensings of a chronic continuous prescription it issues (M26 or M29).
    """

    index: int  # type: ignore[assignment]  # the record's index, not tuple.index()
    order_key: OrderKey
    h01: str
    m15: str
    institution: str  # M05
    person_hash: bytes | None  # keyed hash of M03
    category: str | None  # M07
    visit_at: dt.datetime | None  # M11, Taiwan local
    m12: str | None
    m16: str | None
    m17: str | None
    m52: str | None
    refill_no: int | None = None
    refill_kind: str | None = None
    refill_count: int = 0
    count_kind: str | None = None


class VisitFacts(NamedTuple):
    """The current version of a stored visit as the rules see it. ``refill_no``/``refill_kind``
    are only known for visits loaded as dispensings of a prescription (or stored in this batch)."""

    m15: str
    institution: str
    person_hash: bytes | None
    category: str | None
    visit_at: dt.datetime | None
    deleted: bool
    order_key: OrderKey
    m12: str | None = None
    m16: str | None = None
    m52: str | None = None
    refill_no: int | None = None
    refill_kind: str | None = None


class RefillFacts(NamedTuple):
    """One refill (第幾次調劑) of a prescription: state ``not_dispensed`` / ``dispensed`` /
    ``cancelled``, and who dispensed it (institution, dispensing visit, its M11)."""

    m15: str
    refill_no: int
    state: str
    rx_kind: str | None = None
    dispensed_by: str | None = None
    dispensing_m15: str | None = None
    dispensed_at: dt.datetime | None = None


_DATETIME_LENGTH = 13  # YYYMMDDHHMMSS

NOT_DISPENSED = "not_dispensed"
DISPENSED = "dispensed"
CANCELLED = "cancelled"


def positive_int(value: str | None) -> int | None:
    """A count written in the file: digits only, above zero; anything else is ``None``."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    n = int(value)
    return n if n > 0 else None


def visit_time(value: str | None) -> dt.datetime | None:
    """M11 as :func:`~nhihub.ids.rocdate.parse_roc_datetime` reads it, ``None`` when it is not
    a date-time (one constructor call checks the calendar and the clock: this runs for every
    stored visit)."""
    if value is None or len(value) != _DATETIME_LENGTH or not value.isascii():
        return None
    if not value.isdigit():
        return None
    year = int(value[:3])
    if year < 1:
        return None
    try:
        return dt.datetime(
            year + ROC_OFFSET,
            int(value[3:5]),
            int(value[5:7]),
            int(value[7:9]),
            int(value[9:11]),
            int(value[11:13]),
        )
    except ValueError:
        return None


def refill_claim(
    mb1: dict[str, str], spec: ServiceSpec | None = None
) -> tuple[int | None, str | None]:
    """(refill number, kind) a record dispenses: M33 (C) or M34 (F), the first that is set."""
    for kind in (spec or service_spec()).refill_kinds:
        n = positive_int(mb1.get(kind.number_field))
        if n is not None:
            return n, kind.kind
    return None, None


def refill_allowance(
    mb1: dict[str, str], spec: ServiceSpec | None = None
) -> tuple[int, str | None]:
    """(allowed dispensings, kind) of the chronic prescription a record issues: M26 or M29."""
    for kind in (spec or service_spec()).refill_kinds:
        n = positive_int(mb1.get(kind.count_field))
        if n is not None:
            return n, kind.kind
    return 0, None


@cache
def _refill_fields() -> tuple[tuple[tuple[str, str, str], ...], frozenset[str]]:
    """((number field, count field, kind) of each refill kind, dispensing categories)."""
    spec = service_spec()
    kinds = tuple((k.number_field, k.count_field, k.kind) for k in spec.refill_kinds)
    return kinds, spec.dispensing_categories


def record_facts(record: Record, *, batch_id: int, person_hash: bytes | None) -> RecordFacts:
    """The facts of a (checked, valid) 2.0 record; ``person_hash`` is the keyed hash of M03.
    (What :func:`refill_claim` and :func:`refill_allowance` say, in one pass: it runs for every
    stored visit.)"""
    kinds, dispensing = _refill_fields()
    get = record.mb1.get
    refill_no = refill_kind = count_kind = None
    count = 0
    for number_field, _, kind in kinds:
        n = positive_int(get(number_field))
        if n is not None:
            refill_no, refill_kind = n, kind
            break
    category = get("M07")
    if category not in dispensing:  # a dispensing never issues a prescription of its own
        for _, count_field, kind in kinds:
            n = positive_int(get(count_field))
            if n is not None:
                count, count_kind = n, kind
                break
    index = record.index
    values = (
        index,
        (batch_id, index),
        record.header.get("H01", ""),
        get("M15", ""),
        get("M05", ""),
        person_hash,
        category,
        visit_time(get("M11")),
        get("M12"),
        get("M16"),
        get("M17"),
        get("M52"),
        refill_no,
        refill_kind,
        count,
        count_kind,
    )
    return tuple.__new__(RecordFacts, values)  # every field given: the NamedTuple without __new__
