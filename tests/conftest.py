"""Shared fixtures: real databases for the storage and service tests.

- ``db_url``: parametrized over ``sqlite`` (a real file, one per test run and xdist worker) and
  ``pg`` (a fresh database ``nhihub_test_<random>_<worker>`` on the server named by
  ``NHIHUB_TEST_PG_DSN``, dropped at the end). Without the DSN the ``pg`` cases are skipped with
  a reason; with ``NHIHUB_REQUIRE_PG=1`` a missing DSN or an unreachable server fails them.
- ``engine``: an engine on ``db_url`` with the schema migrated once per run and backend.
- ``conn``: a connection inside a transaction that is rolled back after the test. Code under
  test may open and commit nested transactions (``conn.begin_nested()``, a SAVEPOINT) but not
  commit the outer one (``conn.commit()`` fails the test); to expect a database error, wrap the
  statement in ``conn.begin_nested()`` so the test can go on.
- ``fresh_engine`` / ``fresh_db_url``: a second database per backend, emptied before each test,
  for tests that need real commits seen by other connections or processes.
- ``pii_cipher``: a :class:`~nhihub.protect.PiiCipher` with random keys.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url

from nhihub.api.demo import DemoPlan, plan_demo
from nhihub.protect import PiiCipher
from nhihub.reports.timeutil import taiwan_now
from nhihub.storage import create_engine_for, upgrade
from nhihub.storage.schema import metadata

PG_DSN_ENV = "NHIHUB_TEST_PG_DSN"
REQUIRE_PG_ENV = "NHIHUB_REQUIRE_PG"
BACKENDS = ("sqlite", "pg")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main").lower()


def _pg_required() -> bool:
    return os.environ.get(REQUIRE_PG_ENV, "").strip() not in ("", "0")


def _pg_dsn() -> str | None:
    return os.environ.get(PG_DSN_ENV, "").strip() or None


def _unavailable(reason: str) -> None:
    """Skip a PostgreSQL case, or fail it when PostgreSQL is required (CI)."""
    if _pg_required():
        pytest.fail(f"{REQUIRE_PG_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


class DatabaseFactory:
    """Creates the test databases of this process lazily and removes them at the end."""

    def __init__(self, tmp_dir: Path) -> None:
        self._tmp_dir = tmp_dir
        self._run = secrets.token_hex(4)
        self._urls: dict[tuple[str, str], str] = {}
        self._pg_admin: Engine | None = None
        self._pg_error: str | None = None
        self._pg_created: list[str] = []

    def url(self, backend: str, label: str) -> str:
        key = (backend, label)
        if key not in self._urls:
            self._urls[key] = self._sqlite(label) if backend == "sqlite" else self._pg(label)
        return self._urls[key]

    def _sqlite(self, label: str) -> str:
        return f"sqlite:///{self._tmp_dir / f'nhihub-{label}-{_worker()}.db'}"

    def _admin(self) -> Engine:
        if self._pg_admin is None and self._pg_error is None:
            dsn = _pg_dsn()
            if dsn is None:
                self._pg_error = f"{PG_DSN_ENV} is not set"
            else:
                engine = create_engine_for(dsn, isolation_level="AUTOCOMMIT")
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                except Exception as exc:  # any driver error means: not reachable
                    engine.dispose()
                    self._pg_error = f"PostgreSQL at {PG_DSN_ENV} is unreachable: {exc}"
                else:
                    self._pg_admin = engine
        if self._pg_admin is None:
            _unavailable(self._pg_error or "PostgreSQL unavailable")
        assert self._pg_admin is not None
        return self._pg_admin

    def _pg(self, label: str) -> str:
        admin = self._admin()
        name = f"nhihub_test_{self._run}_{_worker()}_{label}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self._pg_created.append(name)
        return admin.url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if self._pg_admin is None:
            return
        with self._pg_admin.connect() as conn:
            for name in self._pg_created:
                # FORCE: a child process of a reliability test may still hold a connection.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._pg_admin.dispose()


def pytest_report_header(config: pytest.Config) -> str:
    dsn = _pg_dsn()
    if dsn is None:
        state = "required but NHIHUB_TEST_PG_DSN is missing" if _pg_required() else "skipped"
    else:
        state = f"on {make_url(dsn).render_as_string(hide_password=True)}"
    return f"nhihub: PostgreSQL tests {state}"


@pytest.fixture(scope="session")
def db_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


@pytest.fixture(
    scope="session",
    params=[pytest.param("sqlite"), pytest.param("pg", marks=pytest.mark.pg)],
)
def db_url(request: pytest.FixtureRequest, db_factory: DatabaseFactory) -> str:
    """URL of this run's test database for the backend (sqlite, pg)."""
    return db_factory.url(request.param, "main")


def backend_of(url: str) -> str:
    return "pg" if make_url(url).get_backend_name() == "postgresql" else "sqlite"


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """Engine on the test database, schema migrated once per run and backend."""
    eng = create_engine_for(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def _refuse_commit(connection: Connection) -> None:
    raise AssertionError(
        "code under test committed the test transaction of the `conn` fixture; use "
        "conn.begin_nested() (a SAVEPOINT) or the `fresh_engine` fixture"
    )


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction rolled back after the test (nothing persists)."""
    with engine.connect() as connection:
        outer = connection.begin()
        event.listen(connection, "commit", _refuse_commit)
        try:
            yield connection
        finally:
            outer.rollback()


@pytest.fixture(scope="session")
def _fresh_engines(db_factory: DatabaseFactory) -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for eng in engines.values():
        eng.dispose()


def _empty(eng: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with eng.begin() as connection:
        if eng.dialect.name == "postgresql":
            names = ", ".join(f'"{t}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def fresh_engine(
    db_url: str, db_factory: DatabaseFactory, _fresh_engines: dict[str, Engine]
) -> Engine:
    """Engine on a second test database of the same backend, emptied before the test: for
    commits that other connections or processes must see."""
    backend = backend_of(db_url)
    if backend not in _fresh_engines:
        eng = create_engine_for(db_factory.url(backend, "fresh"))
        upgrade(eng)
        _fresh_engines[backend] = eng
    eng = _fresh_engines[backend]
    _empty(eng)
    return eng


@pytest.fixture
def fresh_db_url(fresh_engine: Engine) -> str:
    """URL of the emptied database behind ``fresh_engine`` (to hand to other processes)."""
    return fresh_engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pii_cipher() -> PiiCipher:
    """A cipher over random keys (key id 1)."""
    return PiiCipher(secrets.token_bytes(32), secrets.token_bytes(32), key_id=1)


# -- the demo's data, for the API and console tests ----------------------------------------------


@pytest.fixture(scope="session")
def plan() -> DemoPlan:
    """The demo's synthetic institutions and uploads (pure; made once per run)."""
    return plan_demo(taiwan_now() - dt.timedelta(minutes=1))


@pytest.fixture(scope="session")
def keys() -> tuple[bytes, bytes]:
    """Data and lookup keys of the API and console tests' settings."""
    return secrets.token_bytes(32), secrets.token_bytes(32)


# -- plain parts --------------------------------------------------------------------------------


def record_plain_answers(monkeypatch: pytest.MonkeyPatch, module: object) -> list[bool]:
    """Replace ``module.read_plain`` by itself plus a record of whether each call answered
    (True) or left the document to the reader (False)."""
    from nhihub.formats.plain import read_plain

    answers: list[bool] = []

    def recording(doc: bytes) -> object:
        records = read_plain(doc)
        answers.append(records is not None)
        return records

    monkeypatch.setattr(module, "read_plain", recording)
    return answers


@pytest.fixture
def plain_answers(monkeypatch: pytest.MonkeyPatch) -> Callable[[object], list[bool]]:
    """``plain_answers(module)``: see :func:`record_plain_answers`."""
    return lambda module: record_plain_answers(monkeypatch, module)
