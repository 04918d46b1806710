from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from nhihub.protect import PiiCipher
from nhihub.storage import (
    BatchCounts,
    Institution,
    NewBatch,
    RawMissing,
    claim_next_batch,
    create_batch,
    get_batch,
    insert_institution,
    list_batches,
    load_raw,
    mark_batch_done,
    mark_batch_failed,
    release_batch,
    renew_lease,
    unit_of_work,
)
from nhihub.storage.repository.batches import finish_batch
from nhihub.storage.schema import upload_raw

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
RAW = b"<RECS><REC><MB><MB1><M03>A123456789</M03></MB1></MB></REC></RECS>"
LEASE = 60
MakeBatch = Callable[..., int]


def test_create_batch_keeps_raw_encrypted(
    conn: Connection, make_batch: MakeBatch, pii_cipher: PiiCipher
) -> None:
    batch_id = make_batch(raw=RAW, file_name="up.xml", client_info={"sMrecs": "1"})
    stored = conn.execute(select(upload_raw.c.raw_enc).where(upload_raw.c.batch_id == batch_id))
    blob = stored.scalar_one()
    assert b"A123456789" not in blob and RAW not in blob
    assert load_raw(conn, batch_id, pii_cipher) == RAW
    batch = get_batch(conn, batch_id)
    assert batch is not None
    assert (batch.status, batch.file_size, batch.raw_sha256) == (
        "received",
        len(RAW),
        hashlib.sha256(RAW).digest(),
    )
    assert (batch.received_at, batch.file_name, batch.client_info) == (
        T0,
        "up.xml",
        {"sMrecs": "1"},
    )
    assert batch.counts == BatchCounts()
    assert batch.attempts == 0 and batch.claimed_by is None


def test_created_is_called_with_the_id_before_the_raw_is_stored(
    conn: Connection, clinic: str, pii_cipher: PiiCipher
) -> None:
    seen: list[tuple[int, int]] = []

    def created(batch_id: int) -> None:
        stored = conn.execute(
            select(upload_raw.c.batch_id).where(upload_raw.c.batch_id == batch_id)
        )
        seen.append((batch_id, len(stored.all())))

    new = NewBatch(institution_code=clinic, channel="cli", kind="A1")
    batch_id = create_batch(conn, new, RAW, pii_cipher, now=T0, created=created)
    assert seen == [(batch_id, 0)]
    assert load_raw(conn, batch_id, pii_cipher) == RAW


def test_raw_in_a_file(
    conn: Connection, clinic: str, pii_cipher: PiiCipher, tmp_path: Path
) -> None:
    new = NewBatch(institution_code=clinic, channel="cli", kind="A2")
    batch_id = create_batch(conn, new, RAW, pii_cipher, raw_dir=tmp_path / "raw", now=T0)
    batch = get_batch(conn, batch_id)
    assert batch is not None and batch.raw_path is not None
    assert b"A123456789" not in Path(batch.raw_path).read_bytes()
    assert load_raw(conn, batch_id, pii_cipher) == RAW
    Path(batch.raw_path).unlink()
    with pytest.raises(RawMissing, match="missing"):
        load_raw(conn, batch_id, pii_cipher)
    with pytest.raises(RawMissing):
        load_raw(conn, batch_id + 1000, pii_cipher)


@pytest.mark.parametrize(("channel", "kind"), [("fax", "A1"), ("vpn", "A9")])
def test_unknown_channel_or_kind_is_refused(make_batch: MakeBatch, channel: str, kind: str) -> None:
    with pytest.raises(ValueError):
        make_batch(channel=channel, kind=kind)


def test_list_batches_by_institution_and_time(
    conn: Connection, make_batch: MakeBatch, clinic: str
) -> None:
    insert_institution(conn, Institution("1111111111", "他院", "district_hospital"))
    first = make_batch(now=T0)
    second = make_batch(now=T0 + dt.timedelta(days=1))
    make_batch(institution_code="1111111111", now=T0)
    assert [b.id for b in list_batches(conn, clinic)] == [first, second]
    window = list_batches(conn, clinic, since=T0 + dt.timedelta(hours=1))
    assert [b.id for b in window] == [second]
    assert [b.id for b in list_batches(conn, clinic, until=T0 + dt.timedelta(hours=1))] == [first]


def test_claim_takes_the_oldest_and_leases_it(conn: Connection, make_batch: MakeBatch) -> None:
    first, second = make_batch(), make_batch()
    claimed = claim_next_batch(conn, "w1", lease_seconds=LEASE, now=T0)
    assert claimed is not None and claimed.id == first
    assert (claimed.status, claimed.claimed_by, claimed.attempts) == ("processing", "w1", 1)
    assert claimed.lease_until == T0 + dt.timedelta(seconds=LEASE)
    assert claimed.started_at == T0
    again = claim_next_batch(conn, "w2", lease_seconds=LEASE, now=T0)
    assert again is not None and again.id == second
    assert claim_next_batch(conn, "w3", lease_seconds=LEASE, now=T0) is None


def test_expired_lease_is_taken_over(conn: Connection, make_batch: MakeBatch) -> None:
    batch_id = make_batch()
    assert claim_next_batch(conn, "dead", lease_seconds=LEASE, now=T0) is not None
    later = T0 + dt.timedelta(seconds=LEASE - 1)
    assert claim_next_batch(conn, "w2", lease_seconds=LEASE, now=later) is None
    expired = T0 + dt.timedelta(seconds=LEASE + 1)
    taken = claim_next_batch(conn, "w2", lease_seconds=LEASE, now=expired)
    assert taken is not None and taken.id == batch_id
    assert (taken.claimed_by, taken.attempts, taken.started_at) == ("w2", 2, T0)
    # the dead worker can no longer finish or renew it
    assert not mark_batch_done(conn, batch_id, "dead", BatchCounts(records=1))
    assert not renew_lease(conn, batch_id, "dead", lease_seconds=LEASE)
    assert renew_lease(conn, batch_id, "w2", lease_seconds=LEASE, now=expired)


def test_done_stores_counts_and_ends_the_lease(conn: Connection, make_batch: MakeBatch) -> None:
    batch_id = make_batch()
    claim_next_batch(conn, "w1", lease_seconds=LEASE, now=T0)
    counts = BatchCounts(10, 9, 30, 29, 1, 1, 9)
    done_at = T0 + dt.timedelta(seconds=5)
    assert mark_batch_done(conn, batch_id, "w1", counts, format_version="2.0", now=done_at)
    batch = get_batch(conn, batch_id)
    assert batch is not None
    assert (batch.status, batch.counts, batch.format_version) == ("done", counts, "2.0")
    assert (batch.finished_at, batch.lease_until) == (done_at, None)
    assert not mark_batch_done(conn, batch_id, "w1", counts)  # finished already
    much_later = T0 + dt.timedelta(days=1)
    assert claim_next_batch(conn, "w2", lease_seconds=LEASE, now=much_later) is None


def test_failed_and_rejected(conn: Connection, make_batch: MakeBatch) -> None:
    failed, rejected = make_batch(), make_batch()
    claim_next_batch(conn, "w1", lease_seconds=LEASE, now=T0)
    claim_next_batch(conn, "w1", lease_seconds=LEASE, now=T0)
    assert mark_batch_failed(conn, failed, "w1", error_code="9999", error_detail="crash")
    assert finish_batch(
        conn,
        rejected,
        "w1",
        status="rejected",
        counts=BatchCounts(records=0),
        error_code="Y015",
    )
    got_failed, got_rejected = get_batch(conn, failed), get_batch(conn, rejected)
    assert got_failed is not None and got_rejected is not None
    assert (got_failed.status, got_failed.error_code, got_failed.error_detail) == (
        "failed",
        "9999",
        "crash",
    )
    assert (got_rejected.status, got_rejected.error_code) == ("rejected", "Y015")
    with pytest.raises(ValueError):
        finish_batch(conn, failed, "w1", status="processing")


def test_release_gives_the_batch_back(conn: Connection, make_batch: MakeBatch) -> None:
    batch_id = make_batch()
    claim_next_batch(conn, "w1", lease_seconds=LEASE, now=T0)
    assert not release_batch(conn, batch_id, "w2")
    assert release_batch(conn, batch_id, "w1")
    again = claim_next_batch(conn, "w2", lease_seconds=LEASE, now=T0)
    assert again is not None and again.id == batch_id and again.attempts == 2


def test_concurrent_workers_never_claim_the_same_batch(
    fresh_engine: Engine, pii_cipher: PiiCipher
) -> None:
    with unit_of_work(fresh_engine) as conn:
        insert_institution(conn, Institution("3501200000", "診所", "clinic"))
        new = NewBatch(institution_code="3501200000", channel="vpn", kind="A1")
        created = {create_batch(conn, new, RAW, pii_cipher) for _ in range(40)}
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        mine = claims.setdefault(name, [])
        try:
            start.wait()
            while True:
                with unit_of_work(fresh_engine) as conn:
                    batch = claim_next_batch(conn, name, lease_seconds=LEASE)
                if batch is None:
                    return
                mine.append(batch.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    taken = [i for ids in claims.values() for i in ids]
    assert sorted(taken) == sorted(created)  # each batch exactly once
