"""Field-level helpers: numbers and the per-field checks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nhihub.checks.fieldlevel import check_fields, fast_rules, is_number, number
from nhihub.formats.model import Finding

RULES = fast_rules("2.0")
AS_OF = "1131015120000"


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=99))
def test_numbers_with_and_without_decimals(whole: int, frac: int) -> None:
    assert number(str(whole)) == whole
    assert number(f"{whole}.{frac}") == float(f"{whole}.{frac}")


@given(st.text(max_size=12))
def test_is_number_agrees_with_number(text: str) -> None:
    assert (number(text) is not None) == is_number(text)
    if is_number(text):
        assert text.isascii() and text.replace(".", "", 1).isdigit()


def test_not_numbers() -> None:
    for text in ("", ".", "-1", "+1", "1e5", "1.2.3", "nan", "inf", "１", " 1"):
        assert not is_number(text), text
    assert number(None) is None


def test_each_field_reports_its_first_problem() -> None:
    out: list[Finding] = []
    check_fields(
        {"M11": "1131015250000", "M04": "06503", "M20": "x", "M13": "000001", "M99": "?"},
        RULES,
        AS_OF,
        out,
    )
    assert {(f.field, f.code) for f in out} == {
        ("M11", "AD"),
        ("M04", "AC"),
        ("M20", "AB"),
        ("M13", "AC"),
    }


def test_order_lines_are_named_by_index_and_not_compared_with_the_upload_time() -> None:
    out: list[Finding] = []
    check_fields({"D01": "1131016093000", "D03": "1"}, RULES, AS_OF, out, line=4)
    assert out == [Finding("D03[4]", "AC")]
