"""CheckContext (derived values) and skipped_checks."""

from __future__ import annotations

import datetime as dt

import pytest

from nhihub.checks import CheckContext, TableReferences, skipped_checks
from nhihub.ids.rocdate import format_roc_datetime
from nhihub.specs.catalogue import catalogue
from nhihub.visitid import TAIWAN, Keyring

KEYS = Keyring.from_master(bytes.fromhex("00112233445566778899aabbccddeeff"))
AS_OF = dt.datetime(2024, 10, 15, 12, 0, 0)


def _codes(needs: str) -> list[str]:
    return [c for c, e in catalogue().items() if e.claimed and e.needs.startswith(needs)]


def test_without_codec_and_tables_every_such_check_is_skipped() -> None:
    skipped = skipped_checks(CheckContext(as_of=AS_OF))
    assert skipped == [c for c in catalogue() if c in set(_codes("codec")) | set(_codes("ref:"))]
    assert _codes("codec") and _codes("ref:")


def test_development_key_never_decodes() -> None:
    ctx = CheckContext(as_of=AS_OF, codec=Keyring.development())
    assert not ctx.decode
    assert set(_codes("codec")) <= set(skipped_checks(ctx))


def test_issuing_key_runs_the_decode_checks() -> None:
    ctx = CheckContext(as_of=AS_OF, codec=KEYS)
    assert ctx.decode
    assert not set(_codes("codec")) & set(skipped_checks(ctx))


def test_only_the_checks_of_missing_tables_are_skipped() -> None:
    ctx = CheckContext(as_of=AS_OF, references=TableReferences(drugs=frozenset({"X"})))
    skipped = set(skipped_checks(ctx))
    for code in _codes("ref:"):
        assert (code in skipped) == (catalogue()[code].reference_table != "drugs")


def test_as_of_in_roc_and_aware_times_converted_to_taiwan() -> None:
    utc = dt.datetime(2024, 10, 15, 4, 0, 0, 123, tzinfo=dt.UTC)
    ctx = CheckContext(as_of=utc)
    assert ctx.as_of == AS_OF
    assert ctx.as_of.tzinfo is None
    assert ctx.as_of_roc == format_roc_datetime(AS_OF)
    assert CheckContext(as_of=AS_OF.replace(tzinfo=TAIWAN)).as_of == AS_OF


@pytest.mark.parametrize(
    ("as_of", "limit"),
    [
        (dt.datetime(2024, 10, 15, 12, 0), dt.datetime(2024, 7, 15, 12, 0)),
        (dt.datetime(2024, 5, 31, 8, 0), dt.datetime(2024, 2, 29, 8, 0)),
        (dt.datetime(2024, 2, 10, 0, 0), dt.datetime(2023, 11, 10, 0, 0)),
        (dt.datetime(2023, 12, 31, 23, 59, 59), dt.datetime(2023, 9, 30, 23, 59, 59)),
    ],
)
def test_three_months_back_by_calendar(as_of: dt.datetime, limit: dt.datetime) -> None:
    assert CheckContext(as_of=as_of).stale_before_roc == format_roc_datetime(limit)
