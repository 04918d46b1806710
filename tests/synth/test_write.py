"""nhihub.synth.write: the files written, the sidecar, progress."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from nhihub.formats import read_upload
from nhihub.synth import generate
from nhihub.synth.write import SynthSummary, read_sidecar, sidecar_path, write_synth


def test_sidecar_path() -> None:
    assert sidecar_path("a/day.xml") == Path("a/day.xml.errors.jsonl")


def test_sidecar_lists_the_errors_in_record_order(tmp_path: Path, as_of: dt.datetime) -> None:
    result = generate(3, 200, as_of=as_of, error_rate=0.1)
    summary = write_synth(result, tmp_path / "f.xml")
    expected = [e.to_dict() for _, es in result for e in es]
    assert read_sidecar(summary.sidecar) == expected
    lines = summary.sidecar.read_text("utf-8").splitlines()
    assert [json.loads(line)["index"] for line in lines] == sorted(e["index"] for e in expected)


def test_a_new_run_replaces_the_old_sidecar(tmp_path: Path, as_of: dt.datetime) -> None:
    out = tmp_path / "f.xml"
    write_synth(generate(3, 50, as_of=as_of, error_rate=0.5), out)
    summary = write_synth(generate(3, 50, as_of=as_of), out)
    assert summary.errors_injected == 0
    assert summary.sidecar.read_text("utf-8") == ""


def test_written_records_are_the_generated_ones(tmp_path: Path, as_of: dt.datetime) -> None:
    result = generate(4, 60, as_of=as_of, error_rate=0.2)
    out = tmp_path / "f.xml"
    write_synth(result, out, encoding="utf-8")
    records, file_errors, _ = read_upload(out)
    assert file_errors == []
    expected = [r for r, _ in result]
    assert [(r.index, r.header, r.mb1, r.mb2) for r in records] == [
        (r.index, r.header, r.mb1, r.mb2) for r in expected
    ]


def test_progress_counts_both_files(tmp_path: Path, as_of: dt.datetime) -> None:
    seen: list[int] = []
    summary = write_synth(
        generate(5, 2500, as_of=as_of),
        tmp_path / "f.xml",
        paired_v1=tmp_path / "v1.xml",
        progress=seen.append,
    )
    assert summary.paired_records == 2500
    assert seen == [1000, 2000, 2500, 3000, 4000, 5000]


def test_summary_to_dict() -> None:
    s = SynthSummary(Path("o.xml"), 10, 2, Path("o.xml.errors.jsonl"))
    assert s.to_dict() == {
        "out": "o.xml",
        "records": 10,
        "errors_injected": 2,
        "sidecar": "o.xml.errors.jsonl",
    }
    p = SynthSummary(Path("o.xml"), 10, 0, Path("o.xml.errors.jsonl"), Path("v1.xml"), 12)
    assert p.to_dict()["paired_v1"] == "v1.xml" and p.to_dict()["paired_records"] == 12


def test_bad_encoding(tmp_path: Path, as_of: dt.datetime) -> None:
    with pytest.raises(ValueError, match="big5"):
        write_synth(generate(1, 5, as_of=as_of), tmp_path / "f.xml", encoding="latin-1")
    assert not (tmp_path / "f.xml").exists()
