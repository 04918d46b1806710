"""The check data: requirement rules compile into plans; every field they name exists."""

from __future__ import annotations

import pytest

from nhihub.checks.rules import field_rules, key_fields, plan, requirements, rules
from nhihub.specs.catalogue import catalogue
from nhihub.specs.codes import codes
from nhihub.specs.fields import by_id


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_requirements_name_known_fields_and_codes(version: str) -> None:
    fields = by_id(version)
    for req in requirements(version):
        assert req.field in fields, req
        assert req.code in catalogue(), req
        for cond in req.conditions:
            assert cond.field in fields, req


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_key_fields_have_code_tables(version: str) -> None:
    for name in key_fields(version):
        assert field_rules(version)[name].codes is not None


def test_plan_for_a_normal_outpatient_visit() -> None:
    p = plan("2.0", ("1", "A", "01"))
    assert {"M01", "M02", "M14", "M13", "M15"} <= set(p.mb1_required)
    assert "M01" not in p.mb1_forbidden
    assert "D11" not in p.line_forbidden


def test_plan_for_an_abnormal_upload_forbids_card_fields() -> None:
    p = plan("2.0", ("1", "B", "01"))
    assert {"M01", "M02", "M14"} <= set(p.mb1_forbidden)
    assert "D11" in p.line_forbidden
    assert "M13" in p.mb1_required


def test_unknown_keys_drop_the_rules_that_read_them() -> None:
    p = plan("2.0", ("1", None, None))
    for fields in (p.mb1_required, p.mb1_forbidden, p.line_forbidden):
        assert not {"M01", "M04", "M13", "M16", "D11"} & set(fields)
    assert {"M03", "M05", "M11", "M15"} <= set(p.mb1_required)


def test_conditions_on_other_fields_stay_dynamic() -> None:
    p = plan("2.0", ("1", "A", "01"))
    dynamic = {r[0] for r in p.record_rules}
    assert {"M08", "M09", "M49", "M52"} <= dynamic
    assert {r[0] for r in p.line_rules} >= {"D08", "D10"}


def test_group_conditions_use_the_code_tables() -> None:
    m13_rules = [r for r in requirements("2.0") if r.field == "M13"]
    groups = [c.values for r in m13_rules for c in r.conditions if c.field == "M07"]
    assert all(g is not None and g <= codes("m07") for g in groups)


def test_rule_parameters_name_catalogued_codes_and_known_fields() -> None:
    fields = by_id("2.0")
    r = rules()
    for name in (*r["D067"]["fields"], *r["D059"]["fields"], *r["BG"]["2.0"], *r["D013"]["fields"]):
        assert name in fields
    for code in ("D014", "D017"):
        assert r[code]["absent_code"] in catalogue()


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_every_code_of_a_field_table_fits_the_field(version: str) -> None:
    """The field-level fast path accepts a table code without checking type and length, so
    every code must pass them (a table code the field cannot hold would hide an AB / AC)."""
    from nhihub.checks.fieldlevel import _check_value

    for rule in field_rules(version).values():
        for code in rule.codes or ():
            assert _check_value(rule, code, "9999999999999") is None, (rule.id, code)
