"""Visit-identifier shape (D002) follows the codec's format spec; sentinels per field."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nhihub.checks.rules import rules
from nhihub.checks.visitids import IDENTIFIER_SHAPE, check_shapes
from nhihub.formats.model import Finding
from nhihub.visitid import format_spec

SPEC = format_spec()


@given(st.text(max_size=24))
def test_shape_is_the_codec_alphabet_and_length(code: str) -> None:
    expected = len(code) == SPEC.length and all(c in SPEC.alphabet for c in code)
    assert bool(IDENTIFIER_SHAPE.fullmatch(code)) == expected


def test_each_sentinel_only_where_the_rules_allow_it() -> None:
    allowed = rules()["D002"]["sentinels"]
    for s in SPEC.sentinels:
        for field in rules()["D002"]["fields"]:
            out: list[Finding] = []
            check_shapes({field: s.code}, out)
            reported = Finding(field, "D002") in out
            well_formed = all(c in SPEC.alphabet for c in s.code)  # 9999..., SM000...
            assert reported == (s.name not in allowed.get(field, ()) and not well_formed)
