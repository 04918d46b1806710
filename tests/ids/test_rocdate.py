"""ROC (民國) dates YYYMMDD and date-times YYYMMDDHHMMSS."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.ids.rocdate import (
    SURE_DATE,
    SURE_DATETIME,
    RocDateError,
    format_roc_date,
    format_roc_datetime,
    is_roc_date,
    is_roc_datetime,
    parse_roc_date,
    parse_roc_datetime,
)

FIRST, LAST = dt.date(1912, 1, 1), dt.date(2910, 12, 31)  # 民國1年 - 民國999年


def oracle_is_date(s: str) -> bool:
    if len(s) != 7 or not all("0" <= c <= "9" for c in s) or int(s[:3]) == 0:
        return False
    try:
        dt.date(int(s[:3]) + 1911, int(s[3:5]), int(s[5:]))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1130229", dt.date(2024, 2, 29)),
        ("0010101", dt.date(1912, 1, 1)),
        ("9991231", dt.date(2910, 12, 31)),
        ("0890101", dt.date(2000, 1, 1)),
    ],
)
def test_valid_dates(value: str, expected: dt.date) -> None:
    assert parse_roc_date(value) == expected
    assert format_roc_date(expected) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1130230", "calendar"),
        ("1120229", "calendar"),  # 2023 is not a leap year
        ("1131301", "calendar"),
        ("1130001", "calendar"),
        ("1130100", "calendar"),
        ("0000101", "year"),
        ("113022", "shape"),
        ("11302290", "shape"),
        ("113-229", "shape"),
        ("１１３０２２９", "shape"),  # full width: ROC dates are strict, no folding
        ("113022٩", "shape"),  # Arabic-Indic digit
        (" 1130229", "shape"),
    ],
)
def test_invalid_dates(value: str, reason: str) -> None:
    with pytest.raises(RocDateError) as info:
        parse_roc_date(value)
    assert (info.value.reason, info.value.value) == (reason, value)
    assert not is_roc_date(value)


def test_datetimes() -> None:
    assert parse_roc_datetime("1130229235959") == dt.datetime(2024, 2, 29, 23, 59, 59)
    assert format_roc_datetime(dt.datetime(2024, 2, 29, 23, 59, 59, 999)) == "1130229235959"
    for value, reason in [
        ("1130229240000", "clock"),
        ("1130229236000", "clock"),
        ("1130229235960", "clock"),
        ("1130230120000", "calendar"),
        ("0000101120000", "year"),
        ("113022912000", "shape"),
    ]:
        with pytest.raises(RocDateError) as info:
            parse_roc_datetime(value)
        assert (info.value.reason, info.value.value) == (reason, value)  # the whole value
        assert not is_roc_datetime(value)


def test_years_outside_the_format_are_refused() -> None:
    for day in (dt.date(1911, 12, 31), dt.date(2911, 1, 1)):
        with pytest.raises(RocDateError, match="year"):
            format_roc_date(day)


@given(st.dates(FIRST, LAST))
def test_date_round_trip(day: dt.date) -> None:
    text = format_roc_date(day)
    assert len(text) == 7
    assert parse_roc_date(text) == day


@given(st.from_regex(r"[0-9]{7}", fullmatch=True))
def test_format_parse_is_identity_on_valid_strings(value: str) -> None:
    assert is_roc_date(value) == oracle_is_date(value)
    if is_roc_date(value):
        assert format_roc_date(parse_roc_date(value)) == value


@given(st.datetimes(dt.datetime(1912, 1, 1), dt.datetime(2910, 12, 31, 23, 59, 59)))
def test_datetime_round_trip(moment: dt.datetime) -> None:
    text = format_roc_datetime(moment)
    assert parse_roc_datetime(text) == moment.replace(microsecond=0)
    assert format_roc_datetime(parse_roc_datetime(text)) == text


# -- the regexes the record checks match dates with (SURE_DATE, SURE_DATETIME) -----------------

# Leap years and not (2000, 2100, 2024, 2023), the first and last years, year 0.
_YEARS = ["000", "001", "089", "189", "113", "112", "999"]


@pytest.mark.parametrize("year", _YEARS)
def test_sure_date_is_every_valid_date_but_29_february(year: str) -> None:
    sure = re.compile(SURE_DATE)
    for month_day in range(10_000):
        value = f"{year}{month_day:04d}"
        matched = sure.fullmatch(value) is not None
        assert matched == (oracle_is_date(value) and month_day != 229), value
        assert is_roc_date(value) == oracle_is_date(value)


@given(st.from_regex(r"[0-9]{13}", fullmatch=True) | st.text(max_size=14))
def test_sure_datetime_matches_only_valid_datetimes(value: str) -> None:
    matched = re.fullmatch(SURE_DATETIME, value) is not None
    try:
        parse_roc_datetime(value)
        valid = True
    except RocDateError:
        valid = False
    assert is_roc_datetime(value) == valid
    assert not matched or valid
    assert matched or not valid or value[3:7] == "0229"


@given(st.datetimes(dt.datetime(1912, 1, 1), dt.datetime(2910, 12, 31, 23, 59, 59)))
def test_sure_datetime_matches_every_datetime_but_29_february(moment: dt.datetime) -> None:
    value = format_roc_datetime(moment)
    assert (re.fullmatch(SURE_DATETIME, value) is not None) == (value[3:7] != "0229")
