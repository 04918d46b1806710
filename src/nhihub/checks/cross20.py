"""Cross-field checks of a format-2.0 record (交叉檢核). Every value, list and limit comes from
``data/rules.json`` and the code tables, read once at import. See docs/checks.md for the field
each code is reported on and the decisions where NHI's wording leaves it open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import repeat

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
FEWEST_MAX_LINES = min(MAX_LINES.values())
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

COUNT_KINDS = frozenset(COUNT_FIELDS)

SEGMENT_MB2 = "MB2"  # field name of findings about the order segment as a whole


def _zero_or_empty(value: str | None) -> bool:
    """NHI's "0 或空白": absent, or a number equal to 0 (a non-number is AB's business).
    Only a value made of zeros and a point can be 0: other values are never parsed."""
    return value is None or (not value.strip("0.") and is_number(value))


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


ABNORMAL_M13 = code_tables.abnormal_sequence_codes()


@lru_cache(maxsize=8192)
def _sequence_codes(h01: str | None, m07: str | None, m13: str) -> tuple[str, ...]:
    """AD01, AD02, AD13, AD14, AE01: what the visit sequence number M13 gets against H01 and
    M07 (valid or ``None``). Memoised: a file holds few distinct values."""
    abnormal = m13 in ABNORMAL_M13
    if h01 == "B":
        return () if abnormal else ("AD02",)
    if h01 != "A" or m07 is None:
        return ()
    if m07 in ACCUMULATING:
        return () if _ad01_form(m13) else ("AD01",)
    if m07 == AD13_M07:
        if AD13_FORM.matches(m13):
            return ()
        return ("AD13", "AE01") if abnormal else ("AD13",)
    return ("AE01",) if abnormal else ("AD14",)


def check_cross(
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    mb2: list[dict[str, str]],
    out: list[Finding],
    facts: RecordFacts | None = None,
    fields_valid: bool = False,
    lines_passed: bool = False,
) -> None:
    """Every cross-field check of one 2.0 record. On the hot path: what the values of a few
    fields and the presence of others decide is decided once per combination
    (:func:`record_facts`, memoised); the rest reads only the fields that are there, and
    parses numbers only when needed.

    What a caller may already know (the defaults assume nothing): ``facts``, the record's
    :func:`record_facts`; ``fields_valid``, the header and MB1 passed the field-level checks,
    so their dates need no second look; ``lines_passed``, every order line passed the fast
    path with these ``facts``' line rules (fastpath.py), so only the checks that compare
    lines with MB1 or with each other are left (BE, D028, D062).
    """
    get = mb1.get
    if facts is None:
        facts = record_facts(header, mb1)
    m07, m12, content = facts.m07, facts.m12, facts.content
    # What the facts decide alone (prescription, newborn, D066, D067, Y012, Y013, D062, AH).
    if facts.findings:
        out.extend(facts.findings)
    decided = facts.with_lines if mb2 else facts.without_lines
    if decided:
        out.extend(decided)

    # -- order segment as a whole ------------------------------------------------------------
    if len(mb2) > FEWEST_MAX_LINES and len(mb2) > MAX_LINES.get(
        header.get("H00", ""), DEFAULT_MAX_LINES
    ):
        out.append(Finding(SEGMENT_MB2, "AG"))

    # -- sequence number -----------------------------------------------------------------------
    if facts.has_m13:
        m13 = mb1["M13"]
        codes = _sequence_codes(facts.h01, m07, m13)
        if codes:
            out.extend(Finding("M13", code) for code in codes)
        if m13 == D020_M13 and m12 is not None and m12 != D020_M12:
            out.append(Finding("M12", "D020"))

    # -- fees and diagnosis (AH01-AH05; what presence decides is in facts) --------------------
    if facts.fees:
        if facts.if_orders or facts.fee_due:
            for line in mb2:
                if "D02" in line:  # the record has orders
                    out.extend(facts.if_orders)
                    if facts.fee_due and _zero_or_empty(get("M44")):
                        out.append(Finding("M44", "AH01"))
                    break
        for name, code, due in facts.fee_values:
            if _zero_or_empty(mb1[name]) is due:
                out.append(Finding(name, code))

    # -- dates ---------------------------------------------------------------------------------
    m11 = get("M11")
    birth = get("M04")
    if not fields_valid:
        m11, birth = _valid_dt(m11), _valid_date(birth)
    if birth is not None:
        for name in facts.dated:  # the BG fields present
            value = mb1[name]
            if len(value) >= 7 and value[:7] < birth and date_ok(value[:7]):
                out.append(Finding(name, "BG"))
    m49 = get("M49") if facts.has_m49 else None
    if m49 is not None and not fields_valid:
        m49 = _valid_dt(m49)
    if m49 is not None:
        if m11 is not None and m49 >= m11:
            out.append(Finding("M49", "D060"))
        if m12 == D055_M12 and birth is not None:
            days = _days_between(m49, birth)
            if not D055_MORE_THAN < days <= D055_AT_MOST:
                out.append(Finding("M49", "D055"))
    if facts.has_m19:
        m19: str | None = mb1["M19"]
        if not fields_valid:
            m19 = _valid_dt(m19)
        actual = m49 or m11
        if (
            m19 is not None
            and actual is not None
            and (m19 >= actual or (m07 in D007_SAME_DAY and m19[:7] != actual[:7]))
        ):
            out.append(Finding("M19", "D007"))

    # -- order lines (without lines, D062 is decided: facts.without_lines) ---------------------
    if mb2:
        if lines_passed:
            _check_across_lines(mb2, m11, facts.positive_kinds if content else frozenset(), out)
        else:
            _check_lines(mb2, m11, facts, content, out)


PRESCRIPTION_ORDER = tuple(sorted(PRESCRIPTION_FIELDS))


@dataclass(frozen=True, slots=True, eq=False)
class LineRules:
    """How a record's MB1 shapes the checks of its order lines (D027, D033, D040, D041, D044,
    D045, D064, AA04). Built once per combination (:func:`line_rules`), so it can key caches
    by identity."""

    d044: bool  # M23 1: no drug line (D044)
    no_drug: bool  # M23 C, D: no drug line (D027)
    no_unfilled: bool  # M23 0, 6, A, B: no unfilled line (D027)
    d045: bool  # M23 2: no drug or unfilled line (D045)
    d033: bool  # M07 does not allow the D06 codes of D033
    days: float | None  # M20 as a number (D041)
    unwanted: frozenset[str]  # D04 kinds whose count field is not > 0 (D064)
    closer: frozenset[str]  # D02 values with more to check than every line gets


@lru_cache(maxsize=1024)
def line_rules(
    m07: str | None, m23: str | None, days: float | None, positive: frozenset[str]
) -> LineRules:
    """The :class:`LineRules` of a record with these (valid or ``None``) M07, M23, M20 and
    D04 kinds whose count field is > 0."""
    d044 = m23 in D044_M23
    no_drug = not d044 and m23 in D027_NO_DRUG_M23
    no_unfilled = not d044 and m23 in D027_NO_UNFILLED_M23
    d045 = m23 in D045_M23
    closer = D040_D02 | AA04_D02
    if d044:
        closer |= D044_D02
    if no_drug:
        closer |= {D027_DRUG}
    if no_unfilled:
        closer |= {D027_UNFILLED}
    if d045:
        closer |= D045_D02
    return LineRules(
        d044=d044,
        no_drug=no_drug,
        no_unfilled=no_unfilled,
        d045=d045,
        d033=m07 is not None and m07 not in D033_M07,
        days=days,
        unwanted=COUNT_KINDS - positive,
        closer=closer,
    )


@dataclass(frozen=True, slots=True, eq=False)
class RecordFacts:
    """What a record's header and MB1 decide once for the cross-field checks: the key values
    (M07 and M23 when valid codes, else ``None``), the findings their values decide, which
    fields the other checks need to read, and the rules of the order lines."""

    h01: str | None
    m07: str | None
    m12: str | None
    m23: str | None
    content: bool  # H01 is a record with visit content
    findings: tuple[Finding, ...]  # prescription, BB01, BB02, D066, D067
    with_lines: tuple[Finding, ...]  # Y013 when the record has order lines
    without_lines: tuple[Finding, ...]  # Y012, D062 when it has none
    positive_kinds: frozenset[str]  # D04 kinds whose count field (M24-M29) is > 0
    lines: LineRules
    fees: bool  # AH01-AH05 apply
    if_orders: tuple[Finding, ...]  # AH05 (M35 absent) when the record has orders
    fee_due: bool  # AH01: M44 must be more than 0 when the record has orders
    fee_values: tuple[tuple[str, str, bool], ...]  # (field, code, reported when 0 or empty)
    has_m13: bool
    has_m19: bool
    has_m49: bool
    dated: tuple[str, ...]  # the BG fields present


FACT_INPUTS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("H01",),
    ("M07", "M09", "M10", "M12", "M18", "M23", "M56", *PRESCRIPTION_ORDER),
)
"""The header and MB1 fields whose values :func:`record_facts` reads."""
FACT_PRESENCE = frozenset(
    {"M13", "M19", "M35", "M46", "M49", *BG_FIELDS, *D067_FIELDS, *AH03_FIELDS, *AH04_FIELDS}
)
"""The MB1 fields whose presence :func:`record_facts` reads."""


def record_facts(
    header: Mapping[str, str], mb1: Mapping[str, str], present: frozenset[str] | None = None
) -> RecordFacts:
    """The :class:`RecordFacts` of a 2.0 record: reads the values of :data:`FACT_INPUTS`,
    and whether the fields :data:`FACT_PRESENCE` are present (``present``: those of them that
    are, when known; else read from ``mb1``)."""
    get = mb1.get
    return _record_facts(
        header.get("H01"),
        (get("M07"), get("M09"), get("M10"), get("M12"), get("M18"), get("M23"), get("M56")),
        tuple(map(get, PRESCRIPTION_ORDER)),
        FACT_PRESENCE.intersection(mb1) if present is None else present,
    )


@lru_cache(maxsize=8192)
def _record_facts(
    h01: str | None,
    keys: tuple[str | None, ...],
    values: tuple[str | None, ...],
    present: frozenset[str],
) -> RecordFacts:
    """:func:`record_facts` (``keys``: M07, M09, M10, M12, M18, M23, M56; ``values``: of
    :data:`PRESCRIPTION_ORDER`). Memoised: a file holds few combinations."""
    m07, m09, m10, m12, m18, m23, m56 = keys
    m07 = m07 if m07 in M07_CODES else None
    m23 = m23 if m23 in M23_CODES else None
    content = h01 in CONTENT_H01
    fields = {name: v for name, v in zip(PRESCRIPTION_ORDER, values, strict=True) if v is not None}
    nums = {}
    for name, value in fields.items():
        amount = number(value)
        if amount is not None:
            nums[name] = amount
    out: list[Finding] = []
    _check_prescription(fields, nums, m07, m12, m23, content, out)
    positive = frozenset(kind for kind, f in COUNT_FIELDS.items() if nums.get(f, 0) > 0)
    # newborn (BB01, BB02)
    if m09 is not None:
        twins = int(m09) if m09.isascii() and m09.isdigit() else None
        if twins is not None and not BB01_MIN <= twins <= BB01_MAX:
            out.append(Finding("M09", "BB01"))
        order = BIRTH_ORDER.get(m10 or "")
        if order is not None and twins is not None and order > twins:
            out.append(Finding("M10", "BB02"))
    # categories and links
    if m56 is not None and m07 is not None:
        allowed = ALLOWED_M07.get(m56)
        if allowed is not None and m07 not in allowed:
            out.append(Finding("M56", "D066"))
    if m18 == D067_M18:
        out.extend(Finding(name, "D067") for name in D067_FIELDS if name in present)
    # the order segment as a whole
    with_lines, without_lines = [], []
    if content and m07 is not None:
        if m07 in Y012_M07:
            without_lines.append(Finding(SEGMENT_MB2, "Y012"))
        if m07 in Y013_M07:
            with_lines.append(Finding(SEGMENT_MB2, "Y013"))
    if content:
        without_lines.extend(Finding(COUNT_FIELDS[k], "D062") for k in sorted(positive))
    # fees and diagnosis (AH01-AH05): what presence decides (an absent fee counts as 0)
    fees = content and m07 in AH_M07
    if_orders, fee_values = [], []
    if fees:
        if m07 in AH05_M07 and "M35" not in present:
            if_orders.append(Finding("M35", "AH05"))
        if m07 in AH02_M07:  # M46 must not be 0 or empty
            if "M46" in present:
                fee_values.append(("M46", "AH02", True))
            else:
                out.append(Finding("M46", "AH02"))
        for code, m07_values, names in (
            ("AH03", AH03_M07, AH03_FIELDS),
            ("AH04", AH04_M07, AH04_FIELDS),
        ):  # these must be 0 or empty
            if m07 in m07_values:
                fee_values.extend((name, code, False) for name in names if name in present)
    return RecordFacts(
        h01=h01,
        m07=m07,
        m12=m12,
        m23=m23,
        content=content,
        findings=tuple(out),
        with_lines=tuple(with_lines),
        without_lines=tuple(without_lines),
        positive_kinds=positive,
        lines=line_rules(m07, m23, nums.get("M20"), positive),
        fees=fees,
        if_orders=tuple(if_orders),
        fee_due=fees and m07 in AH01_M07,
        fee_values=tuple(fee_values),
        has_m13="M13" in present,
        has_m19="M19" in present,
        has_m49="M49" in present,
        dated=tuple(name for name in BG_FIELDS if name in present),
    )


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
    mb2: list[dict[str, str]],
    m11: str | None,
    facts: RecordFacts,
    content: bool,
    out: list[Finding],
) -> None:
    """The checks of each order line: BE, D027, D028, D033, D040, D041, D044, D045, D064 and
    AA04, and D062 (a kind MB1 says may be dispensed needs a line of that kind). ``m11``: the
    visit date-time when valid."""
    rules = facts.lines
    d044, no_drug, no_unfilled, d045 = rules.d044, rules.no_drug, rules.no_unfilled, rules.d045
    d033, m20, unwanted, closer = rules.d033, rules.days, rules.unwanted, rules.closer
    wanted: set[str | None] | None = set(facts.positive_kinds) if content else None
    seen: set[str] = set()
    for n, line in enumerate(mb2, 1):
        get = line.get
        d01 = get("D01")
        if d01 != m11 and m11 is not None and d01 is not None and _valid_dt(d01) is not None:
            out.append(Finding(f"D01[{n}]", "BE"))
        d03 = get("D03")
        if d03 is not None:
            if d03 in seen:
                out.append(Finding(f"D03[{n}]", "D028"))
            seen.add(d03)
        d04 = get("D04")
        if wanted:
            wanted.discard(d04)  # D062: kinds no line has shown yet
        d02 = get("D02")
        if d02 is None:
            continue
        if d04 in unwanted:
            out.append(Finding(f"D04[{n}]", "D064"))
        if d033 and get("D06") in D033_D06:
            out.append(Finding(f"D06[{n}]", "D033"))
        if d02 not in closer:
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
                days = _GOOD_DAYS.get(d09)  # the usual values, within D040's range
                if days is None:
                    days = _days(d09)  # None: not a number (AB's business)
                    if days is not None and not 0 < days <= D040_MAX:
                        out.append(Finding(f"D09[{n}]", "D040"))
                        days = None
                if days is not None and m20 is not None and days > m20 and d02 in D041_D02:
                    out.append(Finding(f"D09[{n}]", "D041"))
        if d02 in AA04_D02:
            total = get(AA04_FIELD)
            # "> 0" fails only for text made of zeros and a point (when it is a number at all)
            if total is not None and not total.strip("0.") and is_number(total):
                out.append(Finding(f"{AA04_FIELD}[{n}]", "AA04"))
    if wanted:
        out.extend(Finding(COUNT_FIELDS[kind], "D062") for kind in wanted)  # type: ignore[index]


# D09 as written on most drug lines ("7", "07", ... up to D040's limit) -> the days.
_GOOD_DAYS: dict[str, float] = {
    text: n for n in range(1, D040_MAX + 1) for text in (str(n), f"{n:02d}")
}


@lru_cache(maxsize=1024)
def _days(value: str) -> float | None:
    """D09 as a number (memoised: a few values recur on every drug line)."""
    return int(value) if value.isdigit() and value.isascii() else number(value)


def _check_across_lines(
    mb2: list[dict[str, str]], m11: str | None, positive: frozenset[str], out: list[Finding]
) -> None:
    """The checks of :func:`_check_lines` that compare the lines with MB1 or with each other:
    BE, D028 and D062 (``positive``: the D04 kinds a line must show). Each is first tested on
    the whole column at once (C loops); the lines are looked at only when one fails."""
    column = partial(map, dict.get, mb2)
    if m11 is not None and not {m11, None}.issuperset(column(repeat("D01"))):
        for n, line in enumerate(mb2, 1):
            d01 = line.get("D01")
            if d01 is not None and d01 != m11 and _valid_dt(d01) is not None:
                out.append(Finding(f"D01[{n}]", "BE"))
    numbers = [*column(repeat("D03"))]  # lines without D03 (None) only cost a closer look
    if len(set(numbers)) != len(numbers):
        seen: set[str] = set()
        for n, d03 in enumerate(numbers, 1):
            if d03 is not None:
                if d03 in seen:
                    out.append(Finding(f"D03[{n}]", "D028"))
                seen.add(d03)
    if positive:
        for kind in positive.difference(column(repeat("D04"))):
            out.append(Finding(COUNT_FIELDS[kind], "D062"))


# What line_variants asks of a field's value: to be one of, or none of, some texts, or not
# to match a regex (text).
Constraint = tuple[str, frozenset[str] | str]
ONE_OF, NONE_OF, NOT_LIKE = "one of", "none of", "not like"
_ZERO = r"[0.]*"  # AA04: a number made of zeros


@lru_cache(maxsize=1024)
def line_variants(
    rules: LineRules, names: frozenset[str]
) -> tuple[dict[str, tuple[Constraint, ...]], ...]:
    """What an order line holding the fields ``names`` must meet to get none of the findings of
    :func:`_check_lines` but BE, D028 and D062: alternatives (one per D02 value with more to
    check, one for the other values), each mapping a field to the constraints on its value.
    No alternative: no line of this layout can meet them. Used to compile the fast path."""
    if "D02" not in names:
        return ({},)  # the checks need the order type
    common: dict[str, tuple[Constraint, ...]] = {}
    if "D04" in names and rules.unwanted:
        common["D04"] = ((NONE_OF, rules.unwanted),)
    if rules.d033 and "D06" in names:
        common["D06"] = ((NONE_OF, D033_D06),)
    variants = [{**common, "D02": ((NONE_OF, rules.closer),)}]
    for d02 in sorted(rules.closer):
        variant = _order_type_variant(rules, d02, names)
        if variant is not None:
            variants.append({**common, "D02": ((ONE_OF, frozenset({d02})),), **variant})
    return tuple(variants)


def _order_type_variant(
    rules: LineRules, d02: str, names: frozenset[str]
) -> dict[str, tuple[Constraint, ...]] | None:
    """The constraints of :func:`line_variants` on a line of order type ``d02`` (mirrors
    :func:`_check_lines`); ``None`` when such a line always gets a finding."""
    out: dict[str, tuple[Constraint, ...]] = {}
    exempt_needed = (rules.d044 and d02 in D044_D02) or (rules.no_drug and d02 == D027_DRUG)
    if exempt_needed:  # D044 / D027 unless the route is an injection
        if "D14" not in names:
            return None
        out["D14"] = ((ONE_OF, EXEMPT_ROUTES),)
    if rules.no_unfilled and d02 == D027_UNFILLED:
        return None  # D027
    if rules.d045 and d02 in D045_D02:
        return None  # D045
    if d02 in D040_D02:  # D040: the days the usual way (others go the slow way), D041
        if "D09" not in names:
            return None
        most = rules.days if rules.days is not None and d02 in D041_D02 else D040_MAX
        days = frozenset(text for text, n in _GOOD_DAYS.items() if n <= most)
        if not days:
            return None
        out["D09"] = ((ONE_OF, days),)
    if d02 in AA04_D02 and "D10" in names:
        out["D10"] = ((NOT_LIKE, _ZERO),)
    return out
