"""Phase 1 of processing a batch: read the raw upload, run the record checks and prepare what
phase 2 stores. No database here, so it runs outside the apply transaction and, for large uploads,
in worker processes.

Per record: the pre-check findings (:func:`nhihub.checks.check_record`, with the upload's version
and received time) plus 07 when the record's institution is not the uploader's; then, for what
the batch will store, the prepared rows: a visit version (person ID encrypted, record JSON
serialised, values as the database driver takes them) and the facts the stateful rules need, or
the 1.0 / pre-check report row.

Parallel reading follows :mod:`nhihub.precheck.runner`: a cleanly framed file is cut at ``<REC>``
offsets and each part is read as a small document. :meth:`CheckPool.stream` hands the parts'
results over in file order as they come, so phase 2 can store the first parts while the others
are still read; any file error in a part makes the whole upload be read again serially, so
structural errors are reported exactly as a serial read does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import io
import itertools
import multiprocessing
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Dialect

from nhihub.checks import CheckContext, check_record, is_valid, order_counts, skipped_checks
from nhihub.config import Settings
from nhihub.formats import iter_upload
from nhihub.formats.model import FileError, Finding, Record
from nhihub.formats.plain import read_plain
from nhihub.precheck.context import build_context
from nhihub.protect import PiiCipher
from nhihub.service.collector import collector_paused
from nhihub.service.facts import RecordFacts, record_facts
from nhihub.service.prepared import PreparedVisit, date_binds, dialect_label
from nhihub.service.snapshot import SnapshotKeys
from nhihub.service.spec import service_spec
from nhihub.storage import PrecheckRecord, V1Record, precheck_record_of, v1_record_of
from nhihub.storage.mapping import (
    Layout,
    layout,
    order_values,
    parse_date,
    parse_datetime,
    record_json_text,
)

Tick = Callable[[], None]
_TICK_EVERY = 1000
_M15_LENGTH = 20
_M07_LENGTH = 2
_Match = TypeVar("_Match", V1Record, PrecheckRecord)
_FACTS_VISIT_AT = "M11"  # the field RecordFacts.visit_at is read from


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
        return (_unpack, (_pack(self),))


_Packed = tuple[Any, ...]


def _pack(r: CheckedRecord) -> _Packed:
    """The record as plain tuples: they cross process boundaries several times faster than
    objects (pickle then has no class to look up and no reduce method to call per object)."""
    facts = None if r.facts is None else tuple(r.facts)
    visit = None if r.visit is None else tuple(r.visit)
    findings = tuple([(f.field, f.code) for f in r.findings]) if r.findings else ()
    return (
        r.index,
        r.line,
        r.version,
        r.m15,
        findings,
        r.valid,
        r.orders,
        r.invalid_orders,
        facts,
        visit,
        r.match,
    )


_new_tuple = tuple.__new__


def _unpack(p: _Packed) -> CheckedRecord:
    index, line, version, m15, findings, valid, orders, bad, facts, visit, match = p
    return CheckedRecord(
        index,
        line,
        version,
        m15,
        tuple([Finding(f, c) for f, c in findings]) if findings else (),
        valid,
        orders,
        bad,
        # the named tuples from their plain tuples (every field is there: no __new__ needed)
        None if facts is None else _new_tuple(RecordFacts, facts),
        None if visit is None else _new_tuple(PreparedVisit, visit),
        match,
    )


def _dumps_plain(packed: list[_Packed]) -> bytes:
    """Pickle packed records without the memo: they are trees of tuples, strings and numbers
    (no cycles), and the memo's bookkeeping was half the time of pickling them (a string shared
    by two fields is then sent twice, a few bytes more)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(packed)
    return out.getvalue()


@dataclass(slots=True)
class CheckedUpload:
    version: str | None = None
    records: list[CheckedRecord] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    skipped_checks: list[str] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        # One list of plain tuples for all the records (see _pack), pickled apart (_dumps_plain).
        packed = _dumps_plain([_pack(r) for r in self.records])
        return (_unpack_upload, (self.version, packed, self.file_errors, self.skipped_checks))


def _unpack_upload(
    version: str | None, packed: bytes, file_errors: list[FileError], skipped: list[str]
) -> CheckedUpload:
    records = [_unpack(p) for p in pickle.loads(packed)]
    return CheckedUpload(version, records, file_errors, skipped)


@dataclass(frozen=True, slots=True)
class CheckJob:
    """What phase 1 needs to know about the batch (picklable, sent to worker processes).
    ``dialect``: the database the prepared rows are for (:func:`dialect_label`)."""

    batch_id: int
    institution: str
    kind: str  # A1 | A2 | ZZ
    channel: str
    received_at: dt.datetime  # aware UTC: the checks' as_of
    settings: Settings
    decode: bool = False  # a real issuing key is configured: run the decode checks
    dialect: str = "sqlite+pysqlite"


def check_job(
    batch_id: int,
    institution: str,
    kind: str,
    channel: str,
    received_at: dt.datetime,
    settings: Settings,
    dialect: Dialect | None = None,
) -> CheckJob:
    """A job for the batch; whether identifiers are decoded follows the configured keyring.
    ``dialect``: of the database the batch is stored in (default SQLite)."""
    decode = build_context(received_at).decode
    label = "sqlite+pysqlite" if dialect is None else dialect_label(dialect)
    return CheckJob(batch_id, institution, kind, channel, received_at, settings, decode, label)


def _context(job: CheckJob, version: str | None) -> CheckContext:
    base = build_context(job.received_at) if job.decode else CheckContext(as_of=job.received_at)
    return dataclasses.replace(base, upload_version=version)


class _Checker:
    """Checks records of one upload in order (serially, or one part of it whose first record is
    ``first_index`` + 1, on line ``first_line`` + its line in the part)."""

    def __init__(
        self, job: CheckJob, version: str | None, first_index: int = 0, first_line: int = 0
    ) -> None:
        self.job = job
        self.version = version
        self.first_index = first_index
        self.first_line = first_line
        self.ctx: CheckContext | None = None if version is None else _context(job, version)
        self.cipher: PiiCipher = job.settings.cipher()
        spec = service_spec()
        self.store_ops = spec.store_ops
        self.foreign_code = spec.findings["foreign_record"].code
        self.binds = date_binds(job.dialect)
        # A person often has several visits in one upload: hash each person ID once.
        self.hashes: dict[str, bytes] = {}
        self.dates: dict[dt.date, Any] = {}
        self.births: dict[str, Any] = {}
        self.layouts = {v: layout(v) for v in ("2.0", "1.0")}

    def context(self, record: Record) -> CheckContext:
        if self.ctx is None:
            self.version = record.version
            self.ctx = _context(self.job, record.version)
        return self.ctx

    def lookup_hash(self, person_id: str) -> bytes:
        digest = self.hashes.get(person_id)
        if digest is None:
            digest = self.hashes[person_id] = self.cipher.lookup_hash(person_id)
        return digest

    def check(self, record: Record) -> CheckedRecord:
        job = self.job
        record.index += self.first_index
        record.line += self.first_line
        findings = check_record(record, self.context(record))
        lay = self.layouts.get(record.version) or _layout(record.version)
        if lay is not None and lay.institution_code:
            value = record.mb1.get(lay.institution_code)
            if value is not None and value != job.institution:
                findings.append(Finding(lay.institution_code, self.foreign_code))
        if findings:
            valid = is_valid(findings)
            orders, bad_orders = order_counts(record, findings)
        else:  # the usual record: what order_counts says for no findings
            valid, orders, bad_orders = True, len(record.mb2), 0
        out = CheckedRecord(
            record.index,
            record.line,
            record.version,
            record.mb1.get("M15") if record.version == "2.0" else None,
            tuple(findings),
            valid,
            orders,
            bad_orders,
        )
        same_version = record.version == self.version
        if job.kind == "A1" and record.version == "2.0" and valid and same_version:
            assert lay is not None
            person = record.mb1.get(lay.person_id) or None
            person_hash = None if person is None else self.lookup_hash(person)
            facts = record_facts(record, batch_id=job.batch_id, person_hash=person_hash)
            out.facts = facts
            if record.header.get("H01") in self.store_ops:
                out.visit = self.prepare_visit(record, lay, person, person_hash, facts)
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

    def prepare_visit(
        self,
        record: Record,
        lay: Layout,
        person: str | None,
        person_hash: bytes | None,
        facts: RecordFacts | None = None,
    ) -> PreparedVisit:
        """The row :func:`nhihub.storage.visit_from_record` describes, built in one pass
        (``facts``: the record's, whose visit time is then not parsed again)."""
        mb1 = record.mb1
        m15 = mb1.get(lay.m15) or None
        institution = mb1.get(lay.institution_code) or self.job.institution
        if m15 is None or person is None or person_hash is None:
            raise ValueError("a stored visit needs M15, M03 and an institution code")
        if facts is not None and lay.visit_at == _FACTS_VISIT_AT:
            visit_at = facts.visit_at
        else:
            visit_at = parse_datetime(mb1.get(lay.visit_at) or None)
        visit_date = None if visit_at is None else self.date_value(visit_at.date())
        bind_at = self.binds["visit_at"]
        header = record.header
        row = (
            m15,
            institution,
            person_hash,
            self.cipher.encrypt(person),
            self.birth_date(mb1.get(lay.birth_date) or None),
            visit_at if bind_at is None or visit_at is None else bind_at(visit_at),
            visit_date,
            mb1.get(lay.category) or None,
            header.get(lay.h00) or None,
            header.get(lay.h01) or "A",
            mb1.get(lay.m12) or None,
            mb1.get(lay.m16) or None,
            mb1.get(lay.m52) or None,
            record.index,
            record_json_text(record),
        )
        return _new_tuple(PreparedVisit, (row, tuple(order_values(record, m15))))

    def date_value(self, day: dt.date) -> Any:
        """A date as the driver takes it (visit dates repeat: converted once)."""
        value = self.dates.get(day)
        if value is None:
            bind = self.binds["visit_date"]
            value = self.dates[day] = day if bind is None else bind(day)
        return value

    def birth_date(self, text: str | None) -> Any:
        """M04 as the driver takes it, ``None`` when not a date (read once per text)."""
        if text is None:
            return None
        if text not in self.births:
            day = parse_date(text)
            self.births[text] = None if day is None else self.date_value(day)
        return self.births[text]

    def _fit(self, row: _Match) -> _Match:
        """Report rows keep invalid records too: the uploader's code (a valid record has it
        anyway, 07 otherwise) and no value longer than its column."""
        category = row.category if row.category and len(row.category) <= _M07_LENGTH else None
        return dataclasses.replace(row, institution_code=self.job.institution, category=category)


def _layout(version: str) -> Layout | None:
    try:
        return layout(version)
    except ValueError:
        return None


def _check_items(
    items: Iterable[Record | FileError],
    job: CheckJob,
    version: str | None,
    tick: Tick | None,
    first_index: int = 0,
    first_line: int = 0,
) -> CheckedUpload:
    checker = _Checker(job, version, first_index, first_line)
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


@dataclass(frozen=True, slots=True)
class _Cuts:
    """Where a cleanly framed upload is cut: the prolog (on one line), the offsets of the
    ``<REC>`` starting each part followed by the end of the last one, and the lines before the
    first record."""

    prolog: bytes
    offsets: list[int]
    first_line: int


# Bytes of records read to estimate how many records the upload holds (the parts are cut by
# bytes: counting every record first was a pass over the whole upload before any part started).
_SAMPLE = 1 << 18


def _cut(raw: bytes, parts: int, max_records: int | None) -> _Cuts | None:
    """:func:`split_upload`'s cuts; ``None`` when the frame is not clean or the upload holds
    fewer than about two records per part."""
    head = raw[:4096]
    open_at = head.find(b"<RECS>")
    if open_at < 0 or raw.count(b"<RECS>") != 1 or b"<!" in head[:open_at]:
        return None
    close_at = raw.rfind(b"</RECS>")
    if close_at < 0 or raw[close_at + len(b"</RECS>") :].strip():
        return None
    body_start = open_at + len(b"<RECS>")
    first = raw.find(_REC, body_start, close_at)
    if first < 0:
        return None
    body = close_at - first
    sample = raw.count(_REC, first, min(close_at, first + _SAMPLE))
    records = sample if body <= _SAMPLE else sample * body / _SAMPLE  # an estimate
    if records < parts * 2:
        return None
    if max_records is not None:
        parts = max(parts, -int(-records // max(1, max_records)))
    # Cut by bytes (finding every <REC> from Python would cost more than reading them).
    size = body / parts
    offsets = [first]
    for k in range(1, parts):
        at = raw.find(_REC, max(first + int(k * size), offsets[-1] + 1), close_at)
        if at < 0:
            break
        offsets.append(at)
    offsets.append(close_at)
    # The prolog goes on the part's first line, so line numbers only need an offset.
    prolog = raw[:body_start].replace(b"\n", b" ").replace(b"\r", b" ")
    return _Cuts(prolog, offsets, raw.count(b"\n", 0, first))


def _parts(raw: bytes, cuts: _Cuts) -> Iterator[_Part]:
    """The parts, each counted (its first record's index and line) only when it is made, so
    the first ones can be read while the later ones are cut."""
    index, lines = 0, cuts.first_line
    view = memoryview(raw)
    for a, b in itertools.pairwise(cuts.offsets):
        # one copy of the records (joined with the frame), not a slice and then a new document
        yield _Part(b"".join((cuts.prolog, view[a:b], b"</RECS>")), index, lines)
        index += raw.count(_REC, a, b)
        lines += raw.count(b"\n", a, b)


def split_upload(raw: bytes, parts: int, *, max_records: int | None = None) -> list[_Part] | None:
    """Cut a cleanly framed upload at ``<REC>`` offsets into ``parts`` documents of about the
    same size (more when a part would hold more than about ``max_records`` records); ``None``
    when the frame is not clean (then the upload is read serially) or there are fewer than two
    records per part."""
    cuts = _cut(raw, parts, max_records)
    return None if cuts is None else list(_parts(raw, cuts))


def _check_part(part: _Part, job: CheckJob, version: str | None) -> CheckedUpload:
    """One part, in a worker process (see :class:`~nhihub.service.collector.CollectorPause`)."""
    with collector_paused():
        plain = read_plain(part.doc)  # most parts: straight from the bytes
        doc = iter_upload(io.BytesIO(part.doc)) if plain is None else plain
        return _check_items(doc, job, version, None, part.first_index, part.first_line)


# M15 / M16 as written; values are stripped of XML white space as the reader does.
_KEY_FIELD = re.compile(rb"<(M1[56])>([^<]*)</M1[56]>")
_XML_SPACE = b" \t\r\n"


def scan_keys(raw: bytes) -> SnapshotKeys:
    """The M15 and M16 values an upload's bytes show, every M15 a target: a superset of the
    snapshot keys of its valid records, unless a value is written in an unusual way (an entity,
    CDATA, not ASCII) - which :meth:`SnapshotKeys.covers` detects once the records are read."""
    m15s: set[str] = set()
    m16s: set[str] = set()
    for m in _KEY_FIELD.finditer(raw):
        value = m.group(2).strip(_XML_SPACE)
        if value and value.isascii():
            (m15s if m.group(1) == b"M15" else m16s).add(value.decode("ascii"))
    m15 = frozenset(m15s)
    return SnapshotKeys(m15, frozenset(m16s), m15)


_DONE: Future[CheckedUpload] = Future()  # in place of a part the stream has handed over
_DONE.cancel()


class PartFileErrors(Exception):
    """A part of the upload has file errors: it must be read serially (see module doc)."""


class CheckStream:
    """Phase 1 of a large upload running in the pool: :meth:`parts` yields each part's checked
    records in file order as soon as that part is done. ``keys`` (format-2.0 A1 uploads): the
    identifiers scanned in the bytes, for loading the snapshot before the records are read.

    The stream keeps no part it has yielded: a part is freed once stored, while later parts are
    still read (freeing tens of thousands of records at the end cost ~0.03 s on the ingest
    bench, with nothing else to do meanwhile)."""

    def __init__(
        self,
        version: str,
        futures: list[Future[CheckedUpload]],
        keys: SnapshotKeys | None,
    ) -> None:
        self.version = version
        self.keys = keys
        self.skipped_checks: list[str] = []
        self._futures = futures
        self._next = 0

    def parts(self) -> Iterator[list[CheckedRecord]]:
        """The parts not yielded yet, in order. Raises :class:`PartFileErrors` (and cancels
        the rest) when a part has file errors."""
        futures = self._futures
        while self._next < len(futures):
            future = futures[self._next]
            futures[self._next] = _DONE  # the stream's reference to the part goes
            self._next += 1
            result = future.result()
            if result.file_errors:
                self.cancel()
                raise PartFileErrors
            self.skipped_checks = result.skipped_checks
            yield result.records

    def checked(self, *, tick: Tick | None = None) -> CheckedUpload:
        """The records of every part not yielded yet (waiting for those not done yet), ``tick``
        called after each part; :class:`PartFileErrors`."""
        records: list[CheckedRecord] = []
        for part in self.parts():
            records.extend(part)
            if tick is not None:
                tick()
        return CheckedUpload(self.version, records, [], self.skipped_checks)

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


def stream_parts(
    raw: bytes, job: CheckJob, executor: Executor, jobs: int, *, part_records: int | None = None
) -> CheckStream | None:
    """Start checking ``raw`` in parts in ``executor``; ``None`` when it cannot be cut into
    parts (then read it serially)."""
    spec = service_spec()
    limit = spec.part_records if part_records is None else part_records
    cuts = _cut(raw, jobs * spec.parts_per_job, limit)
    if cuts is None:
        return None
    version = _first_version(raw)
    if version is None:
        return None
    # each part submitted as soon as it is cut: the first ones are read meanwhile
    futures = [executor.submit(_check_part, p, job, version) for p in _parts(raw, cuts)]
    # scanned while the first parts are being read
    keys = scan_keys(raw) if job.kind == "A1" and version == "2.0" else None
    return CheckStream(version, futures, keys)


def check_parallel(
    raw: bytes,
    job: CheckJob,
    executor: Executor,
    jobs: int,
    *,
    tick: Tick | None = None,
    part_records: int | None = None,
) -> CheckedUpload:
    """Like :func:`check_serial`, the parts read in ``executor``; identical result."""
    stream = stream_parts(raw, job, executor, jobs, part_records=part_records)
    if stream is None:
        return check_serial(raw, job, tick=tick)
    try:
        return stream.checked(tick=tick)
    except PartFileErrors:
        return check_serial(raw, job, tick=tick)


_NICENESS = 5


def _start_worker() -> None:
    """Set up a worker process of the pool.

    - It runs at a lower priority than the process that stores what it checks: that one is
      the critical path of a streamed batch and should not wait for a CPU while the workers,
      which only need to stay ahead of it, read further parts.
    - What it has imported is frozen out of the garbage collector's scans: only the part being
      checked is scanned."""
    if hasattr(os, "nice"):
        os.nice(_NICENESS)
    gc.freeze()


def default_jobs() -> int:
    """Processes for checking large uploads: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class CheckPool:
    """Worker processes for checking large uploads, started on first use and kept (a running
    worker checks batch after batch). ``jobs`` 1 never starts any. ``min_bytes`` and
    ``part_records`` replace the values of ``data/service.json`` (tests: tiny uploads)."""

    def __init__(
        self,
        jobs: int | None = None,
        *,
        min_bytes: int | None = None,
        part_records: int | None = None,
    ) -> None:
        self.jobs = default_jobs() if jobs is None else max(1, jobs)
        spec = service_spec()
        self.min_bytes = spec.parallel_min_bytes if min_bytes is None else min_bytes
        self.part_records = spec.part_records if part_records is None else part_records
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # the receiving thread may start a check (handoff)

    def wants(self, raw: bytes) -> bool:
        return self.jobs > 1 and len(raw) >= self.min_bytes

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            return self._executor_locked()

    def _executor_locked(self) -> ProcessPoolExecutor:
        if self._executor is None:
            methods = multiprocessing.get_all_start_methods()
            # forkserver: children fork from a clean server process, never from this (possibly
            # multi-threaded) one, and start fast once the server has imported nhihub.
            method = "forkserver" if "forkserver" in methods else "spawn"
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=ctx, initializer=_start_worker
            )
        return self._executor

    def check(self, raw: bytes, job: CheckJob, *, tick: Tick | None = None) -> CheckedUpload:
        if not self.wants(raw):
            return check_serial(raw, job, tick=tick)
        executor = self.executor()
        return check_parallel(
            raw, job, executor, self.jobs, tick=tick, part_records=self.part_records
        )

    def stream(self, raw: bytes, job: CheckJob) -> CheckStream | None:
        """Start checking a large upload in the worker processes; ``None`` when it is read
        serially (small, one process, or not cleanly framed)."""
        if not self.wants(raw):
            return None
        return stream_parts(raw, job, self.executor(), self.jobs, part_records=self.part_records)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
