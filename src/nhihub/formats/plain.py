"""Small documents of plain records read straight from their bytes, without an XML parser.

:func:`read_plain` gives exactly the records :func:`~nhihub.formats.iter_upload` gives for the
same document, or ``None`` when the document is not entirely plain; the caller then reads it with
``iter_upload``, which names every problem. Plain means: an XML declaration naming an accepted
encoding, the bytes valid in it, nothing but white space before ``<RECS>`` and after
``</RECS>``, and between them only records of the form the compiled scanner accepts (see
``scan_records`` in ``_native.c``: no comment, reference, CDATA, attribute or stray text) whose
fields :class:`~nhihub.formats.records.PlainRules` accepts, none so long that the reader would
release it in pieces.

Why: the ingest checks an upload in parts of a few hundred records, and taking a part's records
through libxml2 and lxml cost about as much as checking them (issue #4, docs/benchmarks.md).
Without the compiled module, :func:`read_plain` always answers ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from nhihub.formats.model import Record
from nhihub.formats.prolog import PrologError, read_declaration
from nhihub.formats.records import PlainRules, native_reader
from nhihub.formats.spec import reader_spec

_WS = b" \t\r\n"


@cache
def _rules() -> PlainRules:
    lim = reader_spec().limits
    return PlainRules(reader_spec(), max_text=lim.max_text, max_orders=lim.max_orders)


def _scanner() -> Callable[..., Any] | None:
    if native_reader() is None:  # not built, or turned off with NHIHUB_NATIVE=0
        return None
    from nhihub.formats import _native

    return _native.scan_records


def read_plain(doc: bytes) -> list[Record] | None:
    """The records of ``doc`` (a whole upload document) as ``iter_upload`` reads them, when the
    document is plain (module doc) and holds at least one record; else ``None``."""
    scan = _scanner()
    if scan is None:
        return None
    spec = reader_spec()
    try:
        decl = read_declaration(doc, spec, final=True)
    except PrologError:
        return None
    if decl is None or decl.encoding is None:
        return None
    body = doc[decl.body_start :]
    if not body.isascii():
        try:
            text = body.decode(decl.codec)
        except UnicodeDecodeError:  # the reader reports such bytes (Y014)
            return None
        if decl.codec != "utf-8":
            body = text.encode("utf-8")
    lay = spec.layout
    lim = spec.limits
    # The reader releases a record's finished parts once more than release_bytes were read
    # without a record ending, and gives up after max_pending_bytes: a record (or a run of white
    # space) shorter than this never gets there, whatever the cuts.
    max_span = lim.release_bytes - lim.chunk_size
    open_tag, close_tag = f"<{lay.root}>".encode(), f"</{lay.root}>".encode()
    start = len(body) - len(body.lstrip(_WS))
    end = len(body.rstrip(_WS)) - len(close_tag)
    if not body.startswith(open_tag, start) or not body.startswith(close_tag, end):
        return None
    first = start + len(open_tag)
    # the declaration and the prolog in the reader's first chunk, and within its prolog limit
    if decl.body_start + first > min(lim.chunk_size, lim.max_prolog_bytes):  # (ASCII up to here)
        return None
    if len(body) - end - len(close_tag) > max_span:  # white space after the root
        return None
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        return None  # a lone CR is a line break to XML; the scanner only counts LF
    line = 1 + decl.newlines + body.count(b"\n", 0, first)
    rows = scan(
        body, first, end, line, max_span,
        lay.record, lay.header, lay.body, lay.visit, lay.order,
    )  # fmt: skip
    if not rows:
        return None
    rules = _rules()
    records: list[Record] = []
    for index, (rec_line, header, mb1, orders) in enumerate(rows, 1):
        plain = rules.version(header, mb1, orders)
        if plain is None:
            return None
        records.append(Record(index, rec_line, plain[0], header, mb1, orders, []))
    return records
