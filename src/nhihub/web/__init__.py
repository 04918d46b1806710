"""The web console (``/console``): server-rendered pages for people who do not read JSON.

Sign in with an API token; upload a file and watch it being checked; the result with the
counts of NHI's result screen and the downloads (NHI text, CSV, encrypted zip); each invalid
record field by field with NHI's wording of its check codes; the 1.0-vs-2.0 pre-check report and
its encrypted export; visit and refill look-up; the insurer staff's dashboards with SVG charts.
zh-TW by default, English with ``?lang=en``. No JavaScript. See docs/web.md.

``router`` is mounted by :func:`nhihub.api.create_app`; ``UPLOAD_PATH`` gets the upload size
limit there.
"""

from nhihub.web.i18n import L, Translator, console_spec, labels, normalize_lang, text
from nhihub.web.pages import PREFIX, UPLOAD_PATH, ConsoleUser
from nhihub.web.routes import router
from nhihub.web.session import WebSession, cookie_key, decode_session, new_session

__all__ = [
    "PREFIX",
    "UPLOAD_PATH",
    "ConsoleUser",
    "L",
    "Translator",
    "WebSession",
    "console_spec",
    "cookie_key",
    "decode_session",
    "labels",
    "new_session",
    "normalize_lang",
    "router",
    "text",
]
