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
context) and the person-ID check digit. What the values of a few header and MB1 fields decide
(the requirement rules, :func:`~nhihub.checks.cross20.record_facts`) is worked out once per
layout and combination of those values (:func:`head_facts`).

Layouts are compiled the second time they are met (:class:`_Compiled`): a writer that orders
the fields differently in every record costs the general path, never a compile per record.

The fast path only ever says "nothing to report"; what it does not pass goes the general way,
which finds the exact codes. So it may be stricter than the checks (29 February, D09 written
"7.0", ... go the general way), never more lenient: the differential tests compare both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, Generic, TypeVar

from nhihub.checks.cross20 import (
    FACT_INPUTS,
    FACT_PRESENCE,
    NONE_OF,
    NOT_LIKE,
    ONE_OF,
    Constraint,
    LineRules,
    RecordFacts,
    line_variants,
    record_facts,
)
from nhihub.checks.fieldlevel import check_fields, fast_rules
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
from nhihub.ids.taiwan import CHECKSUM_SHARES, PERSON_NUMBER_PARTS, PERSON_NUMBER_SHAPE
from nhihub.specs.fields import VERSIONS, by_id

_SEP = "\x00"  # cannot occur in XML text; no regex part below matches it
_TEXT_ANY = f"[^{_SEP}]"
_END = f"(?!{_TEXT_ANY})"  # the end of a value
# Layouts kept compiled (about 0.2 ms each to compile). A file holds few: one per kind of
# record and of order line.
_LAYOUTS_KEPT = 2048
_L = TypeVar("_L", bound="Layout")


class _Compiled(Generic[_L]):
    """Compiled layouts by key, bounded (cleared when full). A key is compiled the second time
    it is asked for; the first time the caller takes the general path. So a file that brings a
    new layout with every record (a writer that orders the fields at random) costs no
    compiling, only the general path; one that repeats a few layouts compiles each once.

    A cache like ``functools.lru_cache``: what it returns depends on the key alone.
    """

    def __init__(self, build: Callable[..., _L | None]) -> None:
        self.done: dict[Hashable, _L | None] = {}  # read directly on the hot path
        self._seen: dict[Hashable, None] = {}
        self._build = build

    def miss(self, key: tuple[Any, ...]) -> _L | None:
        """The layout of ``key`` (not in :attr:`done`): ``None`` on its first sight."""
        if key not in self._seen:
            if len(self._seen) >= _LAYOUTS_KEPT:
                self._seen.clear()
            self._seen[key] = None
            return None
        del self._seen[key]
        if len(self.done) >= _LAYOUTS_KEPT:
            self.done.clear()
        layout = self.done[key] = self._build(*key)
        return layout


_MISSING: Any = object()  # not in a cache


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
    """The compiled fast path of one layout: ``match`` the joined values. In the header and
    MB1 its capture groups hold the dates (``dated``: their positions) and the person IDs
    (``people``: the position of the first of each one's three parts)."""

    match: Callable[[str], re.Match[str] | None]
    dated: tuple[int, ...]
    people: tuple[int, ...]
    checked: bool  # any group to test

    def groups_pass(self, groups: tuple[str | Any, ...], as_of_roc: str) -> bool:
        """The tests beyond the regex, on the capture groups of a match."""
        # ROC text orders like time; a 7-digit date is later than the 13-digit upload time
        # exactly when it is later than the upload date (check_fields compares with as_of[:7]).
        for i in self.dated:
            if groups[i] > as_of_roc:
                return False
        # The person-ID check digit, on the parts the regex cut: the verdict of
        # is_valid_number without slicing (patient IDs are never memoised: personal data).
        for i in self.people:
            share = _HEAD_SHARE[groups[i]] + _MIDDLE_SHARE[groups[i + 1]]
            if (share + _TAIL_SHARE[groups[i + 2]]) % 10:
                return False
        return True


_HEAD_SHARE, _MIDDLE_SHARE, _TAIL_SHARE = CHECKSUM_SHARES
_NOTHING = re.compile("(?!)").fullmatch  # the match of a layout nothing passes
_NEVER = Layout(_NOTHING, (), (), False)
_DATED, _PERSON = "dated", "person"


def _tested(rule: FieldRule) -> str:
    """What :meth:`Layout.groups_pass` tests on a header or MB1 value besides the regex."""
    if rule.type in (TYPE_DATE, TYPE_DATETIME):
        return _DATED
    return _PERSON if rule.identifier in ("person", "staff") else ""


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
    required = _requirement_constraints(names, segments, covered, rules)
    if required is None:
        return _NEVER
    field_rules_ = [field_rules(version)[n] for n in names]
    tested = ["" if "MB2" in covered else _tested(rule) for rule in field_rules_]
    alternatives = []
    for variant in variants:
        parts = []
        for rule, test in zip(field_rules_, tested, strict=True):
            part = _field_pattern(rule, [*required.get(rule.id, ()), *variant.get(rule.id, ())])
            if part is None:
                break
            if test == _PERSON:  # three parts (groups_pass); the head has no constraints
                part = "".join(f"({p})" for p in PERSON_NUMBER_PARTS)
            elif test:
                part = f"({part})"
            parts.append(part)
        else:
            alternatives.append(_SEP.join(parts))
    if not alternatives:
        return _NEVER
    # Capture groups (only in the header and MB1, which have no alternatives): one per date,
    # three per person ID.
    dated, people, group = [], [], 0
    for test in tested:
        if test == _DATED:
            dated.append(group)
        elif test == _PERSON:
            people.append(group)
        group += {_DATED: 1, _PERSON: 3}.get(test, 0)
    return Layout(
        match=re.compile("|".join(alternatives)).fullmatch,
        dated=tuple(dated),
        people=tuple(people),
        checked=group > 0,
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


@dataclass(frozen=True, slots=True, eq=False)
class Head(Layout):
    """The layout of a record's header and MB1 together, and how to read the values that
    decide the record's requirement rules and cross-field facts (:func:`head_facts`)."""

    version: str
    names: tuple[str, ...]
    segments: tuple[str, ...]
    present: frozenset[str]  # its MB1 fields of FACT_PRESENCE
    header_facts: tuple[str, ...]  # the header fields of these values present here
    mb1_facts: tuple[str, ...]  # the MB1 fields
    get_header_facts: Callable[[Mapping[str, str]], tuple[str, ...]]
    get_mb1_facts: Callable[[Mapping[str, str]], tuple[str, ...]]


def _getter(names: tuple[str, ...]) -> tuple[tuple[str, ...], Callable[[Any], Any]]:
    """(names, an itemgetter of them returning a tuple). One name is asked twice: itemgetter
    of one name returns the value itself, and a wrapper returning a 1-tuple would cost a
    Python call on the hot path."""
    if not names:
        return (), _no_values
    if len(names) == 1:
        names = names * 2
    return names, itemgetter(*names)


def _no_values(mapping: Mapping[str, str]) -> tuple[str, ...]:
    return ()


def head_layout(version: str, names: tuple[str, ...], header_count: int) -> Head | None:
    """The layout of a record's header and MB1 together: ``names`` are the header's field ids
    (the first ``header_count``) and then MB1's."""
    segments = ("MSH",) * header_count + ("MB1",) * (len(names) - header_count)
    shape = _compile(version, names, segments, ("MSH", "MB1"), _NO_DEMANDS)
    if shape is None:
        return None
    wanted_header, wanted_mb1 = _FACT_FIELDS[version]
    header_facts, get_header_facts = _getter(
        tuple(n for n in wanted_header if n in names[:header_count])
    )
    mb1_facts, get_mb1_facts = _getter(tuple(n for n in wanted_mb1 if n in names[header_count:]))
    return Head(
        shape.match,
        shape.dated,
        shape.people,
        shape.checked,
        version,
        names,
        segments,
        FACT_PRESENCE.intersection(names[header_count:]),
        header_facts,
        mb1_facts,
        get_header_facts,
        get_mb1_facts,
    )


@dataclass(frozen=True, slots=True, eq=False)
class HeadFacts:
    """What a record's header and MB1 decide for the other checks: the requirement rules,
    whether the header and MB1 meet them, and (2.0) what they decide for the cross-field checks."""

    demands: Demands
    head_ok: bool
    record: RecordFacts | None


@lru_cache(maxsize=8192)
def head_facts(
    head: Head, header_values: tuple[str, ...], mb1_values: tuple[str, ...]
) -> HeadFacts:
    """The :class:`HeadFacts` of a record of layout ``head`` whose fact fields hold these
    values. Memoised: a file holds few combinations."""
    header = dict(zip(head.header_facts, header_values, strict=True))
    mb1 = dict(zip(head.mb1_facts, mb1_values, strict=True))
    return _facts(head.version, header, mb1, (head.names, head.segments, head.present))


def _facts(
    version: str,
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    layout: tuple[tuple[str, ...], tuple[str, ...], frozenset[str]] | None = None,
) -> HeadFacts:
    """The :class:`HeadFacts` of a header and MB1; ``layout``: their field ids, segments and
    fields of FACT_PRESENCE when they hold only some of the fields (``head_ok`` is then
    decided), else ``None`` (``head_ok`` is False: the general path does not ask)."""
    header_selectors, mb1_selectors = selectors(version)
    rules = demands(
        version,
        tuple(header.get(n) for n in header_selectors),
        tuple(mb1.get(n) for n in mb1_selectors),
    )
    ok, present = False, None
    if layout is not None:
        names, segments, present = layout
        ok = _requirement_constraints(names, segments, ("MSH", "MB1"), rules) is not None
    return HeadFacts(rules, ok, record_facts(header, mb1, present) if version == "2.0" else None)


def line_layout(
    version: str, names: tuple[str, ...], rules: Demands, line_rules: LineRules | None
) -> Layout | None:
    """The layout of one order line (MB2) holding the fields ``names``; ``line_rules``: the
    checks of a line against MB1 (2.0), or ``None``."""
    variants = ({},) if line_rules is None else line_variants(line_rules, frozenset(names))
    return _compile(version, names, ("MB2",) * len(names), ("MB2",), rules, variants)


_HEADS: _Compiled[Head] = _Compiled(head_layout)
_LINES: _Compiled[Layout] = _Compiled(line_layout)
_NO_DEMANDS = Demands(*(frozenset(),) * 6, {}, {}, ())  # the head's regex: field checks only


# The fields whose values decide a head's facts: the requirement selectors (header, MB1) and,
# for 2.0, what record_facts reads.
def _fact_fields(version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    header, mb1 = selectors(version)
    if version == "2.0":
        header, mb1 = (*header, *FACT_INPUTS[0]), (*mb1, *FACT_INPUTS[1])
    return tuple(dict.fromkeys(header)), tuple(dict.fromkeys(mb1))


_FACT_FIELDS = {version: _fact_fields(version) for version in VERSIONS}

# The outcome of check_head: the header and MB1 (empty values dropped when they were checked
# the slow way), what they decide, whether every field is known to sit in its own segment (a
# layout seen for the first time is not looked at), whether the head passed (no field-level
# finding, no requirement finding, no D002).
HeadOutcome = tuple[Mapping[str, str], Mapping[str, str], HeadFacts, bool, bool]


def check_head(
    version: str,
    header: dict[str, str],
    mb1: dict[str, str],
    as_of_roc: str,
    out: list[Finding],
) -> HeadOutcome:
    """The field-level checks of a record's header and MB1: the fast path, else check_fields
    (after dropping empty values). See :data:`HeadOutcome`."""
    key = (version, (*header, *mb1), len(header))
    head = _HEADS.done.get(key, _MISSING)
    if head is _MISSING:
        head = _HEADS.miss(key)
    if head is not None:
        m = head.match(_SEP.join((*header.values(), *mb1.values())))
        if m is not None and (not head.checked or head.groups_pass(m.groups(), as_of_roc)):
            facts = head_facts(head, head.get_header_facts(header), head.get_mb1_facts(mb1))
            if facts.head_ok:
                return header, mb1, facts, True, True
    # No regex part matches "": a head that passes holds no empty value. Otherwise empty
    # values count as absent, also for the requirement rules.
    header, mb1 = _filled(header), _filled(mb1)
    facts = _facts(version, header, mb1)
    checks = fast_rules(version)
    check_fields(header, checks, as_of_roc, out)
    check_fields(mb1, checks, as_of_roc, out)
    return header, mb1, facts, head is not None, False


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
    the lines it does not pass. Returns the lines, whether every field is known to sit in its
    own segment (a layout seen for the first time is not looked at) and whether every line
    passed."""
    in_place = True
    failed = []
    for n, line in enumerate(mb2, 1):
        key = (version, tuple(line), rules, line_rules)
        shape = _LINES.done.get(key, _MISSING)
        if shape is _MISSING:
            shape = _LINES.miss(key)
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
