from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, select

from nhihub.protect import PiiCipher
from nhihub.storage import (
    RecordOutcome,
    get_record_outcomes,
    get_result,
    purge_results_older_than,
    save_record_outcomes,
    save_result,
)
from nhihub.storage.schema import upload_results

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CONTENT = "第[1]筆\nM03=[A123456789]\n錯誤原因:M16:AA;".encode("big5")
MakeBatch = Callable[..., int]


def test_result_round_trip_encrypted_at_rest(
    conn: Connection, make_batch: MakeBatch, pii_cipher: PiiCipher
) -> None:
    batch = make_batch()
    save_result(conn, batch, "nhi-text", CONTENT, pii_cipher, now=T0)
    got = get_result(conn, batch, "nhi-text", pii_cipher)
    assert got is not None
    assert (got.content, got.created_at, got.purged_at, got.format) == (
        CONTENT,
        T0,
        None,
        "nhi-text",
    )
    stored = conn.execute(select(upload_results.c.content_enc)).scalar_one()
    assert b"A123456789" not in stored
    assert get_result(conn, batch, "csv", pii_cipher) is None


def test_purge_then_regenerate(
    conn: Connection, make_batch: MakeBatch, pii_cipher: PiiCipher
) -> None:
    old, recent = make_batch(), make_batch()
    save_result(conn, old, "nhi-zip", b"old", pii_cipher, now=T0)
    save_result(conn, recent, "nhi-zip", b"recent", pii_cipher, now=T0 + 10 * DAY)
    purged_at = T0 + 15 * DAY
    assert purge_results_older_than(conn, purged_at - 14 * DAY, now=purged_at) == 1
    assert purge_results_older_than(conn, purged_at - 14 * DAY, now=purged_at) == 0
    gone = get_result(conn, old, "nhi-zip", pii_cipher)
    assert gone is not None and gone.content is None and gone.purged_at == purged_at
    kept = get_result(conn, recent, "nhi-zip", pii_cipher)
    assert kept is not None and kept.content == b"recent"
    # regenerated on request: stored again, fresh date, no longer purged
    save_result(conn, old, "nhi-zip", b"again", pii_cipher, now=purged_at)
    again = get_result(conn, old, "nhi-zip", pii_cipher)
    assert again is not None
    assert (again.content, again.created_at, again.purged_at) == (b"again", purged_at, None)


def test_record_outcomes(conn: Connection, make_batch: MakeBatch) -> None:
    batch = make_batch()
    outcomes = [
        RecordOutcome(1, True, (), "0USE4FA11RP4J370WR4K", 3, applied=True),
        RecordOutcome(2, False, (("M16", "AA"), ("D05[1]", "AF"), (None, "Y000")), None, 9),
    ]
    save_record_outcomes(conn, batch, outcomes)
    assert get_record_outcomes(conn, batch) == outcomes
    # saving again replaces (a batch processed a second time after a crash)
    save_record_outcomes(conn, batch, outcomes[1:])
    assert get_record_outcomes(conn, batch) == outcomes[1:]
    save_record_outcomes(conn, batch, [])
    assert get_record_outcomes(conn, batch) == []
