"""The console's calls into the service, the reports and the store (the I/O edge), with the
access rule applied here: an institution sees its own uploads, results, reports and visits;
another institution's batch is answered exactly like one that does not exist (``None``); staff
see everything. Sync functions: the routes run them in the thread pool.

What the service does not offer and the console needs is built here from public pieces: one
record of an upload with its fields (the invalid-record page), the institutions list, and the
encrypted result download.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nhihub.formats import iter_upload
from nhihub.formats.model import Finding, Record
from nhihub.protect import hash_token
from nhihub.reports import (
    Dashboard,
    PrecheckReport,
    UploadRow,
    aes_zip,
    dashboard,
    precheck_export,
    precheck_report,
    upload_results,
)
from nhihub.reports.spec import reports_spec
from nhihub.reports.timeutil import taiwan_now, taiwan_today
from nhihub.service import (
    BatchView,
    InvalidVisitId,
    RefillStatus,
    Viewer,
    VisitView,
    get_batch,
    get_visit,
    refill_status,
    result_file,
    submit_upload,
)
from nhihub.service.tokens import authenticate
from nhihub.storage import (
    Institution,
    RawMissing,
    get_institution,
    get_record_outcomes,
    get_token_by_hash,
    list_institutions,
    load_raw,
)

if TYPE_CHECKING:  # the API imports the console: no import back at run time
    from nhihub.api.context import ApiContext

CHANNEL = "web"  # uploads through the console, as through the REST API (VPN-style column)


# -- who is signed in ----------------------------------------------------------------------------


def sign_in(ctx: ApiContext, token: str) -> tuple[Viewer, bytes] | None:
    """The viewer of a presented token and the token's hash (kept in the session cookie)."""
    token = token.strip()
    if not token:
        return None
    with ctx.read() as conn:
        viewer = authenticate(conn, token)
    return None if viewer is None else (viewer, hash_token(token))


def viewer_of(ctx: ApiContext, token_hash: bytes) -> Viewer | None:
    """The viewer of a session's token, looked up again on every request (revocation counts)."""
    with ctx.read() as conn:
        stored = get_token_by_hash(conn, token_hash)
    if stored is None or not stored.active:
        return None
    if stored.role == "staff":
        return Viewer.staff(stored.id)
    if stored.institution_code is None:
        return None
    return Viewer.of_institution(stored.institution_code, stored.id)


def institution(ctx: ApiContext, code: str) -> Institution | None:
    with ctx.read() as conn:
        return get_institution(conn, code)


def institutions(ctx: ApiContext) -> list[Institution]:
    with ctx.read() as conn:
        return list_institutions(conn)


# -- uploads and results -------------------------------------------------------------------------


def submit(ctx: ApiContext, viewer: Viewer, *, raw: bytes, kind: str, file_name: str | None) -> int:
    """Store an upload of the viewer's institution; ``UploadRejected`` when refused."""
    if viewer.institution is None:
        raise PermissionError("staff cannot upload")
    with ctx.write() as conn:
        return submit_upload(
            conn,
            institution=viewer.institution,
            raw=raw,
            kind=kind,
            channel=CHANNEL,
            settings=ctx.settings,
            file_name=file_name,
            uploaded_at=taiwan_now(),
            token_id=viewer.token_id,
        )


def batch_for(ctx: ApiContext, viewer: Viewer, batch_id: int) -> BatchView | None:
    """The batch if the viewer may see it (another institution's: ``None``, like a missing one)."""
    with ctx.read() as conn:
        batch = get_batch(conn, batch_id)
    if batch is None or not viewer.may_see(batch.institution):
        return None
    return batch


def result_for(ctx: ApiContext, batch: BatchView, fmt: str) -> bytes | None:
    """A visible, processed batch's result file; ``None`` while it is not processed."""
    if not batch.finished:
        return None
    with ctx.write() as conn:  # a purged or first-asked result is rebuilt and kept
        return result_file(conn, batch.id, fmt, ctx.settings)


def result_json(ctx: ApiContext, batch: BatchView) -> dict[str, Any] | None:
    content = result_for(ctx, batch, "json")
    if content is None:
        return None
    data = json.loads(content)
    return data if isinstance(data, dict) else None


def encrypted_result(ctx: ApiContext, batch: BatchView, password: str) -> bytes | None:
    """加密下載: NHI's result text and the CSV in a WinZip AES-256 zip under ``password``."""
    text = result_for(ctx, batch, "nhi-text")
    table = result_for(ctx, batch, "csv")
    if text is None or table is None:
        return None
    files = [(f"{batch.id}.txt", text), (f"{batch.id}.csv", table)]
    return aes_zip(files, password, min_password_length=reports_spec().export.password_min_length)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    record: Record
    findings: tuple[Finding, ...]
    valid: bool


def record_for(ctx: ApiContext, batch: BatchView, index: int) -> StoredRecord | None:
    """Record ``index`` (1-based) of a visible, processed batch, read again from the raw upload,
    with the findings stored for it; ``None`` when there is no such record or the raw upload
    is no longer kept."""
    if not batch.finished or index < 1:
        return None
    with ctx.read() as conn:
        outcome = next(
            (o for o in get_record_outcomes(conn, batch.id) if o.record_index == index), None
        )
        try:
            raw = load_raw(conn, batch.id, ctx.settings.cipher())
        except RawMissing:
            return None
    for item in iter_upload(io.BytesIO(raw)):
        if isinstance(item, Record) and item.index == index:
            findings = () if outcome is None else tuple(Finding(f, c) for f, c in outcome.findings)
            return StoredRecord(item, findings, True if outcome is None else outcome.valid)
    return None


def upload_rows(
    ctx: ApiContext, institution: str | None, first: dt.date, last: dt.date
) -> list[UploadRow]:
    with ctx.read() as conn:
        return upload_results(conn, institution, first, last)


# -- reports -------------------------------------------------------------------------------------


def precheck(ctx: ApiContext, institution: str | None, as_of: dt.date, lang: str) -> PrecheckReport:
    with ctx.read() as conn:
        return precheck_report(conn, institution, as_of, lang=lang)


def precheck_zip(ctx: ApiContext, institution: str | None, as_of: dt.date, password: str) -> bytes:
    with ctx.read() as conn:
        return precheck_export(conn, institution, as_of, password, ctx.settings.cipher())


def dashboards(
    ctx: ApiContext, first: dt.date, last: dt.date, institution: str | None
) -> Dashboard:
    with ctx.read() as conn:
        return dashboard(conn, first, last, institution)


# -- visits --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lookup:
    """A visit lookup: the visit (``None``: none the viewer may see) and the refill status of
    the prescription the identifier names (any institution may ask: it holds the identifier)."""

    m15: str
    visit: VisitView | None
    refills: RefillStatus | None
    invalid: InvalidVisitId | None = None


def look_up(ctx: ApiContext, viewer: Viewer, m15: str) -> Lookup:
    with ctx.write() as conn:  # both reads are audit-logged
        try:
            status = refill_status(conn, m15, viewer=viewer)
        except InvalidVisitId as exc:
            return Lookup(m15, None, None, exc)
        visit = get_visit(conn, m15, viewer=viewer)
    return Lookup(m15, visit, status)


__all__ = [
    "CHANNEL",
    "Lookup",
    "StoredRecord",
    "batch_for",
    "dashboards",
    "encrypted_result",
    "institution",
    "institutions",
    "look_up",
    "precheck",
    "precheck_zip",
    "record_for",
    "result_for",
    "result_json",
    "sign_in",
    "submit",
    "taiwan_now",
    "taiwan_today",
    "upload_rows",
    "viewer_of",
]
