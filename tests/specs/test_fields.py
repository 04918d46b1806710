"""The field tables of format 2.0 and 1.0 (data/fields-<version>.tsv) and their loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nhihub.specs.fields import (
    VERSIONS,
    by_id,
    detect_version,
    fields,
    segment_fields,
    segment_ids,
)

SEGMENTS = ("MSH", "MB1", "MB2")
TYPES = {"X", "9", "N", "D", "T"}
SOURCES = {"ref", "card", "claims", "decided"}
DATE_WIDTH = {"D": 7, "T": 13}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("version", VERSIONS)
def test_table_loads_with_unique_ids(version: str) -> None:
    table = fields(version)
    ids = [f.id for f in table]
    assert table
    assert len(ids) == len(set(ids))
    assert set(by_id(version)) == set(ids)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_field_has_chinese_and_english_names(version: str) -> None:
    for f in fields(version):
        assert CJK.search(f.name_zh), f.id
        assert re.search(r"[A-Za-z]{2}", f.name_en), f.id
        assert not CJK.search(f.name_en), f.id


@pytest.mark.parametrize("version", VERSIONS)
def test_segments_are_in_file_order(version: str) -> None:
    order = [SEGMENTS.index(f.segment) for f in fields(version)]
    assert order == sorted(order)
    assert {f.segment for f in fields(version)} == set(SEGMENTS)


@pytest.mark.parametrize("version", VERSIONS)
def test_ids_ascend_within_each_segment(version: str) -> None:
    # 2.0 MB2 holds D01-D15, then V01-V02 and E01-E13: each letter's numbers ascend
    for segment in SEGMENTS:
        groups: dict[str, list[int]] = {}
        for f in segment_fields(version, segment):
            groups.setdefault(f.id[0], []).append(int(f.id[1:]))
        for letter, numbers in groups.items():
            assert numbers == sorted(numbers), (segment, letter)


@pytest.mark.parametrize("version", VERSIONS)
def test_types_lengths_and_sources_are_valid(version: str) -> None:
    for f in fields(version):
        assert f.type in TYPES, f.id
        assert f.length is None or f.length > 0, f.id
        assert f.source in SOURCES, f.id
        if f.type in DATE_WIDTH:
            assert f.length == DATE_WIDTH[f.type], f.id
        if f.type == "9":
            assert f.length is not None, f.id  # a digit field is fixed width


def test_format_20_has_the_documented_fields() -> None:
    ids = {seg: [f.id for f in segment_fields("2.0", seg)] for seg in SEGMENTS}
    assert ids["MSH"] == ["H00", "H01"]
    assert ids["MB1"] == [f"M{n:02d}" for n in range(1, 57)]
    mb2 = ids["MB2"]
    assert mb2[:15] == [f"D{n:02d}" for n in range(1, 16)]
    assert {f"E{n:02d}" for n in range(1, 14)} <= set(mb2)


def test_format_10_has_the_documented_fields() -> None:
    ids = {seg: [f.id for f in segment_fields("1.0", seg)] for seg in SEGMENTS}
    assert ids["MSH"] == ["A00", "A01", "A02"]
    assert ids["MB1"] == [f"A{n}" for n in range(11, 36)] + ["A54", "A55"]
    assert ids["MB2"] == [f"A{n}" for n in range(71, 82)]


@pytest.mark.parametrize(
    ("version", "field", "zh", "type_", "length"),
    [
        ("2.0", "M15", "就醫識別碼", "X", 20),
        ("2.0", "M11", "就診日期時間", "T", 13),
        ("2.0", "M04", "出生日期", "D", 7),
        ("2.0", "M14", "安全簽章", "X", 256),
        ("2.0", "D03", "醫令序號", "9", 3),
        ("1.0", "A12", "身分證號或身分證明文件號碼", "X", 10),
        ("1.0", "A17", "就診日期時間", "T", 13),
    ],
)
def test_known_facts(version: str, field: str, zh: str, type_: str, length: int) -> None:
    spec = by_id(version)[field]
    assert (spec.name_zh, spec.type, spec.length) == (zh, type_, length)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_header_field_has_a_width(version: str) -> None:
    # The reader relies on it: header texts never need its own length bound (max_text).
    assert all(f.length for f in segment_fields(version, "MSH"))


def test_segment_ids() -> None:
    assert segment_ids("2.0", "MSH") == frozenset({"H00", "H01"})
    assert "D01" in segment_ids("2.0", "MB2")
    assert "D01" not in segment_ids("2.0", "MB1")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["H00", "H01"], "2.0"),
        (["H01"], "2.0"),
        (["A00", "A01", "A02"], "1.0"),
        (["A02"], "1.0"),
        (["H00", "A00"], "2.0"),
        ([], None),
        (["X"], None),
    ],
)
def test_detect_version(tags: list[str], expected: str | None) -> None:
    assert detect_version(tags) == expected


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError):
        fields("3.0")


DOC = Path(__file__).resolve().parents[2] / "docs" / "file-format.md"


def _doc_rows() -> dict[str, list[tuple[str, ...]]]:
    """The field tables of docs/file-format.md, by format version."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    version = None
    for line in DOC.read_text("utf-8").splitlines():
        if line.startswith("#### Format "):
            version = line.split()[-1]
            rows[version] = []
        elif version and line.startswith("| ") and not line.startswith("| segment"):
            cells = tuple(c.strip() for c in line.strip("|").split("|"))
            if len(cells) == 7:
                rows[version].append(cells)
    return rows


def test_documented_field_tables_match_the_data() -> None:
    rows = _doc_rows()
    for version in VERSIONS:
        expected = [
            (f.segment, f.id, f.name_zh, f.name_en, f.type, str(f.length or "—"), f.source)
            for f in fields(version)
        ]
        assert rows[version] == expected, version
