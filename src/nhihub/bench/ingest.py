"""Ingest speed (issue #4 item 10): the upload service reading, checking and storing a synthetic
file, against a plain lxml parse of the same file in the same run.

- *plain parse*: ``lxml.etree.iterparse`` over the file building one dict per record (header,
  MB1 fields, a list of MB2 dicts), the least any reader must do;
- *reader + checks*: :func:`nhihub.formats.iter_upload` and :func:`nhihub.checks.check_record`
  in one process, no storage (where the time goes);
- *check phase alone*: phase 1 of the worker for this upload (read, check, prepare the rows to
  store) in the worker's processes, nothing stored: the most the ingest can reach;
- *ingest*: :func:`nhihub.service.submit_upload` then the worker's processing to the committed
  result (read, check, stateful rules, visits with order lines, refills, outcomes), on SQLite
  and, when ``NHIHUB_BENCH_PG_DSN`` (or ``NHIHUB_TEST_PG_DSN``) names a server, on PostgreSQL.
  Checking runs in as many processes as this process may use (the worker's pool is started
  before timing, as in a running service); the figures say how many. As in ``nhihub serve``,
  the worker runs in the process that receives the upload (:mod:`nhihub.service.handoff`).

Every record is given one institution (M05, M17), as one institution's daily upload; rates are
records per second, the best of a few runs, each ingest into an empty database. Target: ingest on
SQLite at least 0.5 x the plain parse rate.

Ratios are paired: each run of a measured phase follows a plain parse of the same file, and the
figure is the median of the runs' ratios. The machines this runs on change speed by a third and
more within a minute (other tenants); taking the best plain parse of one minute and the best
ingest of another moved the ratio by as much as that.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import Engine, text

from nhihub.bench import Figure
from nhihub.checks import CheckContext, check_record
from nhihub.config import Settings
from nhihub.formats import iter_upload, write_upload
from nhihub.formats.model import Record
from nhihub.service import process_next, submit_upload
from nhihub.service.checking import CheckPool, check_job
from nhihub.service.handoff import handoff
from nhihub.storage import Institution, create_engine_for, insert_institution, unit_of_work, upgrade
from nhihub.synth import generate
from nhihub.visitid import TAIWAN, Keyring

TARGET = 0.5
INSTITUTION = "0401180014"
AS_OF = dt.datetime(2024, 10, 15, 12, 0)
PG_ENVS = ("NHIHUB_BENCH_PG_DSN", "NHIHUB_TEST_PG_DSN")


def _records(n: int) -> list[Record]:
    out = []
    for rec in generate(20241015, n, as_of=AS_OF, keyring=Keyring.development()).iter_records():
        rec.mb1["M05"] = INSTITUTION
        if "M17" in rec.mb1:
            rec.mb1["M17"] = INSTITUTION
        out.append(rec)
    return out


def plain_parse(raw: bytes) -> int:
    """The baseline: one dict per record with lxml's iterparse, memory kept flat."""
    n = 0
    for _, rec in etree.iterparse(io.BytesIO(raw), tag="REC"):
        d: dict[str, Any] = {}
        for seg in rec.iter("MSH", "MB1"):
            for f in seg:
                d[f.tag] = f.text
        d["MB2"] = [{f.tag: f.text for f in line} for line in rec.iter("MB2")]
        rec.clear()
        while rec.getprevious() is not None:
            del rec.getparent()[0]
        n += 1
    return n


def _read_and_check(raw: bytes) -> int:
    ctx = CheckContext(as_of=AS_OF)
    n = 0
    for item in iter_upload(io.BytesIO(raw)):
        if isinstance(item, Record):
            check_record(item, ctx)
            n += 1
    return n


def _best(work: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def _seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _paired(raw: bytes, run: Callable[[], float], repeats: int) -> tuple[float, float]:
    """(best seconds of ``run``, median of plain-parse seconds / ``run`` seconds), each run
    right after a plain parse of ``raw`` (module doc)."""
    times, ratios = [], []
    for _ in range(repeats):
        plain = _seconds(lambda: plain_parse(raw))
        seconds = run()
        times.append(seconds)
        ratios.append(plain / seconds)
    return min(times), statistics.median(ratios)


def _settings(url: str) -> Settings:
    return Settings(
        db_url=url, data_key=secrets.token_bytes(32), lookup_key=secrets.token_bytes(32)
    )


def _ingest_once(engine: Engine, settings: Settings, raw: bytes, pool: CheckPool) -> float:
    """Seconds from submitting the upload to its committed result, on an empty database."""
    upgrade(engine)
    with unit_of_work(engine) as conn:
        insert_institution(conn, Institution(INSTITUTION, "bench", "medical_center"))
    received = AS_OF.replace(tzinfo=TAIWAN).astimezone(dt.UTC)
    # as in `nhihub serve`: its worker runs in the same process, with its pool
    with handoff.worker_running(pool):
        start = time.perf_counter()
        with unit_of_work(engine) as conn:
            submit_upload(
                conn,
                institution=INSTITUTION,
                raw=raw,
                kind="A1",
                channel="web-api",
                settings=settings,
                now=received,
            )
        process_next(engine, "bench", settings, pool=pool)
        return time.perf_counter() - start


def _sqlite_run(raw: bytes, pool: CheckPool) -> float:
    with tempfile.TemporaryDirectory(prefix="nhihub-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine_for(url)
        try:
            return _ingest_once(engine, _settings(url), raw, pool)
        finally:
            engine.dispose()


@contextmanager
def _pg_database(dsn: str) -> Iterator[str]:
    admin = create_engine_for(dsn, isolation_level="AUTOCOMMIT")
    name = f"nhihub_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _pg_run(dsn: str, raw: bytes, pool: CheckPool) -> float:
    with _pg_database(dsn) as url:
        engine = create_engine_for(url)
        try:
            return _ingest_once(engine, _settings(url), raw, pool)
        finally:
            engine.dispose()


def _ratio(name: str, value: float, target: bool) -> Figure:
    if not target:
        return Figure(name, value, "x")
    return Figure(name, value, "x", target=f">= {TARGET}x", met=value >= TARGET)


def run(quick: bool) -> list[Figure]:
    n = 2_000 if quick else 20_000
    repeats = 1 if quick else 5
    raw_out = io.BytesIO()
    write_upload(_records(n), raw_out)
    raw = raw_out.getvalue()
    plain = n / _best(lambda: plain_parse(raw), 1 if quick else 3)
    checked = n / _best(lambda: _read_and_check(raw), 1 if quick else 2)
    figures = [
        Figure(f"plain lxml parse ({n:,} records)", plain, "/s"),
        Figure("reader + record checks, 1 process", checked, "/s"),
    ]

    def paired(
        name: str, run: Callable[[], float], *, target: bool = False, ratio: str | None = None
    ) -> list[Figure]:
        seconds, median = _paired(raw, run, repeats)
        label = f"{name} / plain parse" if ratio is None else ratio
        return [Figure(name, n / seconds, "/s"), _ratio(label, median, target)]

    with CheckPool(None) as pool:
        jobs = pool.jobs
        # phase 1 as the worker runs it for this upload: read, check, prepare the rows to store
        job = check_job(1, INSTITUTION, "A1", "web-api", AS_OF.replace(tzinfo=TAIWAN),
                        _settings("sqlite://"))  # fmt: skip
        if pool.wants(raw):  # start the worker processes before timing, as a running service
            pool.check(raw, job)
        name = f"check phase alone (no storing), {jobs} processes"
        ratio = f"check phase alone, {jobs} processes / plain parse"
        figures += paired(name, lambda: _seconds(lambda: pool.check(raw, job)), ratio=ratio)
        with CheckPool(1) as single:  # the target's figure when this process may use one CPU
            name = "ingest SQLite, 1 process"
            figures += paired(name, lambda: _sqlite_run(raw, single), target=jobs == 1)
        if jobs > 1:
            name = f"ingest SQLite, {jobs} processes"
            figures += paired(name, lambda: _sqlite_run(raw, pool), target=True)
        dsn = next((os.environ[e] for e in PG_ENVS if os.environ.get(e, "").strip()), None)
        if dsn is not None:
            name = f"ingest PostgreSQL, {jobs} processes"
            figures += paired(name, lambda: _pg_run(dsn, raw, pool))
    return figures
