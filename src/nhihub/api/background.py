"""The in-process worker of ``nhihub serve``: a thread running
:func:`nhihub.service.worker.run_worker` (it processes uploaded batches and purges result files
past their retention), started and stopped with the app's lifespan. With ``--no-worker`` only
the purge runs here, and ``nhihub worker`` processes take the batches.

Several ``nhihub serve`` or ``nhihub worker`` processes may share one PostgreSQL database:
batches are claimed under a lease, so none is processed twice.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from nhihub.config import Settings
from nhihub.service.uploads import purge_results
from nhihub.service.worker import run_worker
from nhihub.storage import unit_of_work, utcnow

log = logging.getLogger("nhihub.api.background")

PURGE_INTERVAL_SECONDS = 3600.0
POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 60.0


class BackgroundWorker:
    """One daemon thread: the batch worker (``process``), or else the result purge alone."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        process: bool = True,
        purge_interval: float = PURGE_INTERVAL_SECONDS,
        poll: float = POLL_SECONDS,
        jobs: int | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.process = process
        self.purge_interval = purge_interval
        self.poll = poll
        self.jobs = jobs
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.stop_event.clear()
        target = self._work if self.process else self._purge_only
        name = "nhihub-worker" if self.process else "nhihub-purge"
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop after the batch in hand (it is committed wholly or not at all; one left behind
        by a hard kill is taken again once its lease runs out)."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    def _work(self) -> None:
        try:
            run_worker(
                self.engine,
                self.settings,
                self.stop_event,
                self.poll,
                jobs=self.jobs,
                purge_every=self.purge_interval,
            )
        except Exception as exc:  # run_worker handles batch errors; this is a last resort
            log.error("worker thread stopped: %s", type(exc).__name__)

    def _purge_only(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.purge_once()
            except Exception as exc:  # the database is away: try again next time
                log.error("result purge failed: %s", type(exc).__name__)
            self.stop_event.wait(self.purge_interval)

    def purge_once(self) -> int:
        """Purge result files past ``NHIHUB_RESULT_RETENTION_DAYS`` now; how many."""
        with unit_of_work(self.engine) as conn:
            return purge_results(conn, utcnow(), self.settings)
