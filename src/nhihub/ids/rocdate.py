"""ROC (民國) dates and date-times as used by NHI files.

- ROC date 民國日期 ``YYYMMDD`` (7 digits): year + 1911 = AD year.
- ROC date-time ``YYYMMDDHHMMSS`` (13 digits).

Parsing is strict: exactly the digits, a real calendar date (1130230 is invalid), hours 00-23,
minutes and seconds 00-59. ROC year 0 does not exist (民國元年 is year 1).
"""

from __future__ import annotations

import datetime as dt
import re

ROC_OFFSET = 1911

# Regexes for the hot path of the record checks: they match only valid dates and date-times,
# so a match needs no parsing. 29 February is left out (whether it exists depends on the year):
# a value they do not match may still be valid, ask :func:`is_roc_date` / :func:`is_roc_datetime`.
_YEAR = "(?!000)[0-9]{3}"
_MONTH_DAY = (
    "(?:(?:0[1-9]|1[0-2])(?:0[1-9]|1[0-9]|2[0-8])"  # day 1-28 of every month
    "|(?:0[13-9]|1[0-2])(?:29|30)"  # 29, 30: every month but February
    "|(?:0[13578]|1[02])31)"  # 31: the long months
)
_CLOCK = "(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"
SURE_DATE = _YEAR + _MONTH_DAY
"""Regex (text) matching valid ROC dates ``YYYMMDD`` other than 29 February."""
SURE_DATETIME = SURE_DATE + _CLOCK
"""Regex (text) matching valid ROC date-times ``YYYMMDDHHMMSS`` other than on 29 February."""
_SURE_DATE = re.compile(SURE_DATE).fullmatch
_SURE_DATETIME = re.compile(SURE_DATETIME).fullmatch


class RocDateError(ValueError):
    """A value that is not a valid ROC date or date-time; ``reason`` is a short code."""

    def __init__(self, reason: str, value: str) -> None:
        super().__init__(f"{reason}: {value!r}")
        self.reason = reason
        self.value = value


def _digits(value: str, length: int) -> str:
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise RocDateError("shape", value)
    return value


def parse_roc_date(value: str) -> dt.date:
    """Parse ``YYYMMDD`` into a :class:`datetime.date`; raise :class:`RocDateError`."""
    s = _digits(value, 7)
    year = int(s[:3])
    if year < 1:
        raise RocDateError("year", value)
    try:
        return dt.date(year + ROC_OFFSET, int(s[3:5]), int(s[5:7]))
    except ValueError:
        raise RocDateError("calendar", value) from None


def parse_roc_datetime(value: str) -> dt.datetime:
    """Parse ``YYYMMDDHHMMSS`` into a naive :class:`datetime.datetime` (Taiwan local time)."""
    s = _digits(value, 13)
    try:
        day = parse_roc_date(s[:7])
    except RocDateError as exc:
        raise RocDateError(exc.reason, value) from None
    try:
        return dt.datetime.combine(day, dt.time(int(s[7:9]), int(s[9:11]), int(s[11:13])))
    except ValueError:
        raise RocDateError("clock", value) from None


def format_roc_date(value: dt.date) -> str:
    """Format a date as ``YYYMMDD``; years before 民國1年 or after 民國999年 are refused."""
    year = value.year - ROC_OFFSET
    if not 1 <= year <= 999:
        raise RocDateError("year", value.isoformat())
    return f"{year:03d}{value.month:02d}{value.day:02d}"


def format_roc_datetime(value: dt.datetime) -> str:
    """Format a date-time as ``YYYMMDDHHMMSS`` (seconds precision, any tzinfo ignored)."""
    return f"{format_roc_date(value.date())}{value.hour:02d}{value.minute:02d}{value.second:02d}"


def is_roc_date(value: str) -> bool:
    if _SURE_DATE(value):
        return True
    try:
        parse_roc_date(value)
    except RocDateError:
        return False
    return True


def is_roc_datetime(value: str) -> bool:
    if _SURE_DATETIME(value):
        return True
    try:
        parse_roc_datetime(value)
    except RocDateError:
        return False
    return True
