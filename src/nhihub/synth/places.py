"""Synthetic institutions (醫事服務機構): a small pool per kind, each with a valid institution
code (some with letters in positions 7-9), a security-module (SAM) number and a few staff IDs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from nhihub.ids import make_national_id
from nhihub.synth.profile import InstitutionKind, Profile


@dataclass(frozen=True, slots=True)
class Institution:
    code: str  # 醫療院所代碼 (M05)
    kind: InstitutionKind
    sam: str  # 安全模組代碼 (M01)
    staff: tuple[str, ...]  # 醫事人員身分證號 (M06)


def _code(rng: random.Random, areas: list[str], kind: InstitutionKind, letters: str,
          letter_share: float) -> str:  # fmt: skip
    area = rng.choice(areas)
    if rng.random() < letter_share:
        mid = "".join(rng.choice(letters) for _ in range(3))
    else:
        mid = f"{rng.randrange(1000):03d}"
    return f"{area}{kind.type}{rng.randrange(100):02d}{mid}{rng.randrange(10)}"


def _staff_id(rng: random.Random) -> str:
    return make_national_id(rng.choice("ABDEFHKNPRST"), rng.choice("12"), rng.randrange(10**7))


def build_institutions(seed: int, prof: Profile) -> dict[str, tuple[Institution, ...]]:
    """Kind name -> the institutions of that kind (deterministic for the seed)."""
    rng = random.Random(seed * 104729 + 2)
    cfg = prof.raw["institutions"]
    lo, hi = (int(x) for x in cfg["staff_per_institution"])
    seen: set[str] = set()
    pool: dict[str, tuple[Institution, ...]] = {}
    for kind in prof.kinds:
        made: list[Institution] = []
        while len(made) < kind.count:
            code = _code(rng, cfg["areas"], kind, cfg["letters"], float(cfg["letter_share"]))
            if code in seen:
                continue
            seen.add(code)
            staff = tuple(_staff_id(rng) for _ in range(rng.randint(lo, hi)))
            made.append(Institution(code, kind, f"{rng.randrange(10**12):012d}", staff))
        pool[kind.kind] = tuple(made)
    return pool
