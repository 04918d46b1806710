"""NHI-compatible endpoints: ``VNHI_Upload`` and ``VNHI_Download`` under each configured prefix
(default ``/nhi``, ``/V1000`` and ``/V2000``: NHI's own paths are ``<host>/V1000/VNHI_Upload`` and
``<host>/V2000/VNHI_Upload``, so an HIS only changes its base URL).

Answers are HTTP 200 with NHI's ``RtnCode`` (as NHI does; HIS code reads RtnCode), except 413
for a body over the size limit. The sandbox's stand-in for the SAM signature is the API token:
``Authorization: Bearer <token>``, or the token itself in ``sSignature``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nhihub.api.context import ApiContext, bearer_token, context, resolve_viewer
from nhihub.api.errors import ApiError
from nhihub.api.nhi_protocol import (
    canonical_fields,
    hosp_id,
    parse_download,
    parse_upload,
    rtn_body,
    signature,
)
from nhihub.api.service_calls import fetch_result, submit
from nhihub.service.visits import Viewer
from nhihub.storage import get_institution

UPLOAD = "VNHI_Upload"
DOWNLOAD = "VNHI_Download"
RESULT_FIELD = "tx_result_json"  # the download's result field, as read by public HIS code
NHI_CHANNEL = "web-api"

_UPLOAD_DOC = """NHI 格式上傳 / NHI-style upload (VNHI_Upload).

Body: `{"sSamId", "sHospId", "sClientRandom", "sSignature", "sType": "A1"|"A2"|"ZZ", "sMrecs",
"sPrecs", "sPatData": base64 of the XML file, "sUploadDT": "yyyyMMddHHmmssSSS"}`.
Token: `Authorization: Bearer <token>`, or the token in `sSignature`.
Answer (HTTP 200): `{"RtnCode": "0000", "Opcode": "<batch id>"}`, or RtnCode 5003 (bad sType),
9002 (missing/invalid token, or sHospId not the token's institution), 9005 (unknown sHospId),
9999 (other: bad JSON, bad base64, bad sUploadDT...). Over the size limit: HTTP 413."""

_DOWNLOAD_DOC = """NHI 格式下載檢核結果 / NHI-style result download (VNHI_Download).

Body: `{"sSamId", "sHospId", "sClientRandom", "sSignature", "sType", "sOpcode"}`.
Answer (HTTP 200): RtnCode 5002 while the result is not ready; RtnCode 0000 with
`tx_result_json` = base64 of a zip holding the Big5 NHI-layout result text; 9002, 9005, 9999."""


def _schema(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            name: {"type": "string", "description": text}
                            for name, text in fields.items()
                        },
                        "required": required,
                    }
                }
            },
        }
    }


_COMMON = {
    "sSamId": "安全模組卡號 / SAM id (kept, not checked)",
    "sHospId": "醫事機構代碼 / institution code: the token's institution",
    "sClientRandom": "亂數 / client random (kept, not checked)",
    "sSignature": "簽章；沙盒以 API 權杖代替 / signature: the API token in the sandbox",
}
_UPLOAD_SCHEMA = _schema(
    {
        **_COMMON,
        "sType": "A1 正式上傳, A2 預檢上傳, ZZ 介接測試",
        "sMrecs": "MB1 筆數 / records (optional)",
        "sPrecs": "MB2 筆數 / order lines (optional)",
        "sPatData": "上傳檔案的 base64 / base64 of the XML file",
        "sUploadDT": "yyyyMMddHHmmssSSS (Taiwan time)",
    },
    ["sHospId", "sType", "sPatData"],
)
_DOWNLOAD_SCHEMA = _schema(
    {
        **_COMMON,
        "sType": "A1/A2/ZZ (ignored)",
        "sOpcode": "上傳回覆之 Opcode / the upload's Opcode",
    },
    ["sHospId", "sOpcode"],
)


def _nhi_json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=200)


async def _payload(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError("bad-json") from None


def _institution_viewer(ctx: ApiContext, request: Request, fields: dict[str, Any]) -> Viewer:
    """Token first (9002), then the institution (9005), then token == institution (9002)."""
    token = bearer_token(request) or signature(fields)
    with ctx.read() as conn:
        viewer = resolve_viewer(conn, token)
        hosp = hosp_id(fields)
        if get_institution(conn, hosp) is None:
            raise ApiError("unknown-institution")
    if viewer.role != "institution" or viewer.institution != hosp:
        raise ApiError("institution-mismatch")
    return viewer


def _upload(ctx: ApiContext, request: Request, payload: Any) -> dict[str, Any]:
    viewer = _institution_viewer(ctx, request, canonical_fields(payload))
    upload = parse_upload(payload, ctx.settings.max_upload_bytes)
    batch_id = submit(
        ctx,
        viewer,
        raw=upload.raw,
        kind=upload.kind,
        channel=NHI_CHANNEL,
        file_name=None,
        uploaded_at=upload.uploaded_at,
        client_info=upload.client_info,
    )
    return rtn_body("0000", Opcode=str(batch_id))


def _download(ctx: ApiContext, request: Request, payload: Any) -> dict[str, Any]:
    viewer = _institution_viewer(ctx, request, canonical_fields(payload))
    download = parse_download(payload)
    content = fetch_result(ctx, viewer, download.opcode, "nhi-zip")
    if content is None:
        return rtn_body("5002", Opcode=str(download.opcode))
    encoded = base64.b64encode(content).decode("ascii")
    return {**rtn_body("0000", Opcode=str(download.opcode)), RESULT_FIELD: encoded}


def router(prefixes: tuple[str, ...]) -> APIRouter:
    """The two endpoints under each prefix (the first one is shown in the OpenAPI document)."""
    r = APIRouter(tags=["NHI 相容 / NHI-compatible"])

    async def vnhi_upload(request: Request) -> JSONResponse:
        ctx = context(request)
        payload = await _payload(request)
        return _nhi_json(await run_in_threadpool(_upload, ctx, request, payload))

    async def vnhi_download(request: Request) -> JSONResponse:
        ctx = context(request)
        payload = await _payload(request)
        return _nhi_json(await run_in_threadpool(_download, ctx, request, payload))

    for n, prefix in enumerate(prefixes):
        shown = n == 0
        r.add_api_route(
            f"{prefix}/{UPLOAD}",
            vnhi_upload,
            methods=["POST"],
            include_in_schema=shown,
            summary="VNHI_Upload",
            description=_UPLOAD_DOC,
            operation_id=f"vnhi_upload_{n}",
            openapi_extra=_UPLOAD_SCHEMA,
        )
        r.add_api_route(
            f"{prefix}/{DOWNLOAD}",
            vnhi_download,
            methods=["POST"],
            include_in_schema=shown,
            summary="VNHI_Download",
            description=_DOWNLOAD_DOC,
            operation_id=f"vnhi_download_{n}",
            openapi_extra=_DOWNLOAD_SCHEMA,
        )
    return r


def is_nhi_path(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path in (f"{p}/{UPLOAD}", f"{p}/{DOWNLOAD}") for p in prefixes)


def is_upload_path(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == f"{p}/{UPLOAD}" for p in prefixes)
