"""The worker: claiming under a lease, take-over after a dead worker, processing order, failures,
the run loop, and that nothing personal reaches the logs."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import pytest
from service_kit import Hub, Pool, clone
from sqlalchemy import delete, text

from nhihub.service import checking as checking_module
from nhihub.service import drain, process_next, run_worker
from nhihub.service import worker as worker_module
from nhihub.service.apply import LeaseLost, apply_checked
from nhihub.service.checking import CheckedUpload
from nhihub.service.spec import service_spec
from nhihub.storage import (
    claim_next_batch,
    create_engine_for,
    get_visit_versions,
    unit_of_work,
    utcnow,
)
from nhihub.storage import get_batch as stored_batch
from nhihub.storage import unit_of_work as worker_unit_of_work
from nhihub.storage.schema import upload_raw


def test_nothing_waiting(hub: Hub) -> None:
    assert process_next(hub.engine, "w", hub.settings) is None
    assert drain(hub.engine, hub.settings) == []


def test_drain_processes_in_receiving_order(hub: Hub, pool: Pool) -> None:
    a, b = pool.visits(2, skip=20)
    first = hub.submit(a.mb1["M05"], [a])
    second = hub.submit(b.mb1["M05"], [b])
    assert hub.process() == [first, second]
    assert hub.batch(first).status == hub.batch(second).status == "done"


def test_a_dead_workers_batch_is_taken_over_after_its_lease(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=22)[0]
    batch_id = hub.submit(rec.mb1["M05"], [rec])
    with unit_of_work(hub.engine) as conn:
        claimed = claim_next_batch(conn, "dead", lease_seconds=hub.settings.worker_lease_seconds)
    assert claimed is not None and claimed.id == batch_id
    assert process_next(hub.engine, "alive", hub.settings) is None  # still leased
    later = utcnow() + dt.timedelta(seconds=hub.settings.worker_lease_seconds + 1)
    assert process_next(hub.engine, "alive", hub.settings, later) == batch_id
    view = hub.batch(batch_id)
    assert view.status == "done" and view.attempts == 2
    assert hub.visit(rec.mb1["M15"]) is not None


def test_last_received_wins_whatever_the_processing_order(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=23)[0]
    inst, m15 = rec.mb1["M05"], rec.mb1["M15"]
    older = hub.submit(inst, [clone(rec, M44="111")])
    newer = hub.submit(inst, [clone(rec, M44="222")])
    with unit_of_work(hub.engine) as conn:  # a slow worker holds the older batch
        claim_next_batch(conn, "slow", lease_seconds=hub.settings.worker_lease_seconds)
    assert process_next(hub.engine, "fast", hub.settings) == newer
    later = utcnow() + dt.timedelta(seconds=hub.settings.worker_lease_seconds + 1)
    assert process_next(hub.engine, "fast", hub.settings, later) == older
    stored = hub.visit(m15)
    assert stored is not None and stored.record["mb1"]["M44"] == "222"
    assert hub.applied(older) == {1: True}
    with unit_of_work(hub.engine) as conn:
        history = get_visit_versions(conn, m15)
    assert [v.record["mb1"]["M44"] for v in history] == ["111"]


def test_finishing_without_the_lease_rolls_back(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=24)[0]
    batch_id = hub.submit(rec.mb1["M05"], [rec])
    with unit_of_work(hub.engine) as conn:
        batch = claim_next_batch(conn, "owner", lease_seconds=30)
    assert batch is not None
    with pytest.raises(LeaseLost), unit_of_work(hub.engine) as conn:
        apply_checked(conn, batch, CheckedUpload(version="2.0"), worker="thief", now=utcnow())
    assert hub.batch(batch_id).status == "processing"


def test_an_error_gives_the_batch_back_then_fails_it(
    hub: Hub, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = pool.visits(1, skip=25)[0]
    batch_id = hub.submit(rec.mb1["M05"], [rec])

    def broken(*args: object, **kw: object) -> CheckedUpload:
        raise RuntimeError("A123456789 must never be logged")

    monkeypatch.setattr(checking_module, "check_serial", broken)
    assert process_next(hub.engine, "w", hub.settings) == batch_id
    assert hub.batch(batch_id).status == "received"
    hub.process()
    view = hub.batch(batch_id)
    assert view.status == "failed" and view.error_code == "internal"
    assert view.attempts == 3 and view.error_message_zh


def test_missing_raw_upload_fails_the_batch(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=26)[0]
    batch_id = hub.submit(rec.mb1["M05"], [rec])
    with unit_of_work(hub.engine) as conn:
        conn.execute(delete(upload_raw).where(upload_raw.c.batch_id == batch_id))
    hub.process()
    view = hub.batch(batch_id)
    assert view.status == "failed" and view.error_code == "raw_missing"


def test_run_worker_processes_until_stopped(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=27)[0]
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker, args=(hub.engine, hub.settings, stop, 0.05), kwargs={"jobs": 1}
    )
    thread.start()
    try:
        batch_id = hub.submit(rec.mb1["M05"], [rec])
        for _ in range(200):
            if hub.batch(batch_id).finished:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert hub.batch(batch_id).status == "done"


def test_no_person_id_in_the_logs(hub: Hub, pool: Pool, caplog: pytest.LogCaptureFixture) -> None:
    """Everything logged at DEBUG while a batch is uploaded, processed and its results built,
    SQL statements and their parameters included: no M03 appears."""
    chain = pool.chain(2)
    records = [chain.prescription, *pool.visits(5, skip=30)]
    inst = chain.institution
    records = [clone(r, M05=inst) for r in records]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy keeps itself at WARN
    engine = create_engine_for(hub.settings.db_url)  # created now, so it logs its SQL
    logged = Hub(engine, hub.settings)
    try:
        view = logged.send(inst, [*records, clone(records[1], M15=None)])
        from nhihub.service import result_file

        with unit_of_work(engine) as conn:
            for fmt in ("json", "nhi-zip"):
                assert result_file(conn, view.id, fmt, hub.settings)
            assert stored_batch(conn, view.id) is not None
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert view.counts.records == len(records) + 1
    text_logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "batch" in text_logged and "INSERT INTO visits" in text_logged
    for r in records:
        assert r.mb1["M03"] not in text_logged


def test_the_apply_runs_with_the_configured_page_cache(
    hub: Hub, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[int | None] = []
    real = worker_unit_of_work

    def spy(engine: Any, *, cache_kib: int | None = None) -> Any:
        used.append(cache_kib)
        return real(engine, cache_kib=cache_kib)

    monkeypatch.setattr(worker_module, "unit_of_work", spy)
    rec = pool.visits(1, skip=36)[0]
    batch_id = hub.submit(rec.mb1["M05"], [rec])
    assert process_next(hub.engine, "w", hub.settings) == batch_id
    assert hub.batch(batch_id).status == "done"
    assert service_spec().apply_cache_kib in used  # the apply's unit of work
    assert used.count(None) >= 1  # the claim's is an ordinary one
