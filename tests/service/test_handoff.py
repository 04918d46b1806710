"""The hand-off of just-stored uploads to the worker of the same process: kept only while a
worker runs, bounded, by content; the worker then does not read the stored copy back."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from service_kit import ONE_INSTITUTION, Hub, Pool, one_institution_day, upload_bytes

from nhihub.service import process_next, submit_upload
from nhihub.service import uploads as uploads_module
from nhihub.service import worker as worker_module
from nhihub.service.checking import CheckPool
from nhihub.service.handoff import Handoff
from nhihub.storage import claim_next_batch, load_raw, unit_of_work


def _digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def test_nothing_is_kept_without_a_worker() -> None:
    kept = Handoff(max_bytes=100)
    kept.keep(_digest(b"a"), b"a")
    assert kept.take(_digest(b"a")) is None
    assert kept.kept_bytes == 0


def test_kept_while_a_worker_runs_and_taken_once() -> None:
    kept = Handoff(max_bytes=100)
    with kept.worker_running():
        kept.keep(_digest(b"abc"), b"abc")
        assert kept.kept_bytes == 3
        assert kept.take(_digest(b"abc")) == b"abc"
        assert kept.take(_digest(b"abc")) is None
        assert kept.kept_bytes == 0


def test_bounded_the_oldest_dropped_first() -> None:
    kept = Handoff(max_bytes=10)
    with kept.worker_running():
        for raw in (b"1111", b"2222", b"3333"):
            kept.keep(_digest(raw), raw)
        kept.keep(_digest(b"x" * 11), b"x" * 11)  # larger than the bound: not kept
        assert kept.kept_bytes == 8
        assert kept.take(_digest(b"1111")) is None
        assert kept.take(_digest(b"2222")) == b"2222"
        assert kept.take(_digest(b"3333")) == b"3333"


def test_not_kept_longer_than_max_seconds() -> None:
    now = [100.0]
    kept = Handoff(max_bytes=100, max_seconds=60, clock=lambda: now[0])
    with kept.worker_running():
        kept.keep(_digest(b"old"), b"old")
        now[0] = 130.0
        kept.keep(_digest(b"new"), b"new")
        now[0] = 161.0  # "old" is 61 s old, "new" 31 s
        assert kept.take(_digest(b"old")) is None
        assert kept.kept_bytes == 3
        assert kept.take(_digest(b"new")) == b"new"


def test_forget_drops_everything() -> None:
    kept = Handoff(max_bytes=100)
    with kept.worker_running():
        kept.keep(_digest(b"a"), b"a")
        kept.forget()
        assert kept.take(_digest(b"a")) is None


def test_only_immutable_bytes_are_kept() -> None:
    kept = Handoff(max_bytes=100)
    with kept.worker_running():
        data = bytearray(b"abc")
        kept.keep(_digest(bytes(data)), data)  # type: ignore[arg-type]
        assert kept.kept_bytes == 0


def test_emptied_when_the_last_worker_stops() -> None:
    kept = Handoff(max_bytes=100)
    with kept.worker_running():
        with kept.worker_running():
            kept.keep(_digest(b"a"), b"a")
        assert kept.kept_bytes == 1  # one worker still runs
    assert kept.kept_bytes == 0


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> Handoff:
    """A hand-off of this test's own, used by submit_upload and the worker."""
    fresh = Handoff()
    monkeypatch.setattr(uploads_module, "handoff", fresh)
    monkeypatch.setattr(worker_module, "handoff", fresh)
    return fresh


@pytest.fixture
def load_raw_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch ids whose stored upload the worker read back (the real function still runs)."""
    calls: list[int] = []

    def spy(conn: Any, batch_id: int, cipher: Any) -> bytes:
        calls.append(batch_id)
        return load_raw(conn, batch_id, cipher)

    monkeypatch.setattr(worker_module, "load_raw", spy)
    return calls


def test_the_worker_of_the_process_takes_the_bytes(
    hub: Hub, pool: Pool, kept: Handoff, load_raw_calls: list[int]
) -> None:
    rec = pool.visits(1, skip=31)[0]
    with kept.worker_running():
        batch_id = hub.submit(rec.mb1["M05"], [rec])
        assert kept.kept_bytes > 0
        assert process_next(hub.engine, "w", hub.settings) == batch_id
        assert kept.kept_bytes == 0
    assert load_raw_calls == []
    assert hub.batch(batch_id).status == "done"
    assert hub.visit(rec.mb1["M15"]) is not None


def test_without_a_worker_the_stored_copy_is_read(
    hub: Hub, pool: Pool, kept: Handoff, load_raw_calls: list[int]
) -> None:
    rec = pool.visits(1, skip=32)[0]
    batch_id = hub.submit(rec.mb1["M05"], [rec])
    with kept.worker_running():  # started after the upload: nothing was kept for it
        assert process_next(hub.engine, "w", hub.settings) == batch_id
    assert load_raw_calls == [batch_id]
    assert hub.visit(rec.mb1["M15"]) is not None


def test_a_rolled_back_upload_is_not_kept(
    hub: Hub, pool: Pool, kept: Handoff, load_raw_calls: list[int]
) -> None:
    first, second = pool.visits(2, skip=33)
    code = hub.institution(first.mb1["M05"])
    hub.institution(second.mb1["M05"])
    with kept.worker_running():
        with pytest.raises(RuntimeError), unit_of_work(hub.engine) as conn:
            submit_upload(
                conn,
                institution=code,
                raw=upload_bytes([first], "2.0"),
                kind="A1",
                channel="web-api",
                settings=hub.settings,
            )
            raise RuntimeError("rolled back")
        assert kept.kept_bytes == 0
        # the next upload may get the same batch id; its own bytes are what is processed
        batch_id = hub.submit(second.mb1["M05"], [second])
        assert process_next(hub.engine, "w", hub.settings) == batch_id
    assert load_raw_calls == []
    assert hub.visit(second.mb1["M15"]) is not None
    assert hub.visit(first.mb1["M15"]) is None


def test_forgotten_when_no_batch_is_waiting(
    hub: Hub, pool: Pool, kept: Handoff, load_raw_calls: list[int]
) -> None:
    rec = pool.visits(1, skip=35)[0]
    with kept.worker_running():
        batch_id = hub.submit(rec.mb1["M05"], [rec])
        with unit_of_work(hub.engine) as conn:  # another worker takes the batch
            claimed = claim_next_batch(conn, "elsewhere", lease_seconds=60)
        assert claimed is not None and claimed.id == batch_id
        assert kept.kept_bytes > 0
        assert process_next(hub.engine, "w", hub.settings) is None
        assert kept.kept_bytes == 0


# -- checking ahead --------------------------------------------------------------------------


class FakeStream:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakePool:
    """Wants uploads of at least ``min_bytes``; records the jobs it was given."""

    def __init__(self, min_bytes: int = 2) -> None:
        self.min_bytes = min_bytes
        self.streams: list[FakeStream] = []

    def wants(self, raw: bytes) -> bool:
        return len(raw) >= self.min_bytes

    def stream(self, raw: bytes, job: object) -> FakeStream:
        self.streams.append(FakeStream())
        return self.streams[-1]


def _ahead(kept: Handoff, batch_id: int, raw: bytes, job: Any = "job") -> bool:
    return kept.start(batch_id, _digest(raw), raw, lambda: job)


def test_checked_ahead_only_in_a_running_workers_pool_one_upload_at_a_time() -> None:
    kept, fake = Handoff(max_bytes=100), FakePool()
    assert not _ahead(kept, 1, b"abc")  # no worker
    with kept.worker_running():
        assert not _ahead(kept, 1, b"abc")  # a worker without a pool
    with kept.worker_running(fake):  # type: ignore[arg-type]
        assert not _ahead(kept, 1, b"a")  # too small for the pool
        assert not _ahead(kept, 1, b"x" * 101)  # larger than the bound
        assert _ahead(kept, 1, b"abc")
        assert not _ahead(kept, 2, b"def")  # one at a time
        assert kept.take_started(2, _digest(b"abc"), "job", fake) is None  # type: ignore[arg-type]
        assert not fake.streams[0].cancelled  # left for its own batch
        assert kept.take_started(1, _digest(b"abc"), "job", fake) is fake.streams[0]  # type: ignore[arg-type]
        assert kept.take_started(1, _digest(b"abc"), "job", fake) is None  # type: ignore[arg-type]
        assert _ahead(kept, 2, b"def")
    assert fake.streams[1].cancelled  # the worker stopped: not taken, cancelled
    assert not fake.streams[0].cancelled


@pytest.mark.parametrize(
    ("raw", "job", "other_pool"),
    [(b"abd", "job", False), (b"abc", "other", False), (b"abc", "job", True)],
)
def test_a_check_of_the_batch_for_anything_else_is_cancelled(
    raw: bytes, job: str, other_pool: bool
) -> None:
    kept, fake = Handoff(max_bytes=100), FakePool()
    with kept.worker_running(fake):  # type: ignore[arg-type]
        assert _ahead(kept, 1, b"abc")
        pool = FakePool() if other_pool else fake
        assert kept.take_started(1, _digest(raw), job, pool) is None  # type: ignore[arg-type]
        assert fake.streams[0].cancelled


def test_a_failure_to_start_is_not_the_uploads() -> None:
    kept, fake = Handoff(max_bytes=100), FakePool()

    def broken() -> Any:
        raise RuntimeError("pool broken")

    with kept.worker_running(fake):  # type: ignore[arg-type]
        assert not kept.start(1, _digest(b"abc"), b"abc", broken)
        assert _ahead(kept, 2, b"abc")


def test_cancelled_on_rollback_expiry_and_forget_after_the_commit() -> None:
    now = [100.0]
    kept, fake = Handoff(max_bytes=100, max_seconds=60, clock=lambda: now[0]), FakePool()
    with kept.worker_running(fake):  # type: ignore[arg-type]
        assert _ahead(kept, 1, b"abc")
        kept.cancel(_digest(b"abc"))  # the upload's transaction rolled back
        assert fake.streams[0].cancelled
        assert _ahead(kept, 2, b"abc")
        now[0] = 161.0
        assert kept.take_started(2, _digest(b"abc"), "job", fake) is None  # type: ignore[arg-type]
        assert fake.streams[1].cancelled
        assert _ahead(kept, 3, b"abc")
        kept.forget()  # not committed yet: the worker could not see the batch
        assert not fake.streams[2].cancelled
        kept.keep(_digest(b"abc"), b"abc")  # committed
        kept.forget()  # another worker took it
        assert fake.streams[2].cancelled


def test_the_worker_takes_the_check_started_while_the_upload_was_stored(
    hub: Hub, kept: Handoff, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = one_institution_day(7, 100, error_rate=0.0)
    code = hub.institution(ONE_INSTITUTION)
    taken: list[bool] = []
    take = kept.take_started

    def spy(*args: Any) -> Any:
        stream = take(*args)
        taken.append(stream is not None)
        return stream

    monkeypatch.setattr(kept, "take_started", spy)
    with CheckPool(2, min_bytes=0, part_records=2) as checkers, kept.worker_running(checkers):
        batch_id = hub.submit(code, records)
        assert process_next(hub.engine, "w", hub.settings, pool=checkers) == batch_id
    assert taken == [True]
    assert hub.batch(batch_id).status == "done"
    assert all(hub.visit(r.mb1["M15"]) is not None for r in records)


def test_a_rolled_back_upload_is_not_checked_ahead_any_longer(hub: Hub, kept: Handoff) -> None:
    code = hub.institution(ONE_INSTITUTION)
    with CheckPool(2, min_bytes=0, part_records=2) as checkers, kept.worker_running(checkers):
        with pytest.raises(RuntimeError), unit_of_work(hub.engine) as conn:
            submit_upload(
                conn,
                institution=code,
                raw=upload_bytes(one_institution_day(7, 100, error_rate=0.0), "2.0"),
                kind="A1",
                channel="web-api",
                settings=hub.settings,
            )
            assert kept._started is not None  # started once the batch had its id
            raise RuntimeError("rolled back")
        assert kept._started is None
