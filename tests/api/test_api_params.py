"""Query parameters: dates and result formats (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.api.errors import ApiError
from nhihub.api.params import RESULT_FORMATS, parse_date, parse_result_format
from nhihub.ids.rocdate import format_roc_date


@given(st.dates(min_value=dt.date(1912, 1, 1), max_value=dt.date(2910, 12, 31)))
def test_ad_and_roc_dates(day: dt.date) -> None:
    assert parse_date(day.isoformat()) == day
    assert parse_date(format_roc_date(day)) == day


@pytest.mark.parametrize("value", [None, "", "  "])
def test_empty_is_none(value: str | None) -> None:
    assert parse_date(value) is None


@pytest.mark.parametrize("value", ["2024-02-30", "113/03/16", "1130230", "yesterday", "2024-1-5"])
def test_bad_dates(value: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_date(value)
    assert exc.value.code == "bad-date"
    assert exc.value.status_code == 422


def test_result_formats() -> None:
    assert parse_result_format("nhi")[0] == "nhi-text"
    assert parse_result_format(" JSON ")[0] == "json"
    assert set(RESULT_FORMATS) == {"json", "csv", "nhi", "nhi-zip"}
    with pytest.raises(ApiError) as exc:
        parse_result_format("xml")
    assert exc.value.code == "bad-format"
