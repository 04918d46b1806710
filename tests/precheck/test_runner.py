"""The pre-check runner: serial and parallel reading agree; injected errors are found exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from nhihub.checks import CheckContext
from nhihub.precheck.runner import _frame, check_path, check_path_parallel
from nhihub.results import summary_to_dict
from nhihub.synth import generate, read_sidecar, sidecar_path, write_synth
from nhihub.visitid import Keyring

AS_OF = dt.datetime(2024, 10, 15, 12, 30, 0)


@pytest.fixture(scope="module")
def faulty_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("precheck") / "faulty.xml"
    write_synth(generate(5, 600, as_of=AS_OF, error_rate=0.1, keyring=Keyring.development()), path)
    return path


def _errors(summary_dict: dict[str, object]) -> set[tuple[int, str | None, str]]:
    out: set[tuple[int, str | None, str]] = set()
    for rec in summary_dict["invalid"]:  # type: ignore[attr-defined]
        for e in rec["errors"]:
            if e["severity"] == "error":
                out.add((rec["index"], e["field"], e["code"]))
    return out


def test_injected_errors_are_reported_exactly(faulty_file: Path) -> None:
    summary = check_path(faulty_file, CheckContext(as_of=AS_OF))
    expected = {
        (e["index"], e["field"], e["code"]) for e in read_sidecar(sidecar_path(faulty_file))
    }
    assert expected, "the fixture must inject errors"
    assert _errors(summary_to_dict(summary)) == expected
    assert summary.records == 600
    assert summary.invalid_records == len({i for i, _, _ in expected})
    assert summary.valid_records + summary.invalid_records == summary.records
    assert summary.valid_orders + summary.invalid_orders == summary.orders


def test_parallel_output_equals_serial(faulty_file: Path) -> None:
    serial = summary_to_dict(check_path_parallel(faulty_file, AS_OF, 1))
    parallel = summary_to_dict(check_path_parallel(faulty_file, AS_OF, 2))
    assert parallel == serial
    assert serial["invalid"], "the comparison must cover reported records"


def test_parallel_falls_back_on_a_structural_error(faulty_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    data = faulty_file.read_bytes()
    cut = data.index(b"</REC>", len(data) // 2)
    broken.write_bytes(data[:cut] + data[cut + len(b"</REC>") :])  # one </REC> missing mid-file
    serial = summary_to_dict(check_path_parallel(broken, AS_OF, 1))
    parallel = summary_to_dict(check_path_parallel(broken, AS_OF, 2))
    assert serial["file_errors"], "a missing </REC> must be reported"
    assert parallel == serial


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><!DOCTYPE RECS [<!ENTITY a "b">]><RECS><REC></REC></RECS>',
        b'<?xml version="1.0"?><RECS><REC></REC></RECS><RECS></RECS>',
        b'<?xml version="1.0"?><RECS><REC></REC>',
        b"not xml at all",
    ],
)
def test_frame_refuses_files_that_are_not_cleanly_framed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "f.xml"
    path.write_bytes(content)
    assert _frame(path) is None


def test_frame_of_a_clean_file(faulty_file: Path) -> None:
    frame = _frame(faulty_file)
    assert frame is not None
    prolog, start, end = frame
    data = faulty_file.read_bytes()
    assert prolog.endswith(b"<RECS>") and data[start:end].lstrip().startswith(b"<REC>")
    assert data[end:].strip() == b"</RECS>"
