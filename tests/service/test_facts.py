"""Facts of a record for the stateful rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nhihub.formats.model import Record
from nhihub.ids.rocdate import RocDateError, parse_roc_datetime
from nhihub.service.facts import (
    RecordFacts,
    positive_int,
    record_facts,
    refill_allowance,
    refill_claim,
    visit_time,
)


@given(st.text(max_size=6))
def test_positive_int_accepts_only_positive_ascii_digits(text: str) -> None:
    n = positive_int(text)
    if text.isascii() and text.isdigit() and int(text) > 0:
        assert n == int(text)
    else:
        assert n is None


def test_refill_fields() -> None:
    assert refill_claim({"M33": "2"}) == (2, "C")
    assert refill_claim({"M33": "0", "M34": "3"}) == (3, "F")
    assert refill_claim({}) == (None, None)
    assert refill_allowance({"M26": "3"}) == (3, "C")
    assert refill_allowance({"M29": "2"}) == (2, "F")
    assert refill_allowance({"M26": "x"}) == (0, None)


def test_record_facts() -> None:
    rec = Record(
        index=4,
        line=9,
        version="2.0",
        header={"H00": "1", "H01": "A"},
        mb1={"M05": "0401180014", "M07": "01", "M11": "1131015093000", "M15": "A" * 20,
             "M26": "3", "M33": "1"},
    )  # fmt: skip
    f = record_facts(rec, batch_id=7, person_hash=b"h")
    assert (f.index, f.order_key, f.h01, f.institution) == (4, (7, 4), "A", "0401180014")
    assert (f.refill_count, f.count_kind, f.refill_no) == (3, "C", 1)
    assert f.visit_at is not None and f.visit_at.year == 2024
    rec.mb1.update({"M07": "AE", "M11": "bad"})
    g = record_facts(rec, batch_id=7, person_hash=None)
    assert g.refill_count == 0 and g.refill_no == 1 and g.visit_at is None


@given(
    st.one_of(
        st.none(),
        st.text(alphabet="0123456789", min_size=13, max_size=13),
        st.text(max_size=14),
        st.sampled_from(["1130229120000", "1120229120000", "0001010120000", "1131015240000"]),
    )
)
def test_visit_time_reads_m11_as_the_roc_parser_does(value: str | None) -> None:
    try:
        expected = None if value is None else parse_roc_datetime(value)
    except RocDateError:
        expected = None
    assert visit_time(value) == expected


_COUNTS = st.one_of(st.none(), st.sampled_from(["0", "1", "3", "12", "x", "", "０"]))


@given(
    st.fixed_dictionaries(
        {"M07": st.sampled_from(["01", "AE", "AF", "04"])},
        optional={"M26": _COUNTS, "M29": _COUNTS, "M33": _COUNTS, "M34": _COUNTS},
    )
)
def test_record_facts_agree_with_the_refill_helpers(fields: dict[str, str | None]) -> None:
    mb1 = {k: v for k, v in fields.items() if v is not None}
    rec = Record(index=1, line=1, version="2.0", header={"H01": "A"}, mb1=mb1)
    f = record_facts(rec, batch_id=1, person_hash=None)
    assert (f.refill_no, f.refill_kind) == refill_claim(mb1)
    count = (0, None) if mb1["M07"] in ("AE", "AF") else refill_allowance(mb1)
    assert (f.refill_count, f.count_kind) == count
    assert type(f) is RecordFacts and f == RecordFacts(*f)
