"""Taiwan person numbers: national ID (國民身分證統一編號) and resident certificate numbers
(外來人口統一證號: the 2021+ form with 8/9 as 2nd character, the old 居留證號 form with A-D).

All three share one layout, a letter + a gender/type character + 8 digits, and one checksum:
the letter's two-digit value contributes tens x 1 + units x 9, characters 2-9 are weighted
8, 7, ..., 1 (an old-form A-D counts as its letter value mod 10), the last digit x 1; the total
must be divisible by 10.

The checksum does not catch every single-digit error: a change whose weight x difference is a
multiple of 10 passes. Character 5 has weight 5, so any even change there passes (A123456789 and
A123656789 are both valid); characters 4, 6 and 8 (weights 6, 4, 2) miss a change of 5
(A128456789). Letters with the same tens + 9 x units (mod 10), such as K and L, can be swapped
unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nhihub.ids.base import Gender, Verdict

LETTER_VALUES: Mapping[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip

NATIONAL_SECOND: Mapping[str, Gender] = {"1": "M", "2": "F"}
NEW_RESIDENT_SECOND: Mapping[str, Gender] = {"8": "M", "9": "F"}
OLD_RESIDENT_SECOND: Mapping[str, Gender] = {"A": "M", "B": "F", "C": "M", "D": "F"}
RESIDENT_SECOND: Mapping[str, Gender] = {**NEW_RESIDENT_SECOND, **OLD_RESIDENT_SECOND}

DIGITS = "0123456789"
_EIGHT_DIGITS = re.compile(r"[0-9]{8}")
_SEVEN_DIGITS = re.compile(r"[0-9]{7}")
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1)


def _partial_sum(first9: str) -> int:
    """Checksum total of the first nine characters (a canonical letter, type char, 7 digits)."""
    tens, units = divmod(LETTER_VALUES[first9[0]], 10)
    second = first9[1]
    middle = [LETTER_VALUES[second] % 10 if second.isalpha() else int(second)]
    middle += [int(c) for c in first9[2:9]]
    return tens + 9 * units + sum(w * d for w, d in zip(_WEIGHTS, middle, strict=True))


# The fast path of :func:`is_valid_number` (on the hot path of the record checks, once per
# record): the checksum's share of the first two characters, of characters 3-6 and of 7-10,
# in three tables built from the tables above. A part that is not in its table (a wrong
# letter or type character, a non-digit, a wrong length) makes the number invalid.
def _shares(weights: tuple[int, ...]) -> dict[str, int]:
    """Every digit string as long as ``weights`` -> its weighted sum."""
    out = {"": 0}
    for weight in weights:
        out = {part + d: total + weight * int(d) for part, total in out.items() for d in DIGITS}
    return out


_TAIL_WEIGHTS = (*_WEIGHTS[1:], 1)  # characters 3-9, then the check digit
_SHARE_HEAD: Mapping[str, int] = {
    letter + second: _partial_sum(letter + second + "0000000")
    for letter in LETTER_VALUES
    for second in (*NATIONAL_SECOND, *RESIDENT_SECOND)
}
_SHARE_3_6: Mapping[str, int] = _shares(_TAIL_WEIGHTS[:4])
_SHARE_7_10: Mapping[str, int] = _shares(_TAIL_WEIGHTS[4:])
CHECKSUM_SHARES: tuple[Mapping[str, int], Mapping[str, int], Mapping[str, int]] = (
    _SHARE_HEAD,
    _SHARE_3_6,
    _SHARE_7_10,
)
"""The checksum's share of characters 1-2, 3-6 and 7-10 of a person number, keyed by those
characters: a number is valid when the three shares sum to a multiple of 10."""
PERSON_NUMBER_PARTS = (
    f"[{''.join(LETTER_VALUES)}][{''.join((*NATIONAL_SECOND, *RESIDENT_SECOND))}]",
    "[0-9]{4}",
    "[0-9]{4}",
)
"""Regexes (text) of the three parts of :data:`CHECKSUM_SHARES`: together they match the
layout :func:`is_valid_number` accepts (the checksum aside)."""
PERSON_NUMBER_SHAPE = "".join(PERSON_NUMBER_PARTS)
"""A regex (text) of the layout :func:`is_valid_number` accepts (the checksum is not in it)."""


def is_valid_number(s: str) -> bool:
    """Whether ``s`` is a valid national ID or resident certificate number (new or old form),
    as it stands (canonical characters only). The same verdict as :func:`validate_national` or
    :func:`validate_resident`, without building results."""
    head = _SHARE_HEAD.get(s[:2])
    middle = _SHARE_3_6.get(s[2:6])
    tail = _SHARE_7_10.get(s[6:])
    return (
        head is not None
        and middle is not None
        and tail is not None
        and (head + middle + tail) % 10 == 0
    )


def check_digit(first9: str) -> str:
    """The 10th character that makes ``first9`` a valid number."""
    return str(-_partial_sum(first9) % 10)


def _validate(s: str, seconds: Mapping[str, Gender]) -> Verdict:
    if len(s) != 10:
        return Verdict(s, "length")
    if s[0] not in LETTER_VALUES:
        return Verdict(s, "letter")
    if s[1] not in seconds:
        return Verdict(s, "gender")
    if not _EIGHT_DIGITS.fullmatch(s[2:]):
        return Verdict(s, "shape")
    if (_partial_sum(s[:9]) + int(s[9])) % 10:
        return Verdict(s, "checksum")
    return Verdict(s, None, seconds[s[1]])


def validate_national(s: str) -> Verdict:
    """Check a canonical (already normalised) national ID."""
    return _validate(s, NATIONAL_SECOND)


def validate_resident(s: str) -> Verdict:
    """Check a canonical resident certificate number, 2021+ (8/9) or old (A-D) form."""
    return _validate(s, RESIDENT_SECOND)


def _make(letter: str, second: str, serial7: str | int, seconds: Mapping[str, Gender]) -> str:
    if letter not in LETTER_VALUES:
        raise ValueError(f"letter must be A-Z, not {letter!r}")
    if second not in seconds:
        raise ValueError(f"2nd character must be one of {''.join(seconds)}, not {second!r}")
    serial = f"{serial7:07d}" if isinstance(serial7, int) else serial7
    if not _SEVEN_DIGITS.fullmatch(serial):
        raise ValueError(f"serial must be 7 digits, not {serial7!r}")
    first9 = letter + second + serial
    return first9 + check_digit(first9)


def make_national_id(letter: str, gender_digit: str, serial7: str | int) -> str:
    """A valid national ID: ``make_national_id("A", "1", "2345678") == "A123456789"``."""
    return _make(letter, gender_digit, serial7, NATIONAL_SECOND)


def make_resident_id(letter: str, second: str, serial7: str | int) -> str:
    """A valid resident certificate number; ``second`` is 8/9 (2021+) or A-D (old form)."""
    return _make(letter, second, serial7, RESIDENT_SECOND)
