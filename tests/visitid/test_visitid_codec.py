"""issue / decode / verify (nhihub.visitid.codec)."""

from __future__ import annotations

import datetime as dt
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhihub.visitid import (
    Channel,
    Keyring,
    SentinelError,
    VisitIdError,
    decode,
    format_spec,
    issue,
    normalize_code,
    normalize_institution,
    normalize_person_id,
    verify,
)

KEYS = Keyring.from_master(bytes(range(32)))  # a fixed test master key
DEV = Keyring.development()
FIRST = dt.datetime(1912, 1, 1)  # 民國1年1月1日 00:00:00
LAST = dt.datetime(2167, 12, 31, 23, 59, 59)  # 民國256年12月31日 23:59:59

PERSONS = st.builds(
    lambda letter, digits: letter + digits,
    st.sampled_from(string.ascii_uppercase),
    st.text(string.digits, min_size=9, max_size=9),
) | st.text(string.digits + string.ascii_uppercase, min_size=1, max_size=10)
INSTITUTIONS = st.builds(
    lambda head, mid, last: head + mid + last,
    st.text(string.digits, min_size=6, max_size=6),
    st.text(string.digits + string.ascii_uppercase, min_size=3, max_size=3),
    st.text(string.digits, min_size=1, max_size=1),
)
DATETIMES = st.datetimes(min_value=FIRST, max_value=LAST).map(lambda d: d.replace(microsecond=0))
CHANNELS = st.sampled_from(list(Channel))


@settings(max_examples=300)
@given(PERSONS, DATETIMES, INSTITUTIONS, CHANNELS)
def test_issue_then_decode_returns_the_inputs(
    person: str, at: dt.datetime, institution: str, channel: Channel
) -> None:
    code = issue(person, at, institution, channel, keyring=KEYS)
    assert len(code) == 20
    assert set(code) <= set(format_spec().alphabet)
    visit = decode(code, keyring=KEYS)
    assert (visit.code, visit.institution, visit.visit_datetime, visit.channel) == (
        code,
        institution,
        at,
        channel,
    )
    assert verify(code, person, keyring=KEYS)
    assert issue(person, at, institution, channel, keyring=KEYS) == code  # deterministic


def test_decoded_fields_and_dict() -> None:
    code = issue("A123456789", "1090114233615", "3502060427", "no-card", keyring=KEYS)
    visit = decode(code, keyring=KEYS)
    assert visit.at == "1090114233615"
    assert visit.visit_datetime == dt.datetime(2020, 1, 14, 23, 36, 15)
    assert visit.to_dict() == {
        "code": code,
        "institution": "3502060427",
        "at": "1090114233615",
        "channel": "no-card",
    }


@pytest.mark.parametrize("at", [FIRST, LAST])
def test_range_edges_encode(at: dt.datetime) -> None:
    code = issue("A123456789", at, "3502060427", keyring=KEYS)
    assert decode(code, keyring=KEYS).visit_datetime == at


@pytest.mark.parametrize(
    "at", [FIRST - dt.timedelta(seconds=1), LAST + dt.timedelta(seconds=1), "2570101000000"]
)
def test_outside_the_range_is_refused(at: dt.datetime | str) -> None:
    with pytest.raises(VisitIdError) as exc:
        issue("A123456789", at, "3502060427", keyring=KEYS)
    assert exc.value.reason == "range"


def test_sub_seconds_are_dropped_and_aware_times_converted_to_taiwan() -> None:
    plain = issue("A123456789", dt.datetime(2024, 9, 1, 8, 0, 0), "3502060427", keyring=KEYS)
    fraction = dt.datetime(2024, 9, 1, 8, 0, 0, 999_999)
    assert issue("A123456789", fraction, "3502060427", keyring=KEYS) == plain
    utc = dt.datetime(2024, 9, 1, 0, 0, 0, tzinfo=dt.UTC)  # 08:00 in Taiwan
    assert issue("A123456789", utc, "3502060427", keyring=KEYS) == plain


def test_roc_string_and_datetime_give_the_same_code() -> None:
    at = dt.datetime(2024, 9, 1, 8, 30, 5)
    assert issue("A123456789", "1130901083005", "3502060427", keyring=KEYS) == issue(
        "A123456789", at, "3502060427", keyring=KEYS
    )


def test_distinct_inputs_give_distinct_codes() -> None:
    rng = random.Random(2)
    seen: dict[str, tuple[object, ...]] = {}
    institutions = [f"{rng.randrange(10**6):06d}{c}{rng.randrange(10)}" for c in ("000", "A1Z")]
    institutions += [f"{rng.randrange(10**6):06d}ZZZ{rng.randrange(10)}" for _ in range(50)]
    base = dt.datetime(2024, 9, 1, 8, 0, 0)
    inputs = set()
    while len(inputs) < 20_000:
        inputs.add(
            (
                f"{rng.choice(string.ascii_uppercase)}{rng.randrange(10**9):09d}",
                base + dt.timedelta(seconds=rng.randrange(3_600)),  # dense: 1 hour
                rng.choice(institutions),
                rng.choice(list(Channel)),
            )
        )
    for person, at, institution, channel in inputs:
        code = issue(person, at, institution, channel, keyring=KEYS)
        assert code not in seen, (seen[code], (at, institution, channel))
        seen[code] = (at, institution, channel)


def test_each_field_changes_the_code() -> None:
    code = issue("A123456789", "1130901083005", "3502060427", "card", keyring=KEYS)
    variants = [
        issue("A123456780", "1130901083005", "3502060427", "card", keyring=KEYS),
        issue("A123456789", "1130901083006", "3502060427", "card", keyring=KEYS),
        issue("A123456789", "1130901083005", "3502060428", "card", keyring=KEYS),
        issue("A123456789", "1130901083005", "3502060427", "web", keyring=KEYS),
        issue("A123456789", "1130901083005", "3502060427", "card", keyring=DEV),
    ]
    assert len({code, *variants}) == len(variants) + 1


def test_wrong_person_fails_verify() -> None:
    code = issue("A123456789", "1130901083005", "3502060427", keyring=KEYS)
    assert verify(code, "A123456789", keyring=KEYS)
    assert verify(code, " a１２３４５６７８９ ", keyring=KEYS)  # folded like a typed ID
    for other in ("A123456780", "B123456789", "A12345678", "1234567890"):
        assert not verify(code, other, keyring=KEYS)


@settings(max_examples=300)
@given(PERSONS, DATETIMES, INSTITUTIONS, CHANNELS, st.data())
def test_changing_one_symbol_fails_decode_or_verify(
    person: str, at: dt.datetime, institution: str, channel: Channel, data: st.DataObject
) -> None:
    code = issue(person, at, institution, channel, keyring=KEYS)
    position = data.draw(st.integers(0, 19), label="position")
    symbol = data.draw(
        st.sampled_from([c for c in format_spec().alphabet if c != code[position]]),
        label="symbol",
    )
    changed = code[:position] + symbol + code[position + 1 :]
    try:
        decode(changed, keyring=KEYS)
    except VisitIdError as exc:
        assert exc.reason in ("undecodable", "sentinel")
    else:
        assert not verify(changed, person, keyring=KEYS)


def test_codes_from_other_keys_mostly_fail_to_decode() -> None:
    failures = 0
    for k in range(400):
        code = issue(f"A{k:09d}", FIRST + dt.timedelta(days=k), "3502060427", keyring=DEV)
        try:
            decode(code, keyring=KEYS)
        except VisitIdError:
            failures += 1
        else:
            assert not verify(code, f"A{k:09d}", keyring=KEYS)
    # ~74% of all 20-symbol strings decode to no institution at all
    assert failures > 200


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("MISS0000000000000000", "missing"),
        ("SM000000000000000000", "before-2.0"),
        ("99999999999999999999", "unknown-original"),
    ],
)
def test_sentinels_are_never_decoded(code: str, name: str) -> None:
    with pytest.raises(SentinelError) as exc:
        decode(code, keyring=KEYS)
    assert exc.value.sentinel == name
    assert exc.value.reason == "sentinel"
    assert not verify(code, "A123456789", keyring=KEYS)


@pytest.mark.parametrize(
    "code",
    ["", "ABC", "0" * 19, "0" * 21, "I" + "0" * 19, "O" + "0" * 19, "a" + "0" * 19, "+" + "0" * 19],
)
def test_malformed_codes(code: str) -> None:
    with pytest.raises(VisitIdError) as exc:
        decode(code, keyring=KEYS)
    assert exc.value.reason == "shape"
    assert not verify(code, "A123456789", keyring=KEYS)


@pytest.mark.parametrize(
    ("person", "at", "institution", "channel", "reason"),
    [
        ("", "1130901083005", "3502060427", "card", "person"),
        ("A1234567890", "1130901083005", "3502060427", "card", "person"),
        ("A-12345", "1130901083005", "3502060427", "card", "person"),
        ("A123456789", "1130230083005", "3502060427", "card", "datetime"),
        ("A123456789", "113090108300", "3502060427", "card", "datetime"),
        ("A123456789", "1130901083005", "350206042", "card", "institution"),
        ("A123456789", "1130901083005", "35020604AZ", "card", "institution"),
        ("A123456789", "1130901083005", "A502060427", "card", "institution"),
        ("A123456789", "1130901083005", "3502060427", "fax", "channel"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    person: str, at: str, institution: str, channel: str, reason: str
) -> None:
    with pytest.raises(VisitIdError) as exc:
        issue(person, at, institution, channel, keyring=KEYS)
    assert exc.value.reason == reason
    assert person == "" or person not in str(exc.value)  # never echo a person ID
    assert " / " in str(exc.value)  # zh-TW / English


def test_verify_refuses_malformed_person_ids() -> None:
    code = issue("A123456789", "1130901083005", "3502060427", keyring=KEYS)
    with pytest.raises(VisitIdError):
        verify(code, "not a person id!", keyring=KEYS)


def test_normalisation_of_typed_values() -> None:
    assert normalize_person_id(" a123456789 ") == "A123456789"
    assert normalize_institution("３５０２０６ａｚ２７") == "350206AZ27"
    assert normalize_code(" 0use4fa11rp4j370wr4k ") == "0USE4FA11RP4J370WR4K"
    assert normalize_code("OUSE4FA11RP4J370WR4K") == "0USE4FA11RP4J370WR4K"  # O read as 0
    assert normalize_code("IOOOOOOOOOOOOOOOOOOO") == "10000000000000000000"
    assert normalize_code("miss0000000000000000") == "MISS0000000000000000"  # sentinel kept
    code = issue("A123456789", "1130901083005", "3502060427", keyring=KEYS)
    assert decode(normalize_code(code.lower()), keyring=KEYS).institution == "3502060427"
