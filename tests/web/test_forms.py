"""Form values: dates as NHI's screens write them (ROC) or ISO, ranges, kinds, identifiers,
institution codes, zip passwords and where to go after signing in."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.web.forms import (
    FormError,
    parse_as_of,
    parse_day,
    parse_institution,
    parse_kind,
    parse_page,
    parse_password,
    parse_range,
    parse_visit_id,
    roc_slash,
    safe_next,
)
from nhihub.web.i18n import console_spec

TODAY = dt.date(2024, 3, 21)


@pytest.mark.parametrize("value", ["113/03/16", "113/3/16", "1130316", " 2024-03-16 "])
def test_parse_day(value: str) -> None:
    assert parse_day(value) == dt.date(2024, 3, 16)


@pytest.mark.parametrize("value", ["", "113/13/01", "113/02/30", "2024-02-30", "yesterday",
                                   "12345678", "0000101"])  # fmt: skip
def test_parse_day_refuses(value: str) -> None:
    with pytest.raises(FormError) as info:
        parse_day(value)
    assert info.value.key == "error_bad_date"


@given(st.dates(min_value=dt.date(1912, 1, 1), max_value=dt.date(2910, 12, 31)))
def test_roc_slash_round_trip(day: dt.date) -> None:
    assert parse_day(roc_slash(day)) == day


def test_parse_range_defaults_and_limits() -> None:
    days = console_spec().default_range_days
    assert parse_range(None, None, TODAY) == (TODAY - dt.timedelta(days=days - 1), TODAY)
    assert parse_range("113/03/01", "", TODAY) == (
        dt.date(2024, 3, 1), dt.date(2024, 3, 1) + dt.timedelta(days=days - 1))  # fmt: skip
    assert parse_range("", "113/03/10", TODAY)[1] == dt.date(2024, 3, 10)
    with pytest.raises(FormError) as order:
        parse_range("113/03/10", "113/03/01", TODAY)
    assert order.value.key == "error_range_order"
    with pytest.raises(FormError) as long:
        parse_range("112/01/01", "113/03/01", TODAY)
    assert long.value.key == "error_range_long"
    assert long.value.values == {"days": console_spec().max_range_days}


def test_parse_as_of() -> None:
    assert parse_as_of(None, TODAY) == TODAY
    assert parse_as_of("1130320", TODAY) == dt.date(2024, 3, 20)


def test_parse_kind() -> None:
    assert parse_kind(" a2 ") == "A2"
    for bad in (None, "", "ZZ", "A3"):
        with pytest.raises(FormError):
            parse_kind(bad)


def test_parse_visit_id() -> None:
    assert parse_visit_id(" 1byf wzq2 1qqx y3b5 4x0l ") == "1BYFWZQ21QQXY3B54X0L"
    for bad in ("", "SHORT", "1BYFWZQ21QQXY3B54X0I", "1BYFWZQ21QQXY3B54X0L1"):
        with pytest.raises(FormError):
            parse_visit_id(bad)


def test_parse_institution() -> None:
    assert parse_institution(None) is None and parse_institution("  ") is None
    assert parse_institution(" 3501200000 ") == "3501200000"
    with pytest.raises(FormError):
        parse_institution("35012")


def test_parse_password() -> None:
    assert parse_password("A123456789", 8) == "A123456789"
    for bad in (None, "short", "密碼密碼密碼密碼密碼"):
        with pytest.raises(FormError) as info:
            parse_password(bad, 8)
        assert info.value.values == {"min": 8}


def test_parse_page() -> None:
    assert [parse_page(v) for v in (None, "3", "0", "-2", "x")] == [1, 3, 1, 1, 1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/console/uploads?from=113/03/01", "/console/uploads?from=113/03/01"),
     ("/console", "/console"), ("https://evil.example/console/x", None),
     ("//evil.example/console", None), ("/consolex", None), ("/api/v1/uploads", None),
     ("/console\\..\\x", None), ("", None), (None, None)],
)  # fmt: skip
def test_safe_next(value: str | None, expected: str | None) -> None:
    assert safe_next(value, "/console") == expected
