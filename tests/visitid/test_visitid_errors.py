"""Reason codes and their zh-TW / English messages (data/messages.tsv)."""

from __future__ import annotations

import re
from pathlib import Path

import nhihub.cli.visitid_cmd
import nhihub.visitid
from nhihub.visitid import SentinelError, VisitIdError, messages

SOURCES = [
    *Path(nhihub.visitid.__file__).parent.glob("*.py"),
    Path(nhihub.cli.visitid_cmd.__file__),
]
# VisitIdError("x"), _fail("x", ...), messages()["x"]: every way a reason is raised or printed
RAISED = re.compile(r'(?:VisitIdError|_fail|messages\(\))[(\[]"([a-z0-9.-]+)"')


def test_every_message_is_used_and_every_used_reason_has_a_message() -> None:
    used = {m for path in SOURCES for m in RAISED.findall(path.read_text("utf-8"))}
    used |= {"sentinel", "scope"}  # raised by SentinelError and KeyScopeError
    assert used == set(messages())


def test_messages_are_bilingual() -> None:
    for reason, (zh, en) in messages().items():
        assert re.search(r"[\u4e00-\u9fff]", zh), reason
        assert en and not re.search(r"[\u4e00-\u9fff]", en), reason


def test_error_carries_reason_and_both_messages() -> None:
    error = VisitIdError("shape")
    assert error.reason == "shape"
    assert (error.message_zh, error.message_en) == messages()["shape"]
    assert str(error) == f"{error.message_zh} / {error.message_en}"
    assert isinstance(error, ValueError)
    assert SentinelError("missing").sentinel == "missing"
