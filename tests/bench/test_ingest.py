"""The ingest benchmark's parts: the baseline parses every record, the synthetic day is one
institution's, and one timed ingest really stores every record."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nhihub.bench import ingest as bench
from nhihub.formats import write_upload
from nhihub.service.checking import CheckPool
from nhihub.storage import create_engine_for, read_only
from nhihub.storage.schema import visits


def test_plain_parse_and_ingest_agree(tmp_path: Path) -> None:
    records = bench._records(60)
    assert {r.mb1["M05"] for r in records} == {bench.INSTITUTION}
    assert all(r.mb1.get("M17", bench.INSTITUTION) == bench.INSTITUTION for r in records)
    out = io.BytesIO()
    write_upload(records, out)
    raw = out.getvalue()
    assert bench.plain_parse(raw) == 60
    assert bench._read_and_check(raw) == 60
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = create_engine_for(url)
    try:
        seconds = bench._ingest_once(engine, bench._settings(url), raw, CheckPool(1))
        with read_only(engine) as conn:
            stored = conn.execute(select(func.count()).select_from(visits)).scalar_one()
    finally:
        engine.dispose()
    assert seconds > 0 and stored == 60
    figure = bench._ratio("x", 0.6, True)
    assert figure.met and figure.target == ">= 0.5x"


def test_ratios_are_the_median_of_paired_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = iter([1.0, 2.0, 3.0])
    monkeypatch.setattr(bench, "_seconds", lambda work: next(plain))
    runs = iter([4.0, 2.0, 1.0])  # ratios 0.25, 1.0, 3.0
    best, median = bench._paired(b"", lambda: next(runs), 3)
    assert (best, median) == (1.0, 1.0)


def test_quick_run_reports_every_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in bench.PG_ENVS:
        monkeypatch.delenv(name, raising=False)
    figures = {f.name: f for f in bench.run(quick=True)}
    jobs = next(n for n in figures if n.startswith("ingest SQLite, ") and n.endswith(" processes"))
    count = jobs.removeprefix("ingest SQLite, ").removesuffix(" processes")
    assert set(figures) == {
        "plain lxml parse (2,000 records)",
        "reader + record checks, 1 process",
        f"check phase alone (no storing), {count} processes",
        f"check phase alone, {count} processes / plain parse",
        "ingest SQLite, 1 process",
        "ingest SQLite, 1 process / plain parse",
        f"ingest SQLite, {count} processes",
        f"ingest SQLite, {count} processes / plain parse",
    }
    assert all(f.value > 0 for f in figures.values())
    assert figures[f"ingest SQLite, {count} processes / plain parse"].target == ">= 0.5x"
