"""What the generator draws from, loaded from ``data/synth.json`` (specs as data).

The JSON keeps every share, amount and code list; this module only gives it types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

Item = tuple[str, str, float]  # code, name, unit price or points


@dataclass(frozen=True, slots=True)
class Weighted:
    """Values with integer weights, ready for ``random.choices``."""

    values: tuple[str, ...]
    cum_weights: tuple[float, ...]

    @classmethod
    def of(cls, mapping: dict[str, float]) -> Weighted:
        total = 0.0
        cum: list[float] = []
        for w in mapping.values():
            total += float(w)
            cum.append(total)
        return cls(tuple(mapping), tuple(cum))


@dataclass(frozen=True, slots=True)
class InstitutionKind:
    """One kind of institution (醫學中心, 區域醫院, ... 特約藥局)."""

    kind: str
    zh: str
    en: str
    m56: str  # 醫事類別; empty when the kind does not fill it
    level: str  # copayment level: centre, regional, district, clinic, pharmacy
    type: str  # two digits placed after the area in the institution code
    count: int  # institutions of this kind in a generated pool
    weight: float  # share of the ordinary visits
    discipline: str  # western, dental, tcm, pharmacy
    categories: Weighted  # 就醫類別 M07 of ordinary visits


@dataclass(frozen=True, slots=True)
class Profile:
    raw: dict[str, Any]
    kinds: tuple[InstitutionKind, ...]
    letters: Weighted
    person_kinds: Weighted
    abnormal_codes: Weighted
    frequencies: dict[str, int]
    drugs: dict[str, tuple[Item, ...]]
    fee_items: dict[str, tuple[Item, ...]]
    diagnoses: dict[str, tuple[str, ...]]

    def window(self, key: str) -> Any:
        return self.raw["window"][key]

    def share(self, key: str) -> Any:
        return self.raw["shares"][key]

    def kind(self, name: str) -> InstitutionKind:
        return next(k for k in self.kinds if k.kind == name)


def _items(raw: dict[str, list[list[Any]]]) -> dict[str, tuple[Item, ...]]:
    return {k: tuple((str(c), str(n), float(p)) for c, n, p in v) for k, v in raw.items()}


def load(raw: dict[str, Any]) -> Profile:
    kinds = tuple(
        InstitutionKind(
            kind=k["kind"],
            zh=k["zh"],
            en=k["en"],
            m56=k["m56"],
            level=k["level"],
            type=k["type"],
            count=int(k["count"]),
            weight=float(k["weight"]),
            discipline=k["discipline"],
            categories=Weighted.of(k["categories"]),
        )
        for k in raw["kinds"]
    )
    return Profile(
        raw=raw,
        kinds=kinds,
        letters=Weighted.of(raw["person"]["letters"]),
        person_kinds=Weighted.of(raw["person"]["kinds"]),
        abnormal_codes=Weighted.of(raw["abnormal_codes"]),
        frequencies={k: int(v) for k, v in raw["frequencies"].items()},
        drugs=_items(raw["drugs"]),
        fee_items=_items(raw["fee_items"]),
        diagnoses={k: tuple(v) for k, v in raw["diagnoses"].items()},
    )


@cache
def profile() -> Profile:
    """The packaged profile (read once)."""
    text = resources.files("nhihub.synth").joinpath("data/synth.json").read_text("utf-8")
    return load(json.loads(text))
