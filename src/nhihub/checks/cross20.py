"""Cross-field checks of a format-2.0 record (交叉檢核). Every value, list and limit comes from
``data/rules.json`` and the code tables, read once at import. See docs/checks.md for the field
each code is reported on and the decisions where NHI's wording leaves it open.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from nhihub.checks.fieldlevel import date_ok, datetime_ok, is_number, number
from nhihub.checks.rules import rules
from nhihub.formats.model import Finding
from nhihub.ids.rocdate import parse_roc_date
from nhihub.specs import codes as code_tables

_R = rules()


def _set(values: list[str]) -> frozenset[str]:
    return frozenset(values)


CONTENT_H01 = _set(_R["content"]["H01"])
M07_CODES = code_tables.codes("m07")
M23_CODES = code_tables.codes("m23")
ACCUMULATING = code_tables.accumulating_categories()
REPLACEMENT = code_tables.replacement_marks()
ALLOWED_M07 = code_tables.allowed_categories()
BIRTH_ORDER = code_tables.birth_order()
COUNT_FIELDS = code_tables.order_count_fields()  # D04 -> M24..M29
MAX_LINES = code_tables.max_order_lines()
DEFAULT_MAX_LINES = max(MAX_LINES.values())
_FORMS = {f.kind: f for f in code_tables.sequence_forms()}

AD01_FORMS = tuple(_FORMS[k] for k in (_R["AD01"]["form"], *_R["AD01"]["also"]))
AD13_M07: str = _R["AD13"]["M07"]
AD13_FORM = _FORMS[_R["AD13"]["form"]]
AH01_M07 = _set(_R["AH01"]["M07"])
AH02_M07 = _set(_R["AH02"]["M07"])
AH03_M07 = _set(_R["AH03"]["M07"])
AH03_FIELDS: tuple[str, ...] = tuple(_R["AH03"]["fields"])
AH04_M07 = _set(_R["AH04"]["M07"])
AH04_FIELDS: tuple[str, ...] = tuple(_R["AH04"]["fields"])
AH05_M07 = _set(_R["AH05"]["M07"])
BB01_MIN: int = _R["BB01"]["min"]
BB01_MAX: int = _R["BB01"]["max"]
BG_FIELDS: tuple[str, ...] = tuple(_R["BG"]["2.0"])
D007_SAME_DAY = _set(_R["D007"]["same_day_M07"])
D008_FIELDS: tuple[str, ...] = tuple(_R["D008"]["fields"])
D011_M23 = _set(_R["D011"]["M23"])
D013_FIELDS: tuple[str, ...] = tuple(_R["D013"]["fields"])
D013_VALUES = frozenset(float(v) for v in _R["D013"]["values"])
# (total field, count field, max, code when the total is > 1, code when it is empty or 0)
REFILL_RULES: tuple[tuple[str, str, int, str, str], ...] = tuple(
    (_R[c]["total"], _R[c]["count"], int(_R[c]["max"]), c, _R[c]["absent_code"])
    for c in ("D014", "D017")
)
D020_M13: str = _R["D020"]["M13"]
D020_M12: str = _R["D020"]["M12"]
D021_NOT_M07 = _set(_R["D021"]["not_M07"])
D021_PAIRS: tuple[tuple[str, str, str], ...] = tuple((a, b, c) for a, b, c in _R["D021"]["pairs"])
D027 = _R["D027"]
D027_NO_DRUG_M23 = _set(D027["no_drug_M23"])
D027_NO_UNFILLED_M23 = _set(D027["no_unfilled_M23"])
D027_DRUG: str = D027["drug"]
D027_UNFILLED: str = D027["unfilled"]
EXEMPT_ROUTES = _set(D027["exempt_routes"])
D033_D06 = _set(_R["D033"]["D06"])
D033_M07 = _set(_R["D033"]["M07"])
D036_M23 = _set(_R["D036"]["M23"])
D040_D02 = _set(_R["D040"]["D02"])
D040_MAX: int = _R["D040"]["max"]
D041_D02 = _set(_R["D041"]["D02"])
D043_M23 = _set(_R["D043"]["M23"])
D043_PAIRS: tuple[tuple[str, str], ...] = tuple((a, b) for a, b in _R["D043"]["pairs"])
D044_M23 = _set(_R["D044"]["M23"])
D044_D02 = _set(_R["D044"]["D02"])
D045_M23 = _set(_R["D045"]["M23"])
D045_D02 = _set(_R["D045"]["D02"])
D055_M12: str = _R["D055"]["M12"]
D055_MORE_THAN: int = _R["D055"]["more_than_days"]
D055_AT_MOST: int = _R["D055"]["at_most_days"]
D059_FIELDS: tuple[str, ...] = tuple(_R["D059"]["fields"])
D067_M18: str = _R["D067"]["M18"]
D067_FIELDS: tuple[str, ...] = tuple(_R["D067"]["fields"])
Y012_M07 = _set(_R["Y012"]["M07"])
Y013_M07 = _set(_R["Y013"]["M07"])
AA04_D02 = _set(_R["AA04"]["D02"])
AA04_FIELD: str = _R["AA04"]["field"]

AH_M07 = AH01_M07 | AH02_M07 | AH03_M07 | AH04_M07 | AH05_M07
# MB1 number fields the prescription checks read (parsed once per record).
PRESCRIPTION_FIELDS = frozenset(
    {
        "M20",
        *D008_FIELDS,
        *D013_FIELDS,
        *(f for rule in REFILL_RULES for f in rule[:2]),
        *(f for pair in D021_PAIRS for f in pair),
        *(f for pair in D043_PAIRS for f in pair),
        *D059_FIELDS,
        *COUNT_FIELDS.values(),
    }
)

COUNT_FIELD_SET = frozenset(COUNT_FIELDS.values())

SEGMENT_MB2 = "MB2"  # field name of findings about the order segment as a whole


def _zero_or_empty(value: str | None) -> bool:
    """NHI's "0 或空白": absent, or a number equal to 0 (a non-number is AB's business)."""
    if value is None:
        return True
    n = number(value)
    return n is not None and n == 0


def _days_between(later: str, earlier: str) -> int:
    """Days from ``earlier`` to ``later`` (ROC dates or date-times, already known valid)."""
    return (parse_roc_date(later[:7]) - parse_roc_date(earlier[:7])).days


def _valid_dt(value: str | None) -> str | None:
    return value if value is not None and len(value) == 13 and datetime_ok(value) else None


def _valid_date(value: str | None) -> str | None:
    return value if value is not None and len(value) == 7 and date_ok(value) else None


@lru_cache(maxsize=8192)
def _ad01_form(m13: str) -> bool:
    """M13 has one of the forms AD01 accepts (memoised: a file holds few distinct values)."""
    return any(f.matches(m13) for f in AD01_FORMS)


def check_sequence(h01: str | None, m07: str | None, m13: str | None, out: list[Finding]) -> None:
    """AD01, AD02, AD13, AD14, AE01: the visit sequence number M13 against H01 and M07."""
    if m13 is None:
        return  # required or not: requirements-2.0.tsv
    abnormal = m13 in code_tables.abnormal_sequence_codes()
    if h01 == "B":
        if not abnormal:
            out.append(Finding("M13", "AD02"))
        return
    if h01 != "A" or m07 is None:
        return
    if m07 in ACCUMULATING:
        if not _ad01_form(m13):
            out.append(Finding("M13", "AD01"))
    elif m07 == AD13_M07:
        if not AD13_FORM.matches(m13):
            out.append(Finding("M13", "AD13"))
            if abnormal:
                out.append(Finding("M13", "AE01"))
    elif abnormal:
        out.append(Finding("M13", "AE01"))
    else:
        out.append(Finding("M13", "AD14"))


def check_cross(
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    mb2: list[dict[str, str]],
    out: list[Finding],
) -> None:
    """Every cross-field check of one 2.0 record. On the hot path: groups of checks are entered
    only when a field they read is present, and numbers are parsed once."""
    get = mb1.get
    h01 = header.get("H01")
    m07 = get("M07")
    if m07 not in M07_CODES:
        m07 = None
    m23 = get("M23")
    if m23 not in M23_CODES:
        m23 = None
    m12 = get("M12")
    m13 = get("M13")
    content = h01 in CONTENT_H01

    # -- order segment as a whole ------------------------------------------------------------
    if len(mb2) > MAX_LINES.get(header.get("H00", ""), DEFAULT_MAX_LINES):
        out.append(Finding(SEGMENT_MB2, "AG"))
    if content and m07 is not None:
        if not mb2 and m07 in Y012_M07:
            out.append(Finding(SEGMENT_MB2, "Y012"))
        if mb2 and m07 in Y013_M07:
            out.append(Finding(SEGMENT_MB2, "Y013"))

    # -- sequence number -----------------------------------------------------------------------
    if m13 is not None:
        check_sequence(h01, m07, m13, out)
        if m13 == D020_M13 and m12 is not None and m12 != D020_M12:
            out.append(Finding("M12", "D020"))

    # -- fees and diagnosis (AH01-AH05) --------------------------------------------------------
    if content and m07 in AH_M07:
        has_orders = False
        for line in mb2:
            if "D02" in line:
                has_orders = True
                break
        if m07 in AH01_M07 and has_orders and _zero_or_empty(get("M44")):
            out.append(Finding("M44", "AH01"))
        if m07 in AH05_M07 and has_orders and get("M35") is None:
            out.append(Finding("M35", "AH05"))
        if m07 in AH02_M07 and _zero_or_empty(get("M46")):
            out.append(Finding("M46", "AH02"))
        if m07 in AH03_M07:
            for name in AH03_FIELDS:
                if not _zero_or_empty(get(name)):
                    out.append(Finding(name, "AH03"))
        if m07 in AH04_M07:
            for name in AH04_FIELDS:
                if not _zero_or_empty(get(name)):
                    out.append(Finding(name, "AH04"))

    # -- newborn (BB01, BB02) ------------------------------------------------------------------
    m09 = get("M09")
    if m09 is not None:
        twins = int(m09) if m09.isascii() and m09.isdigit() else None
        if twins is not None and not BB01_MIN <= twins <= BB01_MAX:
            out.append(Finding("M09", "BB01"))
        order = BIRTH_ORDER.get(get("M10", ""))
        if order is not None and twins is not None and order > twins:
            out.append(Finding("M10", "BB02"))

    # -- dates ---------------------------------------------------------------------------------
    m11 = _valid_dt(get("M11"))
    birth = _valid_date(get("M04"))
    if birth is not None:
        for name in BG_FIELDS:
            value = get(name)
            if value is not None and value[:7] < birth and len(value) >= 7 and date_ok(value[:7]):
                out.append(Finding(name, "BG"))
    m49 = _valid_dt(get("M49"))
    if m49 is not None:
        if m11 is not None and m49 >= m11:
            out.append(Finding("M49", "D060"))
        if m12 == D055_M12 and birth is not None:
            days = _days_between(m49, birth)
            if not D055_MORE_THAN < days <= D055_AT_MOST:
                out.append(Finding("M49", "D055"))
    m19 = _valid_dt(get("M19"))
    actual = m49 or m11
    if (
        m19 is not None
        and actual is not None
        and (m19 >= actual or (m07 in D007_SAME_DAY and m19[:7] != actual[:7]))
    ):
        out.append(Finding("M19", "D007"))
    if m11 is not None:
        for n, line in enumerate(mb2, 1):
            d01 = line.get("D01")
            if d01 is not None and d01 != m11 and _valid_dt(d01) is not None:
                out.append(Finding(f"D01[{n}]", "BE"))

    # -- prescription days and refills ---------------------------------------------------------
    nums: dict[str, float] = {}
    present = PRESCRIPTION_FIELDS.intersection(mb1)
    if present:
        for name in present:
            amount = number(mb1[name])
            if amount is not None:
                nums[name] = amount
        _check_prescription(mb1, nums, m07, m12, m23, content, out)
        if content and not COUNT_FIELD_SET.isdisjoint(nums):
            kinds_used = {line.get("D04") for line in mb2}
            for kind, count_field in COUNT_FIELDS.items():
                if nums.get(count_field, 0) > 0 and kind not in kinds_used:
                    out.append(Finding(count_field, "D062"))

    # -- categories and links ------------------------------------------------------------------
    m56 = get("M56")
    if m56 is not None and m07 is not None:
        allowed = ALLOWED_M07.get(m56)
        if allowed is not None and m07 not in allowed:
            out.append(Finding("M56", "D066"))
    if get("M18") == D067_M18:
        for name in D067_FIELDS:
            if name in mb1:
                out.append(Finding(name, "D067"))

    # -- order lines ---------------------------------------------------------------------------
    if mb2:
        _check_lines(nums, mb2, m07, m23, nums.get("M20"), out)


def _check_prescription(
    mb1: Mapping[str, str],
    nums: Mapping[str, float],
    m07: str | None,
    m12: str | None,
    m23: str | None,
    content: bool,
    out: list[Finding],
) -> None:
    """D008, D011, D013-D015, D017, D018, D021, D036, D043, D059 (numbers of MB1)."""
    m20 = nums.get("M20")
    if m20 is not None:
        if m20 > 0:
            for name in D008_FIELDS:
                total = nums.get(name)
                if total is not None and total > 0 and total % m20 != 0:
                    out.append(Finding(name, "D008"))
        if m20 > 1 and m23 in D011_M23:
            out.append(Finding("M23", "D011"))
        if m23 in D036_M23 and m20 != 0:
            out.append(Finding("M20", "D036"))
    for name in D013_FIELDS:
        amount = nums.get(name)
        if amount is not None and amount not in D013_VALUES:
            out.append(Finding(name, "D013"))
    for total_field, count_field, most, code_set, code_absent in REFILL_RULES:
        total = nums.get(total_field)
        count = nums.get(count_field)
        if total is not None and total > 1:
            if content and (count is None or not 1 < count <= most):
                out.append(Finding(count_field, code_set))
        elif not total and count is not None and count > 0:
            out.append(Finding(count_field, code_absent))
    if m07 is not None and m07 not in D021_NOT_M07:
        for done_field, total_field, count_field in D021_PAIRS:
            done = nums.get(done_field)
            if done is not None and done >= 1:
                total = nums.get(total_field)
                count = nums.get(count_field)
                if total is None or total <= 0 or count is None or count <= 1:
                    out.append(Finding(done_field, "D021"))
    if m23 in D043_M23:
        for total_field, done_field in D043_PAIRS:
            total = nums.get(total_field)
            if total is not None and total > 1 and not _zero_or_empty(mb1.get(done_field)):
                out.append(Finding(done_field, "D043"))
    if m12 in REPLACEMENT:
        for name in D059_FIELDS:
            if nums.get(name, 0) > 0:
                out.append(Finding(name, "D059"))


def _check_lines(
    nums: Mapping[str, float],
    mb2: list[dict[str, str]],
    m07: str | None,
    m23: str | None,
    m20: float | None,
    out: list[Finding],
) -> None:
    # What M23 and M07 demand of the lines, decided once for the record.
    d044 = m23 in D044_M23
    no_drug = not d044 and m23 in D027_NO_DRUG_M23
    no_unfilled = not d044 and m23 in D027_NO_UNFILLED_M23
    d045 = m23 in D045_M23
    d033 = m07 is not None and m07 not in D033_M07
    seen: set[str] = set()
    for n, line in enumerate(mb2, 1):
        get = line.get
        d03 = get("D03")
        if d03 is not None:
            if d03 in seen:
                out.append(Finding(f"D03[{n}]", "D028"))
            seen.add(d03)
        d02 = get("D02")
        if d02 is None:
            continue
        if d044:
            if d02 in D044_D02 and get("D14") not in EXEMPT_ROUTES:
                out.append(Finding(f"D02[{n}]", "D044"))
        elif (no_drug and d02 == D027_DRUG and get("D14") not in EXEMPT_ROUTES) or (
            no_unfilled and d02 == D027_UNFILLED
        ):
            out.append(Finding(f"D02[{n}]", "D027"))
        if d045 and d02 in D045_D02:
            out.append(Finding(f"D02[{n}]", "D045"))
        if d02 in D040_D02:
            d09 = get("D09")
            if d09 is None:
                out.append(Finding(f"D09[{n}]", "D040"))
            else:
                days = int(d09) if d09.isdigit() and d09.isascii() else number(d09)
                if days is not None:
                    if not 0 < days <= D040_MAX:
                        out.append(Finding(f"D09[{n}]", "D040"))
                    elif m20 is not None and days > m20 and d02 in D041_D02:
                        out.append(Finding(f"D09[{n}]", "D041"))
        if d02 in AA04_D02:
            total = get(AA04_FIELD)
            # "> 0" fails only for text made of zeros and a point (when it is a number at all)
            if total is not None and not total.strip("0.") and is_number(total):
                out.append(Finding(f"{AA04_FIELD}[{n}]", "AA04"))
        d04 = get("D04")
        if d04 is not None:
            count_field = COUNT_FIELDS.get(d04)
            if count_field is not None and nums.get(count_field, 0) <= 0:
                out.append(Finding(f"D04[{n}]", "D064"))
        if d033 and get("D06") in D033_D06:
            out.append(Finding(f"D06[{n}]", "D033"))
