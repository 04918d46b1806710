"""Writer of upload files (format 2.0 or 1.0, Big5 or UTF-8), the inverse of the reader.

Records are written one ``<REC>`` per line (line breaks in values as character references),
fields in the order of the field table and only when they have a value (text is stripped, as the
reader does), so that reading a written file gives the same records back. Big5 is written as
cp950, the encoding the reader decodes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from nhihub.formats.model import Record
from nhihub.formats.spec import ReaderSpec, reader_spec
from nhihub.specs.fields import VERSIONS, segment_fields

# Line breaks are written as character references: a parser would turn CR into LF, and one
# record per line keeps line numbers meaningful.
_SPECIAL = re.compile(r"[&<>\r\n]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", "\n": "&#10;"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")


class UnencodableError(ValueError):
    """A field holds a character the chosen encoding (or XML itself) cannot represent."""

    def __init__(self, message: str, *, record: int, field: str, codepoint: int) -> None:
        super().__init__(message)
        self.record = record
        self.field = field
        self.codepoint = codepoint


class UnknownFieldError(ValueError):
    """A record holds a field id that its segment does not have in the file's format version."""

    def __init__(self, message: str, *, record: int, field: str) -> None:
        super().__init__(message)
        self.record = record
        self.field = field


def _escape(text: str) -> str:
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], text)


class _Segment:
    """Writes the fields of one segment in field-table order."""

    def __init__(self, spec: ReaderSpec, version: str, name: str, strict: bool) -> None:
        self.name = name
        self.version = version
        self.strict = strict
        self.spec = spec
        self.order = {f.id: i for i, f in enumerate(segment_fields(version, name))}

    def render(self, values: Mapping[str, str], record: int, suffix: str) -> str:
        order = self.order
        known: list[tuple[int, str, str]] = []
        extra: list[tuple[str, str]] = []
        for fid, raw in values.items():
            text = raw.strip() if raw else ""
            if not text:
                continue
            label = fid + suffix
            bad = _NOT_XML.search(text)
            if bad is not None:
                message = self.spec.writer_error(
                    "not_xml", record=record, field=label, codepoint=ord(bad.group())
                )
                raise UnencodableError(
                    message, record=record, field=label, codepoint=ord(bad.group())
                )
            if _SPECIAL.search(text):
                text = _escape(text)
            pos = order.get(fid)
            if pos is not None:
                known.append((pos, fid, text))
            elif self.strict:
                message = self.spec.writer_error(
                    "unknown_field",
                    record=record,
                    field=label,
                    segment=self.name,
                    version=self.version,
                )
                raise UnknownFieldError(message, record=record, field=label)
            elif _NAME.match(fid):
                extra.append((fid, text))
            else:
                message = self.spec.writer_error("bad_name", record=record, field=label)
                raise UnknownFieldError(message, record=record, field=label)
        known.sort()
        parts = [f"<{fid}>{text}</{fid}>" for _, fid, text in known]
        parts.extend(f"<{fid}>{text}</{fid}>" for fid, text in extra)
        return f"<{self.name}>{''.join(parts)}</{self.name}>"


def _unencodable(spec: ReaderSpec, rec: Record, n: int, codec: str, label: str) -> UnencodableError:
    """Name the field of ``rec`` that ``codec`` cannot encode."""
    fields: list[tuple[str, str]] = [*rec.header.items(), *rec.mb1.items()]
    for i, line in enumerate(rec.mb2, 1):
        fields.extend((f"{fid}[{i}]", value) for fid, value in line.items())
    for field, value in fields:
        for ch in value or "":
            try:
                ch.encode(codec)
            except UnicodeEncodeError:
                message = spec.writer_error(
                    "unencodable", record=n, field=field, encoding=label, codepoint=ord(ch)
                )
                return UnencodableError(message, record=n, field=field, codepoint=ord(ch))
    raise AssertionError("an unencodable record has an unencodable field")  # pragma: no cover


def write_upload(
    records: Iterable[Record],
    dest: BinaryIO | str | os.PathLike[str],
    *,
    encoding: str = "big5",
    version: str = "2.0",
    strict: bool = True,
) -> int:
    """Write ``records`` as an upload file; returns the number of records written.

    ``encoding`` is ``"big5"`` (written as cp950) or ``"utf-8"``. With ``strict`` (the default)
    a field id that its segment does not have in ``version``, or a record of another version, is
    an :class:`UnknownFieldError`; without it such fields are written after the known ones (to
    build broken files on purpose). A character that the encoding or XML cannot represent is an
    :class:`UnencodableError`. Both name the record (1-based position in the output) and field.
    A path is written through a temporary file, so a failed write leaves no partial file.
    """
    spec = reader_spec()
    codec = spec.codec(encoding)
    if codec is None:
        raise ValueError(spec.writer_error("encoding", encoding=encoding))
    if version not in VERSIONS:
        raise ValueError(spec.writer_error("version", version=version))
    if isinstance(dest, str | os.PathLike):
        path = Path(dest)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                count = _write(records, fh, spec, codec, version, strict)
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        return count
    return _write(records, dest, spec, codec, version, strict)


def _write(
    records: Iterable[Record],
    fh: BinaryIO,
    spec: ReaderSpec,
    codec: str,
    version: str,
    strict: bool,
) -> int:
    lay = spec.layout
    label = spec.writer_labels[codec]
    header = _Segment(spec, version, lay.header, strict)
    visit = _Segment(spec, version, lay.visit, strict)
    order = _Segment(spec, version, lay.order, strict)
    fh.write(f'<?xml version="1.0" encoding="{label}"?>\n<{lay.root}>\n'.encode(codec))
    n = 0
    for rec in records:
        n += 1
        if strict and rec.version != version:
            message = spec.writer_error(
                "record_version", record=n, found=rec.version, version=version
            )
            raise UnknownFieldError(message, record=n, field=lay.header)
        parts = [
            f"<{lay.record}>",
            header.render(rec.header, n, ""),
            f"<{lay.body}>",
            visit.render(rec.mb1, n, ""),
        ]
        parts.extend(order.render(line, n, f"[{i}]") for i, line in enumerate(rec.mb2, 1))
        parts.append(f"</{lay.body}></{lay.record}>\n")
        text = "".join(parts)
        try:
            data = text.encode(codec)
        except UnicodeEncodeError:
            raise _unencodable(spec, rec, n, codec, label) from None
        fh.write(data)
    fh.write(f"</{lay.root}>\n".encode(codec))
    return n
