"""``python -m nhihub.bench [--quick] [NAME...]``: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
import importlib
import sys

from nhihub.bench import Figure

# Benchmark modules, in the order they run.
SUITES: dict[str, str] = {
    "visitid": "nhihub.bench.visitid",
    "checks": "nhihub.checks.bench",
    "formats": "nhihub.formats.bench",
    "precheck": "nhihub.bench.precheck",
    "reports": "nhihub.bench.reports",
    "ingest": "nhihub.bench.ingest",
}


def _print(suite: str, figures: list[Figure]) -> None:
    for f in figures:
        verdict = "" if f.met is None else ("  OK" if f.met else "  MISSED")
        target = f"  (target {f.target})" if f.target else ""
        print(f"{suite:10s} {f.name:48s} {f.value:>14,.2f} {f.unit}{target}{verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nhihub.bench")
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke test")
    parser.add_argument("suites", nargs="*", metavar="NAME", help=f"any of: {', '.join(SUITES)}")
    args = parser.parse_args(argv)
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    missed = 0
    for name in args.suites or list(SUITES):
        module = importlib.import_module(SUITES[name])
        figures: list[Figure] = module.run(quick=args.quick)
        _print(name, figures)
        missed += sum(1 for f in figures if f.met is False)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
