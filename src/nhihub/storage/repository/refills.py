"""Refill state of chronic continuous prescriptions (慢連箋), per prescribing visit and refill.

``set_refill`` with ``expected_state`` is a compare-and-set: on PostgreSQL two pharmacies that
try to dispense the same refill at the same moment cannot both succeed (the second UPDATE waits
for the first and then finds the state changed) - the duplicate dispensing 2.0 exists to stop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select, update

from nhihub.storage.codes import check_code
from nhihub.storage.repository._common import now_or, upsert_insert
from nhihub.storage.rows import Refill
from nhihub.storage.schema import refills

_FIELDS = tuple(c.name for c in refills.c)


def _refill(row: Any) -> Refill:
    return Refill(**{name: row._mapping[name] for name in _FIELDS})


def get_refills(conn: Connection, m15: str, *, for_update: bool = False) -> list[Refill]:
    """All refills of a prescribing visit, by refill number."""
    query = select(refills).where(refills.c.m15 == m15).order_by(refills.c.refill_no)
    if for_update:
        query = query.with_for_update()
    return [_refill(r) for r in conn.execute(query)]


def get_refill(
    conn: Connection, m15: str, refill_no: int, *, for_update: bool = False
) -> Refill | None:
    query = select(refills).where(refills.c.m15 == m15, refills.c.refill_no == refill_no)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _refill(row)


def refills_dispensed_by(conn: Connection, dispensing_m15: str) -> list[Refill]:
    """Refills that a dispensing visit dispensed."""
    rows = conn.execute(
        select(refills)
        .where(refills.c.dispensing_m15 == dispensing_m15)
        .order_by(refills.c.m15, refills.c.refill_no)
    )
    return [_refill(r) for r in rows]


def ensure_refills(
    conn: Connection,
    m15: str,
    refill_numbers: Iterable[int],
    *,
    rx_kind: str | None = None,
    batch_id: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Create ``not_dispensed`` rows for refills that have none yet; returns how many."""
    numbers = sorted(set(refill_numbers))
    if not numbers:
        return 0
    moment = now_or(now)
    stmt = upsert_insert(conn, refills).on_conflict_do_nothing(
        index_elements=[refills.c.m15, refills.c.refill_no]
    )
    rows = conn.execute(
        stmt.returning(refills.c.refill_no),
        [
            {
                "m15": m15,
                "refill_no": n,
                "rx_kind": rx_kind,
                "state": "not_dispensed",
                "batch_id": batch_id,
                "updated_at": moment,
            }
            for n in numbers
        ],
    )
    return len(rows.all())


def set_refill(
    conn: Connection,
    refill: Refill,
    *,
    expected_state: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Write a refill's state.

    Without ``expected_state`` the row is inserted or overwritten. With it, the row is changed
    only if it exists and is in that state (compare-and-set); returns whether it was written.
    """
    check_code("refill_state", refill.state)
    values = {name: getattr(refill, name) for name in _FIELDS}
    values["updated_at"] = now_or(now)
    if expected_state is None:
        stmt = upsert_insert(conn, refills).values(values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[refills.c.m15, refills.c.refill_no],
                set_={k: stmt.excluded[k] for k in values if k not in ("m15", "refill_no")},
            )
        )
        return True
    check_code("refill_state", expected_state)
    result = conn.execute(
        update(refills)
        .where(
            refills.c.m15 == refill.m15,
            refills.c.refill_no == refill.refill_no,
            refills.c.state == expected_state,
        )
        .values({k: v for k, v in values.items() if k not in ("m15", "refill_no")})
    )
    return result.rowcount == 1
