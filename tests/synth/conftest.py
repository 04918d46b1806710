"""Shared generated files for the synth tests (generated once per session: generation is pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from nhihub.formats.model import Record
from nhihub.synth import InjectedError, generate
from nhihub.visitid import Keyring


@pytest.fixture(scope="session")
def as_of() -> dt.datetime:
    return dt.datetime(2024, 10, 15, 12, 30, 0)


@pytest.fixture(scope="session")
def keys() -> Keyring:
    return Keyring.development()


@pytest.fixture(scope="session")
def clean_records(as_of: dt.datetime, keys: Keyring) -> list[Record]:
    """3,000 valid 2.0 records (seed 11)."""
    return [rec for rec, _ in generate(11, 3000, as_of=as_of, keyring=keys)]


@pytest.fixture(scope="session")
def faulty(as_of: dt.datetime, keys: Keyring) -> list[tuple[Record, list[InjectedError]]]:
    """1,000 records of seed 11 with 20 % known errors."""
    return list(generate(11, 1000, as_of=as_of, error_rate=0.2, keyring=keys))
