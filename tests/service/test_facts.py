"""Facts of a record for the stateful rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nhihub.formats.model import Record
from nhihub.service.facts import positive_int, record_facts, refill_allowance, refill_claim


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
