"""Master-file checks 08-15 (醫事機構、藥品、支付標準、特材、醫事人員、診斷主檔) and a simple
in-memory :class:`TableReferences` implementing :class:`~nhihub.checks.context.References`.

The checks run only for the tables the references say are loaded; the rest are listed by
:func:`~nhihub.checks.context.skipped_checks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from nhihub.checks.context import References
from nhihub.checks.rules import rules
from nhihub.formats.model import Finding
from nhihub.ids.rocdate import RocDateError, parse_roc_date
from nhihub.specs.codes import order_reference_tables

Period = tuple[dt.date, dt.date]  # first and last day, inclusive

_R = rules()["references"]
_INSTITUTION = _R["institution"]
_STAFF = _R["staff"]
_DIAGNOSES = _R["diagnoses"]
_ORDERS = _R["orders"]
_ORDER_TABLE = order_reference_tables()


def _within(periods: Iterable[Period], on: dt.date) -> bool:
    return any(first <= on <= last for first, last in periods)


@dataclass(frozen=True, slots=True)
class TableReferences:
    """Master files held in memory. A table left at ``None`` is not loaded (its checks are
    skipped); an empty one is loaded and knows no code.

    ``institutions`` and ``staff`` map a code to its contract periods (``staff`` by
    ``(person ID, institution)``; a person is known when any institution lists them).
    """

    institutions: Mapping[str, tuple[Period, ...]] | None = None
    drugs: frozenset[str] | None = None
    fees: frozenset[str] | None = None
    materials: frozenset[str] | None = None
    staff: Mapping[tuple[str, str], tuple[Period, ...]] | None = None
    diagnoses: frozenset[str] | None = None
    _staff_ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = frozenset(p for p, _ in self.staff) if self.staff is not None else frozenset()
        object.__setattr__(self, "_staff_ids", ids)

    @property
    def tables(self) -> frozenset[str]:
        names = ("institutions", "drugs", "fees", "materials", "staff", "diagnoses")
        return frozenset(n for n in names if getattr(self, n) is not None)

    def has_institution(self, code: str) -> bool:
        return self.institutions is not None and code in self.institutions

    def institution_contract(self, code: str, on: dt.date) -> bool:
        return self.institutions is not None and _within(self.institutions.get(code, ()), on)

    def has_drug(self, code: str) -> bool:
        return self.drugs is not None and code in self.drugs

    def has_fee_item(self, code: str) -> bool:
        return self.fees is not None and code in self.fees

    def has_material(self, code: str) -> bool:
        return self.materials is not None and code in self.materials

    def has_staff(self, person_id: str) -> bool:
        return person_id in self._staff_ids

    def staff_contract(self, person_id: str, institution: str, on: dt.date) -> bool:
        return self.staff is not None and _within(self.staff.get((person_id, institution), ()), on)

    def has_diagnosis(self, code: str) -> bool:
        return self.diagnoses is not None and code in self.diagnoses


def _visit_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_roc_date(value[:7]) if len(value) == 13 else None
    except RocDateError:
        return None


def _order_lookup(refs: References, table: str) -> Callable[[str], bool]:
    return {
        "drugs": refs.has_drug,
        "fees": refs.has_fee_item,
        "materials": refs.has_material,
    }[table]


def check_references(
    mb1: Mapping[str, str], mb2: list[dict[str, str]], refs: References, out: list[Finding]
) -> None:
    """Checks 08-15 of one 2.0 record against the loaded master files."""
    tables = refs.tables
    visit_day = _visit_date(mb1.get("M11"))
    institution = mb1.get("M05")
    if "institutions" in tables:
        for name in _INSTITUTION["fields"]:
            code = mb1.get(name)
            if code is None:
                continue
            if not refs.has_institution(code):
                out.append(Finding(name, _INSTITUTION["missing"]))
            elif visit_day is not None and not refs.institution_contract(code, visit_day):
                out.append(Finding(name, _INSTITUTION["not_contracted"]))
    if "staff" in tables:
        for name in _STAFF["fields"]:
            person = mb1.get(name)
            if person is None:
                continue
            if not refs.has_staff(person):
                out.append(Finding(name, _STAFF["missing"]))
            elif (
                visit_day is not None
                and institution is not None
                and not refs.staff_contract(person, institution, visit_day)
            ):
                out.append(Finding(name, _STAFF["not_contracted"]))
    if "diagnoses" in tables:
        for name in _DIAGNOSES["fields"]:
            code = mb1.get(name)
            if code is not None and not refs.has_diagnosis(code):
                out.append(Finding(name, _DIAGNOSES["missing"]))
    type_field, code_field = _ORDERS["type"], _ORDERS["field"]
    missing: dict[str, str] = _ORDERS["missing"]
    for n, line in enumerate(mb2, 1):
        table = _ORDER_TABLE.get(line.get(type_field, ""))
        code = line.get(code_field)
        if table is None or code is None or table not in tables:
            continue
        if not _order_lookup(refs, table)(code):
            out.append(Finding(f"{code_field}[{n}]", missing[table]))
