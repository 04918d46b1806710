"""``nhihub report``: exit codes, JSON rows, Rich tables, the encrypted export."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nhihub.cli.main import app
from nhihub.protect import development_cipher
from nhihub.reports.timeutil import taiwan_today
from nhihub.storage import (
    Institution,
    NewBatch,
    PrecheckRecord,
    V1Record,
    create_batch,
    create_engine_for,
    insert_institution,
    insert_precheck_records,
    insert_v1_records,
    unit_of_work,
    upgrade,
)

CLINIC = "3501200000"
AS_OF = "1130321"
DAY = dt.date(2024, 3, 20)

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file: CLINIC has 2 successful 1.0 records on 03-20, one matched via Web-API."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report-cli') / 'nhihub.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    cipher = development_cipher()
    at = dt.datetime(2024, 3, 20, 9, 0)
    with unit_of_work(engine) as conn:
        insert_institution(conn, Institution(CLINIC, "測試診所", "clinic"))
        v1 = create_batch(conn, NewBatch(CLINIC, "vpn", "A1"), b"", cipher)
        pre = create_batch(conn, NewBatch(CLINIC, "web-api", "A2"), b"", cipher)
        insert_v1_records(conn, [
            V1Record(v1, 1, CLINIC, b"1" * 32, dt.date(1980, 1, 1), at, "01", True),
            V1Record(v1, 2, CLINIC, b"2" * 32, dt.date(1980, 1, 1), at, "01", True),
        ])  # fmt: skip
        insert_precheck_records(conn, [
            PrecheckRecord(pre, 1, CLINIC, b"1" * 32, dt.date(1980, 1, 1), at, "01", True,
                           "web-api"),
        ])  # fmt: skip
    engine.dispose()
    return url


def test_precheck_json_has_the_screen_rows(db: str) -> None:
    result = runner.invoke(app, ["report", "precheck", "--institution", CLINIC, "--as-of", AS_OF,
                                 "--db", db, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == {"key": "total", "label": "合計", "v1_success": 2, "matched": 1,
                             "percent": 50, "ratio": "50%", "vpn": 0, "web_api": 1}  # fmt: skip
    assert [r["label"] for r in data["by_date"]] == ["1130320"]
    assert [r["label"] for r in data["by_category"]] == ["01-西醫門診"]
    assert data["qualified"] is False and data["verdict"] == "尚未符合改版資格"
    assert (data["first_day"], data["last_day"]) == ("2024-03-14", "2024-03-20")


def test_precheck_table(db: str) -> None:
    result = runner.invoke(app, ["report", "precheck", "--institution", CLINIC, "--as-of", AS_OF,
                                 "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("合計", "1130320", "01-西醫門診", "50%", "Web-API", "尚未符合改版資格"):
        assert text in result.stdout


def test_precheck_export_writes_an_encrypted_zip(db: str, tmp_path: Path) -> None:
    out = tmp_path / "report.zip"
    args = ["report", "precheck", "--institution", CLINIC, "--as-of", AS_OF, "--db", db]
    result = runner.invoke(app, [*args, "--export", str(out), "--password", "A123456789"])
    assert result.exit_code == 0, result.output
    names = [i.filename for i in zipfile.ZipFile(out).infolist()]
    assert len(names) == 2 and all(n.endswith("_1130321.csv") for n in names)
    seven = shutil.which("7z")
    if seven is None:
        pytest.skip("7-Zip not installed (apt-get install p7zip-full): decryption not checked here")
    assert (
        subprocess.run([seven, "t", "-pA123456789", str(out)], capture_output=True).returncode == 0
    )
    assert subprocess.run([seven, "t", "-pwrong", str(out)], capture_output=True).returncode != 0


@pytest.mark.parametrize(
    "args",
    [
        ["report", "precheck", "--as-of", AS_OF],  # no institution
        ["report", "precheck", "--institution", "12", "--as-of", AS_OF],
        ["report", "precheck", "--institution", CLINIC, "--as-of", "1130230"],
        ["report", "precheck", "--institution", CLINIC, "--export", "x.zip"],  # no password
        ["report", "precheck", "--institution", CLINIC, "--password", "secret12"],  # no export
        ["report", "precheck", "--institution", CLINIC, "--export", "x.zip", "--password", "ab"],
        ["report", "precheck", "--institution", CLINIC, "--lang", "fr"],
        ["report", "dashboard", "--from", "1130320", "--to", "1130319"],
        ["report", "uploads", "--to", "2024-03-20"],
    ],
)
def test_bad_input_exits_1_with_a_bilingual_message(args: list[str], db: str) -> None:
    result = runner.invoke(app, [*args, "--db", db])
    assert result.exit_code == 1, result.output
    assert "錯誤 error" in result.stderr and "/" in result.stderr


def test_bad_database_url_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "dashboard", "--db", "mysql://x/y"])
    assert result.exit_code == 1


def test_unreadable_database_exits_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["report", "precheck", "--institution", CLINIC,
                                  "--db", f"sqlite:///{tmp_path / 'none.db'}"])  # fmt: skip
    assert missing.exit_code == 2 and "找不到資料庫" in missing.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    broken = runner.invoke(app, ["report", "dashboard", "--db", f"sqlite:///{junk}"])
    assert broken.exit_code == 2 and "無法讀取資料庫" in broken.stderr


def test_dashboard_json_and_charts(db: str, tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    result = runner.invoke(app, ["report", "dashboard", "--from", "1130314", "--to", "1130320",
                                 "--db", db, "--json", "--charts", str(charts)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["uploads_by_day"]) == 7
    assert data["timeliness"]["target"] == "0.90"
    assert sorted(p.name for p in charts.iterdir()) == [
        "check-codes.svg", "records.svg", "refill-blocks.svg", "timeliness.svg", "uploads.svg",
    ]  # fmt: skip


def test_dashboard_and_uploads_tables(db: str) -> None:
    today = taiwan_today()  # the uploads were received today in Taiwan (not the machine's date)
    roc = f"{today.year - 1911:03d}{today:%m%d}"
    dash = runner.invoke(app, ["report", "dashboard", "--db", db, "--to", roc])
    assert dash.exit_code == 0, dash.output
    assert "最常見檢核代碼" in dash.stdout
    uploads = runner.invoke(app, ["report", "uploads", "--db", db, "--json", "--to", roc,
                                  "--from", "1130101"])  # fmt: skip
    assert uploads.exit_code == 0, uploads.output
    rows = json.loads(uploads.stdout)["uploads"]
    assert len(rows) == 2 and rows[0]["state"] == "pending"
