"""The comparison report's pure part: half-up percentages, the window, the aggregation, with
the seed's sample numbers (seed 001, 健保卡2.0預檢比對健保卡1.0統計報表)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.ids.rocdate import parse_roc_date
from nhihub.reports.precheck import (
    PrecheckCount,
    build_precheck_report,
    category_label,
    half_up_percent,
    precheck_window,
)

# Seed 001, "檢視方式": per visit date (A, B, VPN, Web-API); the whole shows 29581 / 29183 = 99%.
SEED_DAYS = [
    ("1121016", 6005, 5828, 1, 5827),
    ("1121017", 6733, 6600, 1, 6599),
    ("1121018", 5600, 5535, 0, 5535),
    ("1121019", 5173, 5165, 0, 5165),
    ("1121020", 4580, 4565, 0, 4565),
    ("1121021", 1032, 1032, 0, 1032),
    ("1121022", 458, 458, 0, 458),
]
SEED_AS_OF = parse_roc_date("1121023")


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [(15110, 15172, 100), (29183, 29581, 99), (5828, 6005, 97), (1, 200, 1), (199, 200, 100),
     (0, 622, 0), (681, 681, 100), (0, 0, None)],
)  # fmt: skip
def test_half_up_percent(part: int, whole: int, shown: int | None) -> None:
    assert half_up_percent(part, whole) == shown


PAIRS = st.integers(min_value=1, max_value=10**7).flatmap(
    lambda whole: st.tuples(st.integers(min_value=0, max_value=whole), st.just(whole))
)


@given(PAIRS)
def test_half_up_percent_matches_integer_rounding(pair: tuple[int, int]) -> None:
    part, whole = pair
    assert half_up_percent(part, whole) == (200 * part + whole) // (2 * whole)


def test_window_is_the_seven_days_before_the_as_of_day() -> None:
    # Seed: the report of 1130312 shows visit dates 1130305..1130311.
    first, last = precheck_window(parse_roc_date("1130312"))
    assert (first, last) == (parse_roc_date("1130305"), parse_roc_date("1130311"))


def _seed_counts() -> list[PrecheckCount]:
    counts = []
    for day, a, b, vpn, web in SEED_DAYS:
        d = parse_roc_date(day)
        counts += [
            PrecheckCount(d, "01", None, a - b),
            PrecheckCount(d, "01", "vpn", vpn),
            PrecheckCount(d, "01", "web-api", web),
        ]
    return counts


def test_seed_sample_by_date_and_total() -> None:
    report = build_precheck_report(_seed_counts(), institution="3501200000", as_of=SEED_AS_OF)
    assert [(r.label, r.v1_success, r.matched, r.ratio_text, r.vpn, r.web_api)
            for r in report.by_date] == [
        (day, a, b, f"{half_up_percent(b, a)}%", vpn, web) for day, a, b, vpn, web in SEED_DAYS
    ]  # fmt: skip
    t = report.total
    assert (t.v1_success, t.matched, t.ratio_text, t.vpn, t.web_api) == (
        29581,
        29183,
        "99%",
        2,
        29181,
    )
    assert not report.qualified
    assert report.verdict() == "尚未符合改版資格"


def test_qualified_when_total_shows_100_percent_even_below_all_matched() -> None:
    day = SEED_AS_OF - dt.timedelta(days=1)
    counts = [PrecheckCount(day, "01", "web-api", 15110), PrecheckCount(day, "01", None, 62)]
    report = build_precheck_report(counts, institution=None, as_of=SEED_AS_OF)
    assert report.total.ratio_text == "100%"
    assert report.qualified and report.verdict("en") == "qualified for format 2.0"


def test_empty_window_shows_dash_and_never_qualifies() -> None:
    report = build_precheck_report([], institution="3501200000", as_of=SEED_AS_OF)
    assert report.total.percent is None and report.total.ratio_text == "—"
    assert report.by_date == () and report.by_category == ()
    assert not report.qualified


def test_category_rows_in_code_table_order_with_names() -> None:
    day = SEED_AS_OF - dt.timedelta(days=2)
    counts = [PrecheckCount(day, c, "vpn", n) for c, n in [("AC", 12), ("01", 193), ("ZZ", 1)]]
    counts.append(PrecheckCount(day, "06", None, 1))
    report = build_precheck_report(counts, institution=None, as_of=SEED_AS_OF)
    assert [r.label for r in report.by_category] == [
        "01-西醫門診", "06-門診轉診就醫", "AC-預防保健", "ZZ-未列代碼",
    ]  # fmt: skip
    assert [r.percent for r in report.by_category] == [100, 0, 100, 100]
    assert category_label("02", "en") == "02-dental outpatient"


def test_rows_outside_the_window_or_with_unknown_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        build_precheck_report([PrecheckCount(SEED_AS_OF, "01", None, 1)], institution=None,
                              as_of=SEED_AS_OF)  # fmt: skip
    day = SEED_AS_OF - dt.timedelta(days=1)
    with pytest.raises(ValueError, match="column"):
        build_precheck_report([PrecheckCount(day, "01", "fax", 1)], institution=None,
                              as_of=SEED_AS_OF)  # fmt: skip
