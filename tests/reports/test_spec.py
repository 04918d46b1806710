from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import pytest

from nhihub.reports.spec import parse_spec, reports_spec


def _data() -> dict:  # type: ignore[type-arg]
    text = resources.files("nhihub.reports").joinpath("data/reports.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def test_loaded_values() -> None:
    spec = reports_spec()
    assert spec.precheck.window_days == 7
    assert spec.precheck.channel_columns["web-api"] == "web-api"
    assert spec.precheck.channel_columns["web"] == "vpn"
    assert spec.dashboard.timely_target == Decimal("0.90")
    assert spec.dashboard.refill_block_code == "D025"


def test_every_storage_channel_has_a_report_column() -> None:
    from nhihub.storage import codes

    assert set(codes("channel")) == set(reports_spec().precheck.channel_columns)


def test_a_column_missing_from_the_preference_is_refused() -> None:
    data = _data()
    data["precheck"]["channel_columns"]["fax"] = "fax"
    with pytest.raises(ValueError, match="column_preference"):
        parse_spec(data)
