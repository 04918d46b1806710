"""Run the record checks over an upload file and build its :class:`FileSummary`.

Serial by default; with ``jobs > 1`` the file is cut at ``<REC>`` boundaries and the parts are
read and checked in worker processes, then merged in file order (same output as serial).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nhihub.checks import CheckContext, check_record, is_valid, order_counts, skipped_checks
from nhihub.formats.model import FileError
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
    summary = FileSummary(file=name, skipped_checks=list(skipped_checks(ctx)))
    for n, item in enumerate(iter_upload(source), 1):
        if isinstance(item, FileError):
            summary.file_errors.append(item)
            continue
        findings = check_record(item, ctx)
        orders, bad_orders = order_counts(item, findings)
        summary.add(item, findings, is_valid(findings), orders, bad_orders)
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
# (prolog + ``<RECS>`` + part + ``</RECS>``). This is only done when a cheap pre-scan shows a clean
# frame; any file error in a part, or any doubt, falls back to the serial path, so the output is
# identical to ``--jobs 1`` by construction.

_REC = b"<REC>"
_SCAN_BLOCK = 1 << 24
_PART_BYTES = 1 << 25  # 32 MiB


@dataclass(frozen=True, slots=True)
class _Part:
    path: str
    start: int
    end: int
    first_index: int  # records before this part
    first_line: int  # newlines before this part
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


def _rec_offsets(path: Path, start: int, end: int) -> list[int]:
    """Byte offsets of every ``<REC>`` between start and end, reading in large blocks."""
    offsets: list[int] = []
    with path.open("rb") as fh:
        fh.seek(start)
        pos = start
        carry = b""
        while pos < end:
            block = fh.read(min(_SCAN_BLOCK, end - pos))
            if not block:
                break
            data = carry + block
            base = pos - len(carry)
            i = data.find(_REC)
            while i >= 0:
                offsets.append(base + i)
                i = data.find(_REC, i + 1)
            carry = data[-(len(_REC) - 1) :]
            pos += len(block)
    return offsets


def _plan(path: Path, jobs: int) -> list[_Part] | None:
    frame = _frame(path)
    if frame is None:
        return None
    prolog, body_start, body_end = frame
    offsets = _rec_offsets(path, body_start, body_end)
    if len(offsets) < jobs * 2:
        return None
    # Several parts per worker even out the load; parts of at most _PART_BYTES bound the memory
    # a worker needs, since it reads its part whole.
    wanted = max(jobs * 4, -(-(body_end - body_start) // _PART_BYTES))
    per = -(-len(offsets) // wanted)
    cuts = [offsets[i] for i in range(0, len(offsets), per)]
    bounds = [*cuts, body_end]
    parts: list[_Part] = []
    lines = 0
    with path.open("rb") as fh:
        pos = 0
        for k, (a, b) in enumerate(itertools.pairwise(bounds)):
            fh.seek(pos)
            while pos < a:  # newlines before the part, counted block by block
                block = fh.read(min(_SCAN_BLOCK, a - pos))
                if not block:
                    break
                lines += block.count(b"\n")
                pos += len(block)
            parts.append(_Part(str(path), a, b, k * per, lines, prolog))
    return parts


def _check_part(part: _Part, as_of: dt.datetime) -> FileSummary:
    from nhihub.precheck.context import build_context

    with open(part.path, "rb") as fh:
        fh.seek(part.start)
        body = fh.read(part.end - part.start)
    # The prolog is on the part's first line so that line numbers only need an offset.
    doc = part.prolog.replace(b"\n", b" ").replace(b"\r", b" ") + body + b"</RECS>"
    summary = check_stream(io.BytesIO(doc), build_context(as_of), name=part.path)
    for o in summary.reported:
        o.record.index += part.first_index
        o.record.line += part.first_line
    return summary


def check_path_parallel(
    path: Path, as_of: dt.datetime, jobs: int, *, progress: Progress | None = None
) -> FileSummary:
    """Like :func:`check_path` with ``jobs`` worker processes; identical output."""
    from nhihub.precheck.context import build_context

    parts = _plan(path, jobs) if jobs > 1 else None
    if parts is None:
        return check_path(path, build_context(as_of), progress=progress)
    merged = FileSummary(file=str(path), skipped_checks=list(skipped_checks(build_context(as_of))))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(_check_part, parts, itertools.repeat(as_of))
        for part, result in zip(parts, results, strict=True):
            if result.file_errors:
                pool.shutdown(cancel_futures=True)
                return check_path(path, build_context(as_of), progress=progress)
            merged.merge(result)
            if progress is not None:
                progress(part.first_index + result.records)
    merged.file = str(path)
    return merged
