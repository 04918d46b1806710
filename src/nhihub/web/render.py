"""Pages from the Jinja2 templates in ``templates/`` (autoescaped, undefined names are errors),
the stylesheet, and the response headers every console answer carries: a Content-Security-
Policy that allows no script at all and nothing from another site, no caching of pages that
hold personal data, no framing."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.responses import Response

from nhihub.storage import code_table
from nhihub.web.forms import roc_slash
from nhihub.web.i18n import Translator
from nhihub.web.views import field_name, local_minute

SECURITY_HEADERS: Mapping[str, str] = {
    # No JavaScript anywhere; styles and images only from the console itself (charts are
    # inline SVG markup, not images).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("nhihub.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["minute"] = local_minute
    env.filters["roc_day"] = roc_slash
    return env


def number(value: int | None) -> str:
    """``29,581``: counts with thousands separators (``""`` for none)."""
    return "" if value is None else f"{value:,}"


def code_name(t: Translator, domain: str, code: str | None) -> str:
    """The name of a stored code (channel, kind, status, level, refill state) in ``t``'s
    language; the code itself when it is not listed."""
    if code is None:
        return ""
    names = code_table().get(domain, {}).get(code)
    return code if names is None else t.pick(*names)


def render_page(template: str, values: Mapping[str, Any]) -> str:
    t: Translator = values["t"]

    def names(domain: str, code: str | None) -> str:
        return code_name(t, domain, code)

    def field(field_id: str | None, version: str = "2.0") -> str:
        return field_name(field_id, version, t.lang)

    return (
        environment()
        .get_template(template)
        .render({**values, "code_name": names, "field_label": field})
    )


def svg(markup: str) -> Markup:
    """A chart of :mod:`nhihub.reports.charts` (its text is XML-escaped there) to embed."""
    return Markup(markup)  # built and XML-escaped by nhihub.reports.svg


@cache
def stylesheet() -> bytes:
    return resources.files("nhihub.web").joinpath("static/console.css").read_bytes()


__all__ = [
    "SECURITY_HEADERS",
    "code_name",
    "environment",
    "number",
    "render_page",
    "secure",
    "stylesheet",
    "svg",
]
