"""The in-process worker (started and stopped with the app) and the result purge."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nhihub.api import BackgroundWorker, create_app
from nhihub.config import Settings
from nhihub.storage import get_result, read_only, save_result, unit_of_work, utcnow

WAIT_SECONDS = 60.0


def _wait_done(client: TestClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status: dict[str, Any] = client.get(path, headers=headers).json()
        if status["status"] not in ("received", "processing"):
            return status
        assert time.monotonic() < deadline, "the in-process worker did not process the batch"
        time.sleep(0.05)


def test_worker_runs_with_the_app(
    settings: Settings, fresh_engine: Engine, world: Any, files: Any
) -> None:
    app = create_app(settings, engine=fresh_engine, worker=True, jobs=1)
    background: BackgroundWorker = app.state.background
    with TestClient(app) as client:
        assert background.running
        assert client.get("/healthz").json()["worker"] is True
        answer = client.post(
            "/api/v1/uploads", content=files.of("dental"), headers=world.auth("dental")
        )
        batch_id = answer.json()["batch_id"]
        status = _wait_done(client, f"/api/v1/uploads/{batch_id}", world.auth("dental"))
        assert status["status"] == "done"
        assert status["records"] == len(files.records("dental"))
    assert not background.running  # stopped with the lifespan


def test_purge_only_thread(
    settings: Settings, fresh_engine: Engine, world: Any, files: Any
) -> None:
    app = create_app(settings, engine=fresh_engine, worker=False, purge=True)
    background: BackgroundWorker = app.state.background
    assert background is not None and not background.process
    with TestClient(app) as client:
        assert background.running
        assert client.get("/healthz").json()["worker"] is False
    assert not background.running


def test_purge_drops_old_results(
    settings: Settings, fresh_engine: Engine, world: Any, files: Any, process: Any
) -> None:
    app = create_app(settings, engine=fresh_engine)
    with TestClient(app) as client:
        answer = client.post(
            "/api/v1/uploads", content=files.of("dental"), headers=world.auth("dental")
        )
        batch_id = answer.json()["batch_id"]
        process()
        fresh = client.get(
            f"/api/v1/uploads/{batch_id}/result?format=csv", headers=world.auth("dental")
        )
        cipher = settings.cipher()
        old = utcnow() - dt.timedelta(days=settings.result_retention_days + 1)
        with unit_of_work(fresh_engine) as conn:
            save_result(conn, batch_id, "json", b"{}", cipher, now=old)
        worker = BackgroundWorker(fresh_engine, settings, process=False)
        assert worker.purge_once() == 1
        with read_only(fresh_engine) as conn:
            purged = get_result(conn, batch_id, "json", cipher)
            kept = get_result(conn, batch_id, "csv", cipher)
        assert purged is not None and purged.content is None
        assert kept is not None and kept.content == fresh.content
        # a purged result is rebuilt on request
        again = client.get(
            f"/api/v1/uploads/{batch_id}/result?format=json", headers=world.auth("dental")
        )
        assert again.status_code == 200
        assert again.json()["batch_id"] == batch_id
