"""Reliability on both databases (issue #4 item 9):

(a) concurrent uploads touching the same identifiers, submitted and processed by several threads
    (SQLite) or processes (PostgreSQL), end with each visit equal to its last received valid
    version, nothing lost or duplicated, and each refill dispensed once;
(b) a worker killed (SIGKILL) inside the apply transaction leaves its batch not applied at all,
    and the batch is processed after the lease ran out;
(c) malformed, oversized and hostile files get a result and change nothing else.
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from service_kit import RECEIVED, Hub, Pool, clone, new_m15, submit_and_drain, upload_bytes
from sqlalchemy import func, select

from nhihub.service import UploadRejected, process_next, result_file, submit_upload
from nhihub.storage import get_visit_versions, read_only, unit_of_work, utcnow
from nhihub.storage.schema import record_outcomes, refills, upload_batches, visit_versions, visits

CLIENTS = 4
UPLOADS_PER_CLIENT = 3


def _count(hub: Hub, table: object) -> int:
    with read_only(hub.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_concurrent_uploads_keep_the_last_valid_version(hub: Hub, pool: Pool) -> None:
    base = pool.visits(5, skip=40)
    inst = base[0].mb1["M05"]
    base = [clone(r, M05=inst) for r in base]
    chain = pool.chain(1)
    hub.institution(inst)
    hub.send(chain.institution, [chain.prescription])
    refill = chain.refills[0]
    # Each upload carries a version of every shared visit (M44 tags it) and one pharmacy's
    # dispensing of the same refill; every third upload's first visit is invalid (07).
    jobs = []
    tags: dict[tuple[int, int], str] = {}
    valid: dict[tuple[int, int], bool] = {}
    for c in range(CLIENTS):
        pharmacy = f"59010100{c + 10:02d}"
        hub.institution(pharmacy, "pharmacy")
        uploads = []
        for u in range(UPLOADS_PER_CLIENT):
            tag = str(1000 + c * 10 + u)
            records = [clone(r, M44=tag) for r in base]
            bad = (c + u) % 3 == 0
            if bad:
                records[0] = clone(records[0], M05="9999999999")
            uploads.append((inst, upload_bytes(records)))
            tags[(c, u)], valid[(c, u)] = tag, not bad
        dispense = clone(refill, M05=pharmacy, M15=new_m15(pharmacy))
        uploads.append((pharmacy, upload_bytes([dispense])))
        jobs.append((hub.settings.db_url, hub.settings, uploads))
    if hub.engine.dialect.name == "postgresql":
        with multiprocessing.get_context("spawn").Pool(CLIENTS) as workers:
            results = workers.map(submit_and_drain, jobs)
    else:
        with ThreadPoolExecutor(CLIENTS) as threads:
            results = list(threads.map(submit_and_drain, jobs))
    hub.process()
    with read_only(hub.engine) as conn:
        statuses = conn.execute(select(upload_batches.c.status).distinct()).scalars().all()
    assert statuses == ["done"]
    # the expected winner of each visit: the valid version with the highest batch id
    order = sorted((results[c][u], c, u) for c in range(CLIENTS) for u in range(UPLOADS_PER_CLIENT))
    for i, rec in enumerate(base):
        candidates = [(b, c, u) for b, c, u in order if i > 0 or valid[(c, u)]]
        _, c, u = candidates[-1]
        stored = hub.visit(rec.mb1["M15"])
        assert stored is not None and stored.record["mb1"]["M44"] == tags[(c, u)]
        with read_only(hub.engine) as conn:
            history = get_visit_versions(conn, rec.mb1["M15"])
        kept = sorted([stored.record["mb1"]["M44"], *(v.record["mb1"]["M44"] for v in history)])
        assert kept == sorted(tags[(c, u)] for _, c, u in candidates)
    dispensed = [
        r
        for r in hub.refills(chain.m15).values()
        if r.state == "dispensed" and r.dispensing_m15 != chain.m15
    ]
    assert len(dispensed) == 1 and dispensed[0].refill_no == 2
    with read_only(hub.engine) as conn:
        winners = conn.execute(
            select(func.count()).select_from(visits).where(visits.c.category == "AE")
        ).scalar_one()
    assert winners == 1


def test_a_killed_worker_leaves_nothing_and_the_batch_is_redone(
    hub: Hub, pool: Pool, tmp_path: Path
) -> None:
    chain = pool.chain(2)
    records = [chain.prescription, *[clone(r, M05=chain.institution) for r in pool.visits(20)]]
    batch_id = hub.submit(chain.institution, records)
    marker = tmp_path / "inside-apply"
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("worker_child.py")),
            hub.settings.db_url,
            hub.settings.data_key.hex(),
            hub.settings.lookup_key.hex(),
            str(marker),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the worker never reached the apply transaction"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    view = hub.batch(batch_id)
    assert view.status == "processing" and view.counts.applied_records == 0
    for table in (visits, refills, record_outcomes):
        assert _count(hub, table) == 0
    assert process_next(hub.engine, "survivor", hub.settings) is None  # the lease still holds
    later = utcnow() + dt.timedelta(seconds=hub.settings.worker_lease_seconds + 1)
    assert process_next(hub.engine, "survivor", hub.settings, later) == batch_id
    view = hub.batch(batch_id)
    assert view.status == "done" and view.attempts == 2
    assert view.counts.applied_records == len(records)
    assert _count(hub, visits) == len(records) and _count(hub, visit_versions) == 0
    assert set(hub.states(chain.m15).values()) == {"dispensed", "not_dispensed"}


def _hostile_uploads(records: bytes) -> dict[str, bytes]:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE RECS [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><RECS><REC><MSH><H00>&b;</H00></MSH>'
        b"</REC></RECS>"
    )
    return {
        "empty": b"",
        "not xml": b"\x00\xff\xfe binary garbage \x89PNG\r\n",
        "truncated": records[: len(records) // 2],
        "entity expansion": laughs,
        "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<RECS><REC><MSH><H00>&x;</H00></MSH></REC></RECS>",
        "deep nesting": b"<RECS><REC>" + b"<MB>" * 5000 + b"</MB>" * 5000 + b"</REC></RECS>",
        "two roots": records + records,
        "huge field": b"<RECS><REC><MSH><H00>" + b"1" * 200_000 + b"</H00></MSH></REC></RECS>",
        "utf-16": "<RECS></RECS>".encode("utf-16"),
        "bad encoding": records.replace(b"<H00>1</H00>", b"<H00>\xff\xfe</H00>", 1),
    }


def test_hostile_files_get_a_result_and_change_nothing_else(hub: Hub, pool: Pool) -> None:
    base = pool.visits(3, skip=60)
    inst = base[0].mb1["M05"]
    base = [clone(r, M05=inst) for r in base]
    hub.send(inst, base)
    before = {t.name: _count(hub, t) for t in (visits, visit_versions, refills)}
    payload = upload_bytes([clone(r, M44="1") for r in base])
    uploads = _hostile_uploads(payload)
    ids = {name: hub.submit(inst, [], raw=raw) for name, raw in uploads.items()}
    hub.process()
    for name, batch_id in ids.items():
        view = hub.batch(batch_id)
        assert view.status in ("rejected", "done"), name
        if view.status == "done":  # read to the end: then no record may have changed anything
            assert view.counts.applied_records == 0, name
        with unit_of_work(hub.engine) as conn:
            text = result_file(conn, batch_id, "nhi-text", hub.settings)
            archive = result_file(conn, batch_id, "nhi-zip", hub.settings)
            doc = result_file(conn, batch_id, "json", hub.settings)
        assert text and "檢核結果".encode("cp950") in text, name
        assert archive is not None and zipfile.ZipFile(io.BytesIO(archive)).namelist(), name
        assert doc is not None and b'"batch_id"' in doc, name
    assert {t.name: _count(hub, t) for t in (visits, visit_versions, refills)} == before
    for rec in base:
        stored = hub.visit(rec.mb1["M15"])
        assert stored is not None and stored.record["mb1"]["M44"] == rec.mb1["M44"]


def test_oversized_upload_is_refused_before_it_is_stored(hub: Hub) -> None:
    limited = replace(hub.settings, max_upload_bytes=2048)
    inst = hub.institution("3501200000")
    with unit_of_work(hub.engine) as conn, pytest.raises(UploadRejected) as caught:
        submit_upload(
            conn,
            institution=inst,
            raw=b"<RECS>" + b" " * 4096 + b"</RECS>",
            kind="A1",
            channel="web-api",
            settings=limited,
            now=RECEIVED,
        )
    assert caught.value.reason == "too_large" and caught.value.code == "9999"
    assert _count(hub, upload_batches) == 0
