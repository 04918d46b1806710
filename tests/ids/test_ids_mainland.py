"""Residence permit (台灣居民居住證) and travel permit (台灣居民來往大陸通行證)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.ids import check, make_residence_permit, mod11_2_check

TODAY = dt.date(2025, 6, 30)


def oracle_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 from its definition: weight 2^(18-i) mod 11, check = (12 - S) mod 11."""
    s = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    v = (12 - s % 11) % 11
    return "X" if v == 10 else str(v)


def permit(first17: str) -> str:
    return first17 + oracle_check_char(first17)


def test_standard_examples() -> None:
    # The worked examples of the mainland citizen-number standard (GB 11643).
    assert mod11_2_check("11010519491231002") == "X" == oracle_check_char("11010519491231002")
    assert mod11_2_check("44052418800101001") == "4" == oracle_check_char("44052418800101001")


@pytest.mark.parametrize(
    ("value", "reason", "gender"),
    [
        (permit("83000019900101001"), None, "M"),
        (permit("83000020000229002"), None, "F"),  # leap day
        (permit("83000019000101003"), None, "M"),  # earliest plausible birth date
        (permit("83000020250630004"), None, "F"),  # born today
        (permit("83000020250701003"), "birthdate", None),  # tomorrow
        (permit("83000018991231003"), "birthdate", None),
        (permit("83000019900230001"), "calendar", None),
        (permit("83000019901301001"), "calendar", None),
        (permit("81000019900101001"), "region", None),  # Hong Kong residents' permit
        (permit("82000019900101001"), "region", None),  # Macau residents' permit
        ("11010519491231002X", "region", None),  # a mainland citizen number
        ("83000019900101001" + "0", "checksum", None),
        ("8300001990010100", "length", None),
        ("83000019900101001X1", "length", None),
        ("8300001990X101001X", "shape", None),
        ("83000019900101001A", "shape", None),
    ],
)
def test_residence_permit(value: str, reason: str | None, gender: str | None) -> None:
    r = check(value, "residence-permit", today=TODAY)
    assert (r.reason, r.gender) == (reason, gender)
    if len(value) == 18:
        assert check(value, today=TODAY).kind == "residence-permit"


def test_lower_case_x_and_full_width() -> None:
    number = permit("83000019900101008")
    assert number.endswith("X")
    for typed in (number.lower(), number[:6] + " " + number[6:], number.translate(
            str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))):  # fmt: skip
        r = check(typed, today=TODAY)
        assert (r.valid, r.normalized) == (True, number)


def test_default_today_is_the_local_date() -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert check(make_residence_permit(tomorrow, 1)).reason == "birthdate"
    assert check(make_residence_permit(dt.date.today(), 1)).valid


def test_generator_arguments() -> None:
    for args in [(-1, "830000"), (1000, "830000"), (1, "83000"), (1, "83000a")]:
        with pytest.raises(ValueError):
            make_residence_permit(dt.date(1990, 1, 1), args[0], args[1])


permits = st.builds(
    make_residence_permit, st.dates(dt.date(1900, 1, 1), TODAY), st.integers(0, 999)
)


@given(permits)
def test_generated_permits_validate(number: str) -> None:
    assert number[17] == oracle_check_char(number[:17])
    r = check(number, today=TODAY)
    assert r.valid
    assert r.gender == ("M" if int(number[16]) % 2 else "F")


@given(permits, st.integers(0, 17), st.integers(1, 10))
def test_every_single_character_change_is_rejected(number: str, index: int, step: int) -> None:
    alphabet = "0123456789X" if index == 17 else "0123456789"
    if step >= len(alphabet):
        step = 1
    new = alphabet[(alphabet.index(number[index]) + step) % len(alphabet)]
    assert not check(number[:index] + new + number[index + 1 :], today=TODAY).valid


@pytest.mark.parametrize(
    "value",
    [
        "12345678",
        "12345678 01 (B)",
        "1234567801(B)",
        "1234567801B",
        "12345678(B)",
        "12345678 B",
        "１２３４５６７８（ｂ）",
    ],
)
def test_travel_permit_forms(value: str) -> None:
    r = check(value)
    assert (r.kind, r.valid, r.normalized) == ("travel-permit", True, "12345678")


def test_ten_digits_are_an_institution_code_unless_the_kind_is_given() -> None:
    assert check("1234567801").kind == "institution"
    r = check("1234567801", "travel-permit")
    assert (r.valid, r.normalized) == (True, "12345678")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1234567", "length"),
        ("123456789", "length"),
        ("123456780123", "length"),
        ("12345678(B", "shape"),
        ("12345678()", "shape"),
        ("12345678BB", "shape"),
        ("123456781(B)", "shape"),  # a 1-digit issue count
        ("T1234567", "shape"),
    ],
)
def test_travel_permit_invalid(value: str, reason: str) -> None:
    assert check(value, "travel-permit").reason == reason
