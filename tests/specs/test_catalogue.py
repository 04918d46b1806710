"""The check-code catalogue: loading, messages, severities, and that it stays in step with the
code (every code emitted anywhere in src/ is catalogued)."""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from nhihub.checks.rules import requirements, rules
from nhihub.specs import catalogue as cat_mod
from nhihub.specs import codes as code_tables
from nhihub.specs.catalogue import (
    CODE_PATTERN,
    catalogue,
    claimed_codes,
    error_codes,
    is_error,
    message,
    severity,
    warning_codes,
)

SRC = Path(cat_mod.__file__).resolve().parents[1]  # src/nhihub
HEADER = "code\tseverity\tclaimed\tneeds\tmessage_zh\tmessage_en\n"


def test_every_entry_is_complete() -> None:
    for code, e in catalogue().items():
        assert e.code == code
        assert CODE_PATTERN.match(code)
        assert e.message_zh.strip() and e.message_en.strip()
        assert e.severity in ("error", "warning")
        assert isinstance(e.claimed, bool)


def test_message_in_both_languages() -> None:
    for code, e in catalogue().items():
        assert message(code) == e.message_zh
        assert message(code, "zh") == e.message_zh
        assert message(code, "en") == e.message_en


def test_unknown_code_renders_as_itself_and_counts_as_error() -> None:
    assert "ZZ99" not in catalogue()
    assert message("ZZ99") == "ZZ99"
    assert message("ZZ99", "en") == "ZZ99"
    assert severity("ZZ99") == "error"
    assert is_error("ZZ99")


def test_records_still_accepted_by_nhi_are_warnings() -> None:
    """NHI's wording says which findings keep the record (仍會收載): exactly those are warnings."""
    kept = {c for c, e in catalogue().items() if "仍會收載" in e.message_zh}
    assert kept
    assert kept <= warning_codes()
    for code in warning_codes() - kept:
        # the only other warning: D058, NHI's own decoding notice (not the uploader's error)
        assert "本署" in catalogue()[code].message_zh


def test_error_and_warning_sets_partition_the_catalogue() -> None:
    assert error_codes() | warning_codes() == set(catalogue())
    assert not error_codes() & warning_codes()
    for code in catalogue():
        assert is_error(code) == (code in error_codes())


def test_claimed_codes_in_catalogue_order() -> None:
    claimed = claimed_codes()
    assert claimed == tuple(c for c in catalogue() if catalogue()[c].claimed)
    assert set(claimed) < set(catalogue())


def test_reference_needs_name_a_table() -> None:
    tables = {"institutions", "drugs", "fees", "materials", "staff", "diagnoses"}
    for e in catalogue().values():
        if e.needs.startswith("ref:"):
            assert e.reference_table in tables
        else:
            assert e.reference_table is None


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("XX1\terror\tyes\t\tx\ty\n", "pattern"),
        ("AA\tfatal\tyes\t\tx\ty\n", "severity"),
        ("AA\terror\tmaybe\t\tx\ty\n", "claimed"),
        ("AA\terror\tyes\tsometimes\tx\ty\n", "needs"),
        ("AA\terror\tyes\t\tx\ty\nAA\terror\tyes\t\tx\ty\n", "twice"),
    ],
)
def test_parse_refuses_malformed_rows(row: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        cat_mod._parse(HEADER + row)


def test_parse_reads_a_valid_row() -> None:
    parsed = cat_mod._parse("# comment\n" + HEADER + "NH001\twarning\tno\tref:drugs\t中\ten\n")
    e = parsed["NH001"]
    assert (e.severity, e.claimed, e.reference_table, e.message_zh) == (
        "warning",
        False,
        "drugs",
        "中",
    )


# -- the catalogue and the code stay in step ---------------------------------------------------


def _string_literals() -> Iterator[tuple[Path, int, str]]:
    """Plain string literals of src/ (not the pieces of f-strings)."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        pieces = {
            id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in pieces
            ):
                yield path, node.lineno, node.value


def _table_values() -> set[str]:
    out: set[str] = set()
    for name in code_tables.table_names():
        out |= set(code_tables.code_entries(name))
    return out


def test_every_code_literal_in_src_is_catalogued() -> None:
    """A string in src/ shaped like a check code is a catalogued code, or a value of a code table
    (visit category AI ...). Two-digit strings are too common to tell (months, counts); those
    emitted as codes are caught by the Finding / FileError scan below."""
    known = set(catalogue()) | _table_values()
    strays = [
        f"{p.relative_to(SRC)}:{line}: {v!r}"
        for p, line, v in _string_literals()
        if CODE_PATTERN.match(v) and not v.isdigit() and v not in known
    ]
    assert not strays


def _finding_codes() -> Iterator[tuple[Path, int, str]]:
    """Literal codes passed to Finding(...) / FileError(...) anywhere in src/."""
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in ("Finding", "FileError"):
                continue
            args = list(node.args)
            pos = 1 if name == "Finding" else 0
            candidates = [args[pos]] if len(args) > pos else []
            candidates += [k.value for k in node.keywords if k.arg == "code"]
            for c in candidates:
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    yield path, node.lineno, c.value


def test_every_literal_finding_code_is_catalogued() -> None:
    found = list(_finding_codes())
    assert found  # the scan sees the checks' findings
    strays = [f"{p.relative_to(SRC)}:{n}: {v!r}" for p, n, v in found if v not in catalogue()]
    assert not strays


def _rules_codes() -> Iterator[str]:
    r = rules()
    for version, lists in r["code_lists"].items():
        if not version.startswith("_"):
            yield from (code for _, code in lists.values())
    yield r["version"]["1.0"]["code"]
    refs = r["references"]
    for key in ("institution", "staff"):
        yield refs[key]["missing"]
        yield refs[key]["not_contracted"]
    yield refs["diagnoses"]["missing"]
    yield from refs["orders"]["missing"].values()
    yield from r["codec"]["plausible"]["M13"].values()
    yield from r["codec"]["plausible"]["M07"].values()
    for rules_ in r["codec"]["channels"].values():
        for _, code in rules_:
            yield code
    for key in ("D014", "D017"):
        yield r[key]["absent_code"]
    for version in ("2.0", "1.0"):
        for req in requirements(version):
            yield req.code


def test_every_code_in_the_check_data_is_catalogued() -> None:
    codes = set(_rules_codes())
    assert codes
    assert codes <= set(catalogue()), codes - set(catalogue())


def test_codes_of_other_data_files_are_catalogued() -> None:
    """Data files elsewhere in src/ that name check codes (reader, synth) name catalogued ones."""
    found: set[str] = set()
    reader = SRC / "formats" / "data" / "reader.json"
    if reader.exists():
        found |= set(json.loads(reader.read_text("utf-8"))["codes"].values())
    mutations = SRC / "synth" / "data" / "mutations.tsv"
    if mutations.exists():
        lines = [ln for ln in mutations.read_text("utf-8").splitlines() if ln and ln[0] != "#"]
        found |= {r["code"] for r in csv.DictReader(lines, delimiter="\t")}
    assert found <= set(catalogue()), found - set(catalogue())


def test_catalogue_file_is_packaged_data() -> None:
    assert resources.files("nhihub.specs").joinpath("data/checkcodes.tsv").is_file()


def test_docs_name_every_claimed_code() -> None:
    docs = SRC.parents[1] / "docs" / "checks.md"
    if not docs.exists():
        pytest.skip("docs/checks.md is not beside the sources")
    text = docs.read_text("utf-8")
    missing = [c for c in claimed_codes() if c not in text]
    assert not missing
