"""Builders for storage tests: an institution, batches and visit versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection

from nhihub.protect import PiiCipher
from nhihub.storage import Institution, NewBatch, OrderLine, Visit, create_batch, insert_institution

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
CLINIC = "3501200000"
PHARMACY = "5901010001"

MakeBatch = Callable[..., int]
MakeVisit = Callable[..., Visit]


@pytest.fixture
def clinic(conn: Connection) -> str:
    insert_institution(conn, Institution(CLINIC, "測試診所", "clinic", "11"), now=T0)
    insert_institution(conn, Institution(PHARMACY, "測試藥局", "pharmacy"), now=T0)
    return CLINIC


@pytest.fixture
def make_batch(conn: Connection, clinic: str, pii_cipher: PiiCipher) -> MakeBatch:
    def make(
        *,
        institution_code: str = clinic,
        kind: str = "A1",
        channel: str = "web-api",
        raw: bytes = b"<RECS></RECS>",
        now: dt.datetime = T0,
        **fields: Any,
    ) -> int:
        new = NewBatch(institution_code=institution_code, channel=channel, kind=kind, **fields)
        return create_batch(conn, new, raw, pii_cipher, now=now)

    return make


@pytest.fixture
def make_visit(pii_cipher: PiiCipher) -> MakeVisit:
    def make(
        m15: str,
        batch_id: int,
        record_index: int = 1,
        *,
        person_id: str = "A123456789",
        note: str = "",
        orders: tuple[OrderLine, ...] = (),
        **fields: Any,
    ) -> Visit:
        values: dict[str, Any] = {
            "m15": m15,
            "institution_code": CLINIC,
            "person_hash": pii_cipher.lookup_hash(person_id),
            "person_enc": pii_cipher.encrypt(person_id),
            "birth_date": dt.date(1980, 1, 2),
            "visit_at": dt.datetime(2024, 3, 18, 9, 30),
            "category": "01",
            "h01": "A",
            "record": {"mb1": {"M15": m15, "M07": "01", "note": note}, "mb2": []},
            "batch_id": batch_id,
            "record_index": record_index,
            "received_at": T0,
            "orders": orders,
        }
        values.update(fields)
        return Visit(**values)

    return make
