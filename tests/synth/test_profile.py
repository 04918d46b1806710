"""nhihub.synth.profile: the packaged data is complete and agrees with the shared code tables."""

from __future__ import annotations

import re

from nhihub.specs.codes import (
    abnormal_sequence_codes,
    allowed_categories,
    codes,
    sequence_kind,
)
from nhihub.specs.fields import by_id
from nhihub.synth.profile import Weighted, profile


def test_kinds() -> None:
    prof = profile()
    assert {k.kind for k in prof.kinds} >= {"medical_centre", "western_clinic", "pharmacy"}
    for k in prof.kinds:
        assert k.zh and k.en and k.count > 0 and len(k.type) == 2 and k.type.isdigit()
        assert k.m56 == "" or k.m56 in codes("m56")
        assert set(k.categories.values) <= codes("m07")
        if k.m56 in allowed_categories():
            assert set(k.categories.values) <= allowed_categories()[k.m56]
    assert sum(k.weight for k in prof.kinds) > 0


def test_sequence_codes_are_announced_ones() -> None:
    prof = profile()
    assert set(prof.abnormal_codes.values) <= abnormal_sequence_codes()
    assert "G000" not in prof.abnormal_codes.values  # needs a new contract (D020, D075)
    for code in prof.raw["preventive_codes"].values():
        assert sequence_kind(code) == "preventive"
    form = prof.raw["virtual_sequence"]
    assert sequence_kind(f"{form['prefix']}{int(form['max']):03d}") == "virtual-w"


def test_item_lists() -> None:
    prof = profile()
    for items in prof.drugs.values():
        for code, name, price in items:
            assert re.fullmatch(r"[A-Z][A-Z0-9][0-9]{8}", code), code
            assert name and price > 0
    for items in prof.fee_items.values():
        assert all(code and name and pts > 0 for code, name, pts in items)
    for group in prof.diagnoses.values():
        assert all(re.fullmatch(r"[A-Z][0-9][0-9A-Z]{1,5}", c) for c in group)
    assert set(prof.frequencies.values()) and min(prof.frequencies.values()) >= 1


def test_weighted() -> None:
    w = Weighted.of({"a": 1, "b": 3})
    assert w.values == ("a", "b") and w.cum_weights == (1.0, 4.0)


def test_v1_map_joins_fields_of_the_same_segment() -> None:
    cfg = profile().raw["v1"]
    v2, v1 = by_id("2.0"), by_id("1.0")
    for section in ("mb1", "mb2"):
        for source, target in cfg[section].items():
            assert v2[source].segment == v1[target].segment == section.upper()
            assert v2[source].type == v1[target].type
    targets = list(cfg["mb1"].values()) + list(cfg["mb2"].values())
    assert len(set(targets)) == len(targets)
