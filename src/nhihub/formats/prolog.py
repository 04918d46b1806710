"""The start of an upload file: the XML declaration (which encoding) and the prolog up to the root
start tag (no DOCTYPE, root must be RECS, no default namespace).

The reader decodes the file itself, so it reads the declaration from the raw bytes, feeds libxml2
UTF-8 without it, and checks the prolog before libxml2 sees it: a DOCTYPE never reaches the
parser, so no DTD, entity or external reference is ever processed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nhihub.formats.spec import ReaderSpec

_UTF8_BOM = b"\xef\xbb\xbf"
_MIN_HEAD = 16  # bytes needed before the start of a file can be judged
_WIDE_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00<", b"<\x00")
_DECL = re.compile(
    rb"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(['\"])1\.[0-9]+\1"
    rb"(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(['\"])([A-Za-z][A-Za-z0-9._-]*)\2)?"
    rb"(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(['\"])(?:yes|no)\4)?"
    rb"[ \t\r\n]*\?>"
)
_DECL_START = re.compile(rb"<\?xml[ \t\r\n?]")
_WS = b" \t\r\n"
_NAME_END = re.compile(rb"[ \t\r\n/>]")
_DECIDE = 6  # bytes after which a construct at "<" is known ("<?xml " is the longest)
_DEFAULT_NS = re.compile(rb"[ \t\r\n]xmlns[ \t\r\n]*=")


class PrologError(Exception):
    """The file start is not acceptable: check code, 1-based line and a bilingual detail."""

    def __init__(self, code: str, line: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.line = line
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Declaration:
    encoding: str | None  # as declared; None without declaration
    codec: str  # Python codec used to decode
    body_start: int  # offset of the first byte after the declaration (and BOM)
    newlines: int  # line breaks inside the declaration, kept so that line numbers stay right


def read_declaration(head: bytes, spec: ReaderSpec, *, final: bool) -> Declaration | None:
    """Parse the XML declaration at the start of ``head``.

    Returns None when ``head`` is too short to decide and more bytes may follow (``final`` False).
    """
    prolog = spec.codes["prolog"]
    if not final and len(head) < _MIN_HEAD:
        return None  # a byte order mark and "<?xml " must be complete to decide
    if not head:
        raise PrologError(spec.codes["content"], 1, spec.detail("empty"))
    if any(head.startswith(w) for w in _WIDE_STARTS):
        raise PrologError(prolog, 1, spec.detail("utf16"))
    bom = head.startswith(_UTF8_BOM)
    start = len(_UTF8_BOM) if bom else 0
    if not _DECL_START.match(head, start):
        return Declaration(None, spec.default_codec, start, 0)
    m = _DECL.match(head, start)
    if m is None:
        if not final and b"?>" not in head[start:] and len(head) < spec.limits.max_prolog_bytes:
            return None
        raise PrologError(prolog, 1, spec.detail("declaration"))
    label = m.group(3).decode("ascii") if m.group(3) else None
    codec = spec.default_codec if label is None else spec.codec(label)
    if codec is None:
        raise PrologError(prolog, 1, spec.detail("unsupported_encoding", encoding=label))
    if bom and codec != "utf-8":
        raise PrologError(prolog, 1, spec.detail("bom_conflict", encoding=label))
    return Declaration(label, codec, m.end(), head.count(b"\n", 0, m.end()))


@dataclass(frozen=True, slots=True)
class Prolog:
    root_line: int  # line of the root start tag


def check_prolog(data: bytes, spec: ReaderSpec, *, final: bool) -> Prolog | None:
    """Check the (UTF-8) text before the root element and the root start tag.

    Only white space, comments and processing instructions may precede ``<RECS``. Returns None
    when ``data`` ends before the root start tag is complete and more may follow.
    """
    codes = spec.codes
    pos = 0
    n = len(data)
    while True:
        while pos < n and data[pos] in _WS:
            pos += 1
        line = 1 + data.count(b"\n", 0, pos)
        if pos >= n:
            break
        if data[pos] != 0x3C:  # '<'
            raise PrologError(codes["prolog"], line, spec.detail("prolog_text"))
        if not final and n - pos < _DECIDE:
            break  # "<!-" or "<?xm" may still become a comment or a declaration
        if data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            if end < 0:
                break
            pos = end + 3
            continue
        if data.startswith(b"<?", pos):
            if _DECL_START.match(data, pos):
                raise PrologError(codes["prolog"], line, spec.detail("late_declaration"))
            end = data.find(b"?>", pos + 2)
            if end < 0:
                break
            pos = end + 2
            continue
        if data.startswith(b"<!", pos):
            raise PrologError(codes["prolog"], line, spec.detail("doctype"))
        if n - pos < 2:
            break
        m = _NAME_END.search(data, pos + 1)
        if m is None:
            break
        name = data[pos + 1 : m.start()].decode("utf-8", "replace")
        if name != spec.layout.root:
            raise PrologError(codes["content"], line, spec.detail("root", tag=name[:40]))
        close = data.find(b">", pos)
        if close < 0:
            break
        if _DEFAULT_NS.search(data, pos, close):
            raise PrologError(codes["content"], line, spec.detail("namespace"))
        return Prolog(line)
    if final:
        if pos >= n:
            raise PrologError(codes["content"], 1 + data.count(b"\n"), spec.detail("empty"))
        raise PrologError(
            codes["prolog"], 1 + data.count(b"\n", 0, pos), spec.detail("prolog_text")
        )
    if n > spec.limits.max_prolog_bytes:
        raise PrologError(
            codes["prolog"],
            1 + data.count(b"\n"),
            spec.detail("prolog_too_long", limit=spec.limits.max_prolog_bytes),
        )
    return None
