from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from nhihub.reports.timeutil import day_bounds, from_taiwan, roc_minute, roc_slash, to_taiwan


def test_day_bounds_are_taiwan_midnights_in_utc() -> None:
    start, end = day_bounds(dt.date(2024, 3, 20), dt.date(2024, 3, 21))
    assert start == dt.datetime(2024, 3, 19, 16, tzinfo=dt.UTC)
    assert end == dt.datetime(2024, 3, 21, 16, tzinfo=dt.UTC)


def test_roc_display() -> None:
    assert roc_minute(dt.datetime(2024, 3, 20, 21, 0, 59)) == "113/03/20 21:00"
    assert roc_slash(dt.date(2024, 3, 16)) == "113/03/16"


@given(st.datetimes(min_value=dt.datetime(1912, 1, 2), max_value=dt.datetime(2900, 1, 1)))
def test_taiwan_round_trip(local: dt.datetime) -> None:
    moment = from_taiwan(local)
    assert moment - local.replace(tzinfo=dt.UTC) == dt.timedelta(hours=-8)
    assert to_taiwan(moment) == local
