"""Renderings of a check summary: JSON schema, CSV rows, NHI result layout (Big5)."""

from __future__ import annotations

import csv
import io
import json

from nhihub.formats.model import FileError, Finding, Record
from nhihub.results import (
    FileSummary,
    encode_nhi_text,
    render_csv,
    render_json,
    render_nhi_text,
)
from nhihub.results.render import SEPARATOR
from nhihub.specs.catalogue import catalogue


def _summary() -> FileSummary:
    s = FileSummary(file="day.xml")
    ok = Record(
        index=1,
        line=2,
        version="2.0",
        header={"H00": "1", "H01": "A"},
        mb1={"M03": "A123456789", "M15": "X" * 20},
        mb2=[{"D01": "1"}],
    )
    bad = Record(
        index=2,
        line=9,
        version="2.0",
        header={"H00": "1", "H01": "B"},
        mb1={"M03": "B234567890", "M04": "0820101", "M05": "1101110026", "M06": "C123456789"},
        mb2=[{"D01": "1"}, {"D01": "2"}],
    )
    warn = next(c for c, e in catalogue().items() if e.severity == "warning")
    s.add(ok, [Finding("M11", warn)], True, 1, 0)
    s.add(bad, [Finding("M15", "AA"), Finding("D05[2]", "AF")], False, 2, 1)
    s.file_errors.append(FileError("Y006", 40, "unclosed"))
    return s


def test_json_schema_and_counts() -> None:
    [d] = json.loads(render_json([_summary()]))
    assert {
        k: d[k]
        for k in (
            "records",
            "valid_records",
            "orders",
            "valid_orders",
            "invalid_records",
            "invalid_orders",
        )
    } == {
        "records": 2,
        "valid_records": 1,
        "orders": 3,
        "valid_orders": 2,
        "invalid_records": 1,
        "invalid_orders": 1,
    }
    assert d["file"] == "day.xml" and d["format_version"] == "2.0"
    [inv] = d["invalid"]
    assert (inv["index"], inv["M03"], inv["line"]) == (2, "B234567890", 9)
    assert [(e["field"], e["code"], e["severity"]) for e in inv["errors"]] == [
        ("M15", "AA", "error"),
        ("D05[2]", "AF", "error"),
    ]
    assert inv["errors"][0]["message"] == catalogue()["AA"].message_zh
    [w] = d["warnings"]
    assert w["index"] == 1 and w["errors"][0]["severity"] == "warning"
    assert d["file_errors"][0]["code"] == "Y006" and d["file_errors"][0]["line"] == 40


def test_csv_has_one_row_per_finding() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv([_summary()]))))
    assert [(r["index"], r["field"], r["code"]) for r in rows] == [
        ("", "", "Y006"),
        ("1", "M11", rows[1]["code"]),
        ("2", "M15", "AA"),
        ("2", "D05[2]", "AF"),
    ]


def test_nhi_layout_masks_personal_data_and_lists_reasons() -> None:
    text = render_nhi_text(_summary(), institution="1101110026", file_size=123)
    blocks = text.split("\n" + SEPARATOR + "\n")
    assert len(SEPARATOR) == 75
    header = blocks[0].splitlines()
    assert header[0] == "檢核結果" and len(header) == 13  # title + 12 bracketed values
    assert "接收筆數=[2]" in header and "無效醫令=[1]" in header and "檔案大小=[123]" in header
    assert blocks[1].startswith("檔案檢核") and "第[40]行 錯誤原因:Y006;" in blocks[1]
    bad = next(b for b in blocks if b.startswith("第[2]筆"))
    lines = bad.splitlines()
    assert "M03=[  ]" in lines and "M06=[  ]" in lines  # blanked as in NHI's result file
    assert "M04=[ 082 ]" in lines  # year only
    assert "M05=[ 1101110026 ]" in lines and "M07=[ NULL ]" in lines
    assert lines[-1] == "錯誤原因:M15:AA;D05[2]:AF;"
    assert "B234567890" not in text and "C123456789" not in text


def test_nhi_text_is_big5_with_crlf() -> None:
    text = render_nhi_text(_summary())
    raw = encode_nhi_text(text)
    assert b"\r\n" in raw and raw.decode("cp950").replace("\r\n", "\n") == text
