"""Run the record checks over an upload file and build its :class:`FileSummary`.

Serial by default; with ``jobs > 1`` the file is cut at ``<REC>`` boundaries and the parts are
read and checked in worker processes, then merged in file order (same output as serial).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nhihub.checks import CheckContext, check_record, is_valid, order_counts, skipped_checks
from nhihub.formats.model import FileError, Record
from nhihub.formats.plain import read_plain
from nhihub.formats.reader import iter_upload
from nhihub.results.model import FileSummary

Progress = Callable[[int], None]


def check_stream(
    source: str | os.PathLike[str] | BinaryIO,
    ctx: CheckContext,
    *,
    name: str = "-",
    progress: Progress | None = None,
) -> FileSummary:
    """Check every record of one upload file; ``progress`` is called with bytes-read estimates."""
    return check_items(iter_upload(source), ctx, name=name, progress=progress)


def check_items(
    items: Iterable[Record | FileError],
    ctx: CheckContext,
    *,
    name: str = "-",
    progress: Progress | None = None,
) -> FileSummary:
    """Check the records of one upload file as read (``iter_upload`` or ``read_plain``)."""
    summary = FileSummary(file=name, skipped_checks=list(skipped_checks(ctx)))
    for n, item in enumerate(items, 1):
        if isinstance(item, FileError):
            summary.file_errors.append(item)
            continue
        findings = check_record(item, ctx)
        if findings:
            orders, bad_orders = order_counts(item, findings)
            summary.add(item, findings, is_valid(findings), orders, bad_orders)
        else:  # the usual record: valid, every order line valid
            summary.add(item, findings, True, len(item.mb2), 0)
        if progress is not None and n % 1000 == 0:
            progress(n)
    return summary


def check_path(path: Path, ctx: CheckContext, *, progress: Progress | None = None) -> FileSummary:
    return check_stream(path, ctx, name=str(path), progress=progress)


# --- Parallel checking ------------------------------------------------------------------------
#
# Reading is the serial part of a check, so ``--jobs N`` must split the *reading*. A Big5 or UTF-8
# file cannot contain the bytes ``<REC>`` except as the tag (``<`` is never a Big5 trail byte), so
# the file is cut at ``<REC>`` offsets and each part is read as a small well-formed document
# (prolog + ``<RECS>`` + part + ``</RECS>``). This is only done when a cheap look at the head and
# tail shows a clean frame; any file error in a part, or any doubt, falls back to the serial path,
# so the output is identical to ``--jobs 1`` by construction.
#
# The cuts are found by seeking: near each k/N of the body, the next ``<REC>``. Nothing is read
# whole before the workers start; each worker counts the records and line breaks of its part,
# and record numbers and lines are made file-wide when the parts are merged in order.

_REC = b"<REC>"
_SEEK_BLOCK = 1 << 16
_PART_BYTES = 1 << 25  # 32 MiB: a worker reads its part whole
_PARTS_PER_JOB = 32  # many small parts: the workers end within a small part of each other
_PLAIN_BYTES = 1 << 22  # 4 MiB: the largest part read_plain takes (it holds all its records)


@dataclass(frozen=True, slots=True)
class _Part:
    path: str
    start: int
    end: int
    prolog: bytes


def _frame(path: Path) -> tuple[bytes, int, int] | None:
    """(prolog up to and including ``<RECS>``, body start, body end) of a cleanly framed file."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4096)
        fh.seek(max(0, size - 64))
        tail = fh.read()
    open_at = head.find(b"<RECS>")
    if open_at < 0 or head.count(b"<RECS>") != 1 or b"<!" in head[:open_at]:
        return None
    close_at = tail.rfind(b"</RECS>")
    if close_at < 0 or tail[close_at + 7 :].strip():
        return None
    body_start = open_at + len(b"<RECS>")
    body_end = size - len(tail) + close_at
    return head[:body_start], body_start, body_end


def _next_rec(fh: BinaryIO, start: int, end: int) -> int | None:
    """Offset of the first ``<REC>`` at or after ``start`` (and before ``end``)."""
    pos = start
    carry = b""
    fh.seek(start)
    while pos < end:
        block = fh.read(min(_SEEK_BLOCK, end - pos))
        if not block:
            return None
        data = carry + block
        at = data.find(_REC)
        if at >= 0:
            return pos - len(carry) + at
        carry = data[-(len(_REC) - 1) :]
        pos += len(block)
    return None


def _plan(path: Path, jobs: int) -> tuple[list[_Part], int] | None:
    """The parts of a cleanly framed file, and the line breaks before the first one."""
    frame = _frame(path)
    if frame is None:
        return None
    prolog, body_start, body_end = frame
    size = body_end - body_start
    wanted = max(jobs * _PARTS_PER_JOB, -(-size // _PART_BYTES))
    with path.open("rb") as fh:
        first = _next_rec(fh, body_start, body_end)
        if first is None:
            return None
        cuts = [first]
        for k in range(1, wanted):
            at = _next_rec(fh, max(body_start + k * size // wanted, cuts[-1] + 1), body_end)
            if at is None:
                break
            cuts.append(at)
        if len(cuts) < jobs:
            return None  # too few records to share out
        fh.seek(0)
        lines = pos = 0
        while pos < first:  # the prolog: usually a few lines, read in blocks all the same
            block = fh.read(min(_SEEK_BLOCK, first - pos))
            if not block:
                break
            lines += block.count(b"\n")
            pos += len(block)
    bounds = [*cuts, body_end]
    parts = [_Part(str(path), a, b, prolog) for a, b in itertools.pairwise(bounds)]
    return parts, lines


def _check_part(part: _Part, as_of: dt.datetime) -> tuple[FileSummary, int]:
    """The summary of one part (record numbers and lines counted from the part's start) and
    the line breaks in it."""
    from nhihub.precheck.context import build_context

    with open(part.path, "rb") as fh:
        fh.seek(part.start)
        body = fh.read(part.end - part.start)
    # The prolog is on the part's first line so that line numbers only need an offset.
    doc = part.prolog.replace(b"\n", b" ").replace(b"\r", b" ") + body + b"</RECS>"
    # A small part of plain records is taken straight from its bytes (all of them at once, so
    # not a large part: memory stays flat); anything else is read by the reader.
    plain = read_plain(doc) if len(doc) <= _PLAIN_BYTES else None
    items = iter_upload(io.BytesIO(doc)) if plain is None else plain
    summary = check_items(items, build_context(as_of), name=part.path)
    return summary, body.count(b"\n")


def check_path_parallel(
    path: Path, as_of: dt.datetime, jobs: int, *, progress: Progress | None = None
) -> FileSummary:
    """Like :func:`check_path` with ``jobs`` worker processes; identical output."""
    from nhihub.precheck.context import build_context

    plan = _plan(path, jobs) if jobs > 1 else None
    if plan is None:
        return check_path(path, build_context(as_of), progress=progress)
    parts, lines = plan
    merged = FileSummary(file=str(path), skipped_checks=list(skipped_checks(build_context(as_of))))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(_check_part, parts, itertools.repeat(as_of))
        for result, newlines in results:
            if result.file_errors:
                pool.shutdown(cancel_futures=True)
                return check_path(path, build_context(as_of), progress=progress)
            for o in result.reported:  # numbered within the part until now
                o.record.index += merged.records
                o.record.line += lines
            merged.merge(result)
            lines += newlines
            if progress is not None:
                progress(merged.records)
    merged.file = str(path)
    return merged
