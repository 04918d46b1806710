"""Builders for the service tests (imported by the test modules; the fixtures are in conftest.py):
synthetic records (nhihub.synth) reshaped into small uploads, and a :class:`Hub` that submits them
to a real database (both backends, ``fresh_engine``) and processes them like the service does."""

from __future__ import annotations

import copy
import datetime as dt
import io
import itertools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from nhihub.config import Settings
from nhihub.formats import write_upload
from nhihub.formats.model import Record
from nhihub.ids.rocdate import parse_roc_datetime
from nhihub.service import BatchView, drain, get_batch, submit_upload
from nhihub.storage import (
    Institution,
    Refill,
    Visit,
    create_engine_for,
    get_institution,
    get_record_outcomes,
    get_refills,
    get_visit,
    insert_institution,
    read_only,
    unit_of_work,
)
from nhihub.synth import generate
from nhihub.visitid import TAIWAN, Keyring, issue

AS_OF = dt.datetime(2024, 10, 15, 12, 0)  # the synthetic files' upload time, Taiwan local
RECEIVED = AS_OF.replace(tzinfo=TAIWAN).astimezone(dt.UTC)
KEYS = Keyring.development()
_serial = itertools.count(1)


def received(local: dt.datetime) -> dt.datetime:
    """A Taiwan local moment as the aware UTC a batch is received at."""
    return local.replace(tzinfo=TAIWAN).astimezone(dt.UTC)


def visit_time(rec: Record) -> dt.datetime:
    """M11 of a record (Taiwan local)."""
    return parse_roc_datetime(rec.mb1["M11"])


def after_visit(rec: Record, hours: float = 24) -> dt.datetime:
    """A receiving moment (aware UTC) ``hours`` after the record's visit."""
    return received(visit_time(rec) + dt.timedelta(hours=hours))


def before_deadline(rec: Record) -> dt.datetime:
    """A receiving moment (aware UTC) one hour before corrections of the record's visit end
    (the end of the month after the visit month)."""
    at = visit_time(rec)
    total = at.year * 12 + at.month + 1  # month index (0-based) two months on
    return received(dt.datetime(total // 12, total % 12 + 1, 1) - dt.timedelta(hours=1))


def new_m15(institution: str, person: str = "A123456789") -> str:
    """A fresh, well-formed visit identifier (unique in the test session)."""
    n = next(_serial)
    at = dt.datetime(2024, 10, 1) + dt.timedelta(minutes=n)
    return issue(person, at, institution, "card", keyring=KEYS)


def clone(rec: Record, *, header: dict[str, str] | None = None, **mb1: str | None) -> Record:
    """A deep copy with header fields and MB1 fields changed (``None`` removes a field)."""
    out = copy.deepcopy(rec)
    out.header.update(header or {})
    for name, value in mb1.items():
        if value is None:
            out.mb1.pop(name, None)
        else:
            out.mb1[name] = value
    return out


def action(rec: Record, h01: str, **mb1: str | None) -> Record:
    """A C / D / E record for a stored visit: only the key fields (H00, H01, M03, M05, M11, M15)."""
    keep = {k: rec.mb1[k] for k in ("M03", "M05", "M11", "M15") if k in rec.mb1}
    out = Record(index=1, line=1, version="2.0", header={"H00": "1", "H01": h01}, mb1=keep)
    for name, value in mb1.items():
        if value is None:
            out.mb1.pop(name, None)
        else:
            out.mb1[name] = value
    return out


ONE_INSTITUTION = "0401180014"


def one_institution_day(seed: int, n: int, *, error_rate: float = 0.1) -> list[Record]:
    """One institution's synthetic day (chains of prescriptions and their dispensings inside
    it, every M05/M17 ``ONE_INSTITUTION``), by default one record in ten with an error."""
    out = []
    for rec, _ in generate(seed, n, as_of=AS_OF, error_rate=error_rate, keyring=KEYS):
        rec.mb1["M05"] = ONE_INSTITUTION
        if "M17" in rec.mb1:
            rec.mb1["M17"] = ONE_INSTITUTION
        out.append(rec)
    return out


def upload_bytes(records: Iterable[Record], version: str = "2.0") -> bytes:
    out = io.BytesIO()
    write_upload(list(records), out, version=version)
    return out.getvalue()


@dataclass(frozen=True)
class Chain:
    """A chronic continuous prescription and its refills (AE), as generated."""

    prescription: Record
    refills: tuple[Record, ...]

    @property
    def m15(self) -> str:
        return self.prescription.mb1["M15"]

    @property
    def institution(self) -> str:
        return self.prescription.mb1["M05"]


@dataclass
class Pool:
    """Synthetic records (seed 11) sorted by use."""

    records: list[Record]
    chains: list[Chain] = field(default_factory=list)
    ordinary: list[Record] = field(default_factory=list)
    replacements: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        by_m16: dict[str, list[Record]] = {}
        for r in self.records:
            if r.mb1.get("M07") == "AE":
                by_m16.setdefault(r.mb1["M16"], []).append(r)
        for r in self.records:
            m15 = r.mb1.get("M15", "")
            if r.mb1.get("M26") and r.mb1.get("M07") != "AE" and by_m16.get(m15):
                refills = sorted(by_m16[m15], key=lambda x: int(x.mb1["M33"]))
                self.chains.append(Chain(r, tuple(refills)))
            elif (
                r.mb1.get("M07") == "01"
                and "M16" not in r.mb1
                and "M26" not in r.mb1
                and r.header.get("H01") == "A"
                and r.mb1.get("M12") == "1"
            ):
                self.ordinary.append(r)
            if r.mb1.get("M12") == "2":
                self.replacements.append(r)

    def chain(self, refills: int = 2, *, elsewhere: bool = True, skip: int = 0) -> Chain:
        """A chain with at least ``refills`` refills, dispensed at a pharmacy (``elsewhere``) or
        at the prescribing institution."""
        found = [
            c
            for c in self.chains
            if len(c.refills) >= refills and (c.refills[0].mb1["M05"] != c.institution) == elsewhere
        ]
        c = found[skip]
        return Chain(copy.deepcopy(c.prescription), tuple(copy.deepcopy(r) for r in c.refills))

    def visits(self, n: int, *, skip: int = 0) -> list[Record]:
        """``n`` ordinary visits (01, normal upload, no chain), as copies."""
        return [copy.deepcopy(r) for r in self.ordinary[skip : skip + n]]


def make_pool() -> Pool:
    return Pool(list(generate(11, 600, as_of=AS_OF, keyring=KEYS).iter_records()))


def make_settings(engine: Engine) -> Settings:
    """Settings on the test database, random keys, a short lease."""
    return Settings(
        db_url=engine.url.render_as_string(hide_password=False),
        data_key=secrets.token_bytes(32),
        lookup_key=secrets.token_bytes(32),
        data_key_id=1,
        worker_lease_seconds=30,
    )


@dataclass
class Hub:
    """Submit uploads to the test database and process them like the service does."""

    engine: Engine
    settings: Settings

    def institution(self, code: str, level: str = "clinic") -> str:
        with unit_of_work(self.engine) as conn:
            if get_institution(conn, code) is None:
                insert_institution(conn, Institution(code, f"機構 {code}", level))
        return code

    def submit(
        self,
        institution: str,
        records: Iterable[Record],
        *,
        kind: str = "A1",
        at: dt.datetime = RECEIVED,
        version: str = "2.0",
        channel: str = "web-api",
        raw: bytes | None = None,
    ) -> int:
        self.institution(institution)
        data = upload_bytes(records, version) if raw is None else raw
        with unit_of_work(self.engine) as conn:
            return submit_upload(
                conn,
                institution=institution,
                raw=data,
                kind=kind,
                channel=channel,
                settings=self.settings,
                now=at,
            )

    def process(self, **kw: Any) -> list[int]:
        return drain(self.engine, self.settings, **kw)

    def send(self, institution: str, records: Iterable[Record], **kw: Any) -> BatchView:
        batch_id = self.submit(institution, records, **kw)
        self.process()
        return self.batch(batch_id)

    def batch(self, batch_id: int) -> BatchView:
        with read_only(self.engine) as conn:
            view = get_batch(conn, batch_id)
        assert view is not None
        return view

    def findings(self, batch_id: int) -> dict[int, set[tuple[str | None, str]]]:
        """Record index -> {(field, code)} of a processed batch."""
        with read_only(self.engine) as conn:
            outcomes = get_record_outcomes(conn, batch_id)
        return {o.record_index: set(o.findings) for o in outcomes}

    def codes(self, batch_id: int) -> dict[int, set[str]]:
        return {i: {c for _, c in f} for i, f in self.findings(batch_id).items()}

    def applied(self, batch_id: int) -> dict[int, bool]:
        with read_only(self.engine) as conn:
            return {o.record_index: o.applied for o in get_record_outcomes(conn, batch_id)}

    def visit(self, m15: str) -> Visit | None:
        with read_only(self.engine) as conn:
            return get_visit(conn, m15)

    def refills(self, m15: str) -> dict[int, Refill]:
        with read_only(self.engine) as conn:
            return {r.refill_no: r for r in get_refills(conn, m15)}

    def states(self, m15: str) -> dict[int, str]:
        return {n: r.state for n, r in self.refills(m15).items()}


def submit_and_drain(job: tuple[str, Settings, list[tuple[str, bytes]]]) -> list[int]:
    """One client of the concurrency tests (a thread or a process): submit each upload, then
    process whatever is waiting. Returns the batch ids in submission order."""
    url, settings, uploads = job
    engine = create_engine_for(url)
    ids: list[int] = []
    try:
        for institution, raw in uploads:
            with unit_of_work(engine) as conn:
                ids.append(
                    submit_upload(
                        conn,
                        institution=institution,
                        raw=raw,
                        kind="A1",
                        channel="web-api",
                        settings=settings,
                        now=RECEIVED,
                    )
                )
            drain(engine, settings)
    finally:
        engine.dispose()
    return ids
