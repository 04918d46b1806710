"""Errors of the visit-identifier codec. Each carries a short ``reason`` code whose zh-TW and
English messages are in ``data/messages.tsv``; messages never repeat the offending value, which
may be a person ID (personal data)."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def messages() -> dict[str, tuple[str, str]]:
    """Reason code -> (zh-TW message, English message)."""
    text = resources.files("nhihub.visitid").joinpath("data/messages.tsv").read_text("utf-8")
    rows = csv.reader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    next(rows)  # header
    return {reason: (zh, en) for reason, zh, en in rows}


class VisitIdError(ValueError):
    """Bad input to, or a failure of, the codec. ``reason`` is a key of :func:`messages`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.message_zh, self.message_en = messages()[reason]
        super().__init__(f"{self.message_zh} / {self.message_en}")


class SentinelError(VisitIdError):
    """The value is one of the fixed sentinels; ``sentinel`` names which."""

    def __init__(self, sentinel: str) -> None:
        super().__init__("sentinel")
        self.sentinel = sentinel


class KeyScopeError(VisitIdError):
    """An institution keyring was asked to work for another institution."""

    def __init__(self) -> None:
        super().__init__("scope")
