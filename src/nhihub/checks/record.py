"""The entry point of the record checks: :func:`check_record` collects every finding of one record
at once (not only the first), plus :func:`is_valid` and :func:`order_counts`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nhihub.checks import cross10, cross20
from nhihub.checks.context import CheckContext
from nhihub.checks.fastpath import check_head, check_lines
from nhihub.checks.fieldlevel import check_demands, check_requirements, datetime_ok
from nhihub.checks.references import check_references
from nhihub.checks.rules import (
    field_order,
    field_rules,
    key_fields,
    plan,
    rules,
)
from nhihub.checks.visitids import check_decoded, check_identifier_shapes, check_sentinels
from nhihub.formats.model import Finding, Record
from nhihub.specs.catalogue import catalogue, error_codes
from nhihub.specs.fields import VERSIONS

_VISIT_FIELD = {v: rules()["visit_time"][v]["visit"] for v in VERSIONS}
_VERSION_CODE = "03"


def _key_values(
    version: str, header: Mapping[str, str], mb1: Mapping[str, str]
) -> tuple[str | None, ...]:
    """The key fields' values, ``None`` where missing or not a valid code (Y008 / AA)."""
    frules = field_rules(version)
    out: list[str | None] = []
    for name in key_fields(version):
        value = header.get(name) or mb1.get(name)
        rule = frules.get(name)
        if (
            value is not None
            and rule is not None
            and rule.codes is not None
            and value not in rule.codes
        ):
            value = None
        out.append(value)
    return tuple(out)


def check_record(record: Record, ctx: CheckContext) -> list[Finding]:
    """Every finding of one record: the reader's structural problems, then field-level,
    requirement, cross-field, identifier and (when loaded) master-file checks, in field order.

    Pure: reads the record and the context, changes neither. Never raises on odd field values.
    """
    out: list[Finding] = list(record.problems)
    version = record.version
    if version not in VERSIONS:
        out.append(Finding(None, _VERSION_CODE))
        return out
    if ctx.upload_version is not None and version != ctx.upload_version:
        out.append(Finding(None, _VERSION_CODE))
    as_of = ctx.as_of_roc
    start = len(out)
    # Field level, on the fast path (fastpath.py) as far as it goes; what a passing segment
    # decides (requirement rules, prescription facts) comes with it.
    header, mb1, head, in_place, head_passed = check_head(
        version, record.header, record.mb1, as_of, out
    )
    facts = head.record
    mb2, lines_in_place, lines_passed = check_lines(
        version, record.mb2, head.demands, facts.lines if facts else None, as_of, out
    )
    end = len(out)
    if not (head_passed and lines_passed):  # passing includes the requirement rules
        if in_place and lines_in_place:
            check_demands(head.demands, header, mb1, mb2, out)
        else:  # a field outside its segment: the general rules read every segment
            keys = _key_values(version, header, mb1)
            check_requirements(plan(version, keys), header, mb1, mb2, out)
    visit_field = _VISIT_FIELD[version]
    visit = mb1.get(visit_field)
    if (
        visit is not None
        and visit < ctx.stale_before_roc
        and len(visit) == 13
        and datetime_ok(visit)
    ):
        out.append(Finding(visit_field, "BH"))
    if facts is not None:  # 2.0
        cross20.check_cross(header, mb1, mb2, out, facts, head_passed, lines_passed)
        if not head_passed:  # passing includes D002's shape
            check_identifier_shapes(mb1, out)
        check_sentinels(mb1, out)
        if ctx.decode and ctx.codec is not None:
            check_decoded(header, mb1, ctx.codec, as_of, out)
        if ctx.references is not None:
            check_references(mb1, mb2, ctx.references, out)
    else:
        cross10.check_cross(header, mb1, mb2, out)
    if len(out) > 1:
        if end > start:
            out = _drop_after_field_level(out, start, end)
        out = _ordered(version, out)
    return out


def _drop_after_field_level(out: list[Finding], start: int, end: int) -> list[Finding]:
    """A field whose value failed a field-level check (type, length, date, code table) gets no
    cross-field finding on top: one problem per field, the basic one."""
    bad = {f.field for f in out[start:end]}
    return out[:end] + [f for f in out[end:] if f.field not in bad]


def _ordered(version: str, findings: list[Finding]) -> list[Finding]:
    """Unique findings sorted as NHI lists them: record-level, header and MB1 fields in table
    order, the MB2 segment, then each order line's fields."""
    order = field_order(version)

    def key(f: Finding) -> tuple[int, int, int, str]:
        name = f.field
        if name is None:
            return (0, 0, 0, f.code)
        base, bracket, rest = name.partition("[")
        if bracket:
            line = int(rest[:-1]) if rest[:-1].isdigit() else 0
            return (3, line, order.get(base, len(order)), f.code)
        if name in order:
            return (1, 0, order[name], f.code)
        return (2, 0, 0, f.code)

    return sorted(dict.fromkeys(findings), key=key)


def is_valid(findings: Iterable[Finding]) -> bool:
    """True when no finding has severity ``error`` (warnings keep a record). A code missing from
    the catalogue counts as an error."""
    return not any(_is_error(f.code) for f in findings)


def _is_error(code: str) -> bool:
    return code in error_codes() or code not in catalogue()


def order_counts(record: Record, findings: Iterable[Finding]) -> tuple[int, int]:
    """(orders, invalid orders) of a record as NHI's result screen counts them: its MB2 lines,
    and those with an error-severity finding on one of their own fields (``D05[1]`` ...). An
    invalid record can have no invalid order (seed 001 shows such a screen)."""
    orders = len(record.mb2)
    bad: set[int] = set()
    for f in findings:
        name = f.field
        if name is None or not name.endswith("]") or not _is_error(f.code):
            continue
        _, _, rest = name.partition("[")
        index = rest[:-1]
        if index.isdigit() and 1 <= int(index) <= orders:
            bad.add(int(index))
    return orders, len(bad)
