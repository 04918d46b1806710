"""What every console page shares: who is signed in (:class:`ConsoleUser`, from the signed
session cookie, looked up again on each request), the page language (``?lang=`` kept in a
cookie, zh-TW by default), rendering a template with the common values, error pages, redirects
and downloads with the security headers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nhihub.service import Viewer
from nhihub.web import calls
from nhihub.web.i18n import L, Translator, console_spec, normalize_lang
from nhihub.web.render import render_page, secure
from nhihub.web.session import (
    LANG_COOKIE,
    SESSION_COOKIE,
    SESSION_PURPOSE,
    WebSession,
    cookie_key,
    decode_session,
    same_token,
)

if TYPE_CHECKING:  # the API imports the console: no import back at run time
    from nhihub.api.context import ApiContext

PREFIX = "/console"
UPLOAD_PATH = f"{PREFIX}/upload"
LANG_COOKIE_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The signed-in person: the token's viewer, its session and its institution's name."""

    viewer: Viewer
    session: WebSession
    institution_name: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.viewer.role == "staff"

    @property
    def can_upload(self) -> bool:
        return self.viewer.role == "institution"

    @property
    def scope(self) -> str | None:
        """The institution whose data the pages show (``None``: staff, every institution)."""
        return self.viewer.institution


def ctx_of(request: Request) -> ApiContext:
    """The API's context (settings, engine) that :func:`nhihub.api.create_app` keeps."""
    ctx: ApiContext = request.app.state.nhihub
    return ctx


def cookie_key_for(ctx: ApiContext, purpose: str) -> bytes:
    return cookie_key(ctx.settings.data_key, purpose)


def page_lang(request: Request) -> str:
    return (
        normalize_lang(request.query_params.get("lang"))
        or normalize_lang(request.cookies.get(LANG_COOKIE))
        or console_spec().default_language
    )


def secure_cookie(request: Request) -> bool:
    # Behind a TLS proxy the cookies are Secure; the sandbox itself speaks plain HTTP.
    return request.url.scheme == "https"


def current_user(request: Request) -> ConsoleUser | None:
    ctx = ctx_of(request)
    session = decode_session(
        request.cookies.get(SESSION_COOKIE), cookie_key_for(ctx, SESSION_PURPOSE), time.time()
    )
    if session is None:
        return None
    viewer = calls.viewer_of(ctx, session.token_hash)
    if viewer is None:
        return None
    name = None
    if viewer.institution is not None:
        inst = calls.institution(ctx, viewer.institution)
        name = None if inst is None else inst.name
    return ConsoleUser(viewer, session, name)


def switch_url(request: Request, lang: str, here: str | None) -> str:
    """This page in the other language. A page answering a form (POST) links to the page the
    form belongs to (``here``), since the form's own URL cannot be fetched."""
    other = "zh-TW" if lang == "en" else "en"
    if here is None and request.method != "GET":
        here = f"{PREFIX}/"
    if here is not None:
        parts = urlsplit(here)
        path, query = parts.path, dict(parse_qsl(parts.query))
    else:
        path, query = request.url.path, dict(request.query_params)
    query["lang"] = other
    return f"{path}?{urlencode(query)}"


def render(
    request: Request,
    template: str,
    *,
    user: ConsoleUser | None,
    title: str,
    status_code: int = 200,
    refresh: int | None = None,
    active: str = "",
    csrf: str | None = None,
    here: str | None = None,
    **values: Any,
) -> HTMLResponse:
    lang = page_lang(request)
    t = Translator(lang)
    html = render_page(
        template,
        {
            "t": t,
            "lang": lang,
            "P": PREFIX,
            "user": user,
            "title": title,
            "refresh": refresh,
            "active": active,
            "csrf": csrf if csrf is not None else (user.session.csrf if user else ""),
            "switch_url": switch_url(request, lang, here),
            "other_lang": "en" if lang == "zh" else "zh-TW",
            **values,
        },
    )
    response = HTMLResponse(html, status_code=status_code)
    if normalize_lang(request.query_params.get("lang")) is not None:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_COOKIE_SECONDS,
            path=PREFIX,
            samesite="lax",
            secure=secure_cookie(request),
            httponly=True,
        )
    secure(response)
    return response


def message(request: Request, key: str, **values: object) -> str:
    return Translator(page_lang(request))(key, **values)


def error_page(
    request: Request, user: ConsoleUser | None, status_code: int, key: str, **values: object
) -> HTMLResponse:
    titles = {
        400: L("title_bad_request"),
        403: L("title_forbidden"),
        404: L("title_not_found"),
        409: L("title_not_ready"),
        413: L("title_bad_request"),
        422: L("title_bad_request"),
    }
    return render(
        request,
        "error.html",
        user=user,
        title=titles.get(status_code, L("title_bad_request")),
        status_code=status_code,
        message=message(request, key, **values),
    )


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
    secure(response)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    secure(response)
    return response


def send_file(content: bytes, media: str, filename: str) -> Response:
    response = Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
    secure(response)
    return response


def csrf_ok(user: ConsoleUser, given: str | None) -> bool:
    return same_token(user.session.csrf, given)


__all__ = [
    "LANG_COOKIE_SECONDS",
    "PREFIX",
    "UPLOAD_PATH",
    "ConsoleUser",
    "cookie_key_for",
    "csrf_ok",
    "ctx_of",
    "current_user",
    "error_page",
    "message",
    "page_lang",
    "redirect",
    "render",
    "secure_cookie",
    "send_file",
    "to_login",
]
