"""Demo data of ``nhihub demo`` (``make run``), made with :mod:`nhihub.synth`.

:func:`plan_demo` (pure) picks, from one synthetic day of records, a chronic continuous
prescription (慢連箋) written at a hospital whose refill was dispensed at a pharmacy, a clinic, a
dental clinic and a second pharmacy, and builds the upload of each: the hospital's visits
(a few with injected errors: invalid records), the clinic's, the dental clinic's, the pharmacy's
dispensings, and the second pharmacy's attempt to dispense the same refill again, which the
service must refuse with D025 (處方箋重複調劑). For the 1.0-vs-2.0 pre-check report
(健保卡2.0預檢比對健保卡1.0統計報表) one more institution, a hospital outside the others, uploads
its visits in format 1.0 (A1) and pre-checks the same visits in format 2.0 (A2, Web-API): the
latest ones are not pre-checked yet and a few pre-checks fail a check, so its report is below
100% and lists unmatched visits. :func:`load_demo` stores the institutions, makes tokens, uploads
the files through the service and lets the worker process them.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import json
import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nhihub.config import Settings
from nhihub.formats import Record, write_upload
from nhihub.ids.rocdate import format_roc_date, format_roc_datetime, parse_roc_datetime
from nhihub.reports.precheck import PrecheckReport
from nhihub.reports.precheck_db import precheck_report
from nhihub.service.tokens import authenticate, create_token
from nhihub.service.uploads import BatchView, get_batch, submit_upload
from nhihub.service.worker import drain
from nhihub.storage import Institution, insert_institution, unit_of_work
from nhihub.synth import SynthResult, generate
from nhihub.synth.mutations import MutationContext, applicable, mutate
from nhihub.synth.places import Institution as SynthInstitution
from nhihub.synth.places import build_institutions
from nhihub.synth.profile import profile
from nhihub.visitid import Channel, Keyring, issue
from nhihub.web import PREFIX

DEMO_CHANNEL = "web"
FORMAL = "A1"  # sType 正式上傳
PRECHECK = "A2"  # sType 預檢上傳
PRECHECK_CHANNEL = "web-api"  # the report's Web-API column: the path formal 2.0 uploads take
PRECHECK_ROLE = "precheck"
PRECHECK_V1 = "precheck_v1"  # the pre-check institution's 1.0 upload (A1)
PRECHECK_V2 = "precheck_v2"  # its 2.0 pre-check (A2)
UPLOAD_FILE = "demo-upload.xml"
NHI_REQUEST_FILE = "demo-nhi-upload.json"
SUMMARY_FILE = "demo.json"
DISPENSING = "AE"  # 慢性病連續處方箋調劑 (M07)


class DemoError(RuntimeError):
    """The synthetic data lacks something the demo needs (a different seed would do)."""


@cache
def demo_config() -> dict[str, Any]:
    text = resources.files("nhihub.api").joinpath("data/demo.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True)
class DemoInstitution:
    role: str  # prescriber, clinic, dental, pharmacy, second_pharmacy, precheck
    institution: Institution


@dataclass(frozen=True, slots=True)
class DemoBatch:
    role: str  # the institution's role; the pre-check institution's: precheck_v1, precheck_v2
    institution: str
    records: tuple[Record, ...]
    file_name: str
    kind: str = FORMAL
    channel: str = DEMO_CHANNEL
    version: str = "2.0"


@dataclass(frozen=True, slots=True)
class DemoPlan:
    as_of: dt.datetime  # upload time, Taiwan local
    institutions: tuple[DemoInstitution, ...]
    batches: tuple[DemoBatch, ...]
    curl_records: tuple[Record, ...]  # the clinic's visits kept for the curl examples
    prescription: str  # M15 of the chronic prescription
    refill_no: int  # the refill dispensed twice
    duplicate: str  # M15 of the refused second dispensing

    def code(self, role: str) -> str:
        return next(i.institution.code for i in self.institutions if i.role == role)

    def batch(self, role: str) -> DemoBatch:
        return next(b for b in self.batches if b.role == role)


@dataclass(slots=True)
class DemoResult:
    plan: DemoPlan
    tokens: dict[str, str]  # institution code -> token
    staff_token: str
    batches: dict[str, BatchView] = field(default_factory=dict)  # role -> processed batch
    files: dict[str, Path] = field(default_factory=dict)
    precheck: PrecheckReport | None = None  # the pre-check institution's report on the plan's day


def precheck_path(code: str) -> str:
    """The console page of an institution's pre-check report (path of the web console)."""
    return f"{PREFIX}/precheck?institution={code}"


def encode_records(records: Iterable[Record], *, version: str = "2.0") -> bytes:
    """An upload file (Big5, format ``version``) of the records, renumbered from 1."""
    out = io.BytesIO()
    renumbered = []
    for n, rec in enumerate(records, 1):
        item = copy.deepcopy(rec)
        item.index = n
        renumbered.append(item)
    write_upload(renumbered, out, encoding="big5", version=version)
    return out.getvalue()


def _visit_time(rec: Record) -> str:
    return rec.mb1.get("M11", "")


def _v1_visit_time(rec: Record) -> str:
    return rec.mb1.get("A17", "")  # 1.0 就診日期時間


def _is_prescription(rec: Record) -> bool:
    return bool(rec.mb1.get("M26")) and rec.mb1.get("M07") != DISPENSING


def _institution_row(role: str, place: SynthInstitution) -> DemoInstitution:
    cfg = demo_config()
    zh_prefix, en_prefix = cfg["name_prefix"]
    kind = place.kind
    return DemoInstitution(
        role,
        Institution(
            code=place.code,
            name=f"{zh_prefix}{kind.zh} {en_prefix} {kind.en}",
            level=cfg["levels"][kind.kind],
            medical_type=kind.m56 or None,
        ),
    )


def _busiest(records: list[Record], places: dict[str, SynthInstitution], kinds: list[str]) -> str:
    counts: dict[str, int] = {}
    for rec in records:
        code = rec.mb1.get("M05", "")
        if code in places and places[code].kind.kind in kinds:
            counts[code] = counts.get(code, 0) + 1
    if not counts:
        raise DemoError(f"synthetic data has no {kinds[0]}")
    return max(sorted(counts), key=lambda c: counts[c])


def _duplicate(
    refill: Record, place: SynthInstitution, as_of: dt.datetime, keyring: Keyring | None
) -> Record:
    """The same refill dispensed again at ``place`` a little later: a new visit of its own."""
    dup = copy.deepcopy(refill)
    first = parse_roc_datetime(_visit_time(refill))
    at = min(first + dt.timedelta(hours=2), as_of - dt.timedelta(minutes=5))
    at = max(at, first + dt.timedelta(minutes=1))
    when = format_roc_datetime(at)
    dup.mb1["M05"] = place.code
    dup.mb1["M01"] = place.sam
    dup.mb1["M06"] = place.staff[0]
    dup.mb1["M11"] = when
    dup.mb1["M15"] = issue(dup.mb1["M03"], when, place.code, Channel.CARD, keyring=keyring)
    for line in dup.mb2:
        if "D01" in line:
            line["D01"] = when
    return dup


def _no_reissue(*_: Any) -> str:
    raise DemoError("the demo's known error must not change what a visit identifier encodes")


def with_known_error(
    records: Iterable[Record],
    as_of: dt.datetime,
    *,
    referenced: Collection[str] = (),
    with_error: Collection[int] = (),
) -> list[Record]:
    """``records`` with the configured known error (``known_error`` of ``demo.json``) applied to
    a copy of the first record it applies to that is not a dispensing, not one whose index is in
    ``with_error`` (it has an error already), and whose M15 is not in ``referenced`` (an M16 of
    some record: a prescription dispensed, whose dispensings would then fail too) (pure).

    The random errors follow the clock (the synthetic day is the as-of day): at some minutes
    none fell on the prescriber's visits, and the demo showed no invalid record."""
    kind = str(demo_config()["known_error"])
    ctx = MutationContext(as_of=as_of, issue=_no_reissue)
    out = list(records)
    for n, rec in enumerate(out):
        if (
            rec.index in with_error
            or rec.mb1.get("M07") == DISPENSING
            or rec.mb1.get("M15") in referenced
            or not applicable(rec, (kind,), ctx)
        ):
            continue
        faulty = copy.deepcopy(rec)
        mutate(faulty, kind, ctx, random.Random(0))
        out[n] = faulty
        return out
    raise DemoError(f"no record takes the demo's known error {kind}")


def _plan_precheck(
    synth: SynthResult,
    records: list[Record],
    places: dict[str, SynthInstitution],
    taken: set[str],
) -> tuple[SynthInstitution, tuple[DemoBatch, DemoBatch]]:
    """The pre-check institution, the busiest of the preferred kinds outside ``taken``, with its
    1.0 upload (synth's paired 1.0 file: the same visits, before any error was injected) and its
    2.0 pre-check, ``records`` being the synthetic 2.0 file with its injected errors (pure).
    The latest ``precheck_not_sent`` 1.0 visits before the as-of day have no pre-check yet, so
    the report stays below 100% even when no injected error falls in its window."""
    cfg = demo_config()
    code = ""
    for kind in cfg["roles"][PRECHECK_ROLE]:
        counts: dict[str, int] = {}
        for rec in records:
            place = places.get(rec.mb1.get("M05", ""))
            # Visits of its own, not dispensings of others' prescriptions.
            if place is not None and place.kind.kind == kind and rec.mb1.get("M07") != DISPENSING:
                counts[place.code] = counts.get(place.code, 0) + 1
        for done in taken:
            counts.pop(done, None)
        if counts:
            code = max(sorted(counts), key=lambda c: counts[c])
            break
    if not code:
        raise DemoError("synthetic data has no institution for the pre-check report")
    v1 = sorted((r for r in synth.paired_v1() if r.mb1.get("A14") == code), key=_v1_visit_time)
    today = format_roc_date(synth.as_of.date())
    before = [r for r in v1 if _v1_visit_time(r)[:7] < today]  # the report excludes the as-of day
    if not before:
        raise DemoError("synthetic data has no 1.0 visit before the as-of day")
    # 身分證號 and 就診日期時間 of the visits not pre-checked yet.
    latest = before[max(len(before) - int(cfg["precheck_not_sent"]), 0) :]
    not_sent = {(r.mb1.get("A12"), _v1_visit_time(r)) for r in latest}
    v2 = sorted(
        (
            r
            for r in records
            if r.mb1.get("M05") == code and (r.mb1.get("M03"), _visit_time(r)) not in not_sent
        ),
        key=_visit_time,
    )
    batches = (
        DemoBatch(PRECHECK_V1, code, tuple(v1), "demo-precheck-1.0.xml", version="1.0"),
        DemoBatch(
            PRECHECK_V2,
            code,
            tuple(v2),
            "demo-precheck-2.0.xml",
            kind=PRECHECK,
            channel=PRECHECK_CHANNEL,
        ),
    )
    return places[code], batches


def plan_demo(
    as_of: dt.datetime,
    *,
    keyring: Keyring | None = None,
    seed: int | None = None,
    records: int | None = None,
) -> DemoPlan:
    """Pick the demo's institutions and build its uploads from synthetic records (pure)."""
    cfg = demo_config()
    seed = int(cfg["seed"]) if seed is None else seed
    count = int(cfg["records"]) if records is None else records
    result = generate(
        seed, count, as_of=as_of, error_rate=float(cfg["error_rate"]), keyring=keyring
    )
    all_records: list[Record] = []
    with_error: set[int] = set()
    for rec, errors in result:
        all_records.append(rec)
        if errors:
            with_error.add(rec.index)
    places = {p.code: p for pool in build_institutions(seed, profile()).values() for p in pool}
    roles: dict[str, list[str]] = cfg["roles"]

    # A clean prescription of a preferred hospital kind with a clean refill at a pharmacy.
    prescriptions = {
        r.mb1["M15"]: r
        for r in all_records
        if _is_prescription(r) and r.index not in with_error and "M15" in r.mb1
    }
    chain: tuple[Record, Record] | None = None
    for kind in roles["prescriber"]:
        for rec in all_records:
            original = prescriptions.get(rec.mb1.get("M16", ""))
            place = places.get(rec.mb1.get("M05", ""))
            if (
                original is not None
                and rec.mb1.get("M07") == DISPENSING
                and rec.index not in with_error
                and place is not None
                and place.kind.kind in roles["pharmacy"]
                and places[original.mb1["M05"]].kind.kind == kind
            ):
                chain = (original, rec)
                break
        if chain is not None:
            break
    if chain is None:
        raise DemoError("synthetic data has no chronic prescription refilled at a pharmacy")
    original, refill = chain
    chosen = {
        "prescriber": original.mb1["M05"],
        "pharmacy": refill.mb1["M05"],
        "clinic": _busiest(all_records, places, roles["clinic"]),
        "dental": _busiest(all_records, places, roles["dental"]),
    }
    chosen["second_pharmacy"] = next(
        code
        for code in sorted(places)
        if places[code].kind.kind in roles["second_pharmacy"] and code not in chosen.values()
    )
    demo_codes = set(chosen.values())
    duplicate = _duplicate(refill, places[chosen["second_pharmacy"]], result.as_of, keyring)

    def own(code: str) -> list[Record]:
        mine = [r for r in all_records if r.mb1.get("M05") == code]
        # Dispensings only of prescriptions the demo has (else D049 would crowd the result).
        mine = [
            r
            for r in mine
            if r.mb1.get("M07") != DISPENSING or r.mb1.get("M17", code) in demo_codes
        ]
        return sorted(mine, key=_visit_time)

    clinic = own(chosen["clinic"])
    keep = int(cfg["curl_records"])
    referenced = {r.mb1["M16"] for r in all_records if r.mb1.get("M16")}
    files = {
        "prescriber": with_known_error(
            own(chosen["prescriber"]), result.as_of, referenced=referenced, with_error=with_error
        ),
        "clinic": clinic[:-keep] if len(clinic) > keep else clinic,
        "dental": own(chosen["dental"]),
        "pharmacy": own(chosen["pharmacy"]),
        "second_pharmacy": [*own(chosen["second_pharmacy"]), duplicate],
    }
    batches = tuple(
        DemoBatch(role, chosen[role], tuple(recs), f"demo-{role.replace('_', '-')}.xml")
        for role, recs in files.items()
    )
    # Last, so the other uploads keep their batch ids (1-5) whatever the pre-check part does.
    place, precheck_batches = _plan_precheck(result, all_records, places, demo_codes)
    chosen[PRECHECK_ROLE] = place.code
    batches = (*batches, *precheck_batches)
    institutions = tuple(_institution_row(role, places[code]) for role, code in chosen.items())
    refill_no = int(refill.mb1.get("M33") or refill.mb1.get("M34") or "0")
    return DemoPlan(
        as_of=result.as_of,
        institutions=institutions,
        batches=batches,
        curl_records=tuple(clinic[-keep:] if len(clinic) > keep else ()),
        prescription=original.mb1["M15"],
        refill_no=refill_no,
        duplicate=duplicate.mb1["M15"],
    )


def nhi_request(hosp_id: str, token: str, raw: bytes, uploaded_at: dt.datetime) -> dict[str, str]:
    """A VNHI_Upload request body as an HIS sends it (the token standing in for sSignature)."""
    return {
        "sSamId": "000000000000",
        "sHospId": hosp_id,
        "sClientRandom": "demo",
        "sSignature": token,
        "sType": "A1",
        "sPatData": base64.b64encode(raw).decode("ascii"),
        "sUploadDT": uploaded_at.strftime("%Y%m%d%H%M%S")
        + f"{uploaded_at.microsecond // 1000:03d}",
    }


def load_demo(
    engine: Engine, settings: Settings, plan: DemoPlan, *, out_dir: Path | None = None
) -> DemoResult:
    """Store the plan's institutions, make tokens, upload its files and process them; with
    ``out_dir``, write the curl example files there (upload XML, NHI JSON request, summary)."""
    cfg = demo_config()
    with unit_of_work(engine) as conn:
        for item in plan.institutions:
            insert_institution(conn, item.institution)
        tokens = {
            item.institution.code: create_token(
                conn,
                institution=item.institution.code,
                role="institution",
                label=cfg["token_label"],
            )
            for item in plan.institutions
        }
        staff = create_token(conn, institution=None, role="staff", label=cfg["staff_label"])
    result = DemoResult(plan, tokens, staff)
    ids: dict[str, int] = {}
    for batch in plan.batches:
        raw = encode_records(batch.records, version=batch.version)
        with unit_of_work(engine) as conn:
            viewer = authenticate(conn, tokens[batch.institution])
            ids[batch.role] = submit_upload(
                conn,
                institution=batch.institution,
                raw=raw,
                kind=batch.kind,
                channel=batch.channel,
                file_name=batch.file_name,
                uploaded_at=plan.as_of,
                token_id=None if viewer is None else viewer.token_id,
                settings=settings,
            )
    drain(engine, settings)
    with unit_of_work(engine) as conn:
        for role, batch_id in ids.items():
            view = get_batch(conn, batch_id)
            if view is not None:
                result.batches[role] = view
        result.precheck = precheck_report(conn, plan.code(PRECHECK_ROLE), plan.as_of.date())
    if out_dir is not None:
        result.files = write_demo_files(result, out_dir)
    return result


def write_demo_files(result: DemoResult, out_dir: Path) -> dict[str, Path]:
    """The clinic's held-back visits as an upload file, the same file as a VNHI_Upload request,
    and a summary (tokens, institutions, identifiers) for scripts."""
    plan = result.plan
    out_dir.mkdir(parents=True, exist_ok=True)
    clinic = plan.code("clinic")
    raw = encode_records(plan.curl_records)
    upload = out_dir / UPLOAD_FILE
    upload.write_bytes(raw)
    request = out_dir / NHI_REQUEST_FILE
    body = nhi_request(clinic, result.tokens[clinic], raw, plan.as_of)
    request.write_text(json.dumps(body, ensure_ascii=False) + "\n", "utf-8")
    summary = out_dir / SUMMARY_FILE
    document = {
        "institutions": [
            {
                "role": i.role,
                "code": i.institution.code,
                "name": i.institution.name,
                "level": i.institution.level,
                "token": result.tokens[i.institution.code],
            }
            for i in plan.institutions
        ],
        "staff_token": result.staff_token,
        "prescription": plan.prescription,
        "refill_no": plan.refill_no,
        "duplicate": plan.duplicate,
        "batches": {role: view.id for role, view in result.batches.items()},
        "precheck": _precheck_summary(result),
    }
    summary.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return {"upload": upload, "nhi_request": request, "summary": summary}


def _precheck_summary(result: DemoResult) -> dict[str, Any]:
    """Where the pre-check report is and what it shows on the plan's day."""
    code = result.plan.code(PRECHECK_ROLE)
    summary: dict[str, Any] = {"institution": code, "report": precheck_path(code)}
    report = result.precheck
    if report is not None:
        total = report.total
        summary.update(
            as_of=report.as_of.isoformat(),
            v1_success=total.v1_success,
            matched=total.matched,
            percent=total.percent,
            unmatched=total.v1_success - total.matched,
        )
    return summary
