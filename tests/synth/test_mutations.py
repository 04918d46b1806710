"""nhihub.synth.mutations: the kinds, where they apply, what they change."""

from __future__ import annotations

import copy
import datetime as dt
import random
import re

import pytest

from nhihub.formats.model import Record
from nhihub.ids.rocdate import format_roc_datetime
from nhihub.specs.catalogue import catalogue
from nhihub.specs.codes import max_order_lines
from nhihub.synth.mutations import (
    MutationContext,
    applicable,
    implemented,
    mutate,
    mutation_kinds,
)
from nhihub.visitid import Channel, Keyring, decode, issue

KINDS = tuple(mutation_kinds())


def _ctx(as_of: dt.datetime, keys: Keyring) -> MutationContext:
    def reissue(person: str, at: dt.datetime, institution: str, channel: Channel) -> str:
        return issue(person, at, institution, channel, keyring=keys)

    return MutationContext(as_of, reissue)


def test_every_listed_kind_is_implemented() -> None:
    assert set(KINDS) == set(implemented())
    for k in mutation_kinds().values():
        assert k.zh and k.en and k.code
        assert re.fullmatch(r"(M[0-9]{2}|D[0-9]{2}\[k\]|MB2)", k.field), k.field


@pytest.mark.parametrize("kind", KINDS)
def test_kind_applies_somewhere_and_changes_the_named_field(
    kind: str, clean_records: list[Record], as_of: dt.datetime, keys: Keyring
) -> None:
    ctx = _ctx(as_of, keys)
    targets = [r for r in clean_records if kind in applicable(r, KINDS, ctx)]
    assert targets, f"no generated record takes {kind}"
    spec = mutation_kinds()[kind]
    for rec in targets[:5]:
        before = copy.deepcopy(rec)
        after = copy.deepcopy(rec)
        field, code = mutate(after, kind, ctx, random.Random(1))
        assert code == spec.code
        assert re.fullmatch(re.escape(spec.field).replace(r"\[k\]", r"\[[0-9]+\]"), field)
        assert (after.mb1, after.mb2) != (before.mb1, before.mb2)
        # BG is reported on the visit date-time, the mutation moves the birth date
        field = {"birth-after-visit": "M04"}.get(kind, field)
        if field == "MB2":
            assert len(after.mb2) > len(before.mb2)
        elif field.startswith("M"):
            assert after.mb1.get(field) != before.mb1.get(field)
        else:
            name, k = field[:3], int(field[4:-1])
            assert after.mb2[k - 1].get(name) != before.mb2[k - 1].get(name)


def test_moved_visit_gets_a_matching_identifier(
    clean_records: list[Record], as_of: dt.datetime, keys: Keyring
) -> None:
    rec = copy.deepcopy(clean_records[0])
    mutate(rec, "future-visit", _ctx(as_of, keys), random.Random(2))
    v = decode(rec.mb1["M15"], keyring=keys)
    assert v.at == rec.mb1["M11"] > format_roc_datetime(as_of)
    assert all(line["D01"] == rec.mb1["M11"] for line in rec.mb2)


def test_too_many_orders_goes_just_past_the_limit(
    clean_records: list[Record], as_of: dt.datetime, keys: Keyring
) -> None:
    rec = copy.deepcopy(next(r for r in clean_records if r.mb2))
    mutate(rec, "too-many-orders", _ctx(as_of, keys), random.Random(3))
    assert len(rec.mb2) == max_order_lines()["1"] + 1
    assert len({line["D03"] for line in rec.mb2}) == len(rec.mb2)


def test_applicability(as_of: dt.datetime, keys: Keyring) -> None:
    rec = Record(1, 0, "2.0", {"H00": "1", "H01": "A"}, {"M07": "AC", "M13": "IC21"}, [])
    kinds = applicable(rec, KINDS, _ctx(as_of, keys))
    assert "preventive-sequence" in kinds
    assert "sequence-out-of-range" not in kinds  # AC does not accumulate
    assert "duplicate-order-number" not in kinds and "too-many-orders" not in kinds
    assert "missing-visit-id" not in kinds  # nothing to drop


def test_every_code_is_an_error_of_the_catalogue() -> None:
    # so every record with an injected error is invalid, and nhihub check counts them
    for k in mutation_kinds().values():
        assert catalogue()[k.code].severity == "error", k.kind
