"""JSON rendering of service views (pure)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from nhihub.api.views import to_json


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Inner:
    at: dt.datetime
    day: dt.date
    secret: bytes


@dataclass
class Outer:
    name: str
    inner: Inner
    items: tuple[int, ...]
    colour: Colour
    mapping: dict[str, object]


class WithToDict:
    def to_dict(self) -> dict[str, object]:
        return {"x": dt.date(2024, 1, 2)}


def test_nested_values() -> None:
    value = Outer(
        "a",
        Inner(dt.datetime(2024, 1, 2, 3, 4, 5), dt.date(2024, 1, 2), b"\x00hash"),
        (1, 2),
        Colour.RED,
        {"k": b"blob", "n": None, "w": WithToDict()},
    )
    assert to_json(value) == {
        "name": "a",
        "inner": {"at": "2024-01-02T03:04:05", "day": "2024-01-02"},
        "items": [1, 2],
        "colour": "red",
        "mapping": {"n": None, "w": {"x": "2024-01-02"}},
    }


def test_bytes_never_leak() -> None:
    assert to_json([b"abc"]) == [None]
    assert "hash" not in str(to_json(Inner(dt.datetime(2024, 1, 1), dt.date(2024, 1, 1), b"hash")))
