"""Taiwan local time: moments are stored in UTC, dates and visit times in the files are Taiwan
local (UTC+8, no daylight saving), and the screens show ROC dates. Whatever the machine's own
time zone, "now" for an upload or a check is Taiwan's."""

from __future__ import annotations

import datetime as dt

from nhihub.ids.rocdate import format_roc_date
from nhihub.visitid import TAIWAN


def to_taiwan(moment: dt.datetime) -> dt.datetime:
    """An aware moment as naive Taiwan local time (naive input is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(TAIWAN).replace(tzinfo=None)


def from_taiwan(local: dt.datetime) -> dt.datetime:
    """A naive Taiwan local time as an aware UTC moment."""
    return local.replace(tzinfo=TAIWAN).astimezone(dt.UTC)


def taiwan_now() -> dt.datetime:
    """Now as naive Taiwan local time (the clock of upload times, 上傳日期時間)."""
    return dt.datetime.now(TAIWAN).replace(tzinfo=None)


def taiwan_today(now: dt.datetime | None = None) -> dt.date:
    return to_taiwan(now or dt.datetime.now(dt.UTC)).date()


def day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC moments [start, end) covering Taiwan dates ``first``..``last`` (both included)."""
    if last < first:
        raise ValueError(f"date range ends before it starts: {first} > {last}")
    start = from_taiwan(dt.datetime.combine(first, dt.time()))
    end = from_taiwan(dt.datetime.combine(last + dt.timedelta(days=1), dt.time()))
    return start, end


def roc_minute(local: dt.datetime) -> str:
    """``113/03/20 21:00``, as the upload-result screen shows a date-time."""
    day = format_roc_date(local.date())
    return f"{day[:3]}/{day[3:5]}/{day[5:]} {local:%H:%M}"


def roc_slash(day: dt.date) -> str:
    """``113/03/20``."""
    text = format_roc_date(day)
    return f"{text[:3]}/{text[3:5]}/{text[5:]}"
