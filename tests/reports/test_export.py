from __future__ import annotations

import csv
import datetime as dt
import io

from hypothesis import given
from hypothesis import strategies as st

from nhihub.reports.export import mask_person_id, results_csv, unmatched_csv
from nhihub.reports.precheck import PrecheckCount, UnmatchedRecord, build_precheck_report

AS_OF = dt.date(2024, 3, 21)


def test_mask_keeps_three_at_each_end() -> None:
    assert mask_person_id("A123456789") == "A12****789"
    assert mask_person_id("AB12") == "****"


@given(st.text(alphabet="ABCDEFGHJ0123456789", min_size=7, max_size=12))
def test_mask_hides_the_middle_and_keeps_the_length(value: str) -> None:
    masked = mask_person_id(value)
    assert len(masked) == len(value) and masked[:3] == value[:3] and masked[-3:] == value[-3:]
    assert set(masked[3:-3]) == {"*"}


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf") and b"\r\n" in content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_results_csv_lists_total_dates_and_categories() -> None:
    day = AS_OF - dt.timedelta(days=1)
    report = build_precheck_report(
        [PrecheckCount(day, "01", "web-api", 3), PrecheckCount(day, "01", None, 1)],
        institution="3501200000", as_of=AS_OF,
    )  # fmt: skip
    rows = _rows(results_csv(report))
    assert rows[0][0].startswith("醫事機構代碼")
    assert rows[1:] == [
        ["3501200000", "合計", "", "4", "3", "75%", "0", "3"],
        ["3501200000", "就醫日期(過卡日期)", "1130320", "4", "3", "75%", "0", "3"],
        ["3501200000", "就醫類別", "01-西醫門診", "4", "3", "75%", "0", "3"],
    ]


def test_unmatched_csv_masks_ids_and_marks_missing_raw() -> None:
    records = [UnmatchedRecord(7, 2, "3501200000", dt.datetime(2024, 3, 20, 9, 5, 1), "AC"),
               UnmatchedRecord(8, 1, "3501200000", None, None)]  # fmt: skip
    rows = _rows(unmatched_csv(records, {(7, 2): "A123456789", (8, 1): None}))
    assert rows[1] == ["3501200000", "7", "2", "1130320090501", "AC", "預防保健", "A12****789"]
    assert rows[2][:5] == ["3501200000", "8", "1", "", ""] and "原始檔" in rows[2][6]
