"""The fast path of the record checks (issue #3): one regex per segment layout.

A record's fields are nearly always valid, and the same layouts (field ids in file order) recur.
So for each layout one regex is compiled that matches the segment's values joined with ``_SEP``
only when nothing is to be reported on them: one C call instead of a Python step per field.
The regex of a layout holds

- the field-level checks of each value (:func:`~nhihub.checks.fieldlevel.check_fields`), and
  D002's shape for the visit-identifier fields;
- the requirement rules of the record (:class:`~nhihub.checks.rules.Demands`): a layout that
  lacks a required field or holds a forbidden one never passes; a rule that fires on an order
  line's value (D08 required when D02 is 1 or M) narrows that value;
- for order lines, the checks of one line against MB1 (:func:`~nhihub.checks.cross20.
  line_variants`: D027, D033, D040, D041, D044, D045, D064, AA04), as alternatives per D02.

What a regex cannot test is left to Python, on capture groups: BD (the upload time varies per
context) and the person-ID check digit.

The fast path only ever says "nothing to report"; what it does not pass goes the general way,
which finds the exact codes. So it may be stricter than the checks (29 February, D09 written
"7.0", ... go the general way), never more lenient: the differential tests compare both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from nhihub.checks.cross20 import NONE_OF, NOT_LIKE, ONE_OF, Constraint, LineRules, line_variants
from nhihub.checks.fieldlevel import check_fields, fast_rules, staff_id_ok
from nhihub.checks.rules import (
    TYPE_DATE,
    TYPE_DATETIME,
    TYPE_DIGITS,
    TYPE_NUMBER,
    TYPE_TEXT,
    Demands,
    FieldRule,
    demands,
    field_rules,
    selectors,
)
from nhihub.checks.visitids import D002_PATTERNS
from nhihub.formats.model import Finding
from nhihub.ids.institution import INSTITUTION_SHAPE
from nhihub.ids.rocdate import SURE_DATE, SURE_DATETIME
from nhihub.ids.taiwan import PERSON_NUMBER_SHAPE, is_valid_number
from nhihub.specs.fields import VERSIONS, by_id

_SEP = "\x00"  # cannot occur in XML text; no regex part below matches it
_TEXT_ANY = f"[^{_SEP}]"
_END = f"(?!{_TEXT_ANY})"  # the end of a value
# Layouts kept compiled (about 0.2 ms each). A file holds few: one per kind of record and of
# order line. A stream of ever new layouts costs a compile each, which stays correct.
_LAYOUTS_KEPT = 2048


_Trie = dict[str, "_Trie"]


def any_of(texts: frozenset[str] | set[str]) -> str:
    """A regex (text) matching exactly one of ``texts``, as a tree of their characters so that
    each step tests one character (a plain alternation would try every text in turn)."""
    tree: _Trie = {}
    for text in texts:
        node = tree
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}  # a text ends here

    def emit(node: _Trie) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a text ends here and others go on
            return f"(?:{body})?" if len(branches) == 1 else body + "?"
        return body

    return f"(?:{emit(tree)})" if texts else "(?!)"


def value_pattern(rule: FieldRule) -> str:
    """A regex (text) matching only values for which check_fields reports nothing on
    ``rule``'s field, BD and the person-ID check digit aside (:class:`Layout` tests those).
    Possessive quantifiers (``++``): a value is never re-split."""
    if rule.codes is not None:
        return any_of(rule.codes)
    if rule.identifier == "institution":
        return INSTITUTION_SHAPE
    if rule.identifier:
        return PERSON_NUMBER_SHAPE
    if rule.type == TYPE_DATETIME:
        return SURE_DATETIME
    if rule.type == TYPE_DATE:
        return SURE_DATE
    length = rule.length
    if rule.type == TYPE_DIGITS:
        return f"[0-9]{{{length}}}" if length is not None else "[0-9]++"
    if rule.type == TYPE_NUMBER:
        # Digits with at most one decimal point, not last (is_number). Whole numbers take the
        # cheap first branch; the lookahead bounds the length of a decimal one.
        decimal = r"[0-9]*+\.[0-9]++"
        if length is None:
            return f"(?:[0-9]++|{decimal})"
        return f"(?:[0-9]{{1,{length}}}+|(?=[0-9.]{{1,{length}}}+(?![0-9.])){decimal})"
    return f"{_TEXT_ANY}{{1,{length}}}+" if length is not None else f"{_TEXT_ANY}++"


def _field_pattern(rule: FieldRule, constraints: list[Constraint]) -> str | None:
    """:func:`value_pattern` narrowed to D002's shape (visit-identifier fields) and to the
    ``constraints``; ``None`` when no value can pass."""
    codes = rule.codes
    guards = []  # lookaheads in front of the value's own pattern
    for kind, arg in constraints:
        if kind == NOT_LIKE:
            guards.append(f"(?!(?:{arg}){_END})")
        elif not isinstance(arg, frozenset):
            raise ValueError(f"bad constraint {kind!r} {arg!r}")
        elif codes is not None:  # narrow the code list itself
            codes = codes & arg if kind == ONE_OF else codes - arg
        else:
            guards.append(
                f"(?={any_of(arg)}{_END})" if kind == ONE_OF else f"(?!{any_of(arg)}{_END})"
            )
    if codes is not None and not codes:
        return None
    own = any_of(codes) if codes is not None else value_pattern(rule)
    shape = D002_PATTERNS.get(rule.id)
    if shape is not None:
        if rule.type != TYPE_TEXT or rule.codes is not None or rule.identifier:
            return None  # another version's field of that name: never fast
        guards.append(f"(?={own}{_END})")  # the field's own checks, then D002's shape
        own = shape
    return "".join(guards) + own


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """The compiled fast path of one layout: ``match`` the joined values; its capture groups
    hold the dates, patient IDs and staff IDs, at the positions listed; ``demands``: the
    requirement rules it was compiled for."""

    match: Callable[[str], re.Match[str] | None]
    dated: tuple[int, ...]
    people: tuple[int, ...]
    staff: tuple[int, ...]
    checked: bool  # any group to test
    demands: Demands

    def groups_pass(self, groups: tuple[str, ...], as_of_roc: str) -> bool:
        """The tests beyond the regex, on the capture groups of a match."""
        # ROC text orders like time; a 7-digit date is later than the 13-digit upload time
        # exactly when it is later than the upload date (check_fields compares with as_of[:7]).
        for i in self.dated:
            if groups[i] > as_of_roc:
                return False
        for i in self.people:  # patient IDs: never memoised (personal data)
            if not is_valid_number(groups[i]):
                return False
        for i in self.staff:  # noqa: SIM110 - staff IDs recur: memoised
            if not staff_id_ok(groups[i]):
                return False
        return True


_NOTHING = re.compile("(?!)").fullmatch  # the match of a layout nothing passes
_DATED, _PERSON, _STAFF = "dated", "person", "staff"


def _tested(rule: FieldRule) -> str:
    """What :meth:`Layout.groups_pass` tests on a header or MB1 value besides the regex."""
    if rule.type in (TYPE_DATE, TYPE_DATETIME):
        return _DATED
    return rule.identifier if rule.identifier in (_PERSON, _STAFF) else ""


def _compile(
    version: str,
    names: tuple[str, ...],
    segments: tuple[str, ...],
    covered: tuple[str, ...],
    rules: Demands,
    variants: tuple[Mapping[str, tuple[Constraint, ...]], ...] = ({},),
) -> Layout | None:
    """The layout of fields ``names`` expected in ``segments`` (one each), the fields of the
    segments ``covered`` (the header and MB1, or one order line): ``None`` when a name is not
    a field of its segment. It passes only values that pass the field-level checks and D002,
    in segments that meet the requirement rules ``rules`` and, for one of the ``variants``,
    its constraints."""
    specs = by_id(version)
    for name, segment in zip(names, segments, strict=True):
        spec = specs.get(name)
        if spec is None or spec.segment != segment:
            return None
    never = Layout(_NOTHING, (), (), (), False, rules)
    required = _requirement_constraints(names, segments, covered, rules)
    if required is None:
        return never
    field_rules_ = [field_rules(version)[n] for n in names]
    tested = ["" if "MB2" in covered else _tested(rule) for rule in field_rules_]
    alternatives = []
    for variant in variants:
        parts = []
        for rule, test in zip(field_rules_, tested, strict=True):
            part = _field_pattern(rule, [*required.get(rule.id, ()), *variant.get(rule.id, ())])
            if part is None:
                break
            parts.append(f"({part})" if test else part)
        else:
            alternatives.append(_SEP.join(parts))
    if not alternatives:
        return never
    # Capture groups: only in the header and MB1, which have no alternatives.
    groups = [t for t in tested if t]
    return Layout(
        match=re.compile("|".join(alternatives)).fullmatch,
        dated=tuple(i for i, t in enumerate(groups) if t == _DATED),
        people=tuple(i for i, t in enumerate(groups) if t == _PERSON),
        staff=tuple(i for i, t in enumerate(groups) if t == _STAFF),
        checked=bool(groups),
        demands=rules,
    )


def _requirement_constraints(
    names: tuple[str, ...], segments: tuple[str, ...], covered: tuple[str, ...], rules: Demands
) -> dict[str, list[Constraint]] | None:
    """What the requirement rules ask of the segments ``covered`` holding ``names``: ``None``
    when a required field is missing or a forbidden one present; else, per field, the
    constraints its value must meet (an order-line rule fires when its condition holds)."""
    present: dict[str, set[str]] = {segment: set() for segment in covered}
    for name, segment in zip(names, segments, strict=True):
        present[segment].add(name)
    for segment, required, forbidden in (
        ("MSH", rules.header_required, rules.header_forbidden),
        ("MB1", rules.mb1_required, rules.mb1_forbidden),
        ("MB2", rules.line_required, rules.line_forbidden),
    ):
        if segment in present and not (
            present[segment] >= required and present[segment].isdisjoint(forbidden)
        ):
            return None
    constraints: dict[str, list[Constraint]] = {}
    on_line = present.get("MB2", set())
    for field, is_required, _, conditions in rules.line_rules if on_line else ():
        if (field in on_line) is is_required:
            continue  # the rule is met whatever the conditions
        if any(c[0] not in on_line for c in conditions):
            continue  # a condition on an absent field never holds
        if len(conditions) != 1:
            return None  # the fast path narrows one field only
        cond_field, values, negate = conditions[0]
        if values is None:
            return None  # "filled" holds for every value of a present field
        # the condition must fail: a value in ``values`` (or, negated, not in it) fires it
        constraints.setdefault(cond_field, []).append((ONE_OF if negate else NONE_OF, values))
    return constraints


@lru_cache(maxsize=_LAYOUTS_KEPT)
def head_layout(
    version: str,
    names: tuple[str, ...],
    header_count: int,
    header_values: tuple[str | None, ...],
    mb1_values: tuple[str | None, ...],
) -> Layout | None:
    """The layout of a record's header and MB1 together: ``names`` are the header's field ids
    (the first ``header_count``) and then MB1's; the values of the :func:`~nhihub.checks.rules.
    selectors` fields decide the requirement rules."""
    segments = ("MSH",) * header_count + ("MB1",) * (len(names) - header_count)
    rules = demands(version, header_values, mb1_values)
    return _compile(version, names, segments, ("MSH", "MB1"), rules)


@lru_cache(maxsize=_LAYOUTS_KEPT)
def line_layout(
    version: str, names: tuple[str, ...], rules: Demands, line_rules: LineRules | None
) -> Layout | None:
    """The layout of one order line (MB2) holding the fields ``names``; ``line_rules``: the
    checks of a line against MB1 (2.0), or ``None``."""
    variants = ({},) if line_rules is None else line_variants(line_rules, frozenset(names))
    return _compile(version, names, ("MB2",) * len(names), ("MB2",), rules, variants)


_SELECTORS = {version: selectors(version) for version in VERSIONS}

# The outcome of check_head: the header and MB1 (empty values dropped when they were checked
# the slow way), the requirement rules of the record, whether every field sits in its own
# segment, whether the head passed (no field-level finding, no requirement finding, no D002).
Head = tuple[Mapping[str, str], Mapping[str, str], Demands, bool, bool]


def check_head(
    version: str,
    header: dict[str, str],
    mb1: dict[str, str],
    as_of_roc: str,
    out: list[Finding],
) -> Head:
    """The field-level checks of a record's header and MB1: the fast path, else check_fields
    (after dropping empty values)."""
    header_selectors, mb1_selectors = _SELECTORS[version]
    header_values = tuple(map(header.get, header_selectors))
    mb1_values = tuple(map(mb1.get, mb1_selectors))
    head = head_layout(version, (*header, *mb1), len(header), header_values, mb1_values)
    if head is not None:
        m = head.match(_SEP.join((*header.values(), *mb1.values())))
        if m is not None and (not head.checked or head.groups_pass(m.groups(), as_of_roc)):
            return header, mb1, head.demands, True, True
    # No regex part matches "": a head that passes holds no empty value. Otherwise empty
    # values count as absent, also for the requirement rules.
    header, mb1 = _filled(header), _filled(mb1)
    rules = demands(
        version, tuple(map(header.get, header_selectors)), tuple(map(mb1.get, mb1_selectors))
    )
    checks = fast_rules(version)
    check_fields(header, checks, as_of_roc, out)
    check_fields(mb1, checks, as_of_roc, out)
    return header, mb1, rules, head is not None, False


def check_lines(
    version: str,
    mb2: list[dict[str, str]],
    rules: Demands,
    line_rules: LineRules | None,
    as_of_roc: str,
    out: list[Finding],
) -> tuple[list[dict[str, str]], bool, bool]:
    """The field-level checks of the order lines: the fast path per line (with the record's
    requirement ``rules`` and ``line_rules``), check_fields (after dropping empty values) for
    the lines it does not pass. Returns the lines, whether every field sits in its own segment
    and whether every line passed."""
    in_place = True
    failed = []
    for n, line in enumerate(mb2, 1):
        shape = line_layout(version, tuple(line), rules, line_rules)
        if shape is None:
            in_place = False
            failed.append(n)
        elif shape.match(_SEP.join(line.values())) is None:
            failed.append(n)
    if not failed:
        return mb2, True, True
    mb2 = [_filled(line) for line in mb2]
    checks = fast_rules(version)
    for n in failed:
        check_fields(mb2[n - 1], checks, as_of_roc, out, n)
    return mb2, in_place, False


def _filled(values: dict[str, str]) -> dict[str, str]:
    """The fields that hold text. The model never keeps ``""`` (absent fields are absent), but
    a hand-built record might; empty counts as absent everywhere."""
    if "" in values.values():
        return {k: v for k, v in values.items() if v}
    return values
