"""The pre-check runner: serial and parallel reading agree; injected errors are found exactly."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from nhihub.checks import CheckContext
from nhihub.precheck import runner
from nhihub.precheck.runner import _frame, _plan, check_path, check_path_parallel
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


def _spread_out(data: bytes) -> bytes:
    """The same file with a multi-line prolog and each record over several lines (fields on
    lines of their own), as some HIS write them."""
    head, sep, body = data.partition(b"<RECS>")
    body = body.replace(b"<MB1>", b"\n  <MB1>\n").replace(b"<MB2>", b"\n  <MB2>\n")
    return head.replace(b"?>", b"?>\n\n") + b"\n" + sep + b"\n\n" + body


def test_parallel_numbers_and_lines_every_record_as_serial(
    faulty_file: Path, tmp_path: Path
) -> None:
    spread = tmp_path / "spread.xml"
    spread.write_bytes(_spread_out(faulty_file.read_bytes()))
    serial = check_path_parallel(spread, AS_OF, 1)
    parallel = check_path_parallel(spread, AS_OF, 2)
    where = [(o.record.index, o.record.line) for o in serial.reported]
    assert where and where == [(o.record.index, o.record.line) for o in parallel.reported]
    assert summary_to_dict(parallel) == summary_to_dict(serial)
    assert len({line for _, line in where}) == len(where) > 10


def test_plain_parts_are_read_from_their_bytes(faulty_file: Path, plain_answers: Any) -> None:
    answers = plain_answers(runner)
    plan = _plan(faulty_file, 2)
    assert plan is not None
    reported = [o.record.line for p in plan[0] for o in runner._check_part(p, AS_OF)[0].reported]
    assert answers and all(answers)  # the injected errors are in values, not in the structure
    serial = check_path(faulty_file, CheckContext(as_of=AS_OF))
    assert len(reported) == len(serial.reported) > 10


def test_plan_cuts_the_body_at_records(faulty_file: Path) -> None:
    plan = _plan(faulty_file, 2)
    assert plan is not None
    parts, lines = plan
    data = faulty_file.read_bytes()
    _, start, end = _frame(faulty_file) or (b"", 0, 0)
    assert len(parts) > 2 and lines == data[: parts[0].start].count(b"\n")
    assert data[start : parts[0].start].strip() == b"" and parts[-1].end == end
    for a, b in itertools.pairwise(parts):
        assert a.end == b.start and data[b.start : b.start + 5] == b"<REC>"
    assert sum(data.count(b"<REC>", p.start, p.end) for p in parts) == 600


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
