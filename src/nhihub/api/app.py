"""The FastAPI application: ``create_app(settings)``.

Errors never reach a client as a traceback: every refusal is ``{"code", "message" (zh-TW),
"message_en"}`` (plus ``RtnCode`` on the NHI-compatible endpoints); unexpected exceptions are
logged by type and place only (their text may quote data) and answered 500 ``internal``
(:mod:`nhihub.api.guard`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

import nhihub
from nhihub.api import nhi_routes, rest_routes
from nhihub.api.background import PURGE_INTERVAL_SECONDS, BackgroundWorker
from nhihub.api.context import ApiContext, context
from nhihub.api.errors import ApiError
from nhihub.api.guard import GuardMiddleware
from nhihub.api.limits import SMALL_BODY_BYTES, BodyLimitMiddleware, upload_body_limit
from nhihub.config import Settings
from nhihub.storage import create_engine_for
from nhihub.visitid import Keyring, default_keyring
from nhihub.web import PREFIX as CONSOLE_PREFIX
from nhihub.web import UPLOAD_PATH as CONSOLE_UPLOAD_PATH
from nhihub.web import router as console_router

# NHI's Web-API lives at <host>/V1000/ and <host>/V2000/ (public HIS code); /nhi is ours.
DEFAULT_NHI_PREFIXES = ("/nhi", "/V1000", "/V2000")

_STATUS_CODES = {404: "route-not-found", 405: "method-not-allowed", 413: "too-large"}

DESCRIPTION = """\
nhihub：健保卡就醫資料上傳中心（沙盒）/ the NHI card-data upload hub (sandbox).

* **NHI 相容 / NHI-compatible**: `POST /nhi/VNHI_Upload`, `POST /nhi/VNHI_Download` (also under
  `/V1000/` and `/V2000/`, NHI's own paths), NHI's JSON field names and RtnCodes.
* **REST** under `/api/v1`: uploads, status, results (JSON, CSV, NHI Big5 text, zip), the upload
  list, visits by 就醫識別碼, refill status, online issuing of visit identifiers.
* **Auth**: `Authorization: Bearer <token>` (`nhihub token create`); for the NHI endpoints the
  token may instead be sent in `sSignature`.

Errors: `{"code", "message", "message_en"}`. See docs/api.md.
"""


def _is_nhi(request: Request) -> bool:
    prefixes: tuple[str, ...] = context(request).nhi_prefixes
    return nhi_routes.is_nhi_path(request.url.path, prefixes)


def _answer(request: Request, exc: ApiError) -> JSONResponse:
    nhi = _is_nhi(request)
    # NHI's clients read RtnCode from a 200 answer; only an oversized body keeps its 413.
    status = 200 if nhi and exc.spec.http != 413 else exc.status_code
    return JSONResponse(exc.body(nhi=nhi), status_code=status, headers=exc.headers)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _answer(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "invalid-request")
        if exc.status_code >= 500:
            code = "internal"
        return _answer(request, ApiError(code, headers=exc.headers))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the fields only: pydantic's message would echo the input (maybe a person ID).
        names = sorted(
            {".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in exc.errors()}
        )
        where = ", ".join(n for n in names if n) or "body"
        return _answer(request, ApiError("invalid-request", detail_zh=where, detail_en=where))


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    keyring: Keyring | None = None,
    worker: bool = False,
    purge: bool | None = None,
    purge_interval: float = PURGE_INTERVAL_SECONDS,
    nhi_prefixes: tuple[str, ...] = DEFAULT_NHI_PREFIXES,
    jobs: int | None = None,
) -> FastAPI:
    """The API on ``settings`` (database, keys, limits).

    ``engine``: use this engine (tests) instead of one on ``settings.db_url``; the schema must be
    current (``nhihub.storage.upgrade``). ``worker``: run the in-process worker thread while the
    app lives (``nhihub serve``); ``purge`` (default: with the worker) purges old result files
    every ``purge_interval`` seconds. ``nhi_prefixes``: where VNHI_Upload / VNHI_Download are
    served (the first is documented in the OpenAPI document). ``jobs``: processes the worker
    may use to check a large upload (default: every CPU).
    """
    if not nhi_prefixes or any(not p.startswith("/") or p.endswith("/") for p in nhi_prefixes):
        raise ValueError("nhi_prefixes: paths such as '/nhi' (leading slash, no trailing slash)")
    owns_engine = engine is None
    db = engine or create_engine_for(
        settings.db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    run_purge = worker if purge is None else purge
    background = (
        BackgroundWorker(db, settings, process=worker, purge_interval=purge_interval, jobs=jobs)
        if worker or run_purge
        else None
    )
    ctx = ApiContext(
        settings=settings,
        engine=db,
        keyring=keyring or default_keyring(),
        nhi_prefixes=tuple(nhi_prefixes),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background is not None:
            background.start()
        try:
            yield
        finally:
            if background is not None:
                background.stop()
            if owns_engine:
                db.dispose()

    app = FastAPI(
        title="nhihub API",
        version=nhihub.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.nhihub = ctx
    app.state.background = background
    _install_handlers(app)
    app.include_router(nhi_routes.router(ctx.nhi_prefixes))
    app.include_router(rest_routes.router)
    app.include_router(console_router)  # the web console (nhihub.web, docs/web.md)
    _add_health(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)

    def is_nhi(path: str) -> bool:
        return nhi_routes.is_nhi_path(path, ctx.nhi_prefixes)

    # add_middleware puts the last one outermost: the size check runs first, the guard inside.
    app.add_middleware(GuardMiddleware, is_nhi=is_nhi)
    app.add_middleware(
        BodyLimitMiddleware, limit_for=_body_limits(settings, ctx.nhi_prefixes), is_nhi=is_nhi
    )
    return app


def _body_limits(settings: Settings, prefixes: tuple[str, ...]) -> Callable[[str], int]:
    nhi_upload = upload_body_limit(settings.max_upload_bytes, base64=True)
    rest_upload = upload_body_limit(settings.max_upload_bytes, base64=False)
    uploads_path = f"{rest_routes.PREFIX}/uploads"

    def limit_for(path: str) -> int:
        if nhi_routes.is_upload_path(path, prefixes):
            return nhi_upload
        if path in (uploads_path, CONSOLE_UPLOAD_PATH):
            return rest_upload
        return SMALL_BODY_BYTES

    return limit_for


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["服務 / service"], summary="健康檢查 / health check")
    def healthz(request: Request) -> dict[str, Any]:
        """``{"status": "ok", "worker": bool}`` when the database answers (no token needed)."""
        ctx = context(request)
        with ctx.read() as conn:
            conn.execute(text("SELECT 1"))
        background: BackgroundWorker | None = request.app.state.background
        return {
            "status": "ok",
            "version": nhihub.__version__,
            "worker": bool(background and background.process and background.running),
        }
