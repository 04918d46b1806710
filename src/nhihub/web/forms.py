"""What people type into the console's forms, checked (pure). A wrong value raises
:class:`FormError` with the label key of its message (``data/i18n.tsv``), never echoing the value
back in a log."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from nhihub.checks.visitids import IDENTIFIER_SHAPE
from nhihub.ids.rocdate import RocDateError, format_roc_date, parse_roc_date
from nhihub.reports.aeszip import ZipPasswordError, check_password
from nhihub.visitid import VisitIdError, normalize_institution
from nhihub.web.i18n import L, console_spec

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_ROC = re.compile(r"\d{2,3}/\d{1,2}/\d{1,2}")


class FormError(ValueError):
    """A value the console cannot use; ``key`` names the message in ``i18n.tsv``."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def parse_day(value: str) -> dt.date:
    """A date as typed: ROC ``113/03/16`` or ``1130316`` (as NHI's screens show dates), or ISO
    ``2024-03-16``."""
    text = value.strip()
    try:
        if _ISO.fullmatch(text):
            return dt.date.fromisoformat(text)
        if _ROC.fullmatch(text):
            year, month, day = (int(p) for p in text.split("/"))
            return parse_roc_date(f"{year:03d}{month:02d}{day:02d}")
        if text.isdigit() and len(text) in (6, 7):
            return parse_roc_date(text.zfill(7))
    except (RocDateError, ValueError):
        raise FormError(L("error_bad_date")) from None
    raise FormError(L("error_bad_date"))


def roc_slash(day: dt.date) -> str:
    """``113/03/16``: how the forms show a date."""
    text = format_roc_date(day)
    return f"{text[:3]}/{text[3:5]}/{text[5:]}"


def parse_range(
    date_from: str | None, date_to: str | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """A range of days, both included: by default the configured number of days ending today;
    one end given: the other follows from the default length."""
    spec = console_spec()
    span = dt.timedelta(days=spec.default_range_days - 1)
    first = parse_day(date_from) if date_from and date_from.strip() else None
    last = parse_day(date_to) if date_to and date_to.strip() else None
    if first is None and last is None:
        last = today
    if first is None:
        assert last is not None
        first = last - span
    if last is None:
        last = first + span
    if last < first:
        raise FormError(L("error_range_order"))
    if (last - first).days + 1 > spec.max_range_days:
        raise FormError(L("error_range_long"), days=spec.max_range_days)
    return first, last


def parse_as_of(value: str | None, today: dt.date) -> dt.date:
    """The pre-check report's system date (default today)."""
    return parse_day(value) if value and value.strip() else today


def parse_kind(value: str | None) -> str:
    kind = (value or "").strip().upper()
    if kind not in console_spec().upload_kinds:
        raise FormError(L("error_bad_kind"))
    return kind


def parse_visit_id(value: str) -> str:
    """A 就醫識別碼 as typed (spaces and case forgiven); :class:`FormError` when it is not one
    (the service says D074 for that; the page says it before asking)."""
    text = re.sub(r"\s+", "", value).upper()
    if not IDENTIFIER_SHAPE.fullmatch(text):
        raise FormError(L("error_bad_visit_id"))
    return text


def parse_institution(value: str | None) -> str | None:
    """An institution code, or ``None`` for none given (staff: every institution)."""
    if value is None or not value.strip():
        return None
    try:
        return normalize_institution(value.strip().upper())
    except VisitIdError:
        raise FormError(L("error_bad_institution")) from None


def parse_password(value: str | None, min_length: int) -> str:
    """A zip password: printable ASCII, at least ``min_length`` characters."""
    try:
        check_password(value or "", min_length)
    except ZipPasswordError:
        raise FormError(L("error_bad_password"), min=min_length) from None
    return value or ""


def parse_page(value: str | None) -> int:
    try:
        page = int((value or "1").strip())
    except ValueError:
        return 1
    return max(page, 1)


def safe_next(value: str | None, prefix: str) -> str | None:
    """Where to go after signing in: only a path of the console itself (no other site)."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//") or "\\" in value:
        return None
    if not (parts.path == prefix or parts.path.startswith(f"{prefix}/")):
        return None
    return value


__all__ = [
    "FormError",
    "parse_as_of",
    "parse_day",
    "parse_institution",
    "parse_kind",
    "parse_page",
    "parse_password",
    "parse_range",
    "parse_visit_id",
    "roc_slash",
    "safe_next",
]
