"""Fixtures of the service tests; the builders are in service_kit.py (made importable here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).parent))

from service_kit import Hub, Pool, make_pool, make_settings

from nhihub.config import Settings


@pytest.fixture(scope="session")
def pool() -> Pool:
    """600 synthetic records (seed 11), sorted by use."""
    return make_pool()


@pytest.fixture
def settings(fresh_engine: Engine) -> Settings:
    """Settings on the emptied second test database (real commits), random keys."""
    return make_settings(fresh_engine)


@pytest.fixture
def hub(fresh_engine: Engine, settings: Settings) -> Hub:
    return Hub(fresh_engine, settings)
