"""The store commands: ingest, visit show, refill status, db upgrade, token create,
institution add, worker (exit codes, JSON output, bilingual errors)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nhihub.cli.main import app
from nhihub.config import load_settings
from nhihub.formats import write_upload
from nhihub.formats.model import Record
from nhihub.ids.rocdate import format_roc_date
from nhihub.service import get_batch, submit_upload
from nhihub.storage import create_engine_for, read_only, unit_of_work
from nhihub.synth import generate
from nhihub.visitid import TAIWAN, Keyring

KEYS = {"NHIHUB_DATA_KEY": "11" * 32, "NHIHUB_LOOKUP_KEY": "22" * 32, "COLUMNS": "200"}
runner = CliRunner(env=KEYS)


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """Synthetic records visited just before now (the CLI receives uploads now)."""
    now = dt.datetime.now(TAIWAN).replace(tzinfo=None, microsecond=0) - dt.timedelta(minutes=5)
    keys = Keyring.development()
    return list(generate(21, 300, as_of=now, keyring=keys).iter_records())


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def _write(path: Path, recs: list[Record]) -> Path:
    out = io.BytesIO()
    write_upload(recs, out)
    path.write_bytes(out.getvalue())
    return path


def _one_institution(records: list[Record]) -> tuple[str, list[Record]]:
    counts = Counter(r.mb1["M05"] for r in records if r.mb1.get("M07") == "01")
    inst = counts.most_common(1)[0][0]
    # Only visits still open for correction (until the end of the month after the visit month),
    # so that re-uploading them is valid whatever today's date is.
    today = dt.datetime.now(TAIWAN).date()
    first_of_last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    cutoff = format_roc_date(first_of_last_month)
    return inst, [
        copy.deepcopy(r)
        for r in records
        if r.mb1["M05"] == inst and r.mb1.get("M11", "")[:7] >= cutoff
    ]


def _add(db: str, code: str, level: str = "clinic") -> None:
    result = runner.invoke(app, ["institution", "add", code, "--name", "測試", "--level", level,
                                 "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_institution_add(db: str) -> None:
    _add(db, "3501200000")
    again = runner.invoke(app, ["institution", "add", "3501200000", "--name", "x", "--level",
                                "clinic", "--db", db])  # fmt: skip
    assert again.exit_code == 1 and "已存在" in again.stderr
    bad_level = runner.invoke(app, ["institution", "add", "3501200001", "--name", "x",
                                    "--level", "spa", "--db", db])  # fmt: skip
    assert bad_level.exit_code == 2 and "unknown level" in bad_level.stderr
    bad_code = runner.invoke(app, ["institution", "add", "35012", "--name", "x", "--level",
                                   "clinic", "--db", db])  # fmt: skip
    assert bad_code.exit_code == 2 and "malformed institution code" in bad_code.stderr


def test_ingest_show_and_exit_codes(db: str, records: list[Record], tmp_path: Path) -> None:
    inst, mine = _one_institution(records)
    _add(db, inst)
    good = _write(tmp_path / "good.xml", mine)
    result = runner.invoke(app, ["ingest", str(good), "--institution", inst, "--db", db,
                                 "--json", "--jobs", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["applied_records"] == len(mine) == doc["records"] and doc["status"] == "done"
    text = runner.invoke(app, ["ingest", str(good), "--institution", inst, "--db", db])
    assert text.exit_code == 0 and "檢核無誤" in text.stdout
    broken = copy.deepcopy(mine[0])
    del broken.mb1["M15"]
    bad = _write(tmp_path / "bad.xml", [broken])
    result = runner.invoke(app, ["ingest", str(bad), "--institution", inst, "--db", db])
    assert result.exit_code == 1 and "AA" in result.stdout
    m15 = mine[0].mb1["M15"]
    shown = runner.invoke(app, ["visit", "show", m15, "--db", db, "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["m15"] == m15
    assert mine[0].mb1["M03"] not in shown.stdout
    plain = runner.invoke(app, ["visit", "show", m15, "--db", db])
    assert plain.exit_code == 0 and "M44" in plain.stdout
    missing = runner.invoke(app, ["visit", "show", "1" * 20, "--db", db])
    assert missing.exit_code == 1 and "no visit" in missing.stderr


def test_ingest_refusals(db: str, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["ingest", str(tmp_path / "none.xml"), "--institution",
                                  "3501200000", "--db", db])  # fmt: skip
    assert missing.exit_code == 2 and "cannot read file" in missing.stderr
    f = tmp_path / "f.xml"
    f.write_bytes(b"<RECS></RECS>")
    unknown = runner.invoke(app, ["ingest", str(f), "--institution", "3501209999", "--db", db,
                                  "--json"])  # fmt: skip
    assert unknown.exit_code == 2
    assert json.loads(unknown.stdout)["code"] == "9005"
    bad_db = runner.invoke(app, ["ingest", str(f), "--institution", "x", "--db", "mysql://x/y"])
    assert bad_db.exit_code == 2 and "unsupported database" in bad_db.stderr


def test_deleted_visit_exits_1(db: str, records: list[Record], tmp_path: Path) -> None:
    inst, mine = _one_institution(records)
    _add(db, inst)
    rec = mine[0]
    runner.invoke(app, ["ingest", str(_write(tmp_path / "a.xml", [rec])), "--institution", inst,
                        "--db", db])  # fmt: skip
    gone = Record(1, 1, "2.0", {"H00": "1", "H01": "D"},
                  {k: rec.mb1[k] for k in ("M03", "M05", "M11", "M15")})  # fmt: skip
    result = runner.invoke(app, ["ingest", str(_write(tmp_path / "d.xml", [gone])),
                                 "--institution", inst, "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["visit", "show", rec.mb1["M15"], "--db", db, "--json"])
    assert shown.exit_code == 1 and json.loads(shown.stdout)["deleted"] is True


def test_refill_status(db: str, records: list[Record], tmp_path: Path) -> None:
    prescription = next(r for r in records if r.mb1.get("M26") and r.mb1.get("M07") == "01")
    inst = prescription.mb1["M05"]
    _add(db, inst)
    runner.invoke(app, ["ingest", str(_write(tmp_path / "p.xml", [prescription])),
                        "--institution", inst, "--db", db])  # fmt: skip
    m15 = prescription.mb1["M15"]
    result = runner.invoke(app, ["refill", "status", m15, "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    states = [r["state"] for r in json.loads(result.stdout)["refills"]]
    assert states[0] == "dispensed" and set(states[1:]) == {"not_dispensed"}
    table = runner.invoke(app, ["refill", "status", m15, "--db", db])
    assert table.exit_code == 0 and "未調劑" in table.stdout
    unknown = runner.invoke(app, ["refill", "status", "1" * 20, "--db", db])
    assert unknown.exit_code == 1 and "D024" in unknown.stdout
    bad = runner.invoke(app, ["refill", "status", "bad!", "--db", db, "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["error"] == "D074"


def test_token_create_and_db_upgrade(db: str) -> None:
    assert runner.invoke(app, ["db", "upgrade", "--db", db]).exit_code == 0
    _add(db, "3501200000")
    made = runner.invoke(app, ["token", "create", "--institution", "3501200000", "--label",
                               "HIS", "--db", db])  # fmt: skip
    assert made.exit_code == 0 and made.stdout.strip().startswith("nhh_")
    staff = runner.invoke(app, ["token", "create", "--staff", "--db", db])
    assert staff.exit_code == 0 and staff.stdout.strip() != made.stdout.strip()
    neither = runner.invoke(app, ["token", "create", "--db", db])
    assert neither.exit_code == 2
    both = runner.invoke(app, ["token", "create", "--staff", "--institution", "3501200000",
                               "--db", db])  # fmt: skip
    assert both.exit_code == 2
    unknown = runner.invoke(app, ["token", "create", "--institution", "3501209999", "--db", db])
    assert unknown.exit_code == 2 and "unknown institution code" in unknown.stderr


def test_worker_process_runs_until_terminated(
    db: str, records: list[Record], tmp_path: Path
) -> None:
    inst, mine = _one_institution(records)
    _add(db, inst)
    settings = load_settings({**KEYS, "NHIHUB_DB_URL": db})
    engine = create_engine_for(db)
    out = io.BytesIO()
    write_upload(mine[:3], out)
    with unit_of_work(engine) as conn:
        batch_id = submit_upload(conn, institution=inst, raw=out.getvalue(), kind="A1",
                                 channel="vpn", settings=settings)  # fmt: skip
    env = {**os.environ, **KEYS}
    worker = subprocess.Popen(
        [sys.executable, "-m", "nhihub.cli.main", "worker", "--db", db, "--poll", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            with read_only(engine) as conn:
                view = get_batch(conn, batch_id)
            status = None if view is None else view.status
            if status == "done":
                break
            time.sleep(0.1)
        assert status == "done"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        engine.dispose()
    assert worker.returncode == 0
