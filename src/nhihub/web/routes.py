"""The web console's routes (``/console``): server-rendered pages, no JavaScript.

Sign in with an API token (the session cookie keeps its hash, signed; HttpOnly, SameSite=
Strict); every form that changes something or downloads personal data carries the session's
CSRF token. An institution sees its own uploads, results, reports and visits; another
institution's upload is answered 404 like one that does not exist; staff (健保署人員) see every
institution and the dashboards, and cannot upload. Labels come from ``data/i18n.tsv``: zh-TW by
default, English with ``?lang=en`` (kept in a cookie).

This module: signing in and out, uploading, the upload list, results, downloads and the
invalid-record page; the reports are in :mod:`nhihub.web.report_routes`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from nhihub.reports import upload_state
from nhihub.reports.spec import reports_spec
from nhihub.service import BatchView, UploadRejected, media_type
from nhihub.web import calls, report_routes
from nhihub.web.forms import (
    FormError,
    parse_kind,
    parse_page,
    parse_password,
    roc_slash,
    safe_next,
)
from nhihub.web.i18n import L, console_spec
from nhihub.web.pages import (
    PREFIX,
    UPLOAD_PATH,
    ConsoleUser,
    cookie_key_for,
    csrf_ok,
    ctx_of,
    current_user,
    error_page,
    message,
    page_lang,
    redirect,
    render,
    secure_cookie,
    send_file,
    to_login,
)
from nhihub.web.render import stylesheet
from nhihub.web.session import (
    LOGIN_COOKIE,
    LOGIN_PURPOSE,
    SESSION_COOKIE,
    SESSION_PURPOSE,
    login_cookie,
    login_nonce,
    new_csrf,
    new_session,
    same_token,
)
from nhihub.web.views import file_errors, pages, record_view, reported_rows

# Result downloads: our name in the URL -> (service format, file suffix).
DOWNLOADS: Mapping[str, tuple[str, str]] = {
    "nhi": ("nhi-text", "txt"),
    "csv": ("csv", "csv"),
    "json": ("json", "json"),
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


# -- sign in / out -------------------------------------------------------------------------------


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    if current_user(request) is None:
        return to_login(request)
    return redirect(f"{PREFIX}/uploads")


@router.get("/static/console.css")
def css() -> Response:
    return Response(
        stylesheet(),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def _login_page(
    request: Request, *, status_code: int = 200, error: str | None = None, next_url: str = ""
) -> HTMLResponse:
    ctx = ctx_of(request)
    nonce = new_csrf()
    response = render(
        request,
        "login.html",
        user=None,
        title=L("title_login"),
        status_code=status_code,
        csrf=nonce,
        here=f"{PREFIX}/login",
        error=None if error is None else message(request, error),
        next_url=next_url,
        signed_out=request.query_params.get("signed_out") == "1",
    )
    seconds = console_spec().login_minutes * 60
    response.set_cookie(
        LOGIN_COOKIE,
        login_cookie(nonce, time.time(), seconds, cookie_key_for(ctx, LOGIN_PURPOSE)),
        max_age=seconds,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        return redirect(f"{PREFIX}/")
    next_url = safe_next(request.query_params.get("next"), PREFIX) or ""
    return _login_page(request, next_url=next_url)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    ctx = ctx_of(request)
    next_url = safe_next(next_path, PREFIX) or ""
    expected = login_nonce(
        request.cookies.get(LOGIN_COOKIE), cookie_key_for(ctx, LOGIN_PURPOSE), time.time()
    )
    if expected is None or not same_token(expected, csrf):
        return _login_page(
            request, status_code=403, error=L("error_form_expired"), next_url=next_url
        )
    signed = calls.sign_in(ctx, token)
    if signed is None:
        return _login_page(request, status_code=401, error=L("error_bad_token"), next_url=next_url)
    _viewer, token_hash = signed
    seconds = console_spec().session_hours * 3600
    session = new_session(token_hash, time.time(), seconds)
    response = redirect(next_url or f"{PREFIX}/")
    response.set_cookie(
        SESSION_COOKIE,
        session.encode(cookie_key_for(ctx, SESSION_PURPOSE)),
        max_age=seconds,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    if not csrf_ok(user, csrf):
        return error_page(request, user, 403, L("error_form_expired"))
    response = redirect(f"{PREFIX}/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# -- upload --------------------------------------------------------------------------------------


def _upload_form(
    request: Request, user: ConsoleUser, *, status_code: int = 200, error: str | None = None
) -> HTMLResponse:
    ctx = ctx_of(request)
    return render(
        request,
        "upload.html",
        user=user,
        title=L("title_upload"),
        active="upload",
        status_code=status_code,
        here=UPLOAD_PATH,
        error=error,
        kinds=console_spec().upload_kinds,
        max_mb=ctx.settings.max_upload_bytes / (1024 * 1024),
    )


@router.get("/upload")
def upload_form(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    if not user.can_upload:
        return error_page(request, user, 403, L("error_staff_upload"))
    return _upload_form(request, user)


@router.post("/upload")
async def upload(request: Request) -> Response:
    user = await run_in_threadpool(current_user, request)
    if user is None:
        return to_login(request)
    if not user.can_upload:
        return error_page(request, user, 403, L("error_staff_upload"))
    ctx = ctx_of(request)
    limit = ctx.settings.max_upload_bytes
    async with request.form(max_files=1, max_fields=8) as form:
        csrf = form.get("csrf")
        if not isinstance(csrf, str) or not csrf_ok(user, csrf):
            return error_page(request, user, 403, L("error_form_expired"))
        kind_value = form.get("kind")
        item = form.get("file")
        try:
            kind = parse_kind(kind_value if isinstance(kind_value, str) else None)
        except FormError as exc:
            return _upload_form(request, user, status_code=422, error=message(request, exc.key))
        if not isinstance(item, UploadFile) or not item.filename:
            msg = message(request, L("error_no_file"))
            return _upload_form(request, user, status_code=422, error=msg)
        raw = await item.read(limit + 1)
        name = item.filename
    if len(raw) > limit:
        msg = message(request, L("error_too_large"), mb=f"{limit / (1024 * 1024):g}")
        return _upload_form(request, user, status_code=413, error=msg)
    if not raw:
        return _upload_form(
            request, user, status_code=422, error=message(request, L("error_empty_file"))
        )
    try:
        batch_id = await run_in_threadpool(
            calls.submit, ctx, user.viewer, raw=raw, kind=kind, file_name=name[:255]
        )
    except UploadRejected as exc:
        text = exc.message_en if page_lang(request) == "en" else exc.message_zh
        return _upload_form(request, user, status_code=422, error=text)
    return redirect(f"{PREFIX}/uploads/{batch_id}")


# -- upload list and results ---------------------------------------------------------------------


@router.get("/uploads")
def uploads(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    ctx = ctx_of(request)
    query = report_routes.range_query(request, user)
    first, last, wanted, error = query.first, query.last, query.institution, query.error
    rows = calls.upload_rows(ctx, wanted, first, last)
    return render(
        request,
        "uploads.html",
        user=user,
        title=L("title_uploads"),
        active="uploads",
        status_code=200 if error is None else 422,
        error=error,
        rows=rows,
        first=roc_slash(first),
        last=roc_slash(last),
        institution=wanted or "",
        institutions=calls.institutions(ctx) if user.is_staff else [],
    )


def _visible_batch(request: Request, user: ConsoleUser, batch_id: int) -> BatchView | None:
    if not 1 <= batch_id < 2**63:
        return None
    return calls.batch_for(ctx_of(request), user.viewer, batch_id)


def _result_page(
    request: Request,
    user: ConsoleUser,
    batch: BatchView,
    *,
    status_code: int = 200,
    password_error: str | None = None,
) -> HTMLResponse:
    ctx = ctx_of(request)
    spec = console_spec()
    result = calls.result_json(ctx, batch)
    reported = [] if result is None else reported_rows(result)
    page, start, end = pages(len(reported), spec.records_per_page, parse_page(
        request.query_params.get("page")
    ))  # fmt: skip
    c = batch.counts
    return render(
        request,
        "upload_result.html",
        user=user,
        title=L("title_result"),
        active="uploads",
        status_code=status_code,
        here=f"{PREFIX}/uploads/{batch.id}",
        refresh=None if batch.finished else spec.refresh_seconds,
        batch=batch,
        counts=c,
        state=upload_state(batch.status, c.invalid_records, c.invalid_orders),
        state_names=reports_spec().upload_states,
        reported=reported[start:end],
        reported_total=len(reported),
        invalid_total=sum(1 for r in reported if not r.valid),
        page=page,
        last_page=max(1, -(-len(reported) // spec.records_per_page)),
        file_errors=[] if result is None else file_errors(result),
        password_error=password_error,
        min_password=reports_spec().export.password_min_length,
    )


@router.get("/uploads/{batch_id}")
def upload_result(request: Request, batch_id: int) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    batch = _visible_batch(request, user, batch_id)
    if batch is None:
        return error_page(request, user, 404, L("error_batch_not_found"))
    return _result_page(request, user, batch)


@router.get("/uploads/{batch_id}/download/{what}")
def download(request: Request, batch_id: int, what: str) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    batch = _visible_batch(request, user, batch_id)
    if batch is None or what not in DOWNLOADS:
        return error_page(request, user, 404, L("error_batch_not_found"))
    fmt, suffix = DOWNLOADS[what]
    content = calls.result_for(ctx_of(request), batch, fmt)
    if content is None:
        return error_page(request, user, 409, L("error_not_ready"))
    return send_file(content, media_type(fmt), f"nhihub-result-{batch.id}.{suffix}")


@router.post("/uploads/{batch_id}/encrypted")
def download_encrypted(
    request: Request,
    batch_id: int,
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    if not csrf_ok(user, csrf):
        return error_page(request, user, 403, L("error_form_expired"))
    batch = _visible_batch(request, user, batch_id)
    if batch is None:
        return error_page(request, user, 404, L("error_batch_not_found"))
    minimum = reports_spec().export.password_min_length
    try:
        secret = parse_password(password, minimum)
    except FormError as exc:
        msg = message(request, exc.key, **exc.values)
        return _result_page(request, user, batch, status_code=422, password_error=msg)
    content = calls.encrypted_result(ctx_of(request), batch, secret)
    if content is None:
        return error_page(request, user, 409, L("error_not_ready"))
    return send_file(content, "application/zip", f"nhihub-result-{batch.id}.zip")


@router.get("/uploads/{batch_id}/records/{index}")
def record_detail(request: Request, batch_id: int, index: int) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    batch = _visible_batch(request, user, batch_id)
    if batch is None:
        return error_page(request, user, 404, L("error_batch_not_found"))
    stored = calls.record_for(ctx_of(request), batch, index)
    if stored is None:
        return error_page(request, user, 404, L("error_record_not_found"))
    view = record_view(stored.record, stored.findings, stored.valid)
    return render(
        request,
        "record.html",
        user=user,
        title=L("title_record"),
        active="uploads",
        batch=batch,
        record=view,
    )


router.include_router(report_routes.router)


@router.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    return error_page(request, current_user(request), 404, L("error_page_not_found"))


__all__ = ["PREFIX", "UPLOAD_PATH", "ConsoleUser", "router"]
