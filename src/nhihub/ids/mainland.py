"""Mainland documents of Taiwan residents: the residence permit (台灣居民居住證) and the travel
permit (台灣居民來往大陸通行證, 台胞證).

Residence permit: 18 characters in the mainland citizen-number layout: address code 830000,
birth date YYYYMMDD, a 3-digit sequence (odd = male), an ISO 7064 MOD 11-2 check character
(``X`` for 10). Hong Kong (810000) and Macau (820000) residents' permits share the layout; as the
kind checked here is the Taiwan one, any other address code is reported as ``region``.

Travel permit: since 2008-09-25 a lifelong 8-digit number. Older cards added a 2-digit issue count
and an issuing-authority letter; accepted (after white space is removed) and reduced to the 8
digits: ``12345678``, ``1234567801``, ``1234567801B``, ``1234567801(B)``, ``12345678B``,
``12345678(B)``.
"""

from __future__ import annotations

import datetime as dt
import re

from nhihub.ids.base import Verdict

RESIDENCE_PERMIT_REGION = "830000"
EARLIEST_BIRTH = dt.date(1900, 1, 1)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
_PERMIT = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS = re.compile(r"[0-9]+")
_TRAVEL = re.compile(r"(?P<number>[0-9]{8})(?:[0-9]{2})?(?:[A-Z]|\([A-Z]\))?")


def mod11_2_check(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits."""
    return _CHECK_CHARS[sum(w * int(c) for w, c in zip(_WEIGHTS, first17, strict=True)) % 11]


def validate_residence_permit(s: str, today: dt.date) -> Verdict:
    """Check a canonical residence-permit number; birth dates after ``today`` are implausible."""
    if len(s) != 18:
        return Verdict(s, "length")
    if not _PERMIT.fullmatch(s):
        return Verdict(s, "shape")
    if s[:6] != RESIDENCE_PERMIT_REGION:
        return Verdict(s, "region")
    try:
        birth = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return Verdict(s, "calendar")
    if not EARLIEST_BIRTH <= birth <= today:
        return Verdict(s, "birthdate")
    if mod11_2_check(s[:17]) != s[17]:
        return Verdict(s, "checksum")
    return Verdict(s, None, "M" if int(s[16]) % 2 else "F")


def make_residence_permit(
    birth: dt.date, sequence: int, region: str = RESIDENCE_PERMIT_REGION
) -> str:
    """A number with a correct check character; ``sequence`` 0-999 (odd = male)."""
    if not (len(region) == 6 and _DIGITS.fullmatch(region)):
        raise ValueError(f"region must be 6 digits, not {region!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0-999, not {sequence}")
    first17 = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return first17 + mod11_2_check(first17)


def validate_travel_permit(s: str) -> Verdict:
    """Check a canonical travel-permit number; the verdict's form is the lifelong 8 digits."""
    match = _TRAVEL.fullmatch(s)
    if match:
        return Verdict(match["number"], None)
    return Verdict(s, "length" if _DIGITS.fullmatch(s) else "shape")


def looks_like_travel_permit(s: str) -> bool:
    """An accepted travel-permit form other than 10 plain digits (that is an institution code)."""
    return _TRAVEL.fullmatch(s) is not None and not (len(s) == 10 and s.isdigit())
