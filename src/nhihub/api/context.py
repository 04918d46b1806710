"""What every handler needs (settings, engine, keyring) and the token authentication.

Tokens: ``Authorization: Bearer <token>`` on every endpoint. The NHI-compatible endpoints also
take the token in ``sSignature`` (where NHI expects the SAM signature), so HIS code that passes
the signature through needs no new header. Only the token's SHA-256 is looked up
(``nhihub.service.tokens.authenticate``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from nhihub.api.errors import ApiError
from nhihub.config import Settings
from nhihub.service.tokens import authenticate
from nhihub.service.visits import Viewer
from nhihub.storage import read_only, unit_of_work
from nhihub.visitid import Keyring

BEARER = "bearer"


@dataclass(slots=True)
class ApiContext:
    settings: Settings
    engine: Engine
    keyring: Keyring
    nhi_prefixes: tuple[str, ...]

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One unit of work (committed at the end); a busy database becomes 503."""
        with _database_errors(), unit_of_work(self.engine) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with _database_errors(), read_only(self.engine) as conn:
            yield conn


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError:
        # Lock timeout on SQLite, connection lost on PostgreSQL: retryable, so 503, not 500.
        raise ApiError("unavailable", headers={"Retry-After": "5"}) from None


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.nhihub
    return ctx


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != BEARER or not value.strip():
        return None
    return value.strip()


def unauthorized() -> ApiError:
    return ApiError("unauthorized", headers={"WWW-Authenticate": 'Bearer realm="nhihub"'})


def resolve_viewer(conn: Connection, token: str | None) -> Viewer:
    """The token's viewer; :class:`ApiError` ``unauthorized`` (401 / RtnCode 9002)."""
    if not token:
        raise unauthorized()
    viewer = authenticate(conn, token)
    if viewer is None:
        raise unauthorized()
    return viewer


def current_viewer(request: Request) -> Viewer:
    """FastAPI dependency (runs in the thread pool): the bearer token's viewer."""
    ctx = context(request)
    token = bearer_token(request)
    if not token:
        raise unauthorized()
    with ctx.read() as conn:
        return resolve_viewer(conn, token)
