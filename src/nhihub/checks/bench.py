"""Benchmark of the record checks (``python -m nhihub.bench checks`` once registered).

Measures, in one run on the same synthetic records (a realistic mix, about 3-5 order lines
each): check_record's throughput, and the floor it is compared with, plain lxml iterparse of
the same records written as an upload file building one dict per segment. The ratio is what
matters: for ``nhihub check`` to reach 0.7 x the plain-parse rate, reading and checking together
may take at most 1/0.7 of the parse time, so the checks alone must stay well under 0.43 of it.
"""

from __future__ import annotations

import datetime as dt
import io
import time

from lxml import etree

from nhihub.bench import Figure, best_of
from nhihub.checks.context import CheckContext
from nhihub.checks.record import check_record
from nhihub.formats.model import Record

AS_OF = dt.datetime(2024, 10, 15, 12, 0, 0)
CHECK_BUDGET = 1 / 0.7 - 1  # share of the parse time left for the checks when reading is free


def _records(n: int) -> list[Record]:
    from nhihub.synth.generate import generate
    from nhihub.visitid import Keyring

    result = generate(20241015, n, as_of=AS_OF, keyring=Keyring.development())
    return [rec for rec, _ in result][:n]


def _plain_parse(data: bytes) -> int:
    n = 0
    for _, rec in etree.iterparse(io.BytesIO(data), events=("end",), tag="REC"):
        _ = {c.tag: c.text for c in rec[0]}
        body = rec[1]
        _ = {c.tag: c.text for c in body[0]}
        _ = [{c.tag: c.text for c in line} for line in body[1:]]
        rec.clear()
        while rec.getprevious() is not None:
            del rec.getparent()[0]
        n += 1
    return n


def run(quick: bool) -> list[Figure]:
    from nhihub.formats.writer import write_upload

    records = _records(300 if quick else 5000)
    ctx = CheckContext(as_of=AS_OF)
    lines = sum(len(r.mb2) for r in records) / len(records)
    repeat = 2 if quick else 5

    def check_all() -> None:
        for rec in records:
            check_record(rec, ctx)

    check_time = best_of(check_all, repeat, time.process_time)[0]
    buf = io.BytesIO()
    write_upload(records, buf)
    data = buf.getvalue()
    parse_time = best_of(lambda: _plain_parse(data), repeat, time.process_time)[0]
    ratio = check_time / parse_time
    n = len(records)
    return [
        Figure("order lines per record (synthetic mix)", lines, "lines"),
        Figure("check_record throughput", n / check_time, "records/s"),
        Figure("plain lxml iterparse of the same records", n / parse_time, "records/s"),
        Figure(
            "check_record time / plain parse time",
            ratio,
            "x",
            target=f"<= {CHECK_BUDGET:.2f}",
            met=ratio <= CHECK_BUDGET,
        ),
    ]
