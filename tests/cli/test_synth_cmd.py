"""``nhihub synth``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nhihub.cli import synth_cmd
from nhihub.cli.main import app
from nhihub.formats import iter_upload
from nhihub.formats.model import Record
from nhihub.synth.write import read_sidecar

runner = CliRunner(env={"COLUMNS": "200"})
AS_OF = "1131015123000"


def _records(path: Path) -> list[Record]:
    return [r for r in iter_upload(path) if isinstance(r, Record)]


def test_writes_file_and_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "day.xml"
    result = runner.invoke(
        app, ["synth", "--out", str(out), "-n", "120", "--seed", "3", "--as-of", AS_OF,
              "--error-rate", "0.1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "120" in result.output and "wrote" in result.output and "已產生" in result.output
    assert out.read_bytes().startswith(b'<?xml version="1.0" encoding="Big5"?>')
    assert len(_records(out)) == 120
    side = read_sidecar(tmp_path / "day.xml.errors.jsonl")
    assert len(side) == 12
    assert {"index", "field", "code", "kind"} == set(side[0])


def test_json_summary_and_determinism(tmp_path: Path) -> None:
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    outputs = []
    for out in (a, b):
        result = runner.invoke(
            app, ["synth", "-o", str(out), "-n", "50", "--as-of", AS_OF, "--json",
                  "--encoding", "utf-8", "--error-rate", "0.2"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == {
        "out": str(a),
        "records": 50,
        "errors_injected": 10,
        "sidecar": str(a) + ".errors.jsonl",
    }
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_paired_v1(tmp_path: Path) -> None:
    out, v1 = tmp_path / "pre.xml", tmp_path / "v1.xml"
    result = runner.invoke(
        app, ["synth", "-o", str(out), "--paired-v1", str(v1), "-n", "80", "--as-of", AS_OF,
              "--unmatched", "0.2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["paired_v1"] == str(v1)
    recs = _records(v1)
    assert len(recs) == summary["paired_records"] > 80
    assert all(r.version == "1.0" for r in recs)


def test_version_1_0(tmp_path: Path) -> None:
    out = tmp_path / "v1.xml"
    result = runner.invoke(app, ["synth", "-o", str(out), "-n", "30", "--version", "1.0"])
    assert result.exit_code == 0, result.output
    assert [r.version for r in _records(out)] == ["1.0"] * 30


def test_restricted_kinds(tmp_path: Path) -> None:
    out = tmp_path / "k.xml"
    result = runner.invoke(
        app, ["synth", "-o", str(out), "-n", "40", "--error-rate", "0.5", "--as-of", AS_OF,
              "--kinds", "missing-visit-id, missing-fee"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kinds = {e["kind"] for e in read_sidecar(str(out) + ".errors.jsonl")}
    assert kinds <= {"missing-visit-id", "missing-fee"} and kinds


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--as-of", "2024-10-15"], "YYYMMDDHHMMSS"),
        (["--as-of", "1130230120000"], "YYYMMDDHHMMSS"),
        (["--error-rate", "2"], "error rate"),
        (["--kinds", "nope"], "nope"),
        (["--version", "1.0", "--error-rate", "0.1"], "2.0"),
        (["--version", "1.0", "--paired-v1", "x.xml"], "--paired-v1"),
        (["--unmatched", "1", "--paired-v1", "v.xml"], "unmatched"),
        (["--unmatched", "0.1"], "--paired-v1"),
    ],
)
def test_usage_errors_exit_2(args: list[str], text: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "-o", str(tmp_path / "o.xml"), *args])
    assert result.exit_code == 2
    assert text in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.xml").exists()


def test_paired_file_must_differ(tmp_path: Path) -> None:
    out = tmp_path / "o.xml"
    result = runner.invoke(app, ["synth", "-o", str(out), "--paired-v1", str(out)])
    assert result.exit_code == 2
    assert "--paired-v1" in result.output


def test_unwritable_output_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "o.xml"
    result = runner.invoke(app, ["synth", "-o", str(out), "-n", "5"])
    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert "Traceback" not in result.output


def test_missing_out_is_a_usage_error() -> None:
    result = runner.invoke(app, ["synth"])
    assert result.exit_code == 2


def test_help_is_bilingual() -> None:
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    assert "擬真" in result.output and "synthetic" in result.output


def _terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    screen = io.StringIO()
    monkeypatch.setattr(
        synth_cmd, "Console", lambda **_: Console(file=screen, force_terminal=True, width=100)
    )
    return screen


def test_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = _terminal(monkeypatch)
    out = tmp_path / "p.xml"
    result = runner.invoke(app, ["synth", "-o", str(out), "-n", "2100", "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert "generating" in screen.getvalue()
    assert len(_records(out)) == 2100


def test_no_progress_bar_with_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = _terminal(monkeypatch)
    result = runner.invoke(app, ["synth", "-o", str(tmp_path / "j.xml"), "-n", "1100", "--json"])
    assert result.exit_code == 0, result.output
    assert screen.getvalue() == ""
    assert json.loads(result.stdout)["records"] == 1100
