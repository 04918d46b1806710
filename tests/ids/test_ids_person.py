"""Taiwan national ID and resident certificate numbers, against an independent oracle."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.ids import (
    check,
    is_valid_person_id,
    make_national_id,
    make_resident_id,
    normalize,
)
from nhihub.ids.taiwan import (
    CHECKSUM_SHARES,
    PERSON_NUMBER_PARTS,
    PERSON_NUMBER_SHAPE,
    is_valid_number,
    validate_national,
    validate_resident,
)

# Independent oracle: the letter values are the positions in this well-known ordering + 10
# (A=10 ... H=17, J=18 ... V=29, X=30, Y=31, W=32, Z=33, I=34, O=35).
ORDER = "ABCDEFGHJKLMNPQRSTUVXYWZIO"
ORACLE_SHAPE = re.compile(r"[A-Z][12]\d{8}|[A-Z][89]\d{8}|[A-Z][A-D]\d{8}", re.ASCII)


def oracle_valid(s: str) -> bool:
    if not ORACLE_SHAPE.fullmatch(s):
        return False
    n = ORDER.index(s[0]) + 10
    second = int(s[1]) if s[1].isdigit() else (ORDER.index(s[1]) + 10) % 10
    digits = [n // 10, n % 10, second, *(int(c) for c in s[2:])]
    return (
        sum(w * d for w, d in zip([1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1], digits, strict=True)) % 10 == 0
    )


def oracle_complete(first9: str) -> str:
    (number,) = [first9 + str(d) for d in range(10) if oracle_valid(first9 + str(d))]
    return number


@pytest.mark.parametrize(
    ("value", "kind", "gender"),
    [
        ("A123456789", "national", "M"),
        ("A223456781", "national", "F"),
        ("A800000014", "resident-tw", "M"),  # 2021+ 新式外來人口統一證號
        ("FA12345689", "resident-tw", "M"),  # old 居留證號, A: male
        ("a123456789", "national", "M"),  # lower case
        ("Ａ１２３４５６７８９", "national", "M"),  # full width
        (" A123 456 789\u3000", "national", "M"),  # spaces, ideographic space
        ("ｆａ１２３４５６８９", "resident-tw", "M"),
    ],
)
def test_known_valid(value: str, kind: str, gender: str) -> None:
    r = check(value)
    assert (r.valid, r.kind, r.gender, r.reason) == (True, kind, gender, None)
    assert oracle_valid(r.normalized)


@pytest.mark.parametrize(
    ("value", "kind", "reason"),
    [
        ("A123456788", "auto", "checksum"),
        ("A,23456789", "auto", "gender"),  # the `[1,2]` regex bug: a comma is not a gender code
        ("A1,3456789", "auto", "shape"),
        ("A12345678", "auto", "length"),
        ("A1234567890", "auto", "length"),
        ("A323456789", "national", "gender"),
        ("A800000014", "national", "gender"),  # a resident number is not a national ID
        ("A123456789", "resident-tw", "gender"),
        ("AE12345689", "resident-tw", "gender"),  # old form is A-D only
        ("1123456789", "national", "letter"),
        ("A1234567８9", "national", None),  # full-width digit folds to ASCII: fine
        ("A1٢3456789", "national", "shape"),  # Arabic-Indic digit: not folded by NFKC, refused
        ("ı123456789", "national", "letter"),  # dotless i must not become I
        ("A123-456789", "national", "length"),
        ("", "national", "empty"),
        ("  ", "auto", "empty"),
    ],
)
def test_known_invalid_and_edges(value: str, kind: str, reason: str | None) -> None:
    assert check(value, kind).reason == reason


def test_check_digit_zero_and_exactly_divisible_sums() -> None:
    """Validators that compute ``10 - sum % 10`` without a final ``% 10`` reject these."""
    zeros = [
        oracle_complete(f"{letter}{second}{serial:07d}")
        for letter in "AKOZ"
        for second in "1289ABCD"
        for serial in range(0, 200, 7)
    ]
    zeros = [z for z in zeros if z.endswith("0")]
    assert len(zeros) > 20
    for number in zeros:
        assert check(number).valid, number


def test_every_letter_and_second_char() -> None:
    for letter in ORDER:
        for second in "1289ABCD":
            number = oracle_complete(f"{letter}{second}1234567")
            r = check(number)
            assert r.valid, number
            assert r.gender == ("M" if second in "18AC" else "F")


def test_generators() -> None:
    assert make_national_id("A", "1", "2345678") == "A123456789"
    assert make_national_id("A", "1", 2345678) == "A123456789"
    assert make_resident_id("A", "8", "0000001") == "A800000014"
    assert make_resident_id("F", "A", "1234568") == "FA12345689"
    for bad in [("a", "1", "2345678"), ("A", "8", "2345678"), ("A", "1", "234567"),
                ("A", "1", "234567x"), ("A", "1", -1)]:  # fmt: skip
        with pytest.raises(ValueError):
            make_national_id(*bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        make_resident_id("A", "1", "2345678")


def test_is_valid_person_id_is_strict_unless_lenient() -> None:
    assert is_valid_person_id("A123456789")
    assert is_valid_person_id("A800000014")
    assert is_valid_person_id("FA12345689")
    assert not is_valid_person_id("A123456788")
    assert not is_valid_person_id("0401180014")
    assert not is_valid_person_id("a123456789")
    assert is_valid_person_id("a123456789", lenient=True)
    assert not is_valid_person_id(" A123456789")


person_numbers = st.builds(
    lambda letter, second, serial: f"{letter}{second}{serial:07d}",
    st.sampled_from(ORDER),
    st.sampled_from("1289ABCD"),
    st.integers(0, 9_999_999),
).map(oracle_complete)


@given(person_numbers)
def test_generated_numbers_validate(number: str) -> None:
    maker = make_national_id if number[1] in "12" else make_resident_id
    assert maker(number[0], number[1], number[2:9]) == number
    assert check(number).valid
    assert is_valid_person_id(number)


@given(person_numbers, st.integers(2, 9), st.integers(1, 9))
def test_single_digit_changes(number: str, index: int, step: int) -> None:
    """A single-digit change is caught unless weight x change is a multiple of 10: the blind
    spots of the algorithm itself (character 5 has weight 5: any even change; characters 4, 6, 8
    have weights 6, 4, 2: a change of 5)."""
    weight = {2: 7, 3: 6, 4: 5, 5: 4, 6: 3, 7: 2, 8: 1, 9: 1}[index]
    new = (int(number[index]) + step) % 10
    changed = number[:index] + str(new) + number[index + 1 :]
    blind_spot = weight * step % 10 == 0
    assert check(changed).valid == blind_spot == oracle_valid(changed)


def test_blind_spot_examples() -> None:
    assert check("A128456789").valid  # A123456789 with character 4 + 5
    assert check("A123656789").valid  # A123456789 with character 5 + 2
    k = make_national_id("K", "1", "2345678")
    assert check("L" + k[1:]).valid  # K=19 and L=20 both contribute 2 (mod 10)


@given(person_numbers, st.sampled_from("34567"))
def test_bad_second_character_rejected(number: str, second: str) -> None:
    assert check(number[0] + second + number[2:]).reason == "gender"


# -- the fast path (is_valid_person_id / is_valid_number, on the record checks' hot path) -------

near_numbers = st.one_of(
    person_numbers,
    person_numbers.flatmap(  # one character replaced by anything
        lambda n: st.tuples(st.integers(0, 9), st.characters()).map(
            lambda change: n[: change[0]] + change[1] + n[change[0] + 1 :]
        )
    ),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdz ", min_size=8, max_size=12),
    st.text(max_size=12),
)


@given(near_numbers)
def test_fast_verdict_is_the_validators_verdict(value: str) -> None:
    """The table-driven fast path gives exactly the verdict of the national and resident
    validators (no result objects, no regex) for any string."""
    slow = validate_national(value).reason is None or validate_resident(value).reason is None
    assert is_valid_number(value) == is_valid_person_id(value) == slow == oracle_valid(value)


@given(near_numbers)
def test_fast_verdict_is_checks_verdict(value: str) -> None:
    """Strict: only a value that is already canonical can be valid, and then check() agrees;
    lenient: the verdict of check() as a national or resident number."""
    by_check = check(value, "national").valid or check(value, "resident-tw").valid
    assert is_valid_person_id(value, lenient=True) == by_check
    assert is_valid_person_id(value) == (by_check and normalize(value) == value)


@given(near_numbers)
def test_the_parts_and_their_shares_give_the_same_verdict(value: str) -> None:
    """The record checks cut a number with PERSON_NUMBER_PARTS and add CHECKSUM_SHARES."""
    parts = re.fullmatch("".join(f"({p})" for p in PERSON_NUMBER_PARTS), value)
    assert bool(re.fullmatch(PERSON_NUMBER_SHAPE, value)) == (parts is not None)
    if parts is None:
        assert not is_valid_number(value)
    else:
        shares = sum(
            table[part] for table, part in zip(CHECKSUM_SHARES, parts.groups(), strict=True)
        )
        assert (shares % 10 == 0) == is_valid_number(value)
