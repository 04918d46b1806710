"""The demo data of ``nhihub demo``: the plan (pure) and its loading on both databases."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nhihub.api.demo import (
    NHI_REQUEST_FILE,
    SUMMARY_FILE,
    UPLOAD_FILE,
    DemoPlan,
    demo_config,
    encode_records,
    load_demo,
)
from nhihub.config import Settings
from nhihub.formats import read_upload
from nhihub.service import result_file
from nhihub.storage import unit_of_work

ROLES = {"prescriber", "clinic", "dental", "pharmacy", "second_pharmacy"}


def test_plan_institutions(plan: DemoPlan) -> None:
    roles = {i.role: i.institution for i in plan.institutions}
    assert set(roles) == ROLES
    assert len({i.code for i in roles.values()}) == len(ROLES)
    levels = demo_config()["levels"]
    assert roles["prescriber"].level in {levels[k] for k in demo_config()["roles"]["prescriber"]}
    assert roles["pharmacy"].level == roles["second_pharmacy"].level == "pharmacy"
    assert roles["clinic"].level == "clinic"


def test_every_batch_is_its_institutions_own(plan: DemoPlan) -> None:
    assert plan.batches[0].role == "prescriber"  # prescriptions before dispensing
    for batch in plan.batches:
        assert batch.records
        assert {r.mb1["M05"] for r in batch.records} == {batch.institution}
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


def test_encoded_files_read_back(plan: DemoPlan) -> None:
    records = plan.batches[0].records
    read, errors, info = read_upload(io.BytesIO(encode_records(records)))
    assert not errors
    assert info.codec == "cp950"  # Big5, as NHI expects
    assert [r.mb1 for r in read] == [r.mb1 for r in records]


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
