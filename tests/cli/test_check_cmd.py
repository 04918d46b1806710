"""``nhihub check``: formats, exit codes, --jobs."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nhihub.cli.main import app
from nhihub.formats import write_upload
from nhihub.ids.rocdate import format_roc_datetime
from nhihub.reports.timeutil import taiwan_now
from nhihub.synth import generate, write_synth
from nhihub.visitid import Keyring

AS_OF = dt.datetime(2024, 10, 15, 12, 30, 0)
AS_OF_ROC = "1131015123000"
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("checkcmd")
    keys = Keyring.development()
    clean, faulty = d / "clean.xml", d / "faulty.xml"
    write_synth(generate(1, 120, as_of=AS_OF, keyring=keys), clean)
    write_synth(generate(2, 120, as_of=AS_OF, error_rate=0.1, keyring=keys), faulty)
    return {"clean": clean, "faulty": faulty}


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", "--as-of", AS_OF_ROC, *args])
    return result.exit_code, result.stdout


def test_clean_file_exits_0(files: dict[str, Path]) -> None:
    code, out = _run(str(files["clean"]))
    assert code == 0, out
    assert "檢核無誤" in out


def test_invalid_records_exit_1_and_are_listed(files: dict[str, Path]) -> None:
    code, out = _run("--format", "json", str(files["faulty"]))
    assert code == 1
    [d] = json.loads(out)
    assert d["invalid_records"] == 12 and len(d["invalid"]) == 12


def test_jobs_give_the_same_output(files: dict[str, Path]) -> None:
    _, one = _run("--format", "json", str(files["faulty"]))
    _, two = _run("--format", "json", "--jobs", "2", str(files["faulty"]))
    assert json.loads(one) == json.loads(two)


def test_csv_and_nhi_formats(files: dict[str, Path]) -> None:
    code, out = _run("--format", "csv", str(files["faulty"]))
    assert code == 1 and out.splitlines()[0].startswith("file,index,line,M03,M15,field,code")
    result = runner.invoke(
        app, ["check", "--as-of", AS_OF_ROC, "--format", "nhi", str(files["faulty"])]
    )
    text = result.stdout_bytes.decode("cp950")
    assert text.startswith("檢核結果") and "錯誤原因:" in text and "\r\n" in text


def test_english_text_output(files: dict[str, Path]) -> None:
    code, out = _run("--lang", "en", str(files["faulty"]))
    assert code == 1 and "records" in out and "Master files not loaded" in out
    assert "接收筆數" not in out


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.xml")])
    assert result.exit_code == 2
    assert "cannot read file" in result.stderr


def test_bad_as_of_exits_2(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["check", "--as-of", "1130230120000", str(files["clean"])])
    assert result.exit_code == 2
    assert "YYYMMDDHHMMSS" in result.stderr


def test_structural_error_exits_1(tmp_path: Path) -> None:
    f = tmp_path / "cut.xml"
    f.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<RECS>\n<REC><MSH><H00>1</H00>')
    code, out = _run("--format", "json", str(f))
    assert code == 1
    assert json.loads(out)[0]["file_errors"]


def test_the_default_upload_time_is_taiwan_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --as-of the upload time is now in Taiwan, whatever the machine's time zone: a
    visit of five minutes ago is not after the upload (BD) on a machine 18 hours behind."""
    now = taiwan_now()
    recs = list(generate(3, 6, as_of=now - dt.timedelta(minutes=10)).iter_records())
    recent = format_roc_datetime(now - dt.timedelta(minutes=5))
    for rec in recs:
        rec.mb1["M11"] = recent
        for line in rec.mb2:
            line["D01"] = recent
    path = tmp_path / "recent.xml"
    write_upload(recs, path)
    monkeypatch.setenv("TZ", "Pacific/Honolulu")  # UTC-10
    time.tzset()
    try:
        result = runner.invoke(app, ["check", "--format", "json", str(path)])
    finally:
        monkeypatch.undo()
        time.tzset()
    [summary] = json.loads(result.stdout)
    assert summary["records"] == 6
    codes = {e["code"] for rec in summary["invalid"] for e in rec["errors"]}
    assert "BD" not in codes
