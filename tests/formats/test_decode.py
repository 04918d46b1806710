"""Chunked decoding: valid text passes through as UTF-8, invalid bytes become U+FFFD with their
line, a character cut by a chunk boundary is completed by the next chunk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.formats.decode import TooManyDecodeErrors, Transcoder


def feed_all(tc: Transcoder, data: bytes, size: int) -> tuple[bytes, list[int]]:
    out, bad = [], []
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    for n, piece in enumerate(pieces):
        out.append(tc.feed(piece, final=n == len(pieces) - 1))
        bad.extend(tc.bad_lines)
    return b"".join(out), bad


@pytest.mark.parametrize("codec", ["cp950", "utf-8"])
def test_ascii_passes_unchanged(codec: str) -> None:
    tc = Transcoder(codec)
    assert tc.feed(b"<a>x\ny</a>") == b"<a>x\ny</a>"
    assert tc.bad_lines == [] and tc.line == 2


def test_big5_with_cp950_extensions_becomes_utf8() -> None:
    text = "一碁銹€═\n"
    out, bad = feed_all(Transcoder("cp950"), text.encode("cp950"), 1 << 16)
    assert out == text.encode("utf-8") and bad == []


@given(st.text(alphabet=st.sampled_from("ab\n一碁€═中文"), max_size=60), st.integers(1, 9))
def test_any_chunking_gives_the_same_text(text: str, size: int) -> None:
    data = text.encode("cp950")
    out, bad = feed_all(Transcoder("cp950"), data, size)
    assert out.decode("utf-8") == text and bad == []


def test_invalid_bytes_become_replacement_characters_on_their_line() -> None:
    data = b"ok\n\xff\nab\xa4\n\xa4\x40\n"  # 0xFF never valid; 0xA4 before a newline is cut short
    out, bad = feed_all(Transcoder("cp950"), data, 1 << 16)
    assert out.decode("utf-8") == "ok\n\ufffd\nab\ufffd\n一\n"
    assert bad == [2, 3]


def test_an_incomplete_character_at_the_end_is_an_error() -> None:
    tc = Transcoder("utf-8")
    assert tc.feed(b"a\xe4\xb8", final=False) == b"a"
    assert tc.feed(b"", final=True) == "\ufffd".encode()
    assert tc.bad_lines == [1]


def test_utf8_errors_and_lines_across_chunks() -> None:
    data = "第一\n".encode() + b"\xc0\xaf\n" + "三".encode()
    out, bad = feed_all(Transcoder("utf-8", line=5), data, 2)
    assert out.decode("utf-8") == "第一\n\ufffd\ufffd\n三"
    assert bad == [6, 6]  # per chunk; the reader reports a line once


def test_the_error_budget_stops_decoding() -> None:
    tc = Transcoder("utf-8", budget=3)
    with pytest.raises(TooManyDecodeErrors):
        tc.feed(b"\xff" * 10, final=True)
