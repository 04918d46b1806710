"""Phase 1 of processing a batch: read the raw upload, run the record checks and prepare what
phase 2 stores. No database here, so it runs outside the apply transaction and, for large uploads,
in worker processes.

Per record: the pre-check findings (:func:`nhihub.checks.check_record`, with the upload's version
and received time) plus 07 when the record's institution is not the uploader's; then, for what
the batch will store, the prepared rows: a visit version (person ID encrypted, record JSON
serialised) and the facts the stateful rules need, or the 1.0 / pre-check report row.

Parallel reading follows :mod:`nhihub.precheck.runner`: a cleanly framed file is cut at ``<REC>``
offsets and each part is read as a small document; any file error in a part makes the whole
upload be read again serially, so structural errors are reported exactly as a serial read does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

from nhihub.checks import CheckContext, check_record, is_valid, order_counts, skipped_checks
from nhihub.config import Settings
from nhihub.formats import iter_upload
from nhihub.formats.model import FileError, Finding, Record
from nhihub.precheck.context import build_context
from nhihub.protect import PiiCipher
from nhihub.service.facts import RecordFacts, record_facts
from nhihub.service.spec import service_spec
from nhihub.storage import (
    OrderLine,
    PrecheckRecord,
    V1Record,
    Visit,
    precheck_record_of,
    v1_record_of,
    visit_from_record,
)
from nhihub.storage.mapping import person_id_of, record_fields

Tick = Callable[[], None]
_TICK_EVERY = 1000
_M15_LENGTH = 20
_M07_LENGTH = 2
_Match = TypeVar("_Match", V1Record, PrecheckRecord)


@dataclass(frozen=True, slots=True)
class PreparedVisit:
    """A visit version ready to store: person ID encrypted and hashed, record JSON as text
    (serialised where the record was read, possibly in a worker process)."""

    m15: str
    institution_code: str
    person_hash: bytes
    person_enc: bytes
    birth_date: dt.date | None
    visit_at: dt.datetime | None
    category: str | None
    h00: str | None
    h01: str
    m12: str | None
    m16: str | None
    m52: str | None
    record_json: str
    orders: tuple[OrderLine, ...]
    record_index: int

    @classmethod
    def of(cls, visit: Visit) -> PreparedVisit:
        return cls(
            m15=visit.m15,
            institution_code=visit.institution_code,
            person_hash=visit.person_hash,
            person_enc=visit.person_enc,
            birth_date=visit.birth_date,
            visit_at=visit.visit_at,
            category=visit.category,
            h00=visit.h00,
            h01=visit.h01,
            m12=visit.m12,
            m16=visit.m16,
            m52=visit.m52,
            record_json=json.dumps(visit.record, ensure_ascii=False, separators=(",", ":")),
            orders=visit.orders,
            record_index=visit.record_index,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain tuples cross process boundaries several times faster than slotted dataclasses.
        return (_rebuild_visit, (_visit_values(self), tuple(map(_order_values, self.orders))))

    def to_visit(self, batch_id: int, received_at: dt.datetime) -> Visit:
        return Visit(
            m15=self.m15,
            institution_code=self.institution_code,
            person_hash=self.person_hash,
            person_enc=self.person_enc,
            birth_date=self.birth_date,
            visit_at=self.visit_at,
            category=self.category,
            h00=self.h00,
            h01=self.h01,
            m12=self.m12,
            m16=self.m16,
            m52=self.m52,
            record=json.loads(self.record_json),
            batch_id=batch_id,
            record_index=self.record_index,
            received_at=received_at,
            orders=self.orders,
        )


_VISIT_SCALARS = tuple(f for f in PreparedVisit.__dataclass_fields__ if f != "orders")
_visit_values = attrgetter(*_VISIT_SCALARS)
_order_values = attrgetter(*OrderLine.__dataclass_fields__)


def _rebuild_visit(values: tuple[Any, ...], orders: tuple[tuple[Any, ...], ...]) -> PreparedVisit:
    return PreparedVisit(
        **dict(zip(_VISIT_SCALARS, values, strict=True)),
        orders=tuple(OrderLine(*o) for o in orders),
    )


@dataclass(slots=True)
class CheckedRecord:
    """One record after phase 1. ``facts``/``visit``/``match`` are set only where the batch's
    kind stores something for it."""

    index: int
    line: int
    version: str
    m15: str | None
    findings: tuple[Finding, ...]
    valid: bool
    orders: int
    invalid_orders: int
    facts: RecordFacts | None = None
    visit: PreparedVisit | None = None
    match: V1Record | PrecheckRecord | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        facts = None if self.facts is None else _fact_values(self.facts)
        findings = tuple((f.field, f.code) for f in self.findings)
        head = (self.index, self.line, self.version, self.m15, findings, self.valid)
        tail = (self.orders, self.invalid_orders, facts, self.visit, self.match)
        return (_rebuild_checked, (*head, *tail))


_fact_values = attrgetter(*RecordFacts.__dataclass_fields__)


def _rebuild_checked(
    index: int,
    line: int,
    version: str,
    m15: str | None,
    findings: tuple[tuple[str | None, str], ...],
    valid: bool,
    orders: int,
    invalid_orders: int,
    facts: tuple[Any, ...] | None,
    visit: PreparedVisit | None,
    match: V1Record | PrecheckRecord | None,
) -> CheckedRecord:
    return CheckedRecord(
        index=index,
        line=line,
        version=version,
        m15=m15,
        findings=tuple(Finding(f, c) for f, c in findings),
        valid=valid,
        orders=orders,
        invalid_orders=invalid_orders,
        facts=None if facts is None else RecordFacts(*facts),
        visit=visit,
        match=match,
    )


@dataclass(slots=True)
class CheckedUpload:
    version: str | None = None
    records: list[CheckedRecord] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    skipped_checks: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CheckJob:
    """What phase 1 needs to know about the batch (picklable, sent to worker processes)."""

    batch_id: int
    institution: str
    kind: str  # A1 | A2 | ZZ
    channel: str
    received_at: dt.datetime  # aware UTC: the checks' as_of
    settings: Settings
    decode: bool = False  # a real issuing key is configured: run the decode checks


def check_job(
    batch_id: int,
    institution: str,
    kind: str,
    channel: str,
    received_at: dt.datetime,
    settings: Settings,
) -> CheckJob:
    """A job for the batch; whether identifiers are decoded follows the configured keyring."""
    decode = build_context(received_at).decode
    return CheckJob(batch_id, institution, kind, channel, received_at, settings, decode)


def _context(job: CheckJob, version: str | None) -> CheckContext:
    base = build_context(job.received_at) if job.decode else CheckContext(as_of=job.received_at)
    return dataclasses.replace(base, upload_version=version)


class _Checker:
    """Checks records of one upload in order (serially, or one part of it)."""

    def __init__(self, job: CheckJob, version: str | None) -> None:
        self.job = job
        self.version = version
        self.ctx: CheckContext | None = None if version is None else _context(job, version)
        self.cipher: PiiCipher = job.settings.cipher()
        self.store_ops = service_spec().store_ops
        rule = service_spec().findings["foreign_record"]
        self.foreign_code = rule.code

    def context(self, record: Record) -> CheckContext:
        if self.ctx is None:
            self.version = record.version
            self.ctx = _context(self.job, record.version)
        return self.ctx

    def check(self, record: Record) -> CheckedRecord:
        job = self.job
        findings = check_record(record, self.context(record))
        institution_field = (
            record_fields().get(record.version, {}).get("mb1", {}).get("institution_code")
        )
        if institution_field is not None:
            value = record.mb1.get(institution_field)
            if value is not None and value != job.institution:
                findings.append(Finding(institution_field, self.foreign_code))
        valid = is_valid(findings)
        orders, bad_orders = order_counts(record, findings)
        out = CheckedRecord(
            index=record.index,
            line=record.line,
            version=record.version,
            m15=record.mb1.get("M15") if record.version == "2.0" else None,
            findings=tuple(findings),
            valid=valid,
            orders=orders,
            invalid_orders=bad_orders,
        )
        same_version = record.version == self.version
        if job.kind == "A1" and record.version == "2.0" and valid and same_version:
            person_hash: bytes | None = None
            if record.header.get("H01") in self.store_ops:
                visit = visit_from_record(
                    record,
                    self.cipher,
                    batch_id=job.batch_id,
                    received_at=job.received_at,
                    institution_code=job.institution,
                )
                out.visit = PreparedVisit.of(visit)
                person_hash = visit.person_hash
            else:
                person = person_id_of(record)
                person_hash = None if person is None else self.cipher.lookup_hash(person)
            out.facts = record_facts(record, batch_id=job.batch_id, person_hash=person_hash)
        elif job.kind == "A1" and record.version == "1.0" and same_version:
            v1 = v1_record_of(
                record,
                self.cipher,
                batch_id=job.batch_id,
                institution_code=job.institution,
                success=valid,
            )
            out.match = self._fit(v1)
        elif job.kind == "A2" and record.version == "2.0" and same_version:
            pre = precheck_record_of(
                record,
                self.cipher,
                batch_id=job.batch_id,
                institution_code=job.institution,
                channel=job.channel,
                success=valid,
            )
            m15 = pre.m15 if pre.m15 is not None and len(pre.m15) <= _M15_LENGTH else None
            out.match = dataclasses.replace(self._fit(pre), m15=m15)
        return out

    def _fit(self, row: _Match) -> _Match:
        """Report rows keep invalid records too: the uploader's code (a valid record has it
        anyway, 07 otherwise) and no value longer than its column."""
        category = row.category if row.category and len(row.category) <= _M07_LENGTH else None
        return dataclasses.replace(row, institution_code=self.job.institution, category=category)


def _check_items(
    items: Iterable[Record | FileError],
    job: CheckJob,
    version: str | None,
    tick: Tick | None,
) -> CheckedUpload:
    checker = _Checker(job, version)
    result = CheckedUpload()
    for item in items:
        if isinstance(item, FileError):
            result.file_errors.append(item)
            continue
        result.records.append(checker.check(item))
        if tick is not None and len(result.records) % _TICK_EVERY == 0:
            tick()
    result.version = checker.version
    ctx = checker.ctx if checker.ctx is not None else _context(job, None)
    result.skipped_checks = list(skipped_checks(ctx))
    return result


def check_serial(raw: bytes, job: CheckJob, *, tick: Tick | None = None) -> CheckedUpload:
    """Read and check the whole upload in this process."""
    return _check_items(iter_upload(io.BytesIO(raw)), job, None, tick)


# --- parallel -----------------------------------------------------------------------------------

_REC = b"<REC>"


@dataclass(frozen=True, slots=True)
class _Part:
    doc: bytes  # prolog (on one line) + records + </RECS>
    first_index: int
    first_line: int


def _first_version(raw: bytes) -> str | None:
    for item in iter_upload(io.BytesIO(raw)):
        if isinstance(item, Record):
            return item.version
    return None


def split_upload(raw: bytes, parts: int) -> list[_Part] | None:
    """Cut a cleanly framed upload at ``<REC>`` offsets into about ``parts`` documents; ``None``
    when the frame is not clean (then the upload is read serially)."""
    head = raw[:4096]
    open_at = head.find(b"<RECS>")
    if open_at < 0 or raw.count(b"<RECS>") != 1 or b"<!" in head[:open_at]:
        return None
    close_at = raw.rfind(b"</RECS>")
    if close_at < 0 or raw[close_at + len(b"</RECS>") :].strip():
        return None
    body_start = open_at + len(b"<RECS>")
    offsets: list[int] = []
    i = raw.find(_REC, body_start, close_at)
    while i >= 0:
        offsets.append(i)
        i = raw.find(_REC, i + 1, close_at)
    if len(offsets) < parts * 2:
        return None
    per = -(-len(offsets) // parts)
    cuts = [offsets[k] for k in range(0, len(offsets), per)]
    bounds = [*cuts, close_at]
    # The prolog goes on the part's first line, so line numbers only need an offset.
    prolog = raw[:body_start].replace(b"\n", b" ").replace(b"\r", b" ")
    out: list[_Part] = []
    lines = raw.count(b"\n", 0, bounds[0])
    for k in range(len(cuts)):
        a, b = bounds[k], bounds[k + 1]
        out.append(_Part(prolog + raw[a:b] + b"</RECS>", k * per, lines))
        lines += raw.count(b"\n", a, b)
    return out


def _check_part(part: _Part, job: CheckJob, version: str | None) -> CheckedUpload:
    result = _check_items(iter_upload(io.BytesIO(part.doc)), job, version, None)
    for r in result.records:
        r.index += part.first_index
        r.line += part.first_line
        if r.facts is not None:
            r.facts = dataclasses.replace(r.facts, index=r.index, order_key=(job.batch_id, r.index))
        if r.visit is not None:
            r.visit = dataclasses.replace(r.visit, record_index=r.index)
        if r.match is not None:
            r.match = dataclasses.replace(r.match, record_index=r.index)
    return result


def check_parallel(
    raw: bytes,
    job: CheckJob,
    executor: Executor,
    jobs: int,
    *,
    tick: Tick | None = None,
) -> CheckedUpload:
    """Like :func:`check_serial`, the parts read in ``executor``; identical result."""
    parts = split_upload(raw, jobs * service_spec().parts_per_job)
    version = _first_version(raw) if parts is not None else None
    if parts is None or version is None:
        return check_serial(raw, job, tick=tick)
    futures = [executor.submit(_check_part, p, job, version) for p in parts]
    merged = CheckedUpload(version=version)
    for future in futures:
        result = future.result()
        if result.file_errors:
            for f in futures:
                f.cancel()
            return check_serial(raw, job, tick=tick)
        merged.records.extend(result.records)
        merged.skipped_checks = result.skipped_checks
        if tick is not None:
            tick()
    return merged


def default_jobs() -> int:
    """Processes for checking large uploads: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class CheckPool:
    """Worker processes for checking large uploads, started on first use and kept (a running
    worker checks batch after batch). ``jobs`` 1 never starts any."""

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = default_jobs() if jobs is None else max(1, jobs)
        self._executor: ProcessPoolExecutor | None = None

    def wants(self, raw: bytes) -> bool:
        return self.jobs > 1 and len(raw) >= service_spec().parallel_min_bytes

    def executor(self) -> ProcessPoolExecutor:
        if self._executor is None:
            methods = multiprocessing.get_all_start_methods()
            # forkserver: children fork from a clean server process, never from this (possibly
            # multi-threaded) one, and start fast once the server has imported nhihub.
            method = "forkserver" if "forkserver" in methods else "spawn"
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx)
        return self._executor

    def check(self, raw: bytes, job: CheckJob, *, tick: Tick | None = None) -> CheckedUpload:
        if not self.wants(raw):
            return check_serial(raw, job, tick=tick)
        return check_parallel(raw, job, self.executor(), self.jobs, tick=tick)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
