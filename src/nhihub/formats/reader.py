"""Streaming reader of upload files, format 2.0 and 1.0 (健保卡資料上傳檔).

``iter_upload(source)`` yields every ``<REC>`` as a :class:`~nhihub.formats.model.Record` and every
problem of the file itself as a :class:`~nhihub.formats.model.FileError`, in file order, with
memory independent of the file size. See docs/file-format.md for the exact behaviour; in short:

- The encoding comes from the XML declaration: Big5 (decoded as cp950) or UTF-8 (also when there
  is no declaration). Bytes that are not valid in it are reported as Y014 on their line, replaced
  by U+FFFD, and reading goes on.
- Structural problems inside a record (an unknown tag, a field in the wrong place, text between
  elements, a field without a width in the field table longer than ``max_text``) become findings
  in ``Record.problems``; the record is still yielded. Misplaced elements or text outside any
  record become non-fatal file errors.
- A fatal problem (the XML is not well formed, a DOCTYPE, several RECS roots, limits exceeded)
  ends the stream: every record completed before it has been yielded, then the FileError. The
  consumer decides whether the whole file is rejected (NHI rejects it).
- Nothing outside the file is ever read: no DTD, no entities beyond the five predefined ones, no
  network; text and record sizes are bounded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, BinaryIO

from lxml import etree

from nhihub.formats.decode import TooManyDecodeErrors, Transcoder
from nhihub.formats.model import FileError, Record
from nhihub.formats.prolog import PrologError, check_prolog, read_declaration
from nhihub.formats.records import Assembler, Fatal
from nhihub.formats.spec import ReaderSpec, reader_spec

Source = str | os.PathLike[str] | BinaryIO

_MISMATCH = re.compile(r"mismatch: (\S+) line (\d+) and (\S+)")
_UNFINISHED = re.compile(r"in tag (\S+) line (\d+)")
_LOCATION = re.compile(r", line \d+, column \d+$")
_BAD_REF = re.compile(rb"&(?!(?:lt|gt|amp|apos|quot|#[0-9]+|#x[0-9A-Fa-f]+);)")
_REF_MAX = 40  # longest entity or character reference looked at across a chunk boundary
_REF_END = re.compile(rb"[;<\s]")
_WINDOW = 4096  # bytes kept (at least) of what the parser was given, to locate some fatal errors


@dataclass(slots=True)
class UploadInfo:
    """What the reader learnt about a file while reading it."""

    encoding: str | None = None  # encoding as declared; None when there is no XML declaration
    codec: str | None = None  # codec used: "cp950" (Big5) or "utf-8"
    version: str | None = None  # format version of the first record: "2.0" or "1.0"
    mixed_versions: bool = False  # records of both versions were found
    records: int = 0  # records yielded
    orders: int = 0  # MB2 lines read (including those not kept)
    dropped_orders: int = 0  # MB2 lines read but not kept (beyond max_orders in a record)
    complete: bool = False  # read to the end without a fatal error


class UploadReader:
    """An upload file to read once or several times; ``info`` describes the last reading."""

    def __init__(
        self,
        source: Source,
        *,
        max_text: int | None = None,
        max_orders: int | None = None,
        chunk_size: int | None = None,
    ) -> None:
        spec = reader_spec()
        self.source = source
        self.max_text = spec.limits.max_text if max_text is None else max_text
        self.max_orders = spec.limits.max_orders if max_orders is None else max_orders
        self.chunk_size = spec.limits.chunk_size if chunk_size is None else chunk_size
        if self.max_text < 1 or self.max_orders < 0 or self.chunk_size < 1:
            raise ValueError("max_text, chunk_size >= 1 and max_orders >= 0 are required")
        self.info = UploadInfo()

    def __iter__(self) -> Iterator[Record | FileError]:
        self.info = UploadInfo()
        with ExitStack() as stack:
            if isinstance(self.source, str | os.PathLike):
                fh: BinaryIO = stack.enter_context(open(self.source, "rb"))
            else:
                fh = self.source
            yield from _Session(self, fh).run()


def iter_upload(
    source: Source, *, max_text: int | None = None, max_orders: int | None = None
) -> Iterator[Record | FileError]:
    """Every record and file error of an upload file, in file order (see the module doc).

    ``source`` is a path or a binary file object (not closed here). ``max_text`` (default 4096)
    bounds the text kept of a field without a width in the field table (a field with a width is
    kept whole: the record checks report AC); ``max_orders`` (default 501) the MB2 lines kept per
    record (all are counted in ``UploadInfo.orders``).
    """
    return iter(UploadReader(source, max_text=max_text, max_orders=max_orders))


def read_upload(
    source: Source, *, max_text: int | None = None, max_orders: int | None = None
) -> tuple[list[Record], list[FileError], UploadInfo]:
    """The whole file at once: records, file errors and what was learnt about the file."""
    reader = UploadReader(source, max_text=max_text, max_orders=max_orders)
    records: list[Record] = []
    errors: list[FileError] = []
    for item in reader:
        if isinstance(item, Record):
            records.append(item)
        else:
            errors.append(item)
    return records, errors, reader.info


class _Session:
    """One reading of one file: decoding, the parser, and the assembler of records."""

    def __init__(self, reader: UploadReader, fh: BinaryIO) -> None:
        spec = reader_spec()
        self.spec: ReaderSpec = spec
        self.codes = spec.codes
        self.fh = fh
        self.info = reader.info
        self.chunk_size = reader.chunk_size
        self.out: list[Record | FileError] = []  # items waiting to be yielded
        # Encoding errors are found when a chunk is decoded, before the parser reaches them; they
        # wait here so that the stream stays in file order whatever the chunk size.
        self.held: list[FileError] = []
        self.last_bad_line = 0
        self.file_errors = 0
        self.asm = Assembler(
            spec,
            reader.info,
            max_text=reader.max_text,
            max_orders=reader.max_orders,
            file_error=self._file_error,
        )
        self.progress = False
        self.fed_tail = b""  # the last bytes given to the parser (a window), to locate errors
        self.fed_line = 1  # line at which fed_tail starts
        self.root_tag = b"<" + spec.layout.root.encode()
        self.transcoder: Transcoder | None = None
        self.parser: Any = None
        self.ref_carry = b""  # a possible reference cut by the end of the last piece
        self.unfed = b""  # what follows an undefined reference (never given to the parser)

    # -- driving -------------------------------------------------------------------------------

    def run(self) -> Iterator[Record | FileError]:
        """Every item of the file; records and file errors collect in ``out`` in file order."""
        try:
            parser, final = self._start()
            yield from self._take()
            lim = self.spec.limits
            tc = self.transcoder
            assert tc is not None
            fh = self.fh
            chunk_size = self.chunk_size
            pending = 0
            while not final:
                raw = fh.read(chunk_size)
                final = not raw
                line = tc.line  # where the decoded data starts (a carried sequence has no break)
                data = self._decode(raw, final)
                self.progress = False
                self._feed(parser, data, line, tc.line, final)
                self._events(parser)
                if self.out:
                    yield from self._take()
                if self.progress:
                    pending = 0
                    continue
                pending += len(data)
                if pending > lim.release_bytes and self.asm.release():
                    pending = 0
                    yield from self._take()
                elif pending > lim.max_pending_bytes:
                    detail = self.spec.detail("too_large", limit=lim.max_pending_bytes)
                    raise Fatal(FileError(self.codes["content"], tc.line, detail))
            parser.close()
            self._events(parser)
            self._release_held(None)
            yield from self._take()
            self.info.complete = True
        except etree.XMLSyntaxError as exc:
            self._events(self.parser)
            self._last(self._syntax_error(exc))
            yield from self._take()
        except PrologError as exc:
            self._last(FileError(exc.code, exc.line, exc.detail))
            yield from self._take()
        except Fatal as exc:
            error = exc.error
            if exc.drain:
                try:
                    self._events(self.parser)
                except Fatal as again:
                    error = again.error
            self._last(error)
            yield from self._take()

    def _last(self, error: FileError) -> None:
        """End the stream with a fatal ``error``. Held encoding errors from its line on are
        dropped: whether the parser would have reached them depends on how the file was cut."""
        self.held = [e for e in self.held if e.line < error.line]
        self._release_held(None)
        self.out.append(error)

    def _release_held(self, line: int | None) -> None:
        """Move the held encoding errors of lines before ``line`` (all when None) to the stream.
        Strictly before: for an item on the same line, whether the parser met it before the bad
        bytes were decoded depends on how the input was cut."""
        held = self.held
        if not held:
            return
        if line is None:
            self.out.extend(held)
            self.held = []
            return
        keep = 0
        while keep < len(held) and held[keep].line < line:
            keep += 1
        if keep:
            self.out.extend(held[:keep])
            self.held = held[keep:]

    def _start(self) -> tuple[Any, bool]:
        """Read the declaration and the prolog, make the parser and give it the first bytes."""
        spec = self.spec
        lim = spec.limits
        fh = self.fh
        chunk_size = self.chunk_size
        head = b""
        while True:
            raw = fh.read(chunk_size)
            final = not raw
            head += raw
            decl = read_declaration(head, spec, final=final)
            if decl is not None:
                break
        self.info.encoding = decl.encoding
        self.info.codec = decl.codec
        tc = self.transcoder = Transcoder(
            decl.codec, line=1 + decl.newlines, budget=lim.max_decode_errors
        )
        # The declaration is not given to libxml2 (it would decode again); its line breaks are.
        buf = b"\n" * decl.newlines + self._decode(head[decl.body_start :], final)
        while check_prolog(buf, spec, final=final) is None:
            raw = fh.read(chunk_size)
            final = not raw
            buf += self._decode(raw, final)
        lay = spec.layout
        parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=(lay.root, lay.record),
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
        )
        self.parser = parser
        self._feed(parser, buf, 1, tc.line, final)
        self._events(parser)
        return parser, final

    def _decode(self, raw: bytes, final: bool) -> bytes:
        tc = self.transcoder
        assert tc is not None
        label = self.info.encoding or tc.codec
        try:
            data = tc.feed(raw, final)
        except TooManyDecodeErrors as exc:
            detail = self.spec.detail("too_many_decode_errors", encoding=label)
            raise Fatal(FileError(self.codes["encoding"], int(exc.args[0]), detail)) from None
        for bad in tc.bad_lines:
            if bad == self.last_bad_line:
                continue  # one error per line, also when the line spans several chunks
            self.last_bad_line = bad
            self._count_error(bad)
            self.held.append(
                FileError(self.codes["encoding"], bad, self.spec.detail("encoding", encoding=label))
            )
        return data

    def _feed(self, parser: Any, data: bytes, line: int, end_line: int, final: bool) -> None:
        """Give ``data`` (lines ``line`` to ``end_line``) to the parser, stopping before an
        undefined entity reference: libxml2 would report it in ways that depend on how the input
        was cut. A reference possibly cut by the end of ``data`` waits for the next piece."""
        if self.ref_carry:
            data = self.ref_carry + data
            self.ref_carry = b""
        if not final:
            amp = data.rfind(b"&", max(0, len(data) - _REF_MAX))
            if amp >= 0 and not _REF_END.search(data, amp):
                self.ref_carry = data[amp:]
                data = data[:amp]
                end_line = line + data.count(b"\n")
        bad = self._bad_reference(data)
        if bad is not None:
            data, self.unfed = data[:bad], data[bad:]
        if data:
            self._give(parser, data, line, end_line)
        if bad is not None:
            at = line + data.count(b"\n")
            error = FileError(self.codes["content"], at, self.spec.detail("entity"))
            raise Fatal(error, drain=True)

    def _bad_reference(self, data: bytes) -> int | None:
        """Offset in ``data`` of an undefined entity reference outside comments and CDATA (as
        far as the last bytes given to the parser tell), if any."""
        if b"&" not in data:
            return None
        context = self.fed_tail[-_WINDOW:]
        for m in _BAD_REF.finditer(data):
            before = context + data[: m.start()]
            if before.rfind(b"<![CDATA[") > before.rfind(b"]]>"):
                continue
            if before.rfind(b"<!--") > before.rfind(b"-->"):
                continue
            return m.start()
        return None

    def _give(self, parser: Any, data: bytes, line: int, end_line: int) -> None:
        tail = self.fed_tail
        if len(data) >= _WINDOW:
            self.fed_tail, self.fed_line = data, line
        else:
            cut = max(0, len(tail) + len(data) - _WINDOW)
            self.fed_line += tail.count(b"\n", 0, cut)
            self.fed_tail = tail[cut:] + data
        self.asm.lines.note(data, line, end_line)
        parser.feed(data)

    def _take(self) -> list[Record | FileError]:
        out, self.out = self.out, []
        return out

    def _count_error(self, line: int) -> None:
        self.file_errors += 1
        limit = self.spec.limits.max_file_errors
        if self.file_errors > limit:
            detail = self.spec.detail("too_many_errors", limit=limit)
            raise Fatal(FileError(self.codes["content"], line, detail))

    def _file_error(self, code: str, line: int, detail: str) -> None:
        self._count_error(line)
        self._release_held(line)
        self.out.append(FileError(code, line, detail))

    def _events(self, parser: Any) -> None:
        """Turn the parser's pending events into records and file errors (appended to out)."""
        if parser is None:
            return
        lay = self.spec.layout
        record_tag = lay.record
        asm = self.asm
        out = self.out
        for event, el in parser.read_events():
            if event == "start":
                if asm.root is None and el.tag == lay.root:
                    asm.see_root(el)
            elif el.tag == record_tag:
                if asm.last_rec is None:
                    if asm.root is None:
                        asm.see_root(el.getroottree().getroot())
                    asm.check_root_text()
                rec = asm.record(el)
                if rec is not None:
                    if self.held:
                        self._release_held(rec.line)
                    out.append(rec)
                    self.progress = True
            else:
                if asm.last_rec is None:
                    asm.check_root_text()
                self._settle()
                asm.root_end(el, self._end_line())
                self.progress = True
        self._settle()

    def _end_line(self) -> int:
        """Line of the root's end tag: the last one in the bytes given to the parser."""
        end_tag = b"</" + self.spec.layout.root.encode()
        at = self.fed_tail.rfind(end_tag)
        if at < 0:
            return self.transcoder.line if self.transcoder is not None else self.fed_line
        return self.fed_line + self.fed_tail.count(b"\n", 0, at)

    def _another_root(self) -> bool:
        """Whether a root start tag follows the end of the root: in the last bytes given to the
        parser (after the first root end tag there, if any), in what it was not given, or further
        on in the file. Counted on all of these, so that the answer does not depend on how the
        input was cut."""
        root_tag = self.root_tag
        end_tag = b"</" + root_tag[1:]
        window = self.fed_tail
        end = window.find(end_tag)
        after = window if end < 0 else window[end:]
        edge = len(root_tag) - 1
        rest = self.unfed + self.ref_carry
        if (after + rest).count(root_tag):
            return True
        tail = (window + rest)[-edge:]
        while raw := self.fh.read(1 << 20):
            if (tail + raw).count(root_tag):
                return True
            tail = raw[-edge:]
        return False

    def _settle(self) -> None:
        """Verify the provisional records, put the exact ones in their place, release them."""
        replaced = self.asm.verify()
        if replaced:
            self.out[:] = [replaced.get(id(item), item) for item in self.out]
        self.asm.flush()

    # -- fatal XML errors ------------------------------------------------------------------------

    def _syntax_error(self, exc: etree.XMLSyntaxError) -> FileError:
        spec = self.spec
        codes = self.codes
        errs = spec.libxml2_errors
        msg = _LOCATION.sub("", exc.msg or "")
        line: int = exc.lineno or self.fed_line
        code: int = getattr(exc, "code", 0)  # libxml2's error number (not in the stubs)
        syntax = spec.detail("syntax", message=msg[:200])
        lay = spec.layout
        structural = lay.structural
        if code == errs["document_end"]:
            if self._another_root():
                return FileError(codes["several_roots"], line, spec.detail("several_roots"))
            return FileError(codes["content"], line, syntax)
        if code == errs["reserved_xml_name"]:
            return FileError(codes["prolog"], line, spec.detail("late_declaration"))
        if code == errs["invalid_encoding"]:
            label = self.info.encoding or self.info.codec
            return FileError(codes["encoding"], line, spec.detail("encoding", encoding=label))
        if code == errs["tag_name_mismatch"]:
            m = _MISMATCH.search(msg)
            if m is not None:
                opened, closed = m.group(1), m.group(3)
                if opened == lay.record:
                    at = self.asm.open_record_line() or int(m.group(2))
                    return FileError(codes["no_end_record"], at, spec.detail("no_end_record"))
                if opened != lay.root and (opened in structural or closed in structural):
                    return FileError(codes["nesting"], line, syntax)
            return FileError(codes["content"], line, syntax)
        if code == errs["tag_not_finished"]:
            m = _UNFINISHED.search(msg)
            tag = m.group(1) if m is not None else ""
            if tag != lay.root:
                open_line = self.asm.open_record_line()
                if open_line is None and tag == lay.record and m is not None:
                    open_line = int(m.group(2))
                if open_line is not None:
                    detail = spec.detail("no_end_record")
                    return FileError(codes["no_end_record"], open_line, detail)
            return FileError(codes["no_end_root"], line, spec.detail("no_end_root"))
        return FileError(codes["content"], line, syntax)
