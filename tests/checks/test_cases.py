"""Conformance cases: every claimed check code has a case file ``cases/<CODE>.json`` with at least
one failing case (the code is expected) and one passing case (the code must be absent).

A case starts from a named valid base record (``cases/_bases.json``) and changes it:

- ``set``: field -> value. ``M13`` / ``H01`` address the header or MB1 (by the field tables),
  ``D09[2]`` the 2nd order line, ``D09[*]`` every line. A value ``{"visitid": {...}}`` is issued
  with the test issuing key (keys ``person``, ``at``, ``institution``: a field name or a literal;
  ``channel``); with ``"codec": true`` M15 and M52 are issued to match the record unless set.
- ``remove``: fields to drop (same addressing); ``lines``: replace MB2; ``add_lines``: append;
  ``repeat_line``: ``{"line": n, "count": c}`` copies line n until MB2 has c lines (D03 renumbered).
- ``xml``: instead of a base, the text of a whole upload file, read with the streaming reader
  (file-level codes, Y***); ``encoding`` names how the text is encoded (default utf-8).
- ``context``: ``as_of`` (ROC date-time, default 1131015120000), ``codec`` (bool),
  ``references`` (tables, see :func:`_references`), ``upload_version``, ``record_version``.
- ``expect``: ``[field, code]`` pairs that must be reported (field ``null``: the record as a
  whole); ``absent``: codes that must not be reported; ``exact`` (default true): nothing else may
  be reported.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from nhihub.checks import CheckContext, TableReferences, check_record
from nhihub.formats.model import FileError, Finding, Record
from nhihub.ids.rocdate import parse_roc_date, parse_roc_datetime
from nhihub.specs.catalogue import catalogue
from nhihub.specs.fields import by_id
from nhihub.visitid import Keyring, issue

CASES = Path(__file__).parent / "cases"
DEFAULT_AS_OF = "1131015120000"
# A fixed, non-development issuing key: the decode checks run only with such a key.
TEST_KEYRING = Keyring.from_master(bytes.fromhex("00112233445566778899aabbccddeeff"))


def _bases() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES / "_bases.json").read_text("utf-8"))
    data.pop("_comment", None)
    return data


BASES = _bases()


def _case_files() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for path in sorted(CASES.glob("*.json")):
        if path.name.startswith("_"):
            continue
        out[path.stem] = json.loads(path.read_text("utf-8"))
    return out


CASE_FILES = _case_files()


def _params() -> list[Any]:
    return [
        pytest.param(code, case, id=f"{code}:{case['name']}")
        for code, cases in CASE_FILES.items()
        for case in cases
    ]


# -- building records ----------------------------------------------------------------------------


def _address(field: str) -> tuple[str, int | None]:
    """``D09[2]`` -> (``D09``, 1); ``D09[*]`` -> (``D09``, -1); ``M13`` -> (``M13``, None)."""
    name, bracket, rest = field.partition("[")
    if not bracket:
        return name, None
    index = rest.rstrip("]")
    return name, -1 if index == "*" else int(index) - 1


def _segment(version: str, name: str) -> str:
    spec = by_id(version).get(name)
    assert spec is not None, f"unknown field {name} in a case file"
    return spec.segment


def _targets(rec: Record, field: str) -> list[tuple[dict[str, str], str]]:
    name, line = _address(field)
    if line is None:
        seg = _segment(rec.version, name)
        return [(rec.header if seg == "MSH" else rec.mb1, name)]
    if line == -1:
        return [(ln, name) for ln in rec.mb2]
    return [(rec.mb2[line], name)]


def _resolve(rec: Record, value: Any, default_channel: str) -> str:
    if isinstance(value, str):
        return value
    spec = value["visitid"]

    def pick(key: str, default: str) -> str:
        v: str = spec.get(key, default)
        return rec.mb1[v] if v in by_id(rec.version) else v

    return issue(
        pick("person", "M03"),
        pick("at", "M11"),
        pick("institution", "M05"),
        spec.get("channel", default_channel),
        keyring=TEST_KEYRING,
    )


def build_record(case: dict[str, Any]) -> Record:
    base = copy.deepcopy(BASES[case["base"]])
    rec = Record(
        index=1,
        line=1,
        version=base["version"],
        header=base["header"],
        mb1=base["mb1"],
        mb2=base["mb2"],
    )
    if "lines" in case:
        rec.mb2 = copy.deepcopy(case["lines"])
    rec.mb2.extend(copy.deepcopy(case.get("add_lines", [])))
    if "repeat_line" in case:
        spec = case["repeat_line"]
        model = rec.mb2[spec["line"] - 1]
        while len(rec.mb2) < spec["count"]:
            rec.mb2.append(dict(model))
        for n, line in enumerate(rec.mb2, 1):
            line["D03"] = f"{n:03d}"
    for field in case.get("remove", []):
        for seg, name in _targets(rec, field):
            seg.pop(name, None)
    channel = "no-card" if rec.header.get("H01") == "B" else "card"
    explicit = set(case.get("set", {}))
    for field, value in case.get("set", {}).items():
        if isinstance(value, dict):
            continue  # identifiers are issued last, from the final record
        for seg, name in _targets(rec, field):
            seg[name] = value
    if case.get("context", {}).get("codec"):
        if "M15" in rec.mb1 and "M15" not in explicit:
            rec.mb1["M15"] = _resolve(rec, {"visitid": {}}, channel)
        if "M52" in rec.mb1 and "M52" not in explicit and "M49" in rec.mb1:
            rec.mb1["M52"] = _resolve(rec, {"visitid": {"at": "M49", "channel": "no-card"}}, "")
    for field, value in case.get("set", {}).items():
        if isinstance(value, dict):
            for seg, name in _targets(rec, field):
                seg[name] = _resolve(rec, value, channel)
    if "record_version" in case.get("context", {}):
        rec.version = case["context"]["record_version"]
    return rec


def _periods(raw: list[list[str]]) -> tuple[tuple[dt.date, dt.date], ...]:
    return tuple((parse_roc_date(a), parse_roc_date(b)) for a, b in raw)


def _references(raw: dict[str, Any]) -> TableReferences:
    """``institutions``: {code: [[first, last], ...]} (ROC dates); ``staff``: {"ID@institution":
    [[first, last]]}; ``drugs`` / ``fees`` / ``materials`` / ``diagnoses``: lists of codes."""
    institutions = raw.get("institutions")
    staff = raw.get("staff")
    return TableReferences(
        institutions=(
            {k: _periods(v) for k, v in institutions.items()} if institutions is not None else None
        ),
        drugs=frozenset(raw["drugs"]) if "drugs" in raw else None,
        fees=frozenset(raw["fees"]) if "fees" in raw else None,
        materials=frozenset(raw["materials"]) if "materials" in raw else None,
        staff=(
            {tuple(k.split("@")): _periods(v) for k, v in staff.items()}  # type: ignore[misc]
            if staff is not None
            else None
        ),
        diagnoses=frozenset(raw["diagnoses"]) if "diagnoses" in raw else None,
    )


def build_context(case: dict[str, Any]) -> CheckContext:
    raw = case.get("context", {})
    return CheckContext(
        as_of=parse_roc_datetime(raw.get("as_of", DEFAULT_AS_OF)),
        codec=TEST_KEYRING if raw.get("codec") else None,
        references=_references(raw["references"]) if "references" in raw else None,
        upload_version=raw.get("upload_version"),
    )


def run_case(case: dict[str, Any]) -> set[tuple[str | None, str]]:
    ctx = build_context(case)
    if "xml" in case:
        from nhihub.formats.reader import iter_upload

        data = case["xml"].encode(case.get("encoding", "utf-8"))
        got: set[tuple[str | None, str]] = set()
        for item in iter_upload(io.BytesIO(data)):
            if isinstance(item, FileError):
                got.add((None, item.code))
            else:
                got.update((f.field, f.code) for f in check_record(item, ctx))
        return got
    findings = check_record(build_record(case), ctx)
    assert all(isinstance(f, Finding) for f in findings)
    return {(f.field, f.code) for f in findings}


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BASES))
def test_bases_are_valid(name: str) -> None:
    assert run_case({"name": "base", "base": name}) == set()


@pytest.mark.parametrize(("code", "case"), _params())
def test_case(code: str, case: dict[str, Any]) -> None:
    got = run_case(case)
    expected = {(f, c) for f, c in case.get("expect", [])}
    missing = expected - got
    assert not missing, f"expected {sorted(missing, key=str)}, got {sorted(got, key=str)}"
    leaked = {c for _, c in got} & set(case.get("absent", []))
    assert not leaked, f"must not report {sorted(leaked)}; got {sorted(got, key=str)}"
    if case.get("exact", True):
        assert got == expected, f"unexpected {sorted(got - expected, key=str)}"
    unclaimed = {c for _, c in got if not catalogue()[c].claimed}
    assert not unclaimed, f"reported unclaimed codes {sorted(unclaimed)}"


def test_every_case_file_names_a_catalogued_code() -> None:
    assert set(CASE_FILES) <= set(catalogue())


@pytest.mark.parametrize("code", [c for c, e in catalogue().items() if e.claimed])
def test_every_claimed_code_has_a_failing_and_a_passing_case(code: str) -> None:
    cases = CASE_FILES.get(code)
    assert cases, f"claimed code {code} has no case file tests/checks/cases/{code}.json"
    failing = [c for c in cases if any(e[1] == code for e in c.get("expect", []))]
    passing = [c for c in cases if code in c.get("absent", [])]
    assert failing, f"{code}: no case expects it"
    assert passing, f"{code}: no case lists it as absent"


def test_case_names_are_unique_per_file() -> None:
    for code, cases in CASE_FILES.items():
        names = [c["name"] for c in cases]
        assert len(names) == len(set(names)), code
