"""How the fields of a visit identifier are packed into integers (format version 1).

Two nested radix-34 numbers (see docs/visit-identifier.md):

- inner, 12 symbols: ``(tag * CHANNEL_SLOTS + channel) * TIME_SPAN + seconds``, where ``seconds``
  counts from 民國1年1月1日 00:00:00 and ``tag`` is the keyed person tag, ``< TAG_COUNT``;
- outer, 20 symbols: ``institution_index * 34**12 + FF1_institution(inner)``.

Everything here is pure arithmetic; the keys and FF1 are applied by :mod:`nhihub.visitid.codec`.
"""

from __future__ import annotations

import datetime as dt
import re

from nhihub.visitid.spec import format_spec

_SPEC = format_spec()

ALPHABET = _SPEC.alphabet
RADIX = len(ALPHABET)
LENGTH = _SPEC.length
INNER_LENGTH = 12
INNER_SIZE: int = RADIX**INNER_LENGTH
CHANNEL_SLOTS = 4  # 2 bits; part of the format, independent of how many channels are named
EPOCH = _SPEC.epoch
TIME_SPAN = int((_SPEC.end - _SPEC.epoch).total_seconds())
TAG_COUNT = INNER_SIZE // (CHANNEL_SLOTS * TIME_SPAN)
INNER_LIMIT = TAG_COUNT * CHANNEL_SLOTS * TIME_SPAN  # inner values >= this never decode

# Institution code: 6 digits, 3 symbols 0-9/A-Z (base 36), 1 digit.
_DIGITS36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE36 = {c: i for i, c in enumerate(_DIGITS36)}
INSTITUTION_COUNT: int = 10**6 * 36**3 * 10
INSTITUTION_SHAPE = re.compile(r"[0-9]{6}[0-9A-Z]{3}[0-9]")

# Our symbols -> the digits int(..., 34) reads (0-9, a-x): parsing in C, not a Python loop.
_TO_BASE34 = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuvwxyz"[:RADIX])
_PAIR_BASE = RADIX * RADIX
_PAIRS = tuple(a + b for a in ALPHABET for b in ALPHABET)
CODE_SHAPE = re.compile(f"[{ALPHABET}]{{{LENGTH}}}")

assert INSTITUTION_COUNT * INNER_SIZE <= RADIX**LENGTH  # the outer number fits in 20 symbols
assert LENGTH % 2 == 0  # int_to_code works in pairs of symbols


def institution_index(code: str) -> int:
    """The institution code (canonical, see :data:`INSTITUTION_SHAPE`) as ``0 <= i <
    INSTITUTION_COUNT``; a bijection."""
    head = int(code[:6])
    mid = (_VALUE36[code[6]] * 36 + _VALUE36[code[7]]) * 36 + _VALUE36[code[8]]
    return (head * 36**3 + mid) * 10 + int(code[9])


def institution_from_index(index: int) -> str:
    """Inverse of :func:`institution_index`."""
    rest, last = divmod(index, 10)
    head, mid = divmod(rest, 36**3)
    c7, rem = divmod(mid, 36 * 36)
    c8, c9 = divmod(rem, 36)
    return f"{head:06d}{_DIGITS36[c7]}{_DIGITS36[c8]}{_DIGITS36[c9]}{last}"


def seconds_since_epoch(at: dt.datetime) -> int:
    """Whole seconds from :data:`EPOCH` to the naive local date-time ``at`` (maybe out of
    range)."""
    delta = at.replace(microsecond=0) - EPOCH
    return delta.days * 86_400 + delta.seconds


def datetime_from_seconds(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def pack_inner(seconds: int, channel: int, tag: int) -> int:
    return (tag * CHANNEL_SLOTS + channel) * TIME_SPAN + seconds


def unpack_inner(inner: int) -> tuple[int, int, int] | None:
    """(seconds, channel index, tag), or ``None`` when ``inner`` is past :data:`INNER_LIMIT`."""
    if inner >= INNER_LIMIT:
        return None
    rest, seconds = divmod(inner, TIME_SPAN)
    tag, channel = divmod(rest, CHANNEL_SLOTS)
    return seconds, channel, tag


def code_to_int(code: str) -> int:
    """The 20-symbol code (already checked against :data:`CODE_SHAPE`) as a radix-34 integer."""
    return int(code.translate(_TO_BASE34), RADIX)


def int_to_code(value: int) -> str:
    """Inverse of :func:`code_to_int` (``0 <= value < 34**20``), two symbols per step."""
    out = [""] * (LENGTH // 2)
    for k in range(LENGTH // 2 - 1, -1, -1):
        value, pair = divmod(value, _PAIR_BASE)
        out[k] = _PAIRS[pair]
    return "".join(out)
