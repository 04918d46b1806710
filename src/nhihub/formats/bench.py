"""Benchmark of the reader alone (``python -m nhihub.bench formats`` once registered).

In one run, on the same synthetic files (``nhihub synth``, Big5 as written by default, and the
same bytes declared UTF-8): the floor of ``nhihub.bench.precheck`` (plain lxml iterparse building
one dict per segment) and :func:`iter_upload`, as rates and as a ratio (target >= 0.85, so that
the record checks keep room within the whole check's 0.7). CPU time, best of several runs, so
that other processes on the machine count as little as possible.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from functools import partial
from pathlib import Path

from nhihub.bench import Figure, best_of

AS_OF = dt.datetime(2024, 11, 20, 12, 0, 0)
TARGET = 0.85
RECORDS = {True: 5_000, False: 50_000}  # by ``quick``


def _read_all(path: Path) -> int:
    from nhihub.formats.reader import iter_upload

    return sum(1 for _ in iter_upload(path))


def run(quick: bool) -> list[Figure]:
    from nhihub.bench.precheck import plain_parse
    from nhihub.synth import generate, write_synth

    records = RECORDS[quick]
    repeats = 2 if quick else 5
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="nhihub-bench-") as tmp:
        big5 = Path(tmp) / "synth-big5.xml"
        write_synth(generate(11, records, as_of=AS_OF), big5)
        utf8 = Path(tmp) / "synth-utf8.xml"
        data = big5.read_bytes()
        utf8.write_bytes(data.replace(b'encoding="Big5"', b'encoding="UTF-8"', 1))
        for label, path in (("Big5", big5), ("UTF-8", utf8)):
            floor_s, n = best_of(partial(plain_parse, path), repeats, time.process_time)
            read_s, m = best_of(partial(_read_all, path), repeats, time.process_time)
            if n != m:
                raise RuntimeError("the reader and the plain parse disagree on the record count")
            ratio = floor_s / read_s
            figures += [
                Figure(f"plain lxml iterparse, {label} ({n:,} records)", n / floor_s, "records/s"),
                Figure(f"iter_upload, {label}", n / read_s, "records/s"),
                Figure(
                    f"iter_upload / plain parse, {label}",
                    ratio,
                    "x",
                    f">= {TARGET}x",
                    ratio >= TARGET,
                ),
            ]
    return figures
