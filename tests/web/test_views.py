"""What the pages show of a record and a result: field names in both languages, values masked
as NHI's result file masks them, each finding on its own field with NHI's wording."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nhihub.formats.model import Finding, Record
from nhihub.specs.catalogue import message
from nhihub.specs.fields import by_id, segment_fields
from nhihub.web.views import (
    code_label,
    field_name,
    file_errors,
    finding_view,
    local_minute,
    pages,
    record_view,
    reported_rows,
)


def _record() -> Record:
    return Record(
        index=7,
        line=40,
        version="2.0",
        header={"H00": "1", "H01": "A"},
        mb1={"M03": "A123456789", "M04": "0730102", "M05": "3501200000", "M06": "B223456789",
             "M15": "1BYFWZQ21QQXY3B54X0L"},
        mb2=[{"D01": "1130320133912", "D05": "A001"}, {"D05": "X"}],
    )  # fmt: skip


def test_record_view_names_values_and_findings() -> None:
    findings = [Finding("M15", "AA"), Finding("D05[2]", "AF"), Finding(None, "Y000"),
                Finding("Q99", "AA")]  # fmt: skip
    view = record_view(_record(), findings, valid=False)
    assert (view.index, view.line, view.m15, view.valid) == (7, 40, "1BYFWZQ21QQXY3B54X0L", False)
    assert [r.field_id for r in view.header] == [f.id for f in segment_fields("2.0", "MSH")]
    assert [r.field_id for r in view.body] == [f.id for f in segment_fields("2.0", "MB1")]
    rows = {r.field_id: r for r in view.body}
    m15 = rows["M15"]
    assert (m15.name_zh, m15.name_en) == (by_id("2.0")["M15"].name_zh, by_id("2.0")["M15"].name_en)
    assert [f.code for f in m15.findings] == ["AA"] and m15.invalid
    assert m15.findings[0].message_zh == message("AA", "zh") == "欄位資料必填寫"
    assert rows["M08"].value is None and rows["M08"].findings == ()
    assert [len(line.rows) for line in view.orders] == [len(segment_fields("2.0", "MB2"))] * 2
    second = {r.field_id: r for r in view.orders[1].rows}
    assert [f.code for f in second["D05[2]"].findings] == ["AF"]
    assert view.orders[1].has_findings and not view.orders[0].has_findings
    # a finding on no field, or on a field the specification lacks, is shown for the record
    assert [(f.field, f.code) for f in view.record_findings] == [(None, "Y000"), ("Q99", "AA")]
    assert view.codes == ("AA", "AF", "Y000")


def test_record_view_masks_like_nhis_result_file() -> None:
    rows = {r.field_id: r for r in record_view(_record(), [], valid=True).body}
    assert (rows["M03"].value, rows["M03"].masked) == (None, "hidden")
    assert (rows["M06"].value, rows["M06"].masked) == (None, "hidden")
    assert (rows["M04"].value, rows["M04"].masked) == ("073", "year")
    assert (rows["M05"].value, rows["M05"].masked) == ("3501200000", "")


@given(st.from_regex(r"[A-Z][12][0-9]{8}", fullmatch=True))
def test_no_person_id_survives(person: str) -> None:
    rec = _record()
    rec.mb1["M03"] = person
    view = record_view(rec, [Finding("M03", "AE")], valid=False)
    shown = [r.value for r in (*view.header, *view.body) if r.value is not None]
    assert person not in shown


def test_field_name() -> None:
    assert field_name("M15", "2.0", "zh") == by_id("2.0")["M15"].name_zh
    assert field_name("M15", "2.0", "en") == by_id("2.0")["M15"].name_en
    assert field_name("D05[3]", "2.0", "zh").endswith("（第3筆醫令）")
    assert field_name("D05[3]", "2.0", "en").endswith("(order line 3)")
    assert field_name("A12", "1.0", "zh") == by_id("1.0")["A12"].name_zh
    assert field_name("Q99", "2.0", "zh") == "Q99"
    assert field_name("MB2", "2.0", "zh") == "醫令段 (MB2)"  # Y012, Y013, AG
    assert field_name("MB2", "1.0", "en") == "order segment (MB2)"
    assert field_name(None, "2.0", "zh") == ""


def test_reported_rows_leave_out_the_person_id() -> None:
    result = {
        "invalid": [{"index": 3, "line": 9, "M03": "A123456789", "M15": "X",
                     "errors": [{"field": "M15", "code": "AA"}, {"field": None, "code": "07"}]}],
        "warnings": [{"index": 5, "line": 20, "M03": "B123456789", "M15": None,
                      "errors": [{"field": "M33", "code": "D024"}]}],
    }  # fmt: skip
    rows = reported_rows(result)
    assert [(r.index, r.valid) for r in rows] == [(3, False), (5, True)]
    assert [(f.field, f.code) for f in rows[0].findings] == [("M15", "AA"), (None, "07")]
    assert rows[1].findings[0].severity == "warning"
    assert "A123456789" not in repr(rows)
    assert reported_rows({}) == []


def test_file_errors() -> None:
    errors = file_errors({"file_errors": [{"code": "Y006", "line": 812}]})
    assert errors[0].code == "Y006" and errors[0].message_zh == message("Y006", "zh")


def test_finding_view_of_unknown_code() -> None:
    f = finding_view("M01", "ZZ9")
    assert (f.severity, f.message_zh, f.listed) == ("error", "ZZ9", False)


def test_local_minute() -> None:
    import datetime as dt

    utc = dt.datetime(2024, 3, 20, 13, 0, tzinfo=dt.UTC)
    assert local_minute(utc) == "113/03/20 21:00"  # Taiwan is UTC+8
    assert local_minute(dt.datetime(2024, 3, 20, 21, 0)) == "113/03/20 21:00"
    assert local_minute(None) == ""


def test_code_label() -> None:
    assert code_label("h01", "A", "zh").startswith("A-")
    assert code_label("h01", "?", "zh") == "?"


def test_pages() -> None:
    assert pages(0, 50, 1) == (1, 0, 0)
    assert pages(120, 50, 3) == (3, 100, 120)
    assert pages(120, 50, 9) == (3, 100, 120)
    assert pages(120, 50, 0) == (1, 0, 50)
