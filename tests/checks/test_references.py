"""TableReferences: the in-memory master files."""

from __future__ import annotations

import datetime as dt

from nhihub.checks import References, TableReferences

D = dt.date


def test_not_loaded_tables_are_not_listed() -> None:
    assert TableReferences().tables == frozenset()
    refs = TableReferences(drugs=frozenset(), staff={})
    assert refs.tables == {"drugs", "staff"}
    assert isinstance(refs, References)


def test_lookups() -> None:
    refs = TableReferences(
        institutions={"3502060427": ((D(2020, 1, 1), D(2024, 12, 31)),)},
        drugs=frozenset({"AC45856100"}),
        fees=frozenset({"09005C"}),
        materials=frozenset({"FBN01234567"}),
        staff={("F131104093", "3502060427"): ((D(2024, 1, 1), D(2024, 6, 30)),)},
        diagnoses=frozenset({"J069"}),
    )
    assert refs.has_institution("3502060427") and not refs.has_institution("0401180014")
    assert refs.institution_contract("3502060427", D(2024, 12, 31))
    assert not refs.institution_contract("3502060427", D(2025, 1, 1))
    assert not refs.institution_contract("0401180014", D(2024, 1, 1))
    assert refs.has_drug("AC45856100") and not refs.has_drug("09005C")
    assert refs.has_fee_item("09005C") and not refs.has_fee_item("AC45856100")
    assert refs.has_material("FBN01234567") and not refs.has_material("X")
    assert refs.has_staff("F131104093") and not refs.has_staff("A123456789")
    assert refs.staff_contract("F131104093", "3502060427", D(2024, 1, 1))
    assert not refs.staff_contract("F131104093", "3502060427", D(2024, 7, 1))
    assert not refs.staff_contract("F131104093", "0401180014", D(2024, 1, 1))
    assert refs.has_diagnosis("J069") and not refs.has_diagnosis("I10")


def test_unloaded_tables_know_nothing() -> None:
    refs = TableReferences()
    assert not refs.has_drug("X")
    assert not refs.has_staff("F131104093")
    assert not refs.institution_contract("3502060427", D(2024, 1, 1))
