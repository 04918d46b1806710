"""The service's rules data: every code is an NHI code of the catalogue, every field exists."""

from __future__ import annotations

from nhihub.service.spec import service_spec
from nhihub.specs.catalogue import catalogue
from nhihub.specs.codes import code_entries
from nhihub.specs.fields import by_id


def test_codes_and_fields_exist() -> None:
    spec = service_spec()
    fields = by_id("2.0")
    symbolic = {"refill_number", "refill_count", "institution_code", None}
    for name, rule in spec.findings.items():
        assert rule.code in catalogue(), name
        assert rule.field in fields or rule.field in symbolic, name
    for kind in spec.refill_kinds:
        for f in (kind.count_field, kind.number_field):
            assert f in fields
        assert kind.cancelled_code in catalogue()
    categories = code_entries("m07")
    assert spec.dispensing_categories <= set(categories)
    assert spec.original_categories <= set(categories)
    assert spec.store_ops | {spec.cancel_op, spec.delete_op, spec.restore_op} <= set(
        code_entries("h01")
    )


def test_rejections_name_nhi_return_codes() -> None:
    spec = service_spec()
    assert spec.rejections["unknown_institution"].rtn_code == "9005"
    assert spec.rejections["bad_kind"].rtn_code == "5003"
    for r in spec.rejections.values():
        assert r.zh and r.en and r.rtn_code.isdigit()
