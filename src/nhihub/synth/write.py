"""Write a generated file, its error sidecar and (optionally) the paired 1.0 file: the only I/O of
:mod:`nhihub.synth`.

The sidecar ``<out>.errors.jsonl`` has one JSON object per injected error, in record order:
``{"index": 12, "field": "M15", "code": "AA", "kind": "missing-visit-id"}`` (``index`` is the
1-based record position in the output file). It is always written, empty when no error was
injected, so a stale sidecar never survives a new run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nhihub.formats import write_upload
from nhihub.formats.model import Record
from nhihub.synth.generate import SynthResult

SIDECAR_SUFFIX = ".errors.jsonl"
ENCODINGS = ("big5", "utf-8")

Progress = Callable[[int], None]  # called with the number of records written so far


@dataclass(frozen=True, slots=True)
class SynthSummary:
    """What was written."""

    out: Path
    records: int
    errors_injected: int
    sidecar: Path
    paired_v1: Path | None = None
    paired_records: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "out": str(self.out),
            "records": self.records,
            "errors_injected": self.errors_injected,
            "sidecar": str(self.sidecar),
        }
        if self.paired_v1 is not None:
            data["paired_v1"] = str(self.paired_v1)
            data["paired_records"] = self.paired_records
        return data


def sidecar_path(out: str | os.PathLike[str]) -> Path:
    """``out.xml`` -> ``out.xml.errors.jsonl``."""
    path = Path(out)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_sidecar(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of a sidecar file."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class _Counter:
    """Counts records; reports progress every 1,000 records (both files together) and at the end
    of each file."""

    def __init__(self, progress: Progress | None, offset: int = 0) -> None:
        self.records = 0
        self.errors = 0
        self._progress = progress
        self._offset = offset

    def step(self) -> None:
        self.records += 1
        done = self._offset + self.records
        if self._progress is not None and done % 1000 == 0:
            self._progress(done)

    def end(self) -> None:
        done = self._offset + self.records
        if self._progress is not None and done % 1000:
            self._progress(done)


def write_synth(
    result: SynthResult,
    out: str | os.PathLike[str],
    *,
    encoding: str = "big5",
    paired_v1: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> SynthSummary:
    """Write ``result`` to ``out`` (its format version), the sidecar beside it, and with
    ``paired_v1`` the same visits as a format-1.0 file. ``progress`` is called every 1,000
    records and at the end of each file with the number written so far, main file and 1.0 file
    counted together."""
    if encoding not in ENCODINGS:
        raise ValueError(f"編碼須為 big5 或 utf-8 / encoding must be big5 or utf-8: {encoding!r}")
    out_path = Path(out)
    side = sidecar_path(out_path)
    counter = _Counter(progress)
    with side.open("w", encoding="utf-8", newline="\n") as sidecar:

        def records() -> Iterator[Record]:
            for rec, errors in result:
                for e in errors:
                    sidecar.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
                counter.errors += len(errors)
                counter.step()
                yield rec

        write_upload(records(), out_path, encoding=encoding, version=result.version)
    counter.end()
    summary = SynthSummary(out_path, counter.records, counter.errors, side)
    if paired_v1 is None:
        return summary
    v1_path = Path(paired_v1)
    v1_counter = _Counter(progress, counter.records)

    def v1_records() -> Iterator[Record]:
        for rec in result.paired_v1():
            v1_counter.step()
            yield rec

    write_upload(v1_records(), v1_path, encoding=encoding, version="1.0")
    v1_counter.end()
    return SynthSummary(
        out_path, counter.records, counter.errors, side, v1_path, v1_counter.records
    )
