"""Submitting a file and processing it in one call (nhihub ingest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_kit import RECEIVED, Hub, Pool, clone, upload_bytes

from nhihub.service import UploadRejected, ingest_file


def test_ingest_file(hub: Hub, pool: Pool, tmp_path: Path) -> None:
    a, b = pool.visits(2)
    inst = hub.institution(a.mb1["M05"])
    good = tmp_path / "good.xml"
    good.write_bytes(upload_bytes([a]))
    report = ingest_file(
        hub.engine, good, institution=inst, settings=hub.settings, jobs=1, now=RECEIVED
    )
    assert report.exit_code == 0 and report.batch.status == "done"
    assert report.result["applied_records"] == 1 and report.result["file"] == "good.xml"
    assert report.summary.records == 1
    mixed = tmp_path / "mixed.xml"
    mixed.write_bytes(upload_bytes([clone(a, M44="3"), clone(b, M05=inst, M15=None)]))
    report = ingest_file(
        hub.engine, mixed, institution=inst, settings=hub.settings, jobs=1, now=RECEIVED
    )
    assert report.exit_code == 1 and report.result["invalid_records"] == 1
    pre = ingest_file(
        hub.engine, good, institution=inst, kind="A2", settings=hub.settings, now=RECEIVED
    )
    assert pre.exit_code == 0 and pre.result["applied_records"] == 0


def test_ingest_refusals(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        ingest_file(hub.engine, tmp_path / "missing.xml", institution="x", settings=hub.settings)
    f = tmp_path / "f.xml"
    f.write_bytes(b"<RECS></RECS>")
    with pytest.raises(UploadRejected):
        ingest_file(hub.engine, f, institution="1234567890", settings=hub.settings)
