"""The generator against the real reader and checks: clean files are valid, and a file with
injected errors is reported exactly as its sidecar says (same (index, field, code), nothing more).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from nhihub.checks import CheckContext, check_record
from nhihub.formats import iter_upload
from nhihub.formats.model import FileError, Record
from nhihub.precheck import check_path
from nhihub.synth import generate, mutation_kinds
from nhihub.synth.write import read_sidecar, write_synth
from nhihub.visitid import Keyring

TEST_MASTER = bytes(range(32))  # a non-development key, so the decode checks run


@pytest.fixture(scope="module")
def issuing_keys() -> Keyring:
    return Keyring.from_master(TEST_MASTER)


def _findings(rec: Record, ctx: CheckContext) -> set[tuple[int, str | None, str]]:
    return {(rec.index, f.field, f.code) for f in check_record(rec, ctx)}


def _read(path: Path) -> list[Record]:
    out: list[Record] = []
    for item in iter_upload(path):
        assert not isinstance(item, FileError), item
        out.append(item)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_records_have_no_findings_even_with_decode_checks(
    seed: int, as_of: dt.datetime, issuing_keys: Keyring
) -> None:
    ctx = CheckContext(as_of=as_of, codec=issuing_keys)
    found = Counter[tuple[str | None, str]]()
    for rec in generate(seed, 1500, as_of=as_of, keyring=issuing_keys).iter_records():
        for f in check_record(rec, ctx):
            found[f.field, f.code] += 1
    assert not found, found.most_common(10)


@pytest.mark.parametrize("encoding", ["big5", "utf-8"])
def test_clean_file_reads_back_valid(encoding: str, tmp_path: Path, as_of: dt.datetime) -> None:
    out = tmp_path / "clean.xml"
    summary = write_synth(generate(4, 400, as_of=as_of), out, encoding=encoding)
    assert summary.records == 400 and summary.errors_injected == 0
    recs = _read(out)
    assert len(recs) == 400
    ctx = CheckContext(as_of=as_of)
    assert [f for r in recs for f in _findings(r, ctx)] == []
    assert read_sidecar(summary.sidecar) == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_file_with_errors_is_reported_exactly_as_the_sidecar_says(
    seed: int, tmp_path: Path, as_of: dt.datetime
) -> None:
    out = tmp_path / "faulty.xml"
    summary = write_synth(generate(seed, 400, as_of=as_of, error_rate=0.25), out)
    expected = {(e["index"], e["field"], e["code"]) for e in read_sidecar(summary.sidecar)}
    assert len(expected) == summary.errors_injected == 100
    ctx = CheckContext(as_of=as_of)
    reported = {f for rec in _read(out) for f in _findings(rec, ctx)}
    assert reported == expected


@pytest.mark.parametrize("kind", list(mutation_kinds()))
def test_each_kind_alone_gives_exactly_its_code(
    kind: str, as_of: dt.datetime, issuing_keys: Keyring
) -> None:
    # decode checks on too: a mutation must not disturb the visit identifier's agreement
    ctx = CheckContext(as_of=as_of, codec=issuing_keys)
    result = generate(
        7, 1200, as_of=as_of, error_rate=0.02, mutations=(kind,), keyring=issuing_keys
    )
    seen = 0
    for rec, errors in result:
        expected = {(e.index, e.field, e.code) for e in errors}
        assert _findings(rec, ctx) == expected
        seen += len(errors)
    assert seen > 0


def test_paired_1_0_file_is_valid(tmp_path: Path, as_of: dt.datetime) -> None:
    out, v1 = tmp_path / "pre.xml", tmp_path / "v1.xml"
    summary = write_synth(
        generate(6, 300, as_of=as_of, error_rate=0.1, unmatched_share=0.1), out, paired_v1=v1
    )
    assert summary.paired_v1 == v1 and summary.paired_records is not None
    recs = _read(v1)
    assert len(recs) == summary.paired_records > 300
    assert all(r.version == "1.0" for r in recs)
    ctx = CheckContext(as_of=as_of)
    assert [f for r in recs for f in _findings(r, ctx)] == []


def test_nhihub_check_counts_the_injected_errors(tmp_path: Path, as_of: dt.datetime) -> None:
    clean, faulty = tmp_path / "clean.xml", tmp_path / "faulty.xml"
    write_synth(generate(8, 500, as_of=as_of), clean)
    summary = check_path(clean, CheckContext(as_of=as_of))
    assert (summary.records, summary.invalid_records, summary.file_errors) == (500, 0, [])
    written = write_synth(generate(8, 500, as_of=as_of, error_rate=0.1), faulty)
    summary = check_path(faulty, CheckContext(as_of=as_of))
    assert summary.records == 500
    assert summary.invalid_records == written.errors_injected == 50
