"""Speed and memory of ``nhihub check`` against the floor of plain lxml parsing (issue #3).

In one run, on the same synthetic file (``nhihub synth``, 200,000 records, Big5):

- *floor*: ``lxml.etree.iterparse`` over the file building one dict per record (MB1 fields and a
  list of MB2 dicts), clearing elements as it goes; nothing else;
- ``nhihub check`` in one process (read + all record checks + summary), as a rate and as a ratio
  to the floor (target ≥ 0.7×);
- ``nhihub check --jobs 2`` likewise (target ≥ 1.2×);
- peak memory (max RSS of the ``nhihub check`` process) on a file of about 1 GB (target < 200 MB).

Generated files are cached in ``bench-data/`` (git-ignored) so repeated runs skip generation.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from lxml import etree

from nhihub.bench import Figure, best_of
from nhihub.precheck.runner import check_path_parallel
from nhihub.synth import generate, write_synth

AS_OF = dt.datetime(2024, 11, 20, 12, 0, 0)
AS_OF_ROC = "1131120120000"
DATA = Path(os.environ.get("NHIHUB_BENCH_DIR", "bench-data"))


def synthetic_file(records: int, seed: int = 7) -> Path:
    """The cached synthetic upload file of ``records`` records (generated on first use)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"synth-{records}-{seed}.xml"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_synth(generate(seed, records, as_of=AS_OF), tmp)
        tmp.replace(path)
        Path(str(tmp) + ".errors.jsonl").unlink(missing_ok=True)
    return path


def plain_parse(path: Path) -> int:
    """The floor: iterparse building one dict per record, nothing else. Returns records."""
    n = seen = 0  # fields seen are counted so that the dicts are used, as a consumer would
    for _, rec in etree.iterparse(str(path), events=("end",), tag="REC"):
        mb1: dict[str, str] = {}
        mb2: list[dict[str, str]] = []
        for seg in rec.iter("MB1", "MB2"):
            fields = {child.tag: (child.text or "").strip() for child in seg}
            if seg.tag == "MB1":
                mb1 = fields
            else:
                mb2.append(fields)
        n += 1
        seen += len(mb1) + sum(map(len, mb2))
        rec.clear()
        parent = rec.getparent()
        if parent is not None:
            while rec.getprevious() is not None:
                del parent[0]
    return n if seen else 0


# Linux keeps the larger resident size of a process across exec: a process forked from this
# one (which holds the records of the other suites) would report this one's size. So the check
# is started by a small launcher process, whose own size is what its child inherits.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(os.wait4(p.pid, 0)[2].ru_maxrss)"
)


def peak_rss_mb(path: Path) -> float:
    """Max resident set size (MB) of a ``nhihub check`` process over ``path``."""
    cmd = [sys.executable, "-m", "nhihub.cli.main", "check", "--format", "json"]
    cmd += ["--as-of", AS_OF_ROC, str(path)]
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], capture_output=True, check=True)
    return int(out.stdout) / 1024.0


def run(quick: bool) -> list[Figure]:
    records = 5_000 if quick else 200_000
    repeats = 1 if quick else 2
    path = synthetic_file(records)
    floor_s, n = best_of(lambda: plain_parse(path), repeats)
    serial_s, summary = best_of(lambda: check_path_parallel(path, AS_OF, 1), repeats)
    jobs_s, summary2 = best_of(lambda: check_path_parallel(path, AS_OF, 2), repeats)
    if not summary.records == summary2.records == n:
        raise RuntimeError("nhihub check and the plain parse disagree on the record count")
    floor, serial, jobs2 = n / floor_s, n / serial_s, n / jobs_s
    r1, r2 = serial / floor, jobs2 / floor
    figures = [
        Figure(f"plain lxml iterparse ({n:,} records)", floor, "records/s"),
        Figure("nhihub check, 1 process", serial, "records/s"),
        Figure("nhihub check, 1 process / plain parse", r1, "x", ">= 0.7x", r1 >= 0.7),
        Figure("nhihub check --jobs 2", jobs2, "records/s"),
        Figure("nhihub check --jobs 2 / plain parse", r2, "x", ">= 1.2x", r2 >= 1.2),
    ]
    big = synthetic_file(20_000 if quick else 880_000)
    size_mb = big.stat().st_size / 1e6
    rss = peak_rss_mb(big)
    figures.append(
        Figure(f"peak memory, check of a {size_mb:,.0f} MB file", rss, "MB", "< 200 MB", rss < 200)
    )
    return figures
