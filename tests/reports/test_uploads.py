"""The upload-result listing (上傳檢核結果查詢) on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, update

from nhihub.reports import upload_results, upload_state
from nhihub.storage.schema import upload_batches

MakeBatch = Callable[..., int]
CLINIC, OTHER = "3501200000", "3501200011"


def _utc(y: int, m: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("status", "bad_records", "bad_orders", "state"),
    [("done", 0, 0, "ok"), ("done", 1, 0, "download"), ("done", 0, 2, "download"),
     ("received", 0, 0, "pending"), ("processing", 0, 0, "pending"),
     ("failed", 0, 0, "failed"), ("rejected", 0, 0, "rejected")],
)  # fmt: skip
def test_state(status: str, bad_records: int, bad_orders: int, state: str) -> None:
    assert upload_state(status, bad_records, bad_orders) == state


def _finish(conn: Connection, batch: int, **counts: int) -> None:
    conn.execute(update(upload_batches).where(upload_batches.c.id == batch)
                 .values(status="done", **counts))  # fmt: skip


def test_listing_by_taiwan_receiving_date_newest_first(
    conn: Connection, make_batch: MakeBatch
) -> None:
    # 2024-03-19 16:30 UTC is 03-20 00:30 in Taiwan: inside a 03-20 query, outside 03-19.
    late = make_batch(now=_utc(2024, 3, 19, 16, 30),
                      uploaded_at=dt.datetime(2024, 3, 20, 0, 29))  # fmt: skip
    early = make_batch(now=_utc(2024, 3, 19, 15, 59))  # 03-19 23:59 Taiwan
    other = make_batch(now=_utc(2024, 3, 20, 1), institution_code=OTHER)
    _finish(conn, late, records=55, valid_records=54, orders=277, valid_orders=277,
            invalid_records=1)  # fmt: skip
    _finish(conn, early, records=56, valid_records=56, orders=274, valid_orders=274)
    rows = upload_results(conn, CLINIC, dt.date(2024, 3, 20), dt.date(2024, 3, 20))
    assert [r.batch_id for r in rows] == [late]
    r = rows[0]
    assert (r.records, r.valid_records, r.orders, r.valid_orders, r.invalid_records,
            r.invalid_orders) == (55, 54, 277, 277, 1, 0)  # fmt: skip
    assert r.received_at == dt.datetime(2024, 3, 20, 0, 30)
    assert r.uploaded_at == dt.datetime(2024, 3, 20, 0, 29)
    assert r.downloadable and not r.no_errors and r.state_text() == "下載 / 加密下載"

    both = upload_results(conn, CLINIC, dt.date(2024, 3, 19), dt.date(2024, 3, 20))
    assert [(x.seq, x.batch_id) for x in both] == [(1, late), (2, early)]
    assert both[1].no_errors and both[1].state_text("en") == "no errors"
    assert both[1].uploaded_at == dt.datetime(2024, 3, 19, 23, 59)  # no sUploadDT: received

    everyone = upload_results(conn, None, dt.date(2024, 3, 19), dt.date(2024, 3, 20))
    assert {x.batch_id for x in everyone} == {late, early, other}
    assert everyone[0].state == "pending"
    assert upload_results(conn, CLINIC, dt.date(2024, 3, 19), dt.date(2024, 3, 20),
                          kinds={"A2"}) == []  # fmt: skip


def test_reversed_range_is_refused(conn: Connection) -> None:
    with pytest.raises(ValueError, match="ends before"):
        upload_results(conn, None, dt.date(2024, 3, 20), dt.date(2024, 3, 19))
