"""nhihub.synth.visits: what the generated records look like (realism and internal consistency)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhihub.formats.model import Record
from nhihub.ids import is_valid_institution_code, is_valid_person_id
from nhihub.ids.rocdate import parse_roc_date, parse_roc_datetime
from nhihub.specs.codes import (
    abnormal_sequence_codes,
    accumulating_categories,
    allowed_categories,
    sequence_kind,
)
from nhihub.specs.fields import by_id
from nhihub.synth import generate
from nhihub.visitid import Channel, Keyring, decode, verify

MISS = "MISS0000000000000000"


def _at(value: str) -> dt.datetime:
    return parse_roc_datetime(value)


def test_person_ids_are_valid_and_mixed(clean_records: list[Record]) -> None:
    ids = [r.mb1["M03"] for r in clean_records]
    assert all(is_valid_person_id(i) for i in ids)
    seconds = Counter(i[1] for i in ids)
    assert seconds["1"] + seconds["2"] > 0.9 * len(ids)  # mostly national IDs
    assert seconds["8"] + seconds["9"] > 0  # some new-format resident numbers
    assert all(is_valid_person_id(r.mb1["M06"]) for r in clean_records)


def test_birth_dates_precede_visits(clean_records: list[Record]) -> None:
    for r in clean_records:
        assert parse_roc_date(r.mb1["M04"]) < _at(r.mb1["M11"]).date()


def test_institutions_are_valid_mixed_and_some_have_letters(clean_records: list[Record]) -> None:
    codes = {r.mb1["M05"] for r in clean_records}
    assert all(is_valid_institution_code(c) for c in codes)
    assert any(not c[6:9].isdigit() for c in codes)
    assert len(codes) > 50
    m56 = Counter(r.mb1.get("M56", "") for r in clean_records)
    assert {"11", "12", "13", "14", ""} <= set(m56)  # "" : pharmacies


def test_categories_are_allowed_for_the_medical_category(clean_records: list[Record]) -> None:
    allowed = allowed_categories()
    for r in clean_records:
        m56 = r.mb1.get("M56")
        if m56 in allowed:
            assert r.mb1["M07"] in allowed[m56]


def test_category_mix(clean_records: list[Record]) -> None:
    m07 = Counter(r.mb1["M07"] for r in clean_records)
    assert m07["01"] > 0.5 * len(clean_records)
    assert {"01", "02", "03", "04", "06", "AA", "AC", "AE"} <= set(m07)


def test_sequence_numbers(clean_records: list[Record]) -> None:
    for r in clean_records:
        m07, h01, m13 = r.mb1["M07"], r.header["H01"], r.mb1.get("M13")
        if h01 == "B":
            assert m13 in abnormal_sequence_codes()
        elif m07 in accumulating_categories():
            assert m13 is not None
            assert sequence_kind(m13) in ("card", "virtual-w")
        elif m07 == "AC":
            assert m13 is not None
            assert sequence_kind(m13) == "preventive"
        else:
            assert m13 is None


def test_card_sequence_is_a_per_card_counter(clean_records: list[Record]) -> None:
    per_card: dict[str, list[int]] = defaultdict(list)
    for r in clean_records:
        m13 = r.mb1.get("M13", "")
        if r.header["H01"] == "A" and m13.isdigit():
            per_card[r.mb1["M02"]].append(int(m13))
    busy = [sorted(v) for v in per_card.values() if len(v) >= 3]
    assert busy
    for numbers in busy:
        assert len(set(numbers)) == len(numbers)
        assert all(1 <= n <= 1500 for n in numbers)
        # consecutive numbers, allowing one wrap from 1500 to 0001
        gaps = [b - a for a, b in itertools.pairwise(numbers)]
        assert all(g == 1 for g in gaps) or (numbers[0] == 1 and numbers[-1] == 1500)


def test_visit_times(clean_records: list[Record], as_of: dt.datetime) -> None:
    recent = 0
    for r in clean_records:
        at = _at(r.mb1["M11"])
        assert as_of - dt.timedelta(days=85) < at < as_of
        recent += at > as_of - dt.timedelta(days=7)
        assert all(line["D01"] == r.mb1["M11"] for line in r.mb2)
        assert [line["D03"] for line in r.mb2] == [f"{n:03d}" for n in range(1, len(r.mb2) + 1)]
    assert recent > 0.8 * len(clean_records)


def test_order_lines(clean_records: list[Record]) -> None:
    drugs = fees = 0
    for r in clean_records:
        assert len(r.mb2) <= 500
        for line in r.mb2:
            assert len(line["D10"]) == 7 and float(line["D10"]) > 0
            if line["D02"] == "1":
                drugs += 1
                assert 0 < int(line["D09"]) <= int(r.mb1["M20"]) <= 90
                assert line["D04"] in ("A", "C")
                count_field = "M24" if line["D04"] == "A" else "M26"
                assert int(r.mb1[count_field]) > 0
                assert ("D11" in line) == (r.header["H01"] == "A")
            else:
                fees += 1
                assert line["D02"] == "2"
        if not any(line["D02"] == "1" for line in r.mb2):
            assert r.mb1.get("M23") == "2" and "M20" not in r.mb1
    assert drugs > 0 and fees > 0


def test_fees(clean_records: list[Record]) -> None:
    for r in clean_records:
        fee, copay = int(r.mb1["M44"]), int(r.mb1["M45"])
        assert 0 <= copay <= fee
        if r.mb1["M07"] in ("AC", "AE"):
            assert copay == 0


def test_signatures_only_on_normal_uploads(clean_records: list[Record]) -> None:
    for r in clean_records:
        normal = r.header["H01"] == "A"
        for field in ("M01", "M02", "M14"):
            assert (field in r.mb1) == normal
    assert Counter(r.header["H01"] for r in clean_records)["B"] > 0


def test_refills_point_at_their_original(clean_records: list[Record]) -> None:
    by_id = {r.mb1["M15"]: r for r in clean_records}
    refills = [r for r in clean_records if r.mb1["M07"] == "AE"]
    assert len(refills) > 10
    elsewhere = 0
    for r in refills:
        orig = by_id[r.mb1["M16"]]
        assert r.index > orig.index
        assert r.mb1["M03"] == orig.mb1["M03"]
        assert (r.mb1["M17"], r.mb1["M18"], r.mb1["M19"]) == (
            orig.mb1["M05"], orig.mb1["M13"], orig.mb1["M11"]
        )  # fmt: skip
        assert _at(r.mb1["M19"]) < _at(r.mb1["M11"])
        assert r.mb1["M33"] in ("2", "3") and int(r.mb1["M33"]) <= int(r.mb1["M26"])
        assert r.mb1["M21"] == orig.mb1["M21"] and orig.mb1["M33"] == "1"
        assert all(line["D04"] == "C" for line in r.mb2) and r.mb2
        elsewhere += r.mb1["M05"] != orig.mb1["M05"]
        if r.mb1["M05"] != orig.mb1["M05"]:
            assert "M56" not in r.mb1  # a pharmacy
    assert elsewhere > len(refills) / 2


def test_courses_point_at_their_first_visit(clean_records: list[Record]) -> None:
    by_id = {r.mb1["M15"]: r for r in clean_records}
    courses = [r for r in clean_records if r.mb1["M07"] == "AA"]
    assert courses
    for r in courses:
        first = by_id[r.mb1["M16"]]
        assert first.mb1["M07"] in ("01", "03") and first.mb1["M05"] == r.mb1["M05"]
        assert _at(first.mb1["M11"]) < _at(r.mb1["M11"])


def test_card_replacement_cases(clean_records: list[Record], keys: Keyring) -> None:
    marks = Counter(r.mb1["M12"] for r in clean_records)
    assert marks["2"] > 0 and marks["1"] > 0.9 * len(clean_records)
    for r in clean_records:
        if r.mb1["M12"] == "1":
            assert "M49" not in r.mb1 and "M52" not in r.mb1
            continue
        assert _at(r.mb1["M49"]) < _at(r.mb1["M11"])
        assert not any(f in r.mb1 for f in ("M21", "M26"))  # no chronic prescription (D059)
        if r.mb1["M12"] == "4":
            assert r.mb1["M52"] == MISS
        else:
            real = decode(r.mb1["M52"], keyring=keys)
            assert (real.institution, real.at, real.channel) == (
                r.mb1["M05"], r.mb1["M49"], Channel.NO_CARD
            )  # fmt: skip
            assert verify(r.mb1["M52"], r.mb1["M03"], keyring=keys)


def test_visit_ids_decode_to_the_record(clean_records: list[Record], keys: Keyring) -> None:
    assert len({r.mb1["M15"] for r in clean_records}) == len(clean_records)
    channels = Counter()
    for r in clean_records:
        v = decode(r.mb1["M15"], keyring=keys)
        assert (v.institution, v.at) == (r.mb1["M05"], r.mb1["M11"])
        assert verify(r.mb1["M15"], r.mb1["M03"], keyring=keys)
        channels[v.channel] += 1
        if r.header["H01"] == "B":
            assert v.channel is Channel.NO_CARD
        else:
            assert v.channel in (Channel.CARD, Channel.VIRTUAL)
            assert (v.channel is Channel.VIRTUAL) == r.mb1.get("M13", "").startswith("W")
    assert channels[Channel.VIRTUAL] > 0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**40), n=st.integers(min_value=1, max_value=40))
def test_any_seed_gives_consistent_records(seed: int, n: int) -> None:
    as_of = dt.datetime(2025, 3, 1, 8, 0, 0)
    recs = list(generate(seed, n, as_of=as_of, keyring=Keyring.development()).iter_records())
    assert len(recs) == n
    for r in recs:
        assert is_valid_person_id(r.mb1["M03"])
        assert _at(r.mb1["M11"]) < as_of
        assert all(line["D01"] == r.mb1["M11"] for line in r.mb2)


@pytest.mark.parametrize("hour", [0, 7, 23])
def test_upload_early_in_the_day_keeps_visits_before_it(hour: int) -> None:
    as_of = dt.datetime(2025, 3, 1, hour, 5, 0)
    recs = list(generate(2, 300, as_of=as_of, keyring=Keyring.development()).iter_records())
    assert all(_at(r.mb1["M11"]) < as_of for r in recs)


def test_fields_fit_the_field_table(clean_records: list[Record]) -> None:
    table = by_id("2.0")
    for r in clean_records:
        for values in (r.header, r.mb1, *r.mb2):
            for name, value in values.items():
                spec = table[name]
                assert value, name
                assert spec.length is None or len(value) <= spec.length, (name, value)
                if spec.type == "9":
                    assert value.isdigit() and (spec.length is None or len(value) == spec.length)
