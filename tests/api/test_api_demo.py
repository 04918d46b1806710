"""The demo data of ``nhihub demo``: the plan (pure) and its loading on both databases."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine

from nhihub.api.demo import (
    NHI_REQUEST_FILE,
    PRECHECK_ROLE,
    PRECHECK_V1,
    PRECHECK_V2,
    SUMMARY_FILE,
    UPLOAD_FILE,
    DemoPlan,
    demo_config,
    encode_records,
    load_demo,
    plan_demo,
)
from nhihub.checks import CheckContext
from nhihub.cli.serve_cmd import _print_demo
from nhihub.config import Settings
from nhihub.formats import Record, read_upload
from nhihub.ids.rocdate import format_roc_date
from nhihub.precheck import check_stream
from nhihub.reports.precheck_db import precheck_report, unmatched_records
from nhihub.service import result_file
from nhihub.storage import read_only, unit_of_work

ROLES = {"prescriber", "clinic", "dental", "pharmacy", "second_pharmacy", PRECHECK_ROLE}


def _institution(rec: Record) -> str:
    return rec.mb1["M05"] if rec.version == "2.0" else rec.mb1["A14"]  # 1.0: 醫事機構代碼


def _visit_key(rec: Record) -> tuple[str, str, str, str]:
    """The report's match: 身分證號, 出生日期, 就診日期時間, 就醫類別 (2.0 and 1.0 fields)."""
    if rec.version == "2.0":
        return (rec.mb1["M03"], rec.mb1["M04"], rec.mb1["M11"], rec.mb1["M07"])
    return (rec.mb1["A12"], rec.mb1["A13"], rec.mb1["A17"], rec.mb1["A23"])


def test_plan_institutions(plan: DemoPlan) -> None:
    roles = {i.role: i.institution for i in plan.institutions}
    assert set(roles) == ROLES
    assert len({i.code for i in roles.values()}) == len(ROLES)
    levels = demo_config()["levels"]
    assert roles["prescriber"].level in {levels[k] for k in demo_config()["roles"]["prescriber"]}
    assert roles["pharmacy"].level == roles["second_pharmacy"].level == "pharmacy"
    assert roles["clinic"].level == "clinic"
    assert roles[PRECHECK_ROLE].level in {levels[k] for k in demo_config()["roles"]["precheck"]}


def test_every_batch_is_its_institutions_own(plan: DemoPlan) -> None:
    assert plan.batches[0].role == "prescriber"  # prescriptions before dispensing
    assert [b.role for b in plan.batches][-2:] == [PRECHECK_V1, PRECHECK_V2]  # ids 1-5 kept
    for batch in plan.batches:
        assert batch.records
        assert {r.version for r in batch.records} == {batch.version}
        assert {_institution(r) for r in batch.records} == {batch.institution}
    assert plan.curl_records
    assert {r.mb1["M05"] for r in plan.curl_records} == {plan.code("clinic")}


def test_the_duplicate_dispenses_the_same_refill(plan: DemoPlan) -> None:
    records = {r.mb1.get("M15"): r for b in plan.batches for r in b.records}
    prescription = records[plan.prescription]
    duplicate = records[plan.duplicate]
    first = next(
        r
        for r in records.values()
        if r.mb1.get("M16") == plan.prescription and r.mb1["M05"] == plan.code("pharmacy")
    )
    assert int(prescription.mb1["M26"]) >= plan.refill_no >= 2
    assert duplicate.mb1["M05"] == plan.code("second_pharmacy")
    assert duplicate.mb1["M16"] == plan.prescription
    assert duplicate.mb1["M33"] == first.mb1["M33"] == str(plan.refill_no)
    assert duplicate.mb1["M11"] > first.mb1["M11"]
    assert all(line["D01"] == duplicate.mb1["M11"] for line in duplicate.mb2 if "D01" in line)


# The demo's random errors follow the clock: at this as-of none fell on the prescriber's visits
# before the known error was planned (the console's and API's tests then failed).
NO_RANDOM_ERROR_AT = dt.datetime(2026, 11, 24, 19, 55, 29)


def test_the_prescriber_upload_always_has_an_invalid_record() -> None:
    plan = plan_demo(NO_RANDOM_ERROR_AT)
    batch = plan.batch("prescriber")
    summary = check_stream(io.BytesIO(encode_records(batch.records)), CheckContext(plan.as_of))
    assert summary.records == len(batch.records)
    codes = {f.code for outcome in summary.reported for f in outcome.findings}
    assert summary.invalid_records == 1
    assert "Y008" in codes  # demo.json known_error: unknown-category
    # not a prescription any record dispenses: its dispensings would fail too
    dispensed = {r.mb1.get("M16") for b in plan.batches for r in b.records}
    assert not dispensed & {o.record.mb1.get("M15") for o in summary.reported}


def test_encoded_files_read_back(plan: DemoPlan) -> None:
    for batch in (plan.batches[0], plan.batch(PRECHECK_V1)):
        records = batch.records
        read, errors, info = read_upload(io.BytesIO(encode_records(records, version=batch.version)))
        assert not errors
        assert info.codec == "cp950"  # Big5, as NHI expects
        assert {r.version for r in read} == {batch.version}
        assert [r.mb1 for r in read] == [r.mb1 for r in records]


def test_the_precheck_institution_pre_checks_its_1_0_visits_but_the_latest(plan: DemoPlan) -> None:
    code = plan.code(PRECHECK_ROLE)
    others = {i.institution.code for i in plan.institutions if i.role != PRECHECK_ROLE}
    assert code not in others
    v1, v2 = plan.batch(PRECHECK_V1), plan.batch(PRECHECK_V2)
    assert (v1.kind, v1.version) == ("A1", "1.0")
    assert (v2.kind, v2.version, v2.channel) == ("A2", "2.0", "web-api")
    v1_keys = [_visit_key(r) for r in v1.records]  # by visit time
    v2_keys = {_visit_key(r) for r in v2.records}
    assert len(v2_keys & set(v1_keys)) > len(v1_keys) // 2  # pre-checks of the same visits
    # The latest 1.0 visits before the as-of day (in the report's window) are not pre-checked.
    today = format_roc_date(plan.as_of.date())
    before = [k for k in v1_keys if k[2][:7] < today]
    not_sent = int(demo_config()["precheck_not_sent"])
    assert not_sent >= 1
    assert not v2_keys & set(before[-not_sent:])


def test_load_demo(
    fresh_engine: Engine, settings: Settings, plan: DemoPlan, tmp_path: Path
) -> None:
    result = load_demo(fresh_engine, settings, plan, out_dir=tmp_path)
    assert set(result.batches) == {b.role for b in plan.batches}
    assert all(view.status == "done" for view in result.batches.values())
    assert result.batches["prescriber"].counts.invalid_records >= 1
    second = result.batches["second_pharmacy"]
    assert second.counts.invalid_records >= 1
    with unit_of_work(fresh_engine) as conn:
        content = result_file(conn, second.id, "json", settings)
    assert content is not None
    codes = {(i["M15"], e["code"]) for i in json.loads(content)["invalid"] for e in i["errors"]}
    assert (plan.duplicate, "D025") in codes

    summary = json.loads((tmp_path / SUMMARY_FILE).read_text("utf-8"))
    assert summary["prescription"] == plan.prescription
    assert summary["staff_token"] == result.staff_token
    assert {i["role"] for i in summary["institutions"]} == ROLES
    upload = (tmp_path / UPLOAD_FILE).read_bytes()
    assert upload == encode_records(plan.curl_records)
    request: dict[str, Any] = json.loads((tmp_path / NHI_REQUEST_FILE).read_text("utf-8"))
    assert base64.b64decode(request["sPatData"]) == upload
    assert request["sHospId"] == plan.code("clinic")
    assert request["sSignature"] == result.tokens[plan.code("clinic")]


def test_load_demo_gives_a_precheck_report_below_100_percent(
    fresh_engine: Engine, settings: Settings, plan: DemoPlan, tmp_path: Path
) -> None:
    result = load_demo(fresh_engine, settings, plan, out_dir=tmp_path)
    code = plan.code(PRECHECK_ROLE)
    assert result.batches[PRECHECK_V1].kind == "A1"
    assert result.batches[PRECHECK_V2].kind == "A2"
    assert result.batches[PRECHECK_V2].channel == "web-api"
    with read_only(fresh_engine) as conn:
        report = precheck_report(conn, code, plan.as_of.date())
        unmatched = unmatched_records(conn, code, report.first_day, report.last_day)
    a, b = report.total.v1_success, report.total.matched
    assert 0 < b < a
    assert report.total.web_api == b  # every pre-check came through the Web-API channel
    assert not report.qualified
    assert len(unmatched) == a - b
    assert {u.institution_code for u in unmatched} == {code}
    assert {u.batch_id for u in unmatched} == {result.batches[PRECHECK_V1].id}

    summary = json.loads((tmp_path / SUMMARY_FILE).read_text("utf-8"))["precheck"]
    assert summary["institution"] == code
    assert summary["report"] == f"/console/precheck?institution={code}"
    assert (summary["v1_success"], summary["matched"], summary["unmatched"]) == (a, b, a - b)

    console = Console(record=True, width=120)
    _print_demo(console, result, "http://127.0.0.1:8000", "sqlite://")
    text = console.export_text()
    assert f"http://127.0.0.1:8000/console/precheck?institution={code}" in text
    assert f"(A) {a} 1.0 records, (B) {b} matched" in text
