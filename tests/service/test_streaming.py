"""Large uploads are stored part by part while worker processes still read the later parts
(``CheckPool.stream`` + ``apply_stream``): the store must end up exactly as when the whole upload
is checked first and applied at once - for new visits, dispensing chains inside one upload,
corrections, two versions in one upload, deletions, cancellations - and the fallbacks (a file
error in a part, an identifier the byte scan cannot see) must give the serial result too.

Each scenario runs twice on two databases of the same backend: serially (one process) and
streamed in parts of a few records (two worker processes)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from service_kit import (
    AS_OF,
    ONE_INSTITUTION,
    Hub,
    action,
    make_settings,
    one_institution_day,
    received,
    upload_bytes,
)
from sqlalchemy import Engine, select, text

from nhihub.config import Settings
from nhihub.formats.model import Record
from nhihub.service import apply as apply_module
from nhihub.service import process_next, submit_upload
from nhihub.service import worker as worker_module
from nhihub.service.checking import CheckPool
from nhihub.storage import create_engine_for, metadata, unit_of_work, upgrade
from nhihub.storage.schema import (
    order_lines,
    record_outcomes,
    refills,
    upload_batches,
    visit_versions,
    visits,
)

INST = ONE_INSTITUTION
NOW = dt.datetime(2024, 10, 16, 1, 0, tzinfo=dt.UTC)
_twins: dict[str, Engine] = {}


def _empty(eng: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def twin(fresh_engine: Engine, db_factory: Any) -> Engine:
    """A second emptied database of ``fresh_engine``'s backend."""
    backend = fresh_engine.dialect.name
    if backend not in _twins:
        label = "pg" if backend == "postgresql" else "sqlite"
        eng = create_engine_for(db_factory.url(label, "stream-twin"))
        upgrade(eng)
        _twins[backend] = eng
    _empty(_twins[backend])
    return _twins[backend]


class _Paths:
    """How the streamed batches went: ``streamed`` for each batch stored part by part, then
    ``scan missed`` / ``part file errors`` for each one applied again from a finished check."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.streamed = 0

    def __call__(self) -> list[str]:
        out = ["streamed"] * self.streamed
        for r in self.caplog.records:
            if "outside the scan" in r.getMessage():
                out.append("scan missed")
            if "file errors in a part" in r.getMessage():
                out.append("part file errors")
        return out


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> _Paths:
    spy = _Paths(caplog)
    real = worker_module.apply_stream

    def counting(*args: Any, **kw: Any) -> Any:
        spy.streamed += 1
        return real(*args, **kw)

    monkeypatch.setattr(worker_module, "apply_stream", counting)
    caplog.set_level(logging.INFO, logger=worker_module.__name__)
    return spy


@pytest.fixture(scope="module")
def streaming() -> Iterator[CheckPool]:
    """Two worker processes; every upload is streamed, in parts of at most 7 records."""
    with CheckPool(2, min_bytes=0, part_records=7) as pool:
        yield pool


def _corrections(day: list[Record]) -> list[Record]:
    """Corrections (B) of some visits, one of them twice, fewer refills for a prescription."""
    out = []
    for rec in day[::9]:
        c = copy.deepcopy(rec)
        c.header["H01"] = "B"
        c.mb1["M44"] = "123"
        if "M26" in c.mb1:
            c.mb1["M26"] = "1"
        out.append(c)
    twice = copy.deepcopy(out[0])
    twice.mb1["M44"] = "456"
    return [*out, twice]


def _actions(day: list[Record]) -> list[Record]:
    """Deletions, cancellations and their undoing."""
    out = [action(r, "D") for r in day[1::11]]
    prescriptions = [r for r in day if r.mb1.get("M26") and r.mb1.get("M07") != "AE"]
    out += [action(r, "C") for r in prescriptions[:6]]
    out += [action(r, "E") for r in prescriptions[:3]]
    return out


class _Store:
    """Submits uploads to one database and processes them with one pool."""

    def __init__(self, engine: Engine, pool: CheckPool | None, keys: Settings) -> None:
        self.engine = engine
        url = engine.url.render_as_string(hide_password=False)
        self.settings = dataclasses.replace(keys, db_url=url)  # the same keys for both
        self.pool = pool
        Hub(engine, self.settings).institution(INST)

    def send(self, raw: bytes, at: dt.datetime) -> int:
        with unit_of_work(self.engine) as conn:
            batch_id = submit_upload(
                conn,
                institution=INST,
                raw=raw,
                kind="A1",
                channel="web-api",
                settings=self.settings,
                now=at,
            )
        pool = self.pool or CheckPool(1)
        assert process_next(self.engine, "w", self.settings, NOW, pool=pool) == batch_id
        return batch_id

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Everything a batch writes, without the random parts (nonces) and clock times."""
        cipher = self.settings.cipher()
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as conn:
            for table in (visits, visit_versions):
                skip = {"person_enc", "superseded_at"}
                cols = [c for c in table.c if c.name not in skip]
                rows = conn.execute(
                    select(*cols, table.c.person_enc).order_by(*table.primary_key.columns)
                )
                out[table.name] = [(*r[:-1], cipher.decrypt(r[-1])) for r in rows]
            for table in (order_lines, refills, record_outcomes):
                cols = [c for c in table.c if c.name != "updated_at"]
                query = select(*cols).order_by(*table.primary_key.columns)
                out[table.name] = [tuple(r) for r in conn.execute(query)]
            b = upload_batches.c
            query = select(
                b.id,
                b.status,
                b.format_version,
                b.records,
                b.valid_records,
                b.orders,
                b.valid_orders,
                b.applied_records,
                b.error_code,
            ).order_by(b.id)
            out["upload_batches"] = [tuple(r) for r in conn.execute(query)]
        return out


def _both(
    fresh_engine: Engine, twin: Engine, pool: CheckPool, uploads: list[tuple[bytes, dt.datetime]]
) -> tuple[_Store, _Store]:
    keys = make_settings(fresh_engine)
    serial, streamed = _Store(fresh_engine, None, keys), _Store(twin, pool, keys)
    for raw, at in uploads:
        serial.send(raw, at)
        streamed.send(raw, at)
    return serial, streamed


def test_streamed_batches_store_what_serial_ones_do(
    fresh_engine: Engine, twin: Engine, streaming: CheckPool, paths: _Paths
) -> None:
    day = one_institution_day(31, 160)
    later = received(AS_OF + dt.timedelta(days=2))
    uploads = [
        (upload_bytes(day), received(AS_OF)),
        (upload_bytes(_corrections(day) + one_institution_day(32, 40)), later),
        (upload_bytes(_actions(day)), later + dt.timedelta(hours=1)),
    ]
    serial, streamed = _both(fresh_engine, twin, streaming, uploads)
    assert paths() == ["streamed"] * 3
    expected, got = serial.dump(), streamed.dump()
    assert got == expected
    # the scenario does exercise what it claims to
    assert len(expected["visits"]) > 100 and expected["visit_versions"] and expected["refills"]
    deleted = [c.name for c in visits.c if c.name != "person_enc"].index("deleted")
    assert any(row[deleted] for row in expected["visits"])
    codes = {c for *_, findings in expected["record_outcomes"] for _, c in findings}
    assert codes & {"D001", "D019", "D022", "D023", "D025", "D034", "D038", "D049"}


def test_a_file_error_in_a_later_part_gives_the_serial_result(
    fresh_engine: Engine, twin: Engine, streaming: CheckPool, paths: _Paths
) -> None:
    raw = upload_bytes(one_institution_day(33, 60))
    cut = raw.rfind(b"</M07>")
    broken = raw[:cut] + b"</M07x>" + raw[cut + len(b"</M07>") :]  # not well formed, near the end
    serial, streamed = _both(fresh_engine, twin, streaming, [(broken, received(AS_OF))])
    assert paths() == ["streamed", "part file errors"]
    expected = serial.dump()
    assert streamed.dump() == expected
    assert expected["upload_batches"][0][1] == "rejected"


def test_an_identifier_the_scan_cannot_see_gives_the_serial_result(
    fresh_engine: Engine, twin: Engine, streaming: CheckPool, paths: _Paths
) -> None:
    day = one_institution_day(34, 80, error_rate=0.0)
    m15s = {r.mb1["M15"] for r in day}
    dispensing = next(r for r in day if r.mb1.get("M07") == "AE" and r.mb1.get("M16") in m15s)
    m16 = dispensing.mb1["M16"]
    first = upload_bytes([r for r in day if r is not dispensing])
    filler = one_institution_day(35, 30)  # more records, so the second upload is cut into parts
    plain = f"<M16>{m16}</M16>".encode()
    # the same value written with a character reference: the reader reads it, the scan cannot
    second = upload_bytes([*filler, dispensing]).replace(
        plain, f"<M16>&#{ord(m16[0])};{m16[1:]}</M16>".encode()
    )
    assert plain not in second
    at = received(AS_OF + dt.timedelta(hours=1))
    serial, streamed = _both(
        fresh_engine, twin, streaming, [(first, received(AS_OF)), (second, at)]
    )
    assert paths() == ["streamed", "streamed", "scan missed"]
    expected = serial.dump()
    assert streamed.dump() == expected
    outcome = next(o for o in expected["record_outcomes"] if o[:2] == (2, len(filler) + 1))
    assert outcome[4] and "D049" not in {c for _, c in outcome[-1]}  # its original was found


def test_visits_and_refills_written_along_the_way_end_as_when_written_at_once(
    fresh_engine: Engine,
    twin: Engine,
    streaming: CheckPool,
    paths: _Paths,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The streamed side writes its pending visits and changed refills every few records (a
    refill created, dispensed, reduced, cancelled, deleted is written again each time); the
    serial side applies each upload in one part, so writes them once: the same store."""
    monkeypatch.setattr(apply_module, "_FLUSH", 3)
    writes: list[int] = []
    real = apply_module.q.write_refills

    def counting(conn: Any, rows: Any, removed: Any, **kw: Any) -> None:
        writes.append(kw["batch_id"])
        real(conn, rows, removed, **kw)

    monkeypatch.setattr(apply_module.q, "write_refills", counting)
    day, more = one_institution_day(36, 120), one_institution_day(37, 120)
    later = received(AS_OF + dt.timedelta(days=2))
    # the second upload also corrects and deletes visits it stores itself, further on: refills
    # it creates early are changed or removed later in the same upload
    second = more + _corrections(day) + _corrections(more) + _actions(day) + _actions(more)
    uploads = [(upload_bytes(day), received(AS_OF)), (upload_bytes(second), later)]
    serial, streamed = _both(fresh_engine, twin, streaming, uploads)
    assert paths() == ["streamed"] * 2
    expected = serial.dump()
    assert streamed.dump() == expected and expected["refills"]
    per_batch = {b: writes.count(b) for b in set(writes)}
    assert max(per_batch.values()) > 3  # the streamed batches did write along the way
