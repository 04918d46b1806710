"""Checks of single fields: type (AB), length (AC), real dates (AD), not after the upload time
(BD), code tables (AE and the specific codes of rules.json ``code_lists``), person IDs and
institution codes (AC / AE). Also the requirement rules (AA / AF and friends).

Runs on the hot path: everything is looked up in precomputed tables, findings are built only
for problems, and messages are never built here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from typing import Any

from nhihub.checks.rules import (
    TYPE_DATE,
    TYPE_DATETIME,
    TYPE_DIGITS,
    TYPE_NUMBER,
    Demands,
    FieldRule,
    Plan,
    field_rules,
)
from nhihub.formats.model import Finding
from nhihub.ids import is_valid_institution_code, is_valid_person_id
from nhihub.ids.rocdate import is_roc_date, is_roc_datetime

# Order lines are not compared with the upload time: their D01 must equal M11 (BE), which is.
_NEVER = "9999999999999"

PERSON_ID_LENGTH = 10
INSTITUTION_CODE_LENGTH = 10

# Memoised pure tests: the same dates recur on every order line and across records, and a file
# holds few institutions and staff members. Patient IDs (M03) are never memoised.
date_ok = lru_cache(maxsize=8192)(is_roc_date)
datetime_ok = lru_cache(maxsize=65536)(is_roc_datetime)
staff_id_ok = lru_cache(maxsize=8192)(is_valid_person_id)
institution_code_ok = lru_cache(maxsize=8192)(is_valid_institution_code)
_ID_TESTS: dict[str, Callable[[str], bool]] = {
    "person": is_valid_person_id,
    "staff": staff_id_ok,
    "institution": institution_code_ok,
}


def is_number(value: str) -> bool:
    """Digits with at most one decimal point (``00021.0``); no sign, no exponent."""
    if not value.isascii():
        return False
    if value.isdigit():
        return True
    head, dot, tail = value.partition(".")
    return bool(dot) and (head.isdigit() or not head) and tail.isdigit()


def number(value: str | None) -> float | None:
    """The value of a number field, or ``None`` when empty or not a number."""
    if value is None or not is_number(value):
        return None
    return float(value)


# Fast-path kinds of :func:`fast_rules`: the common valid case costs one or two C calls; anything
# else goes through :func:`_check_value`, which finds the exact code.
_PLAIN, _CODED, _DIGITS, _NUMBER, _DATETIME, _DATE, _ID = range(7)
_NO_LIMIT = 1 << 30
_DECIMAL = re.compile(r"[0-9]*\.[0-9]+").fullmatch

FastRule = tuple[int, int, Any, FieldRule]


@cache
def fast_rules(version: str) -> Mapping[str, FastRule]:
    """Field id -> (fast-path kind, length, codes, rule), precomputed once per version."""
    out: dict[str, FastRule] = {}
    for name, rule in field_rules(version).items():
        length = rule.length if rule.length is not None else _NO_LIMIT
        extra: Any = rule.codes
        if rule.identifier:
            kind = _ID
            extra = _ID_TESTS[rule.identifier]
            length = (
                INSTITUTION_CODE_LENGTH if rule.identifier == "institution" else PERSON_ID_LENGTH
            )
        elif rule.codes is not None:
            kind = _CODED
        elif rule.type == TYPE_DATETIME:
            kind = _DATETIME
        elif rule.type == TYPE_DATE:
            kind = _DATE
        elif rule.type == TYPE_DIGITS:
            kind = _DIGITS
        elif rule.type == TYPE_NUMBER:
            kind = _NUMBER
        else:
            kind = _PLAIN
        out[name] = (kind, length, extra, rule)
    return out


def check_fields(
    values: Mapping[str, str],
    rules: Mapping[str, FastRule],
    as_of_roc: str,
    out: list[Finding],
    line: int = 0,
) -> None:
    """Field-level checks of one segment's fields (``line``: 1-based MB2 line, 0 for header
    and MB1). One finding per field at most: the first problem found. BD (after the upload
    time) applies to header and MB1 dates only."""
    as_of = as_of_roc if not line else _NEVER
    get = rules.get
    for name, value in values.items():
        r = get(name)
        if r is None:
            continue  # unknown tags are the reader's (Y004)
        kind = r[0]
        if kind == _PLAIN:
            if len(value) <= r[1]:
                continue
        elif kind == _CODED:
            if value in r[2]:
                continue
        elif kind == _DATETIME:
            if len(value) == 13 and datetime_ok(value):
                if value > as_of:
                    out.append(Finding(f"{name}[{line}]" if line else name, "BD"))
                continue
        elif kind == _DATE:
            if len(value) == 7 and date_ok(value):
                if value > as_of[:7]:
                    out.append(Finding(f"{name}[{line}]" if line else name, "BD"))
                continue
        elif kind == _NUMBER:
            if len(value) <= r[1] and ((value.isdigit() and value.isascii()) or _DECIMAL(value)):
                continue
        elif kind == _DIGITS:
            if len(value) == r[1] and value.isdigit() and value.isascii():
                continue
        elif kind == _ID and len(value) == r[1] and r[2](value):
            continue
        code = _check_value(r[3], value, as_of)
        if code is not None:
            out.append(Finding(f"{name}[{line}]" if line else name, code))


def _check_value(rule: FieldRule, value: str, as_of_roc: str) -> str | None:
    """The exact code for one field value (the slow path of :func:`check_fields`)."""
    kind = rule.type
    length = rule.length
    if kind in (TYPE_DATETIME, TYPE_DATE):
        if not (value.isascii() and value.isdigit()):
            return "AB"
        if len(value) != length:
            return "AC"
        if kind == TYPE_DATETIME:
            if not datetime_ok(value):
                return "AD"
            if value > as_of_roc:
                return "BD"
        else:
            if not date_ok(value):
                return "AD"
            if value > as_of_roc[:7]:
                return "BD"
        return None
    if kind == TYPE_DIGITS:
        if not (value.isascii() and value.isdigit()):
            return "AB"
        if length is not None and len(value) != length:
            return "AC"
    elif kind == TYPE_NUMBER:
        if not is_number(value):
            return "AB"
        if length is not None and len(value) > length:
            return "AC"
    elif length is not None and len(value) > length:
        return "AC"
    if rule.codes is not None:
        return None if value in rule.codes else rule.code_error
    ident = rule.identifier
    if ident == "person" or ident == "staff":
        if len(value) != PERSON_ID_LENGTH:
            return "AC"
        if not (staff_id_ok(value) if ident == "staff" else is_valid_person_id(value)):
            return "AE"
    elif ident == "institution":
        if len(value) != INSTITUTION_CODE_LENGTH:
            return "AC"
        if not institution_code_ok(value):
            return "AE"
    return None


def check_requirements(
    plan: Plan,
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    mb2: list[dict[str, str]],
    out: list[Finding],
) -> None:
    """AA / AF (and the specific codes of requirements-<version>.tsv). Empty fields must have
    been dropped by the caller. The usual case (nothing missing, nothing forbidden) costs a few
    set comparisons."""
    required, forbidden = plan.required_codes, plan.forbidden_codes
    for fields, seg in ((plan.header_required, header), (plan.mb1_required, mb1)):
        if not seg.keys() >= fields:
            out.extend(Finding(name, required[name]) for name in fields - seg.keys())
    for fields, seg in ((plan.header_forbidden, header), (plan.mb1_forbidden, mb1)):
        if not seg.keys().isdisjoint(fields):
            out.extend(Finding(name, forbidden[name]) for name in fields & seg.keys())
    for field, is_required, code, conditions in plan.record_rules:
        if (field in mb1 or field in header) is is_required:
            continue
        for cond_field, values, negate in conditions:
            value = mb1.get(cond_field) or header.get(cond_field)
            if value is None or (values is not None and (value in values) == negate):
                break
        else:
            out.append(Finding(field, code))
    if not mb2:
        return
    line_req, line_forb, line_rules = plan.line_required, plan.line_forbidden, plan.line_rules
    for n, line in enumerate(mb2, 1):
        keys = line.keys()
        if not keys >= line_req:
            out.extend(Finding(f"{name}[{n}]", required[name]) for name in line_req - keys)
        if not keys.isdisjoint(line_forb):
            out.extend(Finding(f"{name}[{n}]", forbidden[name]) for name in line_forb & keys)
        for field, is_required, code, conditions in line_rules:
            if (field in line) is is_required:
                continue
            for cond_field, values, negate in conditions:
                value = line.get(cond_field) or mb1.get(cond_field) or header.get(cond_field)
                if value is None or (values is not None and (value in values) == negate):
                    break
            else:
                out.append(Finding(f"{field}[{n}]", code))


def check_demands(
    demands: Demands,
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    mb2: list[dict[str, str]],
    out: list[Finding],
) -> None:
    """:func:`check_requirements` for a record whose fields all sit in their own segment, with
    the rules decided for it (:func:`~nhihub.checks.rules.demands`)."""
    required, forbidden = demands.required, demands.forbidden
    for fields, seg in ((demands.header_required, header), (demands.mb1_required, mb1)):
        if not seg.keys() >= fields:
            out.extend(Finding(n, code) for n in fields - seg.keys() for code in required[n])
    for fields, seg in ((demands.header_forbidden, header), (demands.mb1_forbidden, mb1)):
        if not seg.keys().isdisjoint(fields):
            out.extend(Finding(n, code) for n in fields & seg.keys() for code in forbidden[n])
    if not mb2:
        return
    line_req, line_forb, line_rules = (
        demands.line_required,
        demands.line_forbidden,
        demands.line_rules,
    )
    for n, line in enumerate(mb2, 1):
        keys = line.keys()
        if not keys >= line_req:
            out.extend(
                Finding(f"{name}[{n}]", code) for name in line_req - keys for code in required[name]
            )
        if not keys.isdisjoint(line_forb):
            out.extend(
                Finding(f"{name}[{n}]", code)
                for name in line_forb & keys
                for code in forbidden[name]
            )
        for field, is_required, code, conditions in line_rules:
            if (field in line) is is_required:
                continue
            for cond_field, values, negate in conditions:
                value = line.get(cond_field)
                if value is None or (values is not None and (value in values) == negate):
                    break
            else:
                out.append(Finding(f"{field}[{n}]", code))
