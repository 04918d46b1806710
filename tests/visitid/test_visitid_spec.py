"""The format facts in data/visitid.json and their packing (nhihub.visitid.spec, .layout)."""

from __future__ import annotations

import datetime as dt
import math
import string

from hypothesis import given
from hypothesis import strategies as st

from nhihub.visitid import Channel, format_spec, layout, sentinel

INSTITUTION = st.builds(
    lambda head, mid, last: head + mid + last,
    st.text(string.digits, min_size=6, max_size=6),
    st.text(string.digits + string.ascii_uppercase, min_size=3, max_size=3),
    st.text(string.digits, min_size=1, max_size=1),
)


def test_alphabet_is_digits_and_letters_without_i_and_o() -> None:
    alphabet = format_spec().alphabet
    expected = string.digits + "".join(c for c in string.ascii_uppercase if c not in "IO")
    assert alphabet == expected
    assert len(alphabet) == layout.RADIX == 34
    assert format_spec().length == layout.LENGTH == 20


def test_range_is_roc_years_1_to_256() -> None:
    spec = format_spec()
    assert spec.epoch == dt.datetime(1912, 1, 1)  # 民國1年1月1日
    assert spec.end == dt.datetime(1911 + 257, 1, 1)  # first second of 民國257年
    assert (spec.end - spec.epoch).days * 86_400 == layout.TIME_SPAN


def test_channels_in_data_and_enum_agree() -> None:
    infos = format_spec().channels
    assert {c.channel for c in infos} == set(Channel)
    assert sorted(c.index for c in infos) == list(range(len(infos)))
    assert len(infos) <= layout.CHANNEL_SLOTS
    assert all(c.zh and c.en for c in infos)
    assert format_spec().channel_info(Channel.NO_CARD).index == 1


def test_sentinels() -> None:
    names = {s.code: s.name for s in format_spec().sentinels}
    assert names == {
        "MISS0000000000000000": "missing",
        "SM000000000000000000": "before-2.0",
        "99999999999999999999": "unknown-original",
    }
    for code, name in names.items():
        assert len(code) == 20
        assert sentinel(code) == name
    assert sentinel("SM000000000000000001") is None
    assert sentinel("miss0000000000000000") is None  # exact values only


def test_capacity_arithmetic() -> None:
    # 34**20 holds every institution index times the inner range, with room to spare (~3.8x):
    # that spare room is what makes most mistyped codes fail to decode.
    assert layout.INSTITUTION_COUNT == 10**7 * 36**3
    assert layout.INSTITUTION_COUNT * layout.INNER_SIZE <= layout.RADIX**layout.LENGTH
    spare = layout.RADIX**layout.LENGTH / (layout.INSTITUTION_COUNT * layout.INNER_SIZE)
    assert 3 < spare < 4
    assert layout.TAG_COUNT == layout.INNER_SIZE // (layout.CHANNEL_SLOTS * layout.TIME_SPAN)
    assert math.log2(layout.TAG_COUNT) > 26
    assert layout.INNER_LIMIT <= layout.INNER_SIZE


@given(INSTITUTION)
def test_institution_index_is_a_bijection(code: str) -> None:
    index = layout.institution_index(code)
    assert 0 <= index < layout.INSTITUTION_COUNT
    assert layout.institution_from_index(index) == code


@given(st.integers(0, layout.INSTITUTION_COUNT - 1))
def test_every_index_is_an_institution(index: int) -> None:
    code = layout.institution_from_index(index)
    assert layout.INSTITUTION_SHAPE.fullmatch(code)
    assert layout.institution_index(code) == index


def test_institution_index_extremes() -> None:
    assert layout.institution_index("0000000000") == 0
    assert layout.institution_index("999999ZZZ9") == layout.INSTITUTION_COUNT - 1


@given(
    st.integers(0, layout.TIME_SPAN - 1),
    st.integers(0, layout.CHANNEL_SLOTS - 1),
    st.integers(0, layout.TAG_COUNT - 1),
)
def test_inner_packing_round_trips(seconds: int, channel: int, tag: int) -> None:
    inner = layout.pack_inner(seconds, channel, tag)
    assert 0 <= inner < layout.INNER_LIMIT
    assert layout.unpack_inner(inner) == (seconds, channel, tag)


@given(st.integers(layout.INNER_LIMIT, layout.INNER_SIZE - 1))
def test_inner_values_past_the_limit_do_not_unpack(inner: int) -> None:
    assert layout.unpack_inner(inner) is None


@given(st.integers(0, layout.RADIX**layout.LENGTH - 1))
def test_code_integer_round_trip(value: int) -> None:
    code = layout.int_to_code(value)
    assert layout.CODE_SHAPE.fullmatch(code)
    assert layout.code_to_int(code) == value


@given(st.datetimes(min_value=dt.datetime(1912, 1, 1), max_value=dt.datetime(2167, 12, 31)))
def test_seconds_round_trip(at: dt.datetime) -> None:
    seconds = layout.seconds_since_epoch(at)
    assert 0 <= seconds < layout.TIME_SPAN
    assert layout.datetime_from_seconds(seconds) == at.replace(microsecond=0)
