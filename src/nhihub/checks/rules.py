"""The data the record checks run on, loaded once: ``data/rules.json`` (parameters keyed by check
code), ``data/requirements-<version>.tsv`` (required / forbidden fields) and the field tables.

Requirement rules are compiled into a :class:`Plan` per combination of the key fields (H00, H01,
M07 for 2.0): fixed sets of required and forbidden fields, plus the few rules whose condition
reads another field (M10, M12, D02 ...), evaluated per record.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from nhihub.specs import codes as code_tables
from nhihub.specs.fields import by_id, fields

# Field types of the field tables (nhihub.specs.fields).
TYPE_TEXT, TYPE_DIGITS, TYPE_NUMBER, TYPE_DATE, TYPE_DATETIME = "X", "9", "N", "D", "T"
DATE_LENGTH = {TYPE_DATE: 7, TYPE_DATETIME: 13}

# Groups a requirement condition may name with ``@`` (see requirements-2.0.tsv).
GROUPS: dict[str, Callable[[], frozenset[str]]] = {
    "accumulating": code_tables.accumulating_categories,
    "replacement": code_tables.replacement_marks,
}


@cache
def rules() -> Mapping[str, Any]:
    """``data/rules.json`` (read once)."""
    text = resources.files("nhihub.checks").joinpath("data/rules.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# -- field-level rules -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one field is checked on its own: type and length from the field table, and the code
    table (with the code to report) or identifier kind from rules.json."""

    id: str
    segment: str
    type: str
    length: int | None
    codes: frozenset[str] | None
    code_error: str
    identifier: str  # "", "person", "institution"


@cache
def field_rules(version: str) -> Mapping[str, FieldRule]:
    r = rules()
    lists: dict[str, list[str]] = r["code_lists"][version]
    idents: dict[str, list[str]] = r["identifiers"][version]
    kind_of = {f: kind for kind, names in idents.items() for f in names}
    out: dict[str, FieldRule] = {}
    for spec in fields(version):
        table, error = lists.get(spec.id, (None, ""))
        length = spec.length
        if spec.type in DATE_LENGTH:
            length = DATE_LENGTH[spec.type]
        out[spec.id] = FieldRule(
            id=spec.id,
            segment=spec.segment,
            type=spec.type,
            length=length,
            codes=code_tables.codes(table) if table else None,
            code_error=error,
            identifier=kind_of.get(spec.id, ""),
        )
    return out


@cache
def field_order(version: str) -> Mapping[str, int]:
    """Field id -> position in the field table (for sorting findings)."""
    return {f.id: n for n, f in enumerate(fields(version))}


def segment_of(version: str, field: str) -> str:
    spec = by_id(version).get(field)
    return spec.segment if spec is not None else ""


# -- requirements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    values: frozenset[str] | None  # None: the field is filled
    negate: bool

    def holds(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.values is None:
            return True
        return (value in self.values) != self.negate


@dataclass(frozen=True, slots=True)
class Requirement:
    field: str
    required: bool
    conditions: tuple[Condition, ...]
    code: str
    line: bool  # an MB2 field, checked on every order line


def _parse_condition(text: str) -> Condition:
    negate = "!=" in text
    field, _, rhs = text.partition("!=" if negate else "=")
    if not field or not rhs:
        raise ValueError(f"bad requirement condition {text!r}")
    values: frozenset[str] | None
    if rhs == "*":
        values = None
    elif rhs.startswith("@"):
        values = GROUPS[rhs[1:]]()
    else:
        values = frozenset(rhs.split(","))
    return Condition(field, values, negate)


@cache
def requirements(version: str) -> tuple[Requirement, ...]:
    name = f"data/requirements-{version}.tsv"
    text = resources.files("nhihub.checks").joinpath(name).read_text("utf-8")
    rows = csv.DictReader(
        (line for line in text.splitlines() if line and not line.startswith("#")),
        delimiter="\t",
    )
    out = []
    for row in rows:
        status = row["status"]
        if status not in ("required", "forbidden"):
            raise ValueError(f"{name}: bad status {status!r}")
        when = row["when"]
        conditions = () if when == "*" else tuple(_parse_condition(c) for c in when.split(";"))
        required = status == "required"
        out.append(
            Requirement(
                field=row["field"],
                required=required,
                conditions=conditions,
                code=row["code"] or ("AA" if required else "AF"),
                line=segment_of(version, row["field"]) == "MB2",
            )
        )
    return tuple(out)


# A compiled requirement for the hot path: (field, required, code, ((field, values, negate), ...)).
CompiledRule = tuple[str, bool, str, tuple[tuple[str, frozenset[str] | None, bool], ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """The requirement rules that apply to one combination of key values.

    ``*_required`` / ``*_forbidden`` are the fields that rules needing nothing more make
    required / forbidden, ``codes`` the code each reports; ``record_rules`` / ``line_rules``
    keep the conditions still to evaluate per record / order line.
    """

    header_required: frozenset[str]
    mb1_required: frozenset[str]
    line_required: frozenset[str]
    header_forbidden: frozenset[str]
    mb1_forbidden: frozenset[str]
    line_forbidden: frozenset[str]
    required_codes: Mapping[str, str]
    forbidden_codes: Mapping[str, str]
    record_rules: tuple[CompiledRule, ...]
    line_rules: tuple[CompiledRule, ...]


def _compile(rule: Requirement, conditions: list[Condition]) -> CompiledRule:
    return (
        rule.field,
        rule.required,
        rule.code,
        tuple((c.field, c.values, c.negate) for c in conditions),
    )


def key_fields(version: str) -> tuple[str, ...]:
    return tuple(rules()["keys"][version])


@lru_cache(maxsize=1024)
def plan(version: str, keys: tuple[str | None, ...]) -> Plan:
    """The :class:`Plan` for the key values ``keys`` (in :func:`key_fields` order; ``None`` for a
    key that is missing or not a valid code: rules reading it are dropped)."""
    values = dict(zip(key_fields(version), keys, strict=True))
    req: dict[str, set[str]] = {"MSH": set(), "MB1": set(), "MB2": set()}
    forb: dict[str, set[str]] = {"MSH": set(), "MB1": set(), "MB2": set()}
    req_codes: dict[str, str] = {}
    forb_codes: dict[str, str] = {}
    record_rules: list[CompiledRule] = []
    line_rules: list[CompiledRule] = []
    for rule in requirements(version):
        rest = []
        applies = True
        for cond in rule.conditions:
            if cond.field in values:
                if not cond.holds(values[cond.field]):
                    applies = False
                    break
            else:
                rest.append(cond)
        if not applies:
            continue
        if rest:
            (line_rules if rule.line else record_rules).append(_compile(rule, rest))
            continue
        segment = segment_of(version, rule.field) or "MB1"
        (req if rule.required else forb)[segment].add(rule.field)
        (req_codes if rule.required else forb_codes).setdefault(rule.field, rule.code)
    return Plan(
        header_required=frozenset(req["MSH"]),
        mb1_required=frozenset(req["MB1"]),
        line_required=frozenset(req["MB2"]),
        header_forbidden=frozenset(forb["MSH"]),
        mb1_forbidden=frozenset(forb["MB1"]),
        line_forbidden=frozenset(forb["MB2"]),
        required_codes=req_codes,
        forbidden_codes=forb_codes,
        record_rules=tuple(record_rules),
        line_rules=tuple(line_rules),
    )


# -- requirements decided per record (the fast path) -------------------------------------------
#
# When every field sits in its own segment (the usual case), a record's requirement rules
# depend only on a few values: the key fields and the fields other conditions read. They are
# decided once per combination of those values; only conditions on an order line's own fields
# are left for each line.


@dataclass(frozen=True, slots=True, eq=False)
class Demands:
    """What one record must (not) carry, for records whose fields all sit in their own segment.

    ``required`` / ``forbidden`` map a field to the codes reported when it is missing / present
    (usually one); ``line_rules`` are the rules whose conditions read the order line itself.
    """

    header_required: frozenset[str]
    mb1_required: frozenset[str]
    line_required: frozenset[str]
    header_forbidden: frozenset[str]
    mb1_forbidden: frozenset[str]
    line_forbidden: frozenset[str]
    required: Mapping[str, tuple[str, ...]]
    forbidden: Mapping[str, tuple[str, ...]]
    line_rules: tuple[CompiledRule, ...]


@cache
def selectors(version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The header fields and the MB1 fields whose values decide :func:`demands`: the key
    fields and every other header or MB1 field a requirement condition reads."""
    names = dict.fromkeys(key_fields(version))
    for rule in requirements(version):
        names.update(dict.fromkeys(c.field for c in rule.conditions))
    header = tuple(n for n in names if segment_of(version, n) == "MSH")
    mb1 = tuple(n for n in names if segment_of(version, n) == "MB1")
    return header, mb1


@lru_cache(maxsize=4096)
def demands(
    version: str, header_values: tuple[str | None, ...], mb1_values: tuple[str | None, ...]
) -> Demands:
    """The :class:`Demands` of a record whose :func:`selectors` fields hold these values
    (``None``: absent). The same rules as :func:`plan` (which this builds on) with every
    condition on a header or MB1 field evaluated."""
    header_names, mb1_names = selectors(version)
    values = dict(zip(header_names, header_values, strict=True))
    values.update(zip(mb1_names, mb1_values, strict=True))
    rules_of = field_rules(version)
    keys = []
    for name in key_fields(version):  # as check_record reads them: an invalid code is None
        value = values.get(name)
        rule = rules_of.get(name)
        if value is not None and rule is not None and rule.codes is not None:
            value = value if value in rule.codes else None
        keys.append(value)
    base = plan(version, tuple(keys))
    required = {name: [base.required_codes[name]] for name in base.header_required}
    required.update((name, [base.required_codes[name]]) for name in base.mb1_required)
    required.update((name, [base.required_codes[name]]) for name in base.line_required)
    forbidden = {name: [base.forbidden_codes[name]] for name in base.header_forbidden}
    forbidden.update((name, [base.forbidden_codes[name]]) for name in base.mb1_forbidden)
    forbidden.update((name, [base.forbidden_codes[name]]) for name in base.line_forbidden)
    line_rules = []
    for on_lines, compiled in ((False, base.record_rules), (True, base.line_rules)):
        for field, is_required, code, conditions in compiled:
            on_line = tuple(c for c in conditions if segment_of(version, c[0]) == "MB2")
            if on_line and not on_lines:
                continue  # an order-line field is never in the header or MB1: never applies
            if not all(_holds(c, values.get(c[0])) for c in conditions if c not in on_line):
                continue
            if on_line:
                line_rules.append((field, is_required, code, on_line))
            else:
                table = required if is_required else forbidden
                table.setdefault(field, [])
                if code not in table[field]:
                    table[field].append(code)
    req_segments = {n: segment_of(version, n) or "MB1" for n in (*required, *forbidden)}

    def names(table: dict[str, list[str]], segment: str) -> frozenset[str]:
        return frozenset(n for n in table if req_segments[n] == segment)

    return Demands(
        header_required=names(required, "MSH"),
        mb1_required=names(required, "MB1"),
        line_required=names(required, "MB2"),
        header_forbidden=names(forbidden, "MSH"),
        mb1_forbidden=names(forbidden, "MB1"),
        line_forbidden=names(forbidden, "MB2"),
        required={n: tuple(c) for n, c in required.items()},
        forbidden={n: tuple(c) for n, c in forbidden.items()},
        line_rules=tuple(line_rules),
    )


def _holds(condition: tuple[str, frozenset[str] | None, bool], value: str | None) -> bool:
    _, values, negate = condition
    return value is not None and (values is None or (value in values) != negate)
