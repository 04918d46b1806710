"""Synthetic insured persons: valid national IDs or resident certificate numbers, birth dates and
card numbers, derived from the seed and a person number so that no pool is held in memory."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from nhihub.ids import make_national_id, make_resident_id
from nhihub.synth.profile import Profile

_SERIALS = 10**7
_CARDS = 10**8


@dataclass(frozen=True, slots=True)
class Person:
    """One insured person (保險對象). ``first_sequence`` seeds the card's visit counter."""

    number: int
    pid: str  # 身分證號或身分證明文件號碼 (M03)
    birth: dt.date  # 出生日期 (M04)
    card: str  # 卡片號碼 (M02)
    first_sequence: int


def _coprime_multiplier(rng: random.Random, modulus: int) -> int:
    # odd and not a multiple of 5: coprime to every power of ten, so k -> (a*k + b) mod 10^n is a
    # bijection and distinct person numbers never share an ID or a card number
    while True:
        a = rng.randrange(1_000_003, modulus, 2)
        if a % 5:
            return a


class PersonPool:
    """``size`` persons; ``person(k)`` is the same for the same seed, any call order."""

    def __init__(self, seed: int, size: int, as_of: dt.datetime, prof: Profile) -> None:
        rng = random.Random(seed * 7919 + 1)
        self.size = size
        self._seed = seed
        self._as_of = as_of.date()
        self._prof = prof
        self._serial = (_coprime_multiplier(rng, _SERIALS), rng.randrange(_SERIALS))
        self._card = (_coprime_multiplier(rng, _CARDS), rng.randrange(_CARDS))
        self._bands = [(int(lo), int(hi)) for lo, hi, _ in prof.raw["person"]["age_bands"]]
        self._band_weights = [float(w) for _, _, w in prof.raw["person"]["age_bands"]]

    def person(self, k: int) -> Person:
        rng = random.Random((self._seed << 40) ^ (k * 2 + 1))
        a, b = self._serial
        serial = (a * k + b) % _SERIALS
        letters = self._prof.letters
        letter = rng.choices(letters.values, cum_weights=letters.cum_weights)[0]
        kinds = self._prof.person_kinds
        kind = rng.choices(kinds.values, cum_weights=kinds.cum_weights)[0]
        male = rng.random() < 0.49
        if kind == "national":
            pid = make_national_id(letter, "1" if male else "2", serial)
        elif kind == "resident_new":
            pid = make_resident_id(letter, "8" if male else "9", serial)
        else:
            pid = make_resident_id(letter, ("A" if male else "B") if rng.random() < 0.5 else
                                   ("C" if male else "D"), serial)  # fmt: skip
        lo, hi = rng.choices(self._bands, weights=self._band_weights)[0]
        age_days = rng.randrange(lo * 365 + 30, (hi + 1) * 365)
        birth = self._as_of - dt.timedelta(days=age_days)
        c, d = self._card
        card = f"0000{(c * k + d) % _CARDS:08d}"
        return Person(k, pid, birth, card, rng.randint(1, 1400))
