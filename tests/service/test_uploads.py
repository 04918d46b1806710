"""Receiving uploads and answering about them: refusals, batch views, lists, result files,
retention and regeneration."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import replace

import pytest
from service_kit import Hub, Pool, clone, received, upload_bytes

from nhihub.service import (
    FORMATS,
    UploadRejected,
    get_batch,
    list_batches,
    media_type,
    purge_results,
    result_file,
    submit_upload,
)
from nhihub.storage import get_result, list_audit, read_only, unit_of_work


def _submit(hub: Hub, **kw: object) -> int:
    args: dict[str, object] = {
        "institution": "3501200000",
        "raw": b"<RECS></RECS>",
        "kind": "A1",
        "channel": "web-api",
        "settings": hub.settings,
    }
    args.update(kw)
    with unit_of_work(hub.engine) as conn:
        return submit_upload(conn, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "reason", "code"),
    [
        ({"institution": "1234567890"}, "unknown_institution", "9005"),
        ({"kind": "B9"}, "bad_kind", "5003"),
        ({"channel": "fax"}, "bad_channel", "9999"),
    ],
)
def test_refusals(hub: Hub, change: dict[str, object], reason: str, code: str) -> None:
    hub.institution("3501200000")
    with pytest.raises(UploadRejected) as caught:
        _submit(hub, **change)
    err = caught.value
    assert (err.reason, err.code) == (reason, code)
    assert err.message_zh and err.message_en and err.message_zh != err.message_en
    with read_only(hub.engine) as conn:
        assert list_batches(conn, None) == []


def test_submit_acknowledges_and_stores_encrypted(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1)[0]
    inst = hub.institution(rec.mb1["M05"])
    raw = upload_bytes([rec])
    batch_id = _submit(
        hub,
        institution=inst,
        raw=raw,
        file_name="day.xml",
        uploaded_at=dt.datetime(2024, 10, 15, 11, 59),
        client_info={"sMrecs": "1"},
    )
    with read_only(hub.engine) as conn:
        view = get_batch(conn, batch_id)
        stored = conn.exec_driver_sql("SELECT raw_enc FROM upload_raw").scalar_one()
        audit = list_audit(conn, object_type="batch")
    assert view is not None and view.status == "received" and view.verdict is None
    assert (
        view.file_size == len(raw) and view.file_name == "day.xml" and view.opcode == str(batch_id)
    )
    assert rec.mb1["M03"].encode() not in bytes(stored)
    assert [a.action for a in audit] == ["batch.upload"]
    with read_only(hub.engine) as conn:
        assert result_file(conn, batch_id, "json", hub.settings) is None  # not processed yet
        assert get_batch(conn, batch_id + 1) is None


def test_batch_view_counts_and_verdict(hub: Hub, pool: Pool) -> None:
    a, b = pool.visits(2, skip=2)
    inst = a.mb1["M05"]
    view = hub.send(inst, [a, clone(b, M05=inst, M15=None)])
    assert view.finished and view.verdict == "檢核有誤"
    d = view.to_dict()
    assert (d["records"], d["valid_records"], d["invalid_records"]) == (2, 1, 1)
    assert d["status_zh"] == "已完成" and d["applied_records"] == 1
    clean = hub.send(inst, [clone(a, M44="5")])
    assert clean.verdict == "檢核無誤"


def test_list_batches_by_institution_and_taiwan_day(hub: Hub) -> None:
    first, second = hub.institution("3501200000"), hub.institution("3501200001")
    day = dt.datetime(2024, 10, 15)
    early = _submit(hub, institution=first, now=received(day + dt.timedelta(minutes=30)))
    late = _submit(hub, institution=first, now=received(day + dt.timedelta(hours=23, minutes=59)))
    other = _submit(hub, institution=second, now=received(day + dt.timedelta(hours=12)))
    _submit(hub, institution=first, now=received(day + dt.timedelta(days=1, minutes=1)))
    with read_only(hub.engine) as conn:
        mine = list_batches(conn, first, day.date(), day.date())
        everyone = list_batches(conn, None, day.date(), day.date())
        all_time = list_batches(conn, first)
    assert [b.id for b in mine] == [early, late]
    assert [b.id for b in everyone] == [early, late, other]
    assert len(all_time) == 3


def test_result_formats(hub: Hub, pool: Pool) -> None:
    a, b = pool.visits(2, skip=4)
    inst = a.mb1["M05"]
    bad = clone(b, M05=inst, M15=None)
    view = hub.send(inst, [a, bad])
    with unit_of_work(hub.engine) as conn:
        files = {fmt: result_file(conn, view.id, fmt, hub.settings) for fmt in FORMATS}
    doc = json.loads(files["json"] or b"")
    assert doc["batch_id"] == view.id and doc["applied_records"] == 1
    assert doc["records"] == 2 and doc["invalid"][0]["errors"][0]["code"] == "AA"
    rows = list(csv.DictReader(io.StringIO((files["csv"] or b"").decode())))
    assert [(r["index"], r["field"], r["code"]) for r in rows] == [("2", "M15", "AA")]
    text = (files["nhi-text"] or b"").decode("cp950")
    assert "檢核結果" in text and "錯誤原因:M15:AA;" in text and f"[{inst}]" in text
    assert bad.mb1["M03"] not in text
    with zipfile.ZipFile(io.BytesIO(files["nhi-zip"] or b"")) as zf:
        assert zf.read(f"{view.id}.txt") == files["nhi-text"]
    assert media_type("nhi-zip") == "application/zip"
    with read_only(hub.engine) as conn, pytest.raises(ValueError):
        result_file(conn, view.id, "pdf", hub.settings)


def test_results_are_kept_purged_and_rebuilt_identically(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=6)[0]
    view = hub.send(rec.mb1["M05"], [rec, clone(rec, M15=None)])
    with unit_of_work(hub.engine) as conn:
        first = result_file(conn, view.id, "nhi-zip", hub.settings)
        kept = get_result(conn, view.id, "nhi-zip", hub.settings.cipher())
    assert first is not None and kept is not None and kept.content == first
    now = kept.created_at + dt.timedelta(days=hub.settings.result_retention_days - 1)
    with unit_of_work(hub.engine) as conn:
        assert purge_results(conn, now, hub.settings) == 0
        later = now + dt.timedelta(days=2)
        assert purge_results(conn, later, hub.settings) == 1
        purged = get_result(conn, view.id, "nhi-zip", hub.settings.cipher())
        assert purged is not None and purged.content is None
    with unit_of_work(hub.engine) as conn:
        again = result_file(conn, view.id, "nhi-zip", hub.settings)
        restored = get_result(conn, view.id, "nhi-zip", hub.settings.cipher())
    assert again == first and restored is not None and restored.content == first


def test_read_only_transaction_still_gets_the_result(hub: Hub, pool: Pool) -> None:
    rec = pool.visits(1, skip=7)[0]
    view = hub.send(rec.mb1["M05"], [rec])
    with read_only(hub.engine) as conn:
        assert result_file(conn, view.id, "json", hub.settings)


def test_settings_limit_applies(hub: Hub) -> None:
    hub.institution("3501200000")
    limited = replace(hub.settings, max_upload_bytes=1024)
    assert _submit(hub, raw=b"<RECS>" + b" " * 1000 + b"</RECS>", settings=limited)
    with pytest.raises(UploadRejected):
        _submit(hub, raw=b"<RECS>" + b" " * 1100 + b"</RECS>", settings=limited)
