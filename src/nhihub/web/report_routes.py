"""The console's report pages: the 1.0-vs-2.0 pre-check report and its encrypted export,
visit and refill look-up, and the insurer staff's dashboards with server-rendered SVG charts.
Included by :mod:`nhihub.web.routes` (same prefix, same rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from nhihub.reports import (
    category_label,
    check_codes_chart,
    refill_blocks_chart,
    timeliness_chart,
    uploads_chart,
)
from nhihub.reports.aeszip import ZipPasswordError
from nhihub.reports.spec import reports_spec
from nhihub.web import calls
from nhihub.web.forms import (
    FormError,
    parse_as_of,
    parse_institution,
    parse_password,
    parse_range,
    parse_visit_id,
    roc_slash,
)
from nhihub.web.i18n import L
from nhihub.web.pages import (
    PREFIX,
    ConsoleUser,
    csrf_ok,
    ctx_of,
    current_user,
    error_page,
    message,
    page_lang,
    render,
    send_file,
    to_login,
)
from nhihub.web.render import svg
from nhihub.web.views import code_label

RX_KINDS: Mapping[str, str] = {"C": L("rx_kind_c"), "F": L("rx_kind_f")}

router = APIRouter()


def institution_param(user: ConsoleUser, value: str | None) -> tuple[str | None, str | None]:
    """(institution to show, error key): institutions always see their own; staff may pick
    one or see all."""
    if not user.is_staff:
        return user.scope, None
    try:
        return parse_institution(value), None
    except FormError as exc:
        return None, exc.key


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A listing's date range and institution from the query, and the message when either was
    not usable (the default range, or no institution filter, is used instead)."""

    first: dt.date
    last: dt.date
    institution: str | None
    error: str | None


def range_query(request: Request, user: ConsoleUser) -> RangeQuery:
    """``from``, ``to`` and ``institution`` of the uploads and dashboard pages."""
    q = request.query_params
    today = calls.taiwan_today()
    error = None
    try:
        first, last = parse_range(q.get("from"), q.get("to"), today)
    except FormError as exc:
        error = message(request, exc.key, **exc.values)
        first, last = parse_range(None, None, today)
    wanted, bad = institution_param(user, q.get("institution"))
    if bad is not None:
        error = message(request, bad)
    return RangeQuery(first, last, wanted, error)


# -- the pre-check report ------------------------------------------------------------------------


def _precheck_page(
    request: Request,
    user: ConsoleUser,
    *,
    as_of_text: str | None,
    institution_text: str | None,
    status_code: int = 200,
    password_error: str | None = None,
) -> HTMLResponse:
    ctx = ctx_of(request)
    lang = page_lang(request)
    today = calls.taiwan_today()
    error = None
    try:
        as_of = parse_as_of(as_of_text, today)
    except FormError as exc:
        error, as_of = message(request, exc.key), today
    wanted, bad = institution_param(user, institution_text)
    if bad is not None:
        error = message(request, bad)
    report = calls.precheck(ctx, wanted, as_of, lang)
    spec = reports_spec()
    return render(
        request,
        "precheck.html",
        user=user,
        title=L("title_precheck"),
        active="precheck",
        here=f"{PREFIX}/precheck?"
        + urlencode({"as_of": roc_slash(as_of), "institution": wanted or ""}),
        status_code=422 if error is not None and status_code == 200 else status_code,
        error=error,
        report=report,
        as_of=roc_slash(as_of),
        institution=wanted or "",
        institutions=calls.institutions(ctx) if user.is_staff else [],
        columns=spec.precheck.columns[lang],
        password_error=password_error,
        min_password=spec.export.password_min_length,
    )


@router.get("/precheck")
def precheck(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    q = request.query_params
    return _precheck_page(
        request, user, as_of_text=q.get("as_of"), institution_text=q.get("institution")
    )


@router.post("/precheck/export")
def precheck_export(
    request: Request,
    as_of: Annotated[str, Form()] = "",
    institution: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    if not csrf_ok(user, csrf):
        return error_page(request, user, 403, L("error_form_expired"))
    try:
        day = parse_as_of(as_of, calls.taiwan_today())
        wanted = parse_institution(institution) if user.is_staff else user.scope
        secret = parse_password(password, reports_spec().export.password_min_length)
    except FormError as exc:
        return _precheck_page(
            request,
            user,
            as_of_text=as_of,
            institution_text=institution,
            status_code=422,
            password_error=message(request, exc.key, **exc.values),
        )
    minimum = reports_spec().export.password_min_length
    try:
        content = calls.precheck_zip(ctx_of(request), wanted, day, secret)
    except ZipPasswordError:  # parse_password refuses the same passwords first
        return error_page(request, user, 422, L("error_bad_password"), min=minimum)
    stamp = roc_slash(day).replace("/", "")
    return send_file(content, "application/zip", f"precheck-{wanted or 'all'}-{stamp}.zip")


# -- visits and refills --------------------------------------------------------------------------


@router.get("/visits")
def visits(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    typed = request.query_params.get("m15", "")
    lookup = None
    error = None
    if typed.strip():
        try:
            m15 = parse_visit_id(typed)
        except FormError as exc:
            error = message(request, exc.key)
        else:
            lookup = calls.look_up(ctx_of(request), user.viewer, m15)
    lang = page_lang(request)
    visit = None if lookup is None else lookup.visit
    category = None
    if visit is not None and visit.category is not None:
        category = category_label(visit.category, lang)
    h01 = None if visit is None else code_label("h01", visit.h01, lang)
    return render(
        request,
        "visits.html",
        user=user,
        title=L("title_visits"),
        active="visits",
        status_code=422 if error is not None else 200,
        error=error,
        m15=typed.strip(),
        lookup=lookup,
        visit=visit,
        category=category,
        h01=h01,
        rx_kinds=RX_KINDS,
    )


# -- dashboards (staff) --------------------------------------------------------------------------


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return to_login(request)
    if not user.is_staff:
        return error_page(request, user, 403, L("error_staff_only"))
    ctx = ctx_of(request)
    query = range_query(request, user)
    first, last, wanted, error = query.first, query.last, query.institution, query.error
    board = calls.dashboards(ctx, first, last, wanted)
    charts = {
        "uploads": svg(uploads_chart(board.uploads_by_day)),
        "records": svg(uploads_chart(board.records_by_day, records=True)),
        "codes": svg(check_codes_chart(board.top_codes)),
        "timeliness": svg(timeliness_chart(board.timeliness)),
        "blocks": svg(refill_blocks_chart(board.refill_blocks)),
    }
    return render(
        request,
        "dashboard.html",
        user=user,
        title=L("title_dashboard"),
        active="dashboard",
        status_code=422 if error is not None else 200,
        error=error,
        board=board,
        charts=charts,
        first=roc_slash(first),
        last=roc_slash(last),
        institution=wanted or "",
        institutions=calls.institutions(ctx),
        target_percent=f"{board.timeliness.target * 100:.0f}%",
    )
