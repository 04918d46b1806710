"""Rendering helpers: code names in the page's language, numbers, the security headers, and
templates that fail loudly on an undefined name."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError
from starlette.responses import Response

from nhihub.web.i18n import Translator
from nhihub.web.render import (
    SECURITY_HEADERS,
    code_name,
    environment,
    number,
    secure,
    stylesheet,
    svg,
)


def test_code_name() -> None:
    assert code_name(Translator("zh"), "upload_kind", "A2") == "預檢上傳"
    assert code_name(Translator("en"), "upload_kind", "A2") == "pre-check upload"
    assert code_name(Translator("zh"), "upload_kind", "Q9") == "Q9"
    assert code_name(Translator("zh"), "batch_status", None) == ""


def test_number() -> None:
    assert (number(29581), number(0), number(None)) == ("29,581", "0", "")


def test_secure_sets_every_header_without_overriding() -> None:
    response = secure(Response("x", headers={"Cache-Control": "public, max-age=60"}))
    assert response.headers["cache-control"] == "public, max-age=60"
    for name in SECURITY_HEADERS:
        assert name.lower() in response.headers
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # default-src 'none'


def test_templates_refuse_undefined_names() -> None:
    template = environment().from_string("{{ nothing }}")
    with pytest.raises(UndefinedError):
        template.render()


def test_templates_escape_values() -> None:
    html = environment().get_template("error.html").render(
        t=Translator("zh"), title="title_not_found", message="<script>x</script>", user=None,
        P="/console", refresh=None, switch_url="/", other_lang="en", csrf="",
    )  # fmt: skip
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_stylesheet_has_focus_styles_and_no_remote_assets() -> None:
    css = stylesheet().decode("utf-8")
    assert ":focus-visible" in css and ".skip-link:focus" in css
    assert "http" not in css and "@import" not in css


def test_svg_is_kept_as_markup() -> None:
    assert str(svg("<svg></svg>")) == "<svg></svg>"
