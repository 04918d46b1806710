"""Chunked decoding of an upload file in its declared encoding, re-encoded as UTF-8 for libxml2.

libxml2 cannot be trusted with Big5: it rejects the cp950 extensions real files carry (碁, €, box
drawing) and reports its encoding errors on the wrong line. Decoding here is done by Python's
codecs (C speed); a byte sequence that is not valid becomes U+FFFD and its line is reported, so
the rest of the file can still be read. A sequence cut by a chunk boundary waits for the next
chunk.
"""

from __future__ import annotations

# Reasons CPython gives for a multi-byte sequence that the end of the input cut short.
_CUT_SHORT = frozenset(("incomplete multibyte sequence", "unexpected end of data"))
_MAX_SEQUENCE = 4  # longest byte sequence of a character in cp950 (2) and UTF-8 (4)


class TooManyDecodeErrors(Exception):
    """More invalid byte sequences than the budget allows: the declared encoding is wrong."""


class Transcoder:
    """Decodes raw chunks in ``codec`` and returns UTF-8 bytes.

    ``bad_lines`` holds the lines of the invalid sequences found by the last :meth:`feed`;
    ``line`` is the line at which the next raw byte starts.
    """

    def __init__(self, codec: str, *, line: int = 1, budget: int = 1000) -> None:
        self.codec = codec
        self.line = line
        self.bad_lines: list[int] = []
        self.decode_errors = 0
        self._budget = budget
        self._utf8 = codec == "utf-8"
        self._carry = b""

    def feed(self, raw: bytes, final: bool = False) -> bytes:
        data = self._carry + raw if self._carry else raw
        self._carry = b""
        if self.bad_lines:
            self.bad_lines = []
        if data.isascii():  # ASCII is the same in cp950, UTF-8 and what libxml2 is given
            out = data
        else:
            try:
                text = data.decode(self.codec)
            except UnicodeDecodeError:
                out = self._slow(data, final)
            else:
                out = data if self._utf8 else text.encode("utf-8")
        self.line += data.count(b"\n") - self._carry.count(b"\n")
        return out

    def _slow(self, data: bytes, final: bool) -> bytes:
        """Decode ``data`` piece by piece around its invalid sequences (rare: only bad files)."""
        codec = self.codec
        view = memoryview(data)
        parts: list[str] = []
        pos = 0
        n = len(data)
        while pos < n:
            try:
                parts.append(str(view[pos:], codec))
                break
            except UnicodeDecodeError as exc:
                start, end = pos + exc.start, pos + exc.end
                parts.append(str(view[pos:start], codec))
                if (
                    end >= n
                    and not final
                    and exc.reason in _CUT_SHORT
                    and n - start < _MAX_SEQUENCE
                ):
                    self._carry = bytes(view[start:])
                    break
                parts.append("\ufffd")
                line = self.line + data.count(b"\n", 0, start)
                if not self.bad_lines or self.bad_lines[-1] != line:
                    self.bad_lines.append(line)
                self.decode_errors += 1
                if self.decode_errors > self._budget:
                    raise TooManyDecodeErrors(line) from None
                pos = end
        return "".join(parts).encode("utf-8")
