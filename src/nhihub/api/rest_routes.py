"""REST endpoints under ``/api/v1`` (bearer tokens).

Access: an institution token sees and changes only its own uploads and records; an object of
another institution is answered 404, exactly like one that does not exist, so existence does not
leak. A parameter naming another institution (``institution=`` of the list, of visit-id issuing)
is refused with 403. Staff tokens (健保署人員) read everything and cannot upload.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from nhihub.api.context import context, current_viewer
from nhihub.api.errors import ApiError
from nhihub.api.nhi_protocol import parse_kind, too_large
from nhihub.api.params import parse_date, parse_result_format
from nhihub.api.service_calls import fetch_result, submit, visible_batch
from nhihub.api.views import to_json
from nhihub.service.uploads import list_batches
from nhihub.service.visits import InvalidVisitId, Viewer, get_visit, refill_status
from nhihub.storage import AuditEntry, append_audit
from nhihub.visitid import Channel, VisitIdError, issue, normalize_institution

PREFIX = "/api/v1"
REST_CHANNEL = "web"
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
BatchId = Annotated[int, Path(ge=1, le=2**63 - 1, description="批次編號 = Opcode / batch id")]

router = APIRouter(prefix=PREFIX)


def _links(batch_id: int) -> dict[str, dict[str, str]]:
    base = f"{PREFIX}/uploads/{batch_id}"
    return {"links": {"self": base, "result": f"{base}/result?format=json"}}


# -- uploads -------------------------------------------------------------------------------------


async def _read_upload(request: Request, max_bytes: int) -> tuple[bytes, str | None]:
    """The file of a raw-body or multipart upload, never more than ``max_bytes`` in memory."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=16)
        item = form.get("file")
        if not isinstance(item, UploadFile):
            raise ApiError("unsupported-media")
        data = await item.read(max_bytes + 1)
        name = item.filename
        await form.close()
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes)
            chunks.append(chunk)
        data, name = b"".join(chunks), None
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    if not data:
        raise ApiError("empty-upload")
    return data, name


@router.post(
    "/uploads",
    status_code=202,
    tags=["上傳 / uploads"],
    summary="上傳檔案 / upload a file",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/xml": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def post_upload(
    request: Request,
    viewer: ViewerDep,
    kind: Annotated[str, Query(description="A1 正式上傳, A2 預檢上傳, ZZ 介接測試")] = "A1",
    file_name: Annotated[str | None, Query(max_length=255)] = None,
) -> JSONResponse:
    """The upload file (XML, Big5 or UTF-8) as the raw body, or as the ``file`` field of a
    multipart form. Answered 202 at once with the batch id; a worker checks it and the result is
    at ``/api/v1/uploads/{id}/result``."""
    ctx = context(request)
    upload_kind = parse_kind(kind)
    if viewer.role != "institution":
        raise ApiError("staff-cannot-upload")
    raw, sent_name = await _read_upload(request, ctx.settings.max_upload_bytes)
    batch_id = await run_in_threadpool(
        submit,
        ctx,
        viewer,
        raw=raw,
        kind=upload_kind,
        channel=REST_CHANNEL,
        file_name=file_name or sent_name,
        uploaded_at=None,
    )
    links = _links(batch_id)
    body = {"batch_id": batch_id, "status": "received", "kind": upload_kind, **links}
    return JSONResponse(body, status_code=202, headers={"Location": links["links"]["self"]})


@router.get("/uploads/{batch_id}", tags=["上傳 / uploads"], summary="上傳狀態 / upload status")
def get_upload(batch_id: BatchId, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """Status and the counts of NHI's result screen (接收筆數, 有效明細筆數, 接收醫令, 有效醫令,
    無效明細筆數, 無效醫令)."""
    batch = visible_batch(context(request), viewer, batch_id)
    return {**to_json(batch), **_links(batch_id)}


@router.get(
    "/uploads/{batch_id}/result",
    tags=["上傳 / uploads"],
    summary="檢核結果 / check result",
    responses={202: {"description": "尚未產生 / not ready yet"}, 409: {"description": "failed"}},
)
def get_result(
    batch_id: BatchId,
    request: Request,
    viewer: ViewerDep,
    format: Annotated[str, Query(description="json, csv, nhi (Big5 text) or nhi-zip")] = "json",
) -> Response:
    fmt, media_type, suffix = parse_result_format(format)
    content = fetch_result(context(request), viewer, batch_id, fmt)
    if content is None:
        raise ApiError("result-not-ready", headers={"Retry-After": "1"})
    disposition = f'attachment; filename="nhihub-result-{batch_id}.{suffix}"'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


@router.get("/uploads", tags=["上傳 / uploads"], summary="上傳清單 / list of uploads")
def list_uploads(
    request: Request,
    viewer: ViewerDep,
    date_from: Annotated[
        str | None, Query(alias="from", description="YYYY-MM-DD or YYYMMDD")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD or YYYMMDD")] = None,
    institution: Annotated[str | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    """Uploads received between ``from`` and ``to`` (inclusive, Taiwan dates), oldest first:
    the institution's own; staff see every institution's, or one with ``institution=``."""
    ctx = context(request)
    start, end = parse_date(date_from), parse_date(date_to)
    wanted = institution.strip().upper() if institution else None
    if viewer.role != "staff":
        if wanted is not None and wanted != viewer.institution:
            raise ApiError("institution-mismatch")
        wanted = viewer.institution
    with ctx.read() as conn:
        batches = list_batches(conn, wanted, start, end)
    return {
        "institution": wanted,
        "from": None if start is None else start.isoformat(),
        "to": None if end is None else end.isoformat(),
        "uploads": [{**to_json(b), **_links(b.id)} for b in batches],
    }


# -- visits and refills --------------------------------------------------------------------------


@router.get("/visits/{m15}", tags=["就醫資料 / visits"], summary="就醫資料 / visit by M15")
def get_visit_route(m15: str, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """The current version of a visit of the token's institution (staff: any)."""
    ctx = context(request)
    with ctx.write() as conn:  # writes the audit entry of the read
        visit = get_visit(conn, m15.strip().upper(), viewer=viewer)
    if visit is None:
        raise ApiError("visit-not-found")
    return to_json(visit)  # type: ignore[no-any-return]


@router.get("/refills/{m15}", tags=["就醫資料 / visits"], summary="慢連箋調劑狀態 / refill status")
def get_refills(m15: str, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """Each refill of the chronic continuous prescription (慢連箋) the identifier names: not
    dispensed, dispensed where and when, or cancelled, so a pharmacy checks before dispensing.
    Any institution may ask (it holds the identifier printed on the prescription). ``found``
    false with D024 when no chronic prescription was uploaded for it; 422 with D074 for a
    malformed identifier."""
    ctx = context(request)
    try:
        with ctx.write() as conn:  # writes the audit entry of the query
            status = refill_status(conn, m15, viewer=viewer)
    except InvalidVisitId as exc:
        raise ApiError(
            "invalid-visit-id",
            message_zh=f"{exc.code} {exc.message_zh}",
            message_en=f"{exc.code} {exc.message_en}",
        ) from None
    return to_json(status)  # type: ignore[no-any-return]


# -- online issuing of visit identifiers ---------------------------------------------------------


class VisitIdRequest(BaseModel):
    person: str = Field(description="身分證號 (M03) / person ID", max_length=32)
    at: str = Field(description="就醫日期時間，民國 YYYMMDDHHMMSS / visit date-time (ROC 13)")
    institution: str | None = Field(
        default=None, description="醫事機構代碼；預設為權杖所屬機構 / default: the token's"
    )


@router.post(
    "/visit-ids",
    tags=["就醫識別碼 / visit identifiers"],
    summary="線上取號 / issue a visit identifier (web channel)",
)
def post_visit_id(body: VisitIdRequest, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """Issue the 就醫識別碼 of a visit at the token's institution with channel ``web`` (線上取號):
    ``{"code", "institution", "at", "channel"}``. The person ID is used and forgotten: it is
    neither stored nor logged (the audit entry names the identifier only)."""
    ctx = context(request)
    if viewer.role != "institution" or viewer.institution is None:
        raise ApiError("staff-cannot-issue")
    at = body.at.strip()
    try:
        institution = (
            viewer.institution
            if body.institution is None
            else normalize_institution(body.institution)
        )
        if institution != viewer.institution:
            raise ApiError("institution-mismatch")
        code = issue(body.person, at, institution, Channel.WEB, keyring=ctx.keyring)
    except VisitIdError as exc:
        raise ApiError(
            "invalid-request", message_zh=exc.message_zh, message_en=exc.message_en
        ) from None
    with ctx.write() as conn:
        append_audit(
            conn,
            AuditEntry(
                action="visit_id.issue",
                object_type="visit_id",
                object_id=code,
                token_id=viewer.token_id,
                role=viewer.role,
                institution_code=viewer.institution,
                detail={"channel": Channel.WEB.value},
            ),
        )
    return {"code": code, "institution": institution, "at": at, "channel": Channel.WEB.value}


__all__ = ["PREFIX", "router"]
