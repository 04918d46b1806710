"""Reading query parameters (pure): dates, upload kinds, result formats."""

from __future__ import annotations

import datetime as dt
import re

from nhihub.api.errors import ApiError
from nhihub.ids.rocdate import RocDateError, parse_roc_date

_AD_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ROC_DATE = re.compile(r"\d{7}")

# format parameter -> (service format, media type, file suffix)
RESULT_FORMATS: dict[str, tuple[str, str, str]] = {
    "json": ("json", "application/json; charset=utf-8", "json"),
    "csv": ("csv", "text/csv; charset=utf-8", "csv"),
    "nhi": ("nhi-text", "text/plain; charset=big5", "txt"),
    "nhi-zip": ("nhi-zip", "application/zip", "zip"),
}


def parse_date(value: str | None) -> dt.date | None:
    """``YYYY-MM-DD`` (AD) or ``YYYMMDD`` (ROC, as NHI's screens use); ``None`` when empty."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if _AD_DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
        if _ROC_DATE.fullmatch(text):
            return parse_roc_date(text)
    except (ValueError, RocDateError):
        pass
    raise ApiError("bad-date")


def parse_result_format(value: str) -> tuple[str, str, str]:
    """The ``format`` parameter of a result download: json, csv, nhi (Big5 text) or nhi-zip."""
    spec = RESULT_FORMATS.get(value.strip().lower())
    if spec is None:
        raise ApiError("bad-format")
    return spec
