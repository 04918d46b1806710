"""The plain-data model shared by the reader, the checks, the writer and storage.

A record's fields are kept as the text found in the file (after stripping surrounding white
space); absent fields are absent from the dicts, never ``""``. Checks interpret the text, so a
record that is wrong in every field can still be reported field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a record: the field (``M15``, ``D05[1]`` for the first MB2 line,
    ``None`` for the record as a whole) and an NHI check code from the catalogue."""

    field: str | None
    code: str


@dataclass(frozen=True, slots=True)
class FileError:
    """A problem with the file itself (structure, encoding): check code and 1-based line."""

    code: str
    line: int
    detail: str = ""


@dataclass(slots=True)
class Record:
    """One ``<REC>``: header (MSH: H00/H01 for 2.0, A00/A01/A02 for 1.0), MB1 and MB2 lines.

    ``problems`` holds structural findings the reader met inside this record (an unknown tag,
    wrong nesting); checks add theirs on top.
    """

    index: int
    line: int
    version: str
    header: dict[str, str] = field(default_factory=dict)
    mb1: dict[str, str] = field(default_factory=dict)
    mb2: list[dict[str, str]] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
