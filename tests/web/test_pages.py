"""What every page shares: the page language (query, then cookie, then zh-TW), the language
link (a page answering a form links to the form's page), and the package importing on its own
(the API imports the console, never the other way round at run time)."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

from nhihub.web.pages import page_lang, switch_url


def _request(method: str = "GET", path: str = "/console/uploads", query: str = "",
             cookie: str = "") -> Request:  # fmt: skip
    headers = [(b"cookie", cookie.encode())] if cookie else []
    scope = {"type": "http", "method": method, "path": path,
             "query_string": query.encode(), "headers": headers}  # fmt: skip
    return Request(scope)


def test_page_language_order() -> None:
    assert page_lang(_request()) == "zh"
    assert page_lang(_request(cookie="nhihub_lang=en")) == "en"
    assert page_lang(_request(query="lang=zh-TW", cookie="nhihub_lang=en")) == "zh"
    assert page_lang(_request(query="lang=fr", cookie="nhihub_lang=en")) == "en"


def test_switch_url_keeps_the_query() -> None:
    url = switch_url(_request(query="from=113/03/01&to=113/03/07"), "zh", None)
    parts = urlsplit(url)
    assert parts.path == "/console/uploads"
    assert parse_qs(parts.query) == {"from": ["113/03/01"], "to": ["113/03/07"], "lang": ["en"]}
    back = switch_url(_request(query="lang=en"), "en", None)
    assert parse_qs(urlsplit(back).query) == {"lang": ["zh-TW"]}


def test_switch_url_of_a_form_answer() -> None:
    post = _request("POST", "/console/uploads/8/encrypted")
    assert switch_url(post, "zh", "/console/uploads/8") == "/console/uploads/8?lang=en"
    assert switch_url(post, "zh", None) == "/console/?lang=en"


def test_the_console_imports_on_its_own() -> None:
    code = "import nhihub.web, nhihub.api; print(nhihub.web.PREFIX)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "/console"
