"""nhihub.synth.generate: determinism, counts, error injection, paired 1.0 files, parameters."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import pytest

from nhihub.formats.model import Record
from nhihub.synth import InjectedError, SynthError, generate, iter_records, mutation_kinds
from nhihub.visitid import Keyring


def _plain(rec: Record) -> tuple[object, ...]:
    return (rec.index, rec.version, rec.header, rec.mb1, rec.mb2)


def test_same_seed_same_records(as_of: dt.datetime, keys: Keyring) -> None:
    result = generate(5, 300, as_of=as_of, error_rate=0.1, keyring=keys)
    first = [(_plain(r), e) for r, e in result]
    again = [(_plain(r), e) for r, e in result]  # a result can be iterated again
    fresh = [(_plain(r), e) for r, e in generate(5, 300, as_of=as_of, error_rate=0.1, keyring=keys)]
    assert first == again == fresh


def test_other_seed_other_records(as_of: dt.datetime, keys: Keyring) -> None:
    a = [r.mb1["M03"] for r in generate(5, 50, as_of=as_of, keyring=keys).iter_records()]
    b = [r.mb1["M03"] for r in generate(6, 50, as_of=as_of, keyring=keys).iter_records()]
    assert a != b


@pytest.mark.parametrize("n", [1, 2, 7, 250])
def test_exact_record_count_and_indexes(n: int, as_of: dt.datetime, keys: Keyring) -> None:
    recs = list(generate(3, n, as_of=as_of, keyring=keys).iter_records())
    assert [r.index for r in recs] == list(range(1, n + 1))
    assert all(r.version == "2.0" for r in recs)


def test_iter_records_is_the_result_iterated(as_of: dt.datetime, keys: Keyring) -> None:
    a = [(_plain(r), e) for r, e in iter_records(4, 40, as_of=as_of, keyring=keys, error_rate=0.5)]
    b = [(_plain(r), e) for r, e in generate(4, 40, as_of=as_of, keyring=keys, error_rate=0.5)]
    assert a == b


def test_error_count_is_the_rate_of_records(
    faulty: list[tuple[Record, list[InjectedError]]],
) -> None:
    errors = [e for _, es in faulty for e in es]
    assert len(errors) == round(0.2 * len(faulty))
    assert all(len(es) <= 1 for _, es in faulty)
    for rec, es in faulty:
        for e in es:
            assert e.index == rec.index
            assert e.code == mutation_kinds()[e.kind].code


def test_errors_use_many_kinds(faulty: list[tuple[Record, list[InjectedError]]]) -> None:
    kinds = Counter(e.kind for _, es in faulty for e in es)
    assert len(kinds) >= len(mutation_kinds()) // 2


def test_error_rate_does_not_change_the_other_records(
    as_of: dt.datetime, keys: Keyring, faulty: list[tuple[Record, list[InjectedError]]]
) -> None:
    clean = list(generate(11, 1000, as_of=as_of, keyring=keys).iter_records())
    for (rec, errors), base in zip(faulty, clean, strict=True):
        if not errors:
            assert _plain(rec) == _plain(base)
        else:
            assert _plain(rec) != _plain(base)


def test_restricted_kinds(as_of: dt.datetime, keys: Keyring) -> None:
    result = generate(
        2, 200, as_of=as_of, keyring=keys, error_rate=0.3, mutations=("missing-visit-id",)
    )
    errors = [e for _, es in result for e in es]
    assert len(errors) == 60
    assert {(e.field, e.code, e.kind) for e in errors} == {("M15", "AA", "missing-visit-id")}


def test_rare_kind_is_carried_to_the_next_record_it_fits(as_of: dt.datetime, keys: Keyring) -> None:
    # only chronic prescriptions (about 1 record in 7) can take refill-count-out-of-range: a pick
    # that does not fit is carried to the next record that does, so most of the plan is met
    result = generate(
        9, 400, as_of=as_of, keyring=keys, error_rate=0.05, mutations=("refill-count-out-of-range",)
    )
    pairs = list(result)
    errors = [e for _, es in pairs for e in es]
    assert result.errors_planned == 20
    assert 15 <= len(errors) <= 20
    assert all("M21" in r.mb1 for r, es in pairs if es)


def test_full_error_rate(as_of: dt.datetime, keys: Keyring) -> None:
    pairs = list(generate(8, 60, as_of=as_of, keyring=keys, error_rate=1.0))
    assert all(len(es) == 1 for _, es in pairs)


def test_paired_v1_matches_every_2_0_record(as_of: dt.datetime, keys: Keyring) -> None:
    result = generate(12, 300, as_of=as_of, keyring=keys, error_rate=0.1)
    v2 = [r for r, _ in generate(12, 300, as_of=as_of, keyring=keys)]
    v1 = list(result.paired_v1())
    assert len(v1) == 300
    assert [r.index for r in v1] == list(range(1, 301))
    for a, b in zip(v1, v2, strict=True):
        assert a.version == "1.0"
        key_1 = (a.mb1["A12"], a.mb1["A13"], a.mb1["A17"], a.mb1["A23"])
        assert key_1 == (b.mb1["M03"], b.mb1["M04"], b.mb1["M11"], b.mb1["M07"])


def test_paired_v1_with_unmatched_share(as_of: dt.datetime, keys: Keyring) -> None:
    result = generate(12, 800, as_of=as_of, keyring=keys, unmatched_share=0.2)
    v2 = {(r.mb1["M03"], r.mb1["M04"], r.mb1["M11"], r.mb1["M07"]) for r in result.iter_records()}
    v1 = [(r.mb1["A12"], r.mb1["A13"], r.mb1["A17"], r.mb1["A23"]) for r in result.paired_v1()]
    assert len(v2) == 800
    assert v2 <= set(v1)
    unmatched = len(v1) - 800
    assert 0.1 < unmatched / len(v1) < 0.3  # about the share asked for
    # the 1.0-only visits are left out of the 2.0 file, not added to it
    assert len([k for k in v1 if k not in v2]) == unmatched


def test_version_1_0_file(as_of: dt.datetime, keys: Keyring) -> None:
    recs = list(generate(12, 100, as_of=as_of, keyring=keys, version="1.0").iter_records())
    assert len(recs) == 100
    assert all(r.version == "1.0" and r.header["A02"] == "1.0" for r in recs)
    v2 = list(generate(12, 100, as_of=as_of, keyring=keys).iter_records())
    assert [r.mb1["A17"] for r in recs] == [r.mb1["M11"] for r in v2]


def test_injected_error_to_dict() -> None:
    e = InjectedError(3, "D01[2]", "BE", "line-datetime-mismatch")
    assert e.to_dict() == {
        "index": 3,
        "field": "D01[2]",
        "code": "BE",
        "kind": "line-datetime-mismatch",
    }


def test_as_of_is_normalised(keys: Keyring) -> None:
    aware = dt.datetime(2024, 10, 15, 12, 30, 5, 999, tzinfo=dt.UTC)
    result = generate(1, 5, as_of=aware, keyring=keys)
    assert result.as_of == dt.datetime(2024, 10, 15, 12, 30, 5)
    assert dataclasses.asdict(result)["records"] == 5


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"version": "3.0"}, "version"),
        ({"records": 0}, "records"),
        ({"error_rate": 1.5}, "error rate"),
        ({"error_rate": -0.1}, "error rate"),
        ({"unmatched_share": 1.0}, "unmatched"),
        ({"version": "1.0", "error_rate": 0.1}, "2.0"),
        ({"mutations": ("no-such-kind",)}, "no-such-kind"),
        ({"mutations": ()}, "mutation"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], text: str, as_of: dt.datetime) -> None:
    args: dict[str, object] = {"records": 10, **kwargs}
    records = args.pop("records")
    with pytest.raises(SynthError) as info:
        generate(1, records, as_of=as_of, **args)  # type: ignore[arg-type]
    assert text in str(info.value)
    assert " / " in str(info.value)  # zh-TW / English
