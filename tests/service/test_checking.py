"""Phase 1: the record checks plus 07, the prepared rows, and parallel reading that gives exactly
the serial result."""

from __future__ import annotations

import dataclasses
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from service_kit import AS_OF, KEYS, RECEIVED, make_settings, upload_bytes
from sqlalchemy import create_engine

from nhihub.formats.model import Finding
from nhihub.service import checking
from nhihub.service.checking import (
    CheckedRecord,
    CheckJob,
    CheckPool,
    check_parallel,
    check_serial,
    split_upload,
)
from nhihub.service.facts import RecordFacts
from nhihub.service.prepared import VISIT_ROW, PreparedVisit
from nhihub.synth import generate


@pytest.fixture(scope="module")
def upload() -> tuple[bytes, str]:
    records = [r for r, _ in generate(4, 240, as_of=AS_OF, error_rate=0.1, keyring=KEYS)]
    return upload_bytes(records), records[0].mb1["M05"]


def _job(institution: str, kind: str = "A1") -> CheckJob:
    settings = make_settings(create_engine("sqlite://"))
    return CheckJob(1, institution, kind, "web-api", RECEIVED, settings)


def _comparable(r: CheckedRecord) -> CheckedRecord:
    # person_enc has a random nonce per encryption; everything else must be equal
    if r.visit is None:
        return r
    at = VISIT_ROW.index("person_enc")
    row = (*r.visit.row[:at], b"", *r.visit.row[at + 1 :])
    return dataclasses.replace(r, visit=r.visit._replace(row=row))


def test_serial_checks_and_prepares(upload: tuple[bytes, str]) -> None:
    raw, institution = upload
    job = _job(institution)
    result = check_serial(raw, job)
    assert result.version == "2.0" and not result.file_errors
    assert len(result.records) == 240
    foreign = [
        r for r in result.records if ("M05", "07") in {(f.field, f.code) for f in r.findings}
    ]
    own = [r for r in result.records if r.visit is not None]
    assert foreign and own and all(not r.valid for r in foreign)
    assert all(r.visit.value("institution_code") == institution for r in own)  # type: ignore[union-attr]
    assert all(r.facts is not None and r.valid for r in own)
    v = own[0].visit
    assert v is not None and job.settings.cipher().decrypt(v.value("person_enc"))
    assert '"M03"' not in v.value("record")
    assert "08" in result.skipped_checks


def test_kinds_prepare_different_rows(upload: tuple[bytes, str]) -> None:
    raw, institution = upload
    pre = check_serial(raw, _job(institution, "A2"))
    assert all(r.visit is None and r.facts is None and r.match is not None for r in pre.records)
    assert {r.match.institution_code for r in pre.records if r.match} == {institution}
    zz = check_serial(raw, _job(institution, "ZZ"))
    assert all(r.visit is None and r.match is None for r in zz.records)


def test_parallel_equals_serial(upload: tuple[bytes, str]) -> None:
    raw, institution = upload
    job = _job(institution)
    serial = check_serial(raw, job)
    with ProcessPoolExecutor(2) as pool:
        parallel = check_parallel(raw, job, pool, 2)
    assert [_comparable(r) for r in parallel.records] == [_comparable(r) for r in serial.records]
    assert parallel.version == serial.version and parallel.file_errors == []


def test_plain_parts_are_read_from_their_bytes(
    upload: tuple[bytes, str], plain_answers: Any
) -> None:
    raw, institution = upload
    job = _job(institution)
    answers = plain_answers(checking)
    parts = split_upload(raw, 4)
    assert parts is not None
    records = [r for p in parts for r in checking._check_part(p, job, "2.0").records]
    assert answers and all(answers)  # the synthetic upload's injected errors are in values
    serial = check_serial(raw, job)
    assert [_comparable(r) for r in records] == [_comparable(r) for r in serial.records]


def test_split_needs_a_clean_frame(upload: tuple[bytes, str]) -> None:
    raw, _ = upload
    parts = split_upload(raw, 4)
    assert parts is not None and len(parts) >= 4
    assert all(p.doc.rstrip().endswith(b"</RECS>") for p in parts)
    assert split_upload(raw + raw, 4) is None  # two roots
    assert split_upload(raw[:-20], 4) is None  # no </RECS>
    assert split_upload(b"<RECS></RECS>", 4) is None


def test_file_errors_in_a_part_fall_back_to_serial(upload: tuple[bytes, str]) -> None:
    raw, institution = upload
    broken = raw.replace(b"<MB1>", b"<MB1><BAD>", 1).replace(b"</REC>", b"", 1)
    job = _job(institution)
    with ProcessPoolExecutor(2) as pool:
        parallel = check_parallel(broken, job, pool, 2)
    serial = check_serial(broken, job)
    assert parallel.file_errors == serial.file_errors and serial.file_errors
    assert [r.findings for r in parallel.records] == [r.findings for r in serial.records]


def test_pool_only_for_large_uploads(upload: tuple[bytes, str]) -> None:
    raw, institution = upload
    with CheckPool(1) as single:
        assert not single.wants(raw * 100)
    with CheckPool(2) as pool:
        assert not pool.wants(raw[:1000]) and pool.wants(raw * 10)
        result = pool.check(raw * 1, _job(institution))
    assert len(result.records) == 240


@pytest.mark.parametrize("kind", ["A1", "A2"])
def test_checked_uploads_cross_processes_unchanged(upload: tuple[bytes, str], kind: str) -> None:
    raw, institution = upload
    result = check_serial(raw, _job(institution, kind))
    back = pickle.loads(pickle.dumps(result))
    assert back == result and back.records
    assert any(r.findings for r in back.records)
    for r in back.records:
        assert r.facts is None or type(r.facts) is RecordFacts
        assert r.visit is None or type(r.visit) is PreparedVisit
        assert all(type(f) is Finding for f in r.findings)
