"""The entry point: auto-detection, institution codes, the result type and the reasons table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.ids import (
    KINDS,
    check,
    is_valid_institution_code,
    make_residence_permit,
    reason_message,
    reasons,
)
from nhihub.ids.base import kind_names
from nhihub.ids.institution import INSTITUTION_SHAPE, is_institution_code, validate_institution
from nhihub.ids.rocdate import RocDateError, parse_roc_date, parse_roc_datetime

TODAY = dt.date(2025, 6, 30)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("A123456789", "national"),
        ("A323456789", "national"),  # reported as a national ID with a bad gender code
        ("A12345", "national"),
        ("A800000014", "resident-tw"),
        ("FA12345689", "resident-tw"),
        ("FD1", "resident-tw"),
        (make_residence_permit(dt.date(1990, 1, 1), 1), "residence-permit"),
        ("11010519491231002X", "residence-permit"),
        ("12345678", "travel-permit"),
        ("12345678(B)", "travel-permit"),
        ("1234567801B", "travel-permit"),
        ("0401180014", "institution"),
        ("1234567801", "institution"),  # 10 plain digits: institution, never a travel permit
        ("040118AB14", "institution"),
        ("04011A0014", "institution"),
        ("1234567", "unknown"),
        ("123456789", "unknown"),
        ("[x]", "unknown"),
        ("", "unknown"),
    ],
)
def test_auto_detection(value: str, kind: str) -> None:
    assert check(value, today=TODAY).kind == kind


@pytest.mark.parametrize(
    ("value", "reason", "normalized"),
    [
        ("0401180014", None, "0401180014"),  # 台大醫院
        ("0601160016", None, "0601160016"),  # 北榮
        ("040118AB14", None, "040118AB14"),  # letters in positions 7-9
        ("350100GZ01", None, "350100GZ01"),  # G-Z there: the codes NHI's decoder fails on (D058)
        ("040118ab14", None, "040118AB14"),
        ("０４０１１８００１４", None, "0401180014"),
        ("04011A0014", "shape", "04011A0014"),  # a letter in position 6
        ("040118001A", "shape", "040118001A"),  # a letter in position 10
        ("0401180-14", "shape", "0401180-14"),
        ("040118001", "length", "040118001"),
        ("04011800145", "length", "04011800145"),
    ],
)
def test_institution(value: str, reason: str | None, normalized: str) -> None:
    r = check(value, "institution")
    assert (r.reason, r.normalized, r.gender) == (reason, normalized, None)


def test_is_valid_institution_code() -> None:
    assert is_valid_institution_code("0401180014")
    assert is_valid_institution_code("040118AB14")
    assert not is_valid_institution_code("040118ab14")
    assert is_valid_institution_code("040118ab14", lenient=True)
    assert not is_valid_institution_code("A123456789")


def test_result_type() -> None:
    r = check(" a123456789 ")
    assert (r.value, r.normalized, r.kind, r.valid, r.reason, r.gender) == (
        " a123456789 ", "A123456789", "national", True, None, "M"
    )  # fmt: skip
    assert r.message_zh == "有效的國民身分證統一編號"
    assert r.message_en == "valid Taiwan national ID"
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.reason = "x"  # type: ignore[misc]
    bad = check("A123456788")
    assert bad.messages == reason_message("checksum") == reasons()["checksum"]
    assert bad.to_dict() == {
        "value": "A123456788",
        "normalized": "A123456788",
        "kind": "national",
        "valid": False,
        "reason": "checksum",
        "gender": None,
        "message": "檢查碼錯誤",
        "message_en": "check character does not match",
    }


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        check("A123456789", "passport")


# Inputs that together produce every reason check() can give.
CORPUS = [
    ("", "auto"), ("[x]", "auto"), ("A12", "auto"), ("1123456789", "national"),
    ("A323456789", "auto"), ("A1234567x9", "auto"), ("A123456788", "auto"),
    ("81000019900101001X", "residence-permit"), ("830000199002300010", "auto"),
    ("830000189912310010", "auto"), ("830000199001010010", "auto"),
    ("12345678B0", "travel-permit"),
]  # fmt: skip
ROC_CORPUS = ["113022", "0000101", "1130230", "1130229240000"]


def _roc_reason(value: str) -> str:
    parse = parse_roc_date if len(value) <= 7 else parse_roc_datetime
    with pytest.raises(RocDateError) as info:
        parse(value)
    return info.value.reason


def test_reasons_table_matches_what_is_emitted() -> None:
    emitted = {check(v, k, today=TODAY).reason for v, k in CORPUS} - {None}
    emitted |= {_roc_reason(v) for v in ROC_CORPUS}
    assert emitted == set(reasons())


def test_tables_are_well_formed() -> None:
    for name, table in (("reasons.tsv", reasons()), ("kinds.tsv", kind_names())):
        text = resources.files("nhihub.ids").joinpath(f"data/{name}").read_text("utf-8")
        rows = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert len(rows) - 1 == len(table), f"duplicate code in {name}"
        assert all(zh and en for zh, en in table.values())
    assert set(kind_names()) == {*KINDS, "unknown"}


@given(
    st.from_regex(r"[0-9]{6}[0-9A-Z]{3}[0-9]", fullmatch=True)
    | st.text(alphabet="0123456789ABZaz ٣", max_size=12)
    | st.text(max_size=12)
)
def test_institution_fast_verdict_is_the_validators(value: str) -> None:
    assert is_institution_code(value) == (validate_institution(value).reason is None)
    assert is_valid_institution_code(value) == is_institution_code(value)
    assert is_institution_code(value) == (re.fullmatch(INSTITUTION_SHAPE, value) is not None)
