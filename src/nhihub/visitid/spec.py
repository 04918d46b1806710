"""The format facts of the visit identifier, read from ``data/visitid.json``: the alphabet, the
encodable date-time range, the channels and the sentinels."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from nhihub.ids.rocdate import parse_roc_datetime


class Channel(StrEnum):
    """How the identifier was obtained (取號方式); later checks refuse codes from the wrong
    channel (D069–D072). Indexes and names are in ``data/visitid.json``."""

    CARD = "card"
    NO_CARD = "no-card"
    VIRTUAL = "virtual"
    WEB = "web"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    channel: Channel
    index: int
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class SentinelInfo:
    code: str
    name: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class FormatSpec:
    alphabet: str
    length: int
    epoch: dt.datetime  # first encodable second (inclusive)
    end: dt.datetime  # first second past the range (exclusive)
    channels: tuple[ChannelInfo, ...]  # ordered by index
    sentinels: tuple[SentinelInfo, ...]

    def channel_info(self, channel: Channel) -> ChannelInfo:
        return next(c for c in self.channels if c.channel is channel)


def _load(raw: dict[str, Any]) -> FormatSpec:
    channels = tuple(
        sorted(
            (
                ChannelInfo(Channel(c["name"]), int(c["index"]), c["zh"], c["en"])
                for c in raw["channels"]
            ),
            key=lambda c: c.index,
        )
    )
    sentinels = tuple(
        SentinelInfo(s["code"], s["name"], s["zh"], s["en"]) for s in raw["sentinels"]
    )
    return FormatSpec(
        alphabet=raw["alphabet"],
        length=int(raw["length"]),
        epoch=parse_roc_datetime(raw["epoch"]),
        end=parse_roc_datetime(raw["end"]),
        channels=channels,
        sentinels=sentinels,
    )


@cache
def format_spec() -> FormatSpec:
    """The format facts (read once)."""
    text = resources.files("nhihub.visitid").joinpath("data/visitid.json").read_text("utf-8")
    return _load(json.loads(text))


def sentinel(code: str) -> str | None:
    """The name of the sentinel ``code`` is (``missing``, ``before-2.0``, ``unknown-original``),
    or ``None`` when it is not one. Sentinels are never decoded."""
    for s in format_spec().sentinels:
        if code == s.code:
            return s.name
    return None
