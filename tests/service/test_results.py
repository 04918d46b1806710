"""Result files rebuilt from stored data."""

from __future__ import annotations

import json

import pytest
from service_kit import Hub, Pool, clone
from sqlalchemy import delete

from nhihub.service.results import rebuild_summary, render_result, result_dict
from nhihub.storage import get_batch, read_only, unit_of_work
from nhihub.storage.schema import upload_raw


def test_rebuilt_summary_carries_stored_findings(hub: Hub, pool: Pool) -> None:
    chain = pool.chain(1)
    r2 = chain.refills[0]
    view = hub.send(r2.mb1["M05"], [r2, clone(r2, M15=None)])  # D024/D049 warnings, one AA
    with read_only(hub.engine) as conn:
        batch = get_batch(conn, view.id)
        assert batch is not None
        summary = rebuild_summary(conn, batch, hub.settings)
    assert (summary.records, summary.valid_records, summary.invalid_records) == (2, 1, 1)
    warned = [o for o in summary.reported if o.valid]
    assert {f.code for f in warned[0].findings} == {"D024", "D049"}
    doc = result_dict(summary, batch)
    assert doc["warnings"][0]["errors"][0]["severity"] == "warning"
    assert json.loads(render_result(summary, batch, "json"))["batch_id"] == view.id
    with pytest.raises(ValueError):
        render_result(summary, batch, "xlsx")


def test_without_the_raw_upload_only_counts_remain(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1)[0]
    view = hub.send(rec.mb1["M05"], [rec, clone(rec, M15=None)])
    with unit_of_work(hub.engine) as conn:
        conn.execute(delete(upload_raw).where(upload_raw.c.batch_id == view.id))
        batch = get_batch(conn, view.id)
        assert batch is not None
        summary = rebuild_summary(conn, batch, hub.settings)
    assert (summary.records, summary.invalid_records) == (2, 1) and summary.reported == []
