"""``nhihub serve`` and ``nhihub demo`` (src/nhihub/cli/serve_cmd.py): the demo with --no-serve,
refusals, and an end-to-end run of ``nhihub serve`` as a subprocess on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from nhihub.cli.main import app

WAIT_SECONDS = 60.0


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "NHIHUB_DATA_DIR": str(tmp_path / "data"),
        "NHIHUB_DATA_KEY": secrets.token_hex(32),
        "NHIHUB_LOOKUP_KEY": secrets.token_hex(32),
        "NHIHUB_DB_URL": "",
        "NHIHUB_CONFIG": "",
    }


def _demo(tmp_path: Path, *args: str) -> Any:
    runner = CliRunner()
    return runner.invoke(app, ["demo", "--no-serve", *args], env=_env(tmp_path))


def test_demo_no_serve_on_the_default_sqlite(tmp_path: Path) -> None:
    first = _demo(tmp_path, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["url"] is None
    assert summary["db_url"].endswith("demo.db")
    assert (tmp_path / "data" / "demo.db").exists()
    assert {i["role"] for i in summary["institutions"]} >= {"prescriber", "pharmacy", "clinic"}
    assert summary["staff_token"].startswith("nhh_")
    precheck = next(i["code"] for i in summary["institutions"] if i["role"] == "precheck")
    assert summary["precheck"]["institution"] == precheck
    assert 0 < summary["precheck"]["matched"] < summary["precheck"]["v1_success"]
    # recreated on every run: the same batch ids again, new tokens
    second = json.loads(_demo(tmp_path, "--json").stdout)
    assert second["batches"] == summary["batches"]
    assert second["staff_token"] != summary["staff_token"]


def test_demo_text_output(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--db", f"sqlite:///{tmp_path / 'other.db'}")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "D025" in out
    assert "nhihub visit-id decode" in out  # the identifier tools are shown too
    assert "nhihub id check" in out
    assert "nhh_" in out
    summary = json.loads((tmp_path / "data" / "demo.json").read_text("utf-8"))
    precheck = summary["precheck"]["institution"]
    assert f"pre-check report：機構 {precheck}" in out  # names the institution to look at
    assert f"/console/precheck?institution={precheck}" in out


def test_demo_refuses_a_postgresql_database_with_data(
    db_url: str, fresh_db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (a SQLite demo database is simply recreated)")
    assert _demo(tmp_path, "--db", fresh_db_url).exit_code == 0
    again = _demo(tmp_path, "--db", fresh_db_url)
    assert again.exit_code == 2
    assert "empty database" in again.output


def test_serve_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app,
            ["serve", "--db", f"sqlite:///{tmp_path / 's.db'}", "--port", str(port)],
            env=_env(tmp_path),
        )
    assert result.exit_code == 1
    assert "--port" in result.output


def test_serve_refuses_an_unsupported_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--db", "mysql://x/y"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "unsupported database" in result.output


# -- end to end ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(
    fresh_db_url: str, fresh_engine: Engine, world: Any, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, **_env(tmp_path), "NHIHUB_DB_URL": fresh_db_url}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nhihub.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                assert proc.poll() is None, log_path.read_text("utf-8", "replace")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "nhihub serve did not come up"
                time.sleep(0.1)
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=WAIT_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_done(http: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status: dict[str, Any] = http.get(path).json()
        if status["status"] not in ("received", "processing"):
            return status
        assert time.monotonic() < deadline, "the batch was not processed in time"
        time.sleep(0.1)


def test_serve_end_to_end(
    server: tuple[str, subprocess.Popen[bytes]], world: Any, files: Any, tmp_path: Path
) -> None:
    base, proc = server
    records = files.records("prescriber")
    headers = world.auth("prescriber")
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        assert http.get("/healthz").json()["worker"] is True
        answer = http.post("/api/v1/uploads?kind=A1", content=files.of("prescriber"))
        assert answer.status_code == 202
        batch_id = answer.json()["batch_id"]
        status = _wait_done(http, f"/api/v1/uploads/{batch_id}")
        assert status["status"] == "done"
        assert status["records"] == len(records)
        result = http.get(f"/api/v1/uploads/{batch_id}/result?format=nhi")
        assert result.content.decode("cp950").startswith("檢核結果")

        body = files.nhi_upload(
            world.code("dental"), files.of("dental"), token=world.tokens["dental"]
        )
        nhi = httpx.post(f"{base}/nhi/VNHI_Upload", json=body, timeout=30).json()
        assert nhi["RtnCode"] == "0000"
        download = files.nhi_download(
            world.code("dental"), nhi["Opcode"], token=world.tokens["dental"]
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            got = httpx.post(f"{base}/nhi/VNHI_Download", json=download, timeout=30).json()
            if got["RtnCode"] != "5002":
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert got["RtnCode"] == "0000"
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(got["tx_result_json"]))) as zf:
            text = zf.read(zf.namelist()[0]).decode("cp950")
        assert f"接收筆數=[{len(files.records('dental'))}]" in text

    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
    assert proc.wait(timeout=WAIT_SECONDS) == 0
    log = (tmp_path / "server.log").read_text("utf-8", "replace")
    persons = {r.mb1["M03"] for r in records if "M03" in r.mb1}
    assert not [p for p in persons if p in log]  # no person ID ever reaches the log
