"""check_record as a whole: every error at once, order, purity, robustness; is_valid and
order_counts. The per-code behaviour is in the case files (test_cases.py)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nhihub.checks import CheckContext, TableReferences, check_record, is_valid, order_counts
from nhihub.formats.model import Finding, Record
from nhihub.specs.catalogue import catalogue, error_codes, warning_codes
from nhihub.specs.fields import fields
from nhihub.visitid import Keyring, format_spec

BASES = json.loads((Path(__file__).parent / "cases" / "_bases.json").read_text("utf-8"))
AS_OF = dt.datetime(2024, 10, 15, 12, 0, 0)
CTX = CheckContext(as_of=AS_OF)
KEYS = Keyring.from_master(bytes.fromhex("00112233445566778899aabbccddeeff"))
INSTITUTION_KEYS = KEYS.derive_institution("3502060427")  # decodes its own codes only


def record(name: str = "outpatient") -> Record:
    b = copy.deepcopy(BASES[name])
    return Record(1, 1, b["version"], b["header"], b["mb1"], b["mb2"])


def test_every_error_of_a_record_is_reported_at_once() -> None:
    rec = record()
    del rec.mb1["M15"]  # AA
    rec.mb1["M13"] = "1501"  # AD01
    rec.mb1["M03"] = "A123456788"  # AE
    rec.mb2[1]["D01"] = "1131015093100"  # BE
    rec.mb2[2]["D03"] = "001"  # D028
    got = {(f.field, f.code) for f in check_record(rec, CTX)}
    assert got == {
        ("M15", "AA"),
        ("M13", "AD01"),
        ("M03", "AE"),
        ("D01[2]", "BE"),
        ("D03[3]", "D028"),
    }


def test_findings_come_in_field_order_without_duplicates() -> None:
    rec = record()
    rec.mb2[2]["D01"] = "1131015093100"
    rec.mb2[0]["D01"] = "1131015093100"
    rec.mb1["M13"] = "1501"
    rec.header["H00"] = "7"
    rec.problems.append(Finding(None, "Y005"))
    rec.problems.append(Finding(None, "Y005"))
    findings = check_record(rec, CTX)
    assert [f.field for f in findings] == [None, "H00", "M13", "D01[1]", "D01[3]"]


def test_reader_problems_are_kept() -> None:
    rec = record()
    rec.problems.append(Finding("M99", "Y004"))
    assert Finding("M99", "Y004") in check_record(rec, CTX)


def test_check_record_does_not_change_the_record() -> None:
    rec = record("replacement")
    rec.mb1["M13"] = "9999"
    before = copy.deepcopy(rec)
    check_record(rec, CheckContext(as_of=AS_OF, codec=KEYS))
    assert rec == before


def test_same_input_same_output() -> None:
    rec = record()
    rec.mb1["M07"] = "ZZ"
    rec.mb2[0]["D09"] = "x"
    assert check_record(rec, CTX) == check_record(copy.deepcopy(rec), CTX)


def test_one_finding_per_field_the_basic_one() -> None:
    rec = record()
    rec.mb1["M13"] = "000001"  # too long: AC, not also AD01
    assert [f.code for f in check_record(rec, CTX) if f.field == "M13"] == ["AC"]


def test_empty_text_counts_as_absent() -> None:
    rec = record()
    rec.mb1["M15"] = ""
    assert check_record(rec, CTX) == [Finding("M15", "AA")]


def test_is_valid_ignores_warnings_only() -> None:
    warning = sorted(warning_codes())[0]
    error = sorted(error_codes())[0]
    assert is_valid([])
    assert is_valid([Finding("M16", warning)])
    assert not is_valid([Finding("M16", warning), Finding("M15", error)])
    assert not is_valid([Finding("M15", "NOT-A-CODE")])


def test_order_counts_count_lines_with_errors() -> None:
    rec = record()
    warning = sorted(warning_codes())[0]
    findings = [
        Finding("D09[1]", "D041"),
        Finding("D08[1]", "D029"),
        Finding("D05[3]", warning),  # a warning does not make its line invalid
        Finding("M15", "AA"),  # nor does a record-level error
        Finding("D01[9]", "BE"),  # no such line
    ]
    assert order_counts(rec, findings) == (3, 1)
    assert order_counts(rec, []) == (3, 0)


def test_order_counts_agree_with_check_record() -> None:
    rec = record()
    rec.mb2[1]["D09"] = "99"
    rec.mb2[2]["D03"] = "001"
    orders, bad = order_counts(rec, check_record(rec, CTX))
    assert (orders, bad) == (3, 2)


def test_a_valid_record_of_each_base_is_valid() -> None:
    for name in BASES:
        if name.startswith("_"):
            continue
        assert is_valid(check_record(record(name), CTX)), name


# -- robustness ------------------------------------------------------------------------------

_FIELDS = {v: [f.id for f in fields(v)] for v in ("2.0", "1.0")}
_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=format_spec().alphabet, min_size=20, max_size=20),  # decodable shape
    st.text(alphabet="0123456789", min_size=1, max_size=14),
    st.sampled_from(["1", "A", "B", "01", "AE", "G000", "MISS0000000000000000", "1131015093000"]),
)


@st.composite
def any_record(draw: Any) -> Record:
    version = draw(st.sampled_from(["2.0", "1.0", "9.9"]))
    names = _FIELDS.get(version, _FIELDS["2.0"])
    keys = st.one_of(st.sampled_from(names), st.text(max_size=4))
    header = draw(st.dictionaries(keys, _TEXT, max_size=4))
    mb1 = draw(st.dictionaries(keys, _TEXT, max_size=40))
    mb2 = draw(st.lists(st.dictionaries(keys, _TEXT, max_size=12), max_size=4))
    return Record(1, 1, version, header, mb1, mb2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_record(), st.sampled_from(["none", "insurer", "institution"]))
def test_check_record_never_raises(rec: Record, decode: str) -> None:
    refs = TableReferences(
        institutions={}, drugs=frozenset(), fees=frozenset(), materials=frozenset(),
        staff={}, diagnoses=frozenset(),
    )  # fmt: skip
    codec = {"none": None, "insurer": KEYS, "institution": INSTITUTION_KEYS}[decode]
    ctx = CheckContext(as_of=AS_OF, codec=codec, references=refs)
    findings = check_record(rec, ctx)
    assert all(isinstance(f, Finding) and f.code in catalogue() for f in findings)
    assert len(set(findings)) == len(findings)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS["2.0"]), _TEXT, max_size=20))
def test_changed_base_record_never_raises(changes: dict[str, str]) -> None:
    rec = record()
    for name, value in changes.items():
        target = rec.header if name.startswith("H") else rec.mb2[0] if name[0] == "D" else rec.mb1
        target[name] = value
    for codec in (KEYS, INSTITUTION_KEYS):
        findings = check_record(rec, CheckContext(as_of=AS_OF, codec=codec))
        assert all(f.code in catalogue() for f in findings)


def test_another_institutions_identifier_under_an_institution_key() -> None:
    from nhihub.visitid import issue

    rec = record()
    rec.mb1["M15"] = issue("A123456789", rec.mb1["M11"], "1101110026", "card", keyring=KEYS)
    findings = check_record(rec, CheckContext(as_of=AS_OF, codec=INSTITUTION_KEYS))
    assert findings == [Finding("M15", "D004")]
