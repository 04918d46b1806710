"""Code tables (nhihub.specs.codes): loading and the helpers the checks use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.checks.rules import rules
from nhihub.specs import codes as ct
from nhihub.specs.fields import by_id


def test_every_table_loads_with_names() -> None:
    assert ct.table_names()
    for name in ct.table_names():
        entries = ct.code_entries(name)
        assert entries, name
        for code, e in entries.items():
            assert code and e.code == code
            assert e.name_zh.strip() and e.name_en.strip()


def test_code_table_is_a_fresh_dict_of_zh_names() -> None:
    table = ct.code_table("m07")
    assert table == {c: e.name_zh for c, e in ct.code_entries("m07").items()}
    table.clear()
    assert ct.code_table("m07")  # the cached table is not affected


def test_code_name_in_both_languages() -> None:
    for code, e in ct.code_entries("h01").items():
        assert ct.code_name("h01", code) == e.name_zh
        assert ct.code_name("h01", code, "en") == e.name_en
    assert ct.code_name("h01", "not a code") is None


def test_unknown_table() -> None:
    with pytest.raises(KeyError):
        ct.code_entries("no-such-table")


def test_tables_named_by_the_checks_exist() -> None:
    for version, lists in rules()["code_lists"].items():
        if version.startswith("_"):
            continue
        for field, (table, _) in lists.items():
            assert table in ct.table_names(), (field, table)
            assert field in by_id(version), field


def test_accumulating_categories_are_visit_categories() -> None:
    acc = ct.accumulating_categories()
    assert acc and acc < ct.codes("m07")
    extra = ct.code_entries("m07")
    assert all(extra[c].extra["accumulates"] == "yes" for c in acc)


def test_allowed_categories_name_known_codes() -> None:
    allowed = ct.allowed_categories()
    assert allowed
    assert set(allowed) <= ct.codes("m56")
    for m07s in allowed.values():
        assert m07s <= ct.codes("m07")


def test_order_count_fields_are_mb1_fields() -> None:
    fields = by_id("2.0")
    assert set(ct.order_count_fields()) == ct.codes("d04")
    for f in ct.order_count_fields().values():
        assert fields[f].segment == "MB1"


def test_max_order_lines_per_data_type() -> None:
    limits = ct.max_order_lines()
    assert set(limits) == ct.codes("h00")
    assert all(n > 0 for n in limits.values())


def test_reference_tables_of_order_types() -> None:
    tables = ct.order_reference_tables()
    assert set(tables) <= ct.codes("d02")
    assert set(tables.values()) <= {"drugs", "fees", "materials"}


def test_replacement_marks_and_birth_order() -> None:
    assert ct.replacement_marks() < ct.codes("m12")
    orders = ct.birth_order()
    assert set(orders) == ct.codes("m10")
    assert sorted(orders.values()) == list(range(1, len(orders) + 1))


def test_sequence_kind_of_each_abnormal_code() -> None:
    for code in ct.abnormal_sequence_codes():
        assert ct.sequence_kind(code) == "abnormal"


@given(st.integers(min_value=0, max_value=9999))
def test_card_sequence_numbers(n: int) -> None:
    card = next(f for f in ct.sequence_forms() if f.kind == "card")
    value = f"{n:0{card.width}d}"
    assert card.low is not None and card.high is not None
    assert card.matches(value) == (card.low <= n <= card.high)


@given(st.text(max_size=6))
def test_sequence_kind_never_raises(value: str) -> None:
    kind = ct.sequence_kind(value)
    assert kind is None or kind == "abnormal" or kind in {f.kind for f in ct.sequence_forms()}


def test_sequence_forms_refuse_other_characters() -> None:
    for form in ct.sequence_forms():
        wrong = form.prefix + "\uff11" * form.width  # full-width digit one
        assert not form.matches(wrong)
        assert not form.matches(form.prefix + "a" * form.width)
        assert not form.matches(form.prefix)
