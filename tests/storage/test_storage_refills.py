from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine

from nhihub.storage import (
    Refill,
    ensure_refills,
    get_refill,
    get_refills,
    refills_dispensed_by,
    set_refill,
    unit_of_work,
)

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
RX = "0USE4FA11RP4J370WR4K"
DISPENSING = "2ABCDEFGH2JKLMNP3QRS"
MakeBatch = Callable[..., int]


def _dispensed(n: int, pharmacy: str = "5901010001", m15: str = DISPENSING) -> Refill:
    return Refill(
        RX,
        n,
        "dispensed",
        rx_kind="C",
        dispensed_by=pharmacy,
        dispensing_m15=m15,
        dispensed_at=dt.datetime(2024, 4, 15, 10, 0),
    )


def test_ensure_creates_missing_rows_only(conn: Connection) -> None:
    assert ensure_refills(conn, RX, [2, 3], rx_kind="C", now=T0) == 2
    assert ensure_refills(conn, RX, [3, 4, 4]) == 1
    assert ensure_refills(conn, RX, []) == 0
    rows = get_refills(conn, RX)
    assert [(r.refill_no, r.state, r.rx_kind) for r in rows] == [
        (2, "not_dispensed", "C"),
        (3, "not_dispensed", "C"),
        (4, "not_dispensed", None),
    ]
    assert rows[0].updated_at == T0


def test_set_without_expectation_inserts_or_overwrites(
    conn: Connection, make_batch: MakeBatch
) -> None:
    batch = make_batch()
    assert set_refill(conn, dataclasses.replace(_dispensed(2), batch_id=batch), now=T0)
    got = get_refill(conn, RX, 2)
    assert got == dataclasses.replace(_dispensed(2), batch_id=batch, updated_at=T0)
    assert set_refill(conn, Refill(RX, 2, "cancelled"))
    got = get_refill(conn, RX, 2)
    assert got is not None and got.state == "cancelled" and got.dispensed_by is None
    assert get_refill(conn, RX, 9) is None


def test_compare_and_set(conn: Connection) -> None:
    ensure_refills(conn, RX, [2])
    assert set_refill(conn, _dispensed(2), expected_state="not_dispensed")
    # the same refill cannot be dispensed a second time (D025)
    assert not set_refill(conn, _dispensed(2, "5901010002"), expected_state="not_dispensed")
    got = get_refill(conn, RX, 2)
    assert got is not None and got.dispensed_by == "5901010001"
    # a refill that has no row is not changed by a compare-and-set
    assert not set_refill(conn, _dispensed(3), expected_state="not_dispensed")
    assert get_refill(conn, RX, 3) is None


def test_unknown_state_is_refused(conn: Connection) -> None:
    with pytest.raises(ValueError, match="refill_state"):
        set_refill(conn, Refill(RX, 2, "lost"))
    with pytest.raises(ValueError, match="refill_state"):
        set_refill(conn, _dispensed(2), expected_state="lost")


def test_refills_dispensed_by_a_visit(conn: Connection) -> None:
    set_refill(conn, _dispensed(2))
    set_refill(conn, _dispensed(3, m15="3ABCDEFGH2JKLMNP3QRS"))
    assert [r.refill_no for r in refills_dispensed_by(conn, DISPENSING)] == [2]
    assert get_refills(conn, RX, for_update=True)[0].refill_no == 2
    assert get_refill(conn, RX, 3, for_update=True) is not None


def test_two_pharmacies_racing_for_one_refill(fresh_engine: Engine) -> None:
    """Only one of several simultaneous dispensings of the same refill succeeds."""
    with unit_of_work(fresh_engine) as conn:
        ensure_refills(conn, RX, [2])
    wins: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def pharmacy(code: str) -> None:
        try:
            start.wait()
            with unit_of_work(fresh_engine) as conn:
                if set_refill(conn, _dispensed(2, code), expected_state="not_dispensed"):
                    wins.append(code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pharmacy, args=(f"590101000{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(wins) == 1
    with unit_of_work(fresh_engine) as conn:
        got = get_refill(conn, RX, 2)
        assert got is not None and got.dispensed_by == wins[0]
