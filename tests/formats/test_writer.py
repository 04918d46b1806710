"""The writer: layout, errors that name record and field, atomic paths, and the round trip with the
reader (hypothesis: random records -> write -> read gives the same records, Big5 and UTF-8)."""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nhihub.formats import (
    Record,
    UnencodableError,
    UnknownFieldError,
    read_upload,
    write_upload,
)
from nhihub.specs.fields import segment_ids


def rec(**kw: object) -> Record:
    base: dict[str, object] = {
        "index": 1,
        "line": 0,
        "version": "2.0",
        "header": {"H00": "1", "H01": "A"},
        "mb1": {"M03": "A123456789"},
        "mb2": [],
    }
    base.update(kw)
    return Record(**base)  # type: ignore[arg-type]


def written(records: list[Record], **kw: str) -> bytes:
    out = io.BytesIO()
    write_upload(records, out, **kw)
    return out.getvalue()


def test_layout_declaration_and_one_record_per_line() -> None:
    data = written([rec(), rec(index=2)])
    lines = data.decode("cp950").splitlines()
    assert lines[0] == '<?xml version="1.0" encoding="Big5"?>'
    assert lines[1] == "<RECS>" and lines[-1] == "</RECS>"
    assert lines[2].startswith("<REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>")
    assert len(lines) == 5
    assert written([rec()], encoding="utf-8").startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_fields_in_table_order_and_only_with_a_value() -> None:
    r = rec(
        mb1={"M15": "X" * 20, "M03": "A123456789", "M08": "", "M09": "  ", "M07": "01"},
        mb2=[{"D06": "A1", "D01": "1130101083000", "D15": "\t"}],
    )
    text = written([r]).decode("cp950")
    assert "<MB1><M03>A123456789</M03><M07>01</M07><M15>" in text
    assert "<M08>" not in text and "<M09>" not in text and "<D15>" not in text
    assert "<MB2><D01>1130101083000</D01><D06>A1</D06></MB2>" in text


def test_special_characters_are_escaped_and_read_back() -> None:
    r = rec(mb1={"M03": "A1", "M50": "a&b<c>d\re"})
    data = written([r])
    assert b"a&amp;b&lt;c&gt;d&#13;e" in data
    [back], errors, _ = read_upload(io.BytesIO(data))
    assert errors == [] and back.mb1["M50"] == "a&b<c>d\re"


def test_unencodable_character_names_record_and_field() -> None:
    bad = rec(index=7, mb2=[{"D01": "1"}, {"D15": "ok 𠀀"}])
    with pytest.raises(UnencodableError) as info:
        written([rec(), bad])
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.record, err.field, err.codepoint) == (2, "D15[2]", 0x20000)
    assert "D15[2]" in str(err) and " / " in str(err)
    assert "ok" not in str(err)  # the value itself is never repeated
    written([rec(), bad], encoding="utf-8")  # fine in UTF-8


def test_character_not_allowed_in_xml_is_refused() -> None:
    with pytest.raises(UnencodableError) as info:
        written([rec(mb1={"M03": "A1\x01"})], encoding="utf-8")
    assert (info.value.field, info.value.codepoint) == ("M03", 1)


def test_unknown_field_is_refused_unless_not_strict() -> None:
    r = rec(mb1={"M03": "A1", "M99": "x"})
    with pytest.raises(UnknownFieldError) as info:
        written([r])
    assert (info.value.record, info.value.field) == (1, "M99")
    data = written([r], strict=False)  # type: ignore[arg-type]
    [back], _, _ = read_upload(io.BytesIO(data))
    assert [(f.field, f.code) for f in back.problems] == [("M99", "Y004")]


def test_a_field_name_that_is_not_an_xml_name_is_refused_even_when_not_strict() -> None:
    with pytest.raises(UnknownFieldError) as info:
        written([rec(mb1={"M03": "A1", "a b": "x"})], strict=False)  # type: ignore[arg-type]
    assert info.value.field == "a b"


def test_record_of_another_version_is_refused() -> None:
    with pytest.raises(UnknownFieldError):
        written([rec(version="1.0")])


@pytest.mark.parametrize(("kw"), [{"encoding": "latin-1"}, {"version": "3.0"}])
def test_bad_parameters_are_refused(kw: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        written([rec()], **kw)


def test_path_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "up.xml"
    assert write_upload(iter([rec(), rec(index=2)]), path) == 2
    before = path.read_bytes()
    with pytest.raises(UnencodableError):
        write_upload([rec(), rec(mb1={"M03": "𠀀"})], path)
    assert path.read_bytes() == before  # the failed write changed nothing
    assert [p.name for p in tmp_path.iterdir()] == ["up.xml"]  # and left no temporary file
    write_upload([], str(path), encoding="utf-8")
    records, errors, info = read_upload(path)
    assert (records, errors, info.complete) == ([], [], True)


# -- round trip --------------------------------------------------------------------------------


@cache
def cp950_alphabet() -> tuple[str, ...]:
    """Characters cp950 can encode and XML allows: ASCII, white space, and the 2-byte table."""
    chars = {chr(c) for c in range(0x20, 0x7F)} | {"\t", "\n", "\r"}
    for lead in range(0x81, 0xFF):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes((lead, trail)).decode("cp950"))
    return tuple(sorted(chars))


TEXT = (
    st.text(alphabet=st.sampled_from(cp950_alphabet()), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    version = draw(st.sampled_from(["2.0", "1.0"]))

    def fields_of(segment: str, min_size: int = 0) -> dict[str, str]:
        ids = sorted(segment_ids(version, segment))
        chosen = draw(st.lists(st.sampled_from(ids), min_size=min_size, max_size=6, unique=True))
        return {fid: draw(TEXT) for fid in chosen}

    out = []
    for i in range(draw(st.integers(0, 4))):
        out.append(
            Record(
                index=i + 1,
                line=0,
                version=version,
                header=fields_of("MSH", 1),
                mb1=fields_of("MB1"),
                mb2=[fields_of("MB2") for _ in range(draw(st.integers(0, 3)))],
            )
        )
    return out


def _same(a: Record, b: Record) -> bool:
    return (a.index, a.version, a.header, a.mb1, a.mb2, a.problems) == (
        b.index,
        b.version,
        b.header,
        b.mb1,
        b.mb2,
        b.problems,
    )


@settings(
    max_examples=200, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow]
)
@given(records(), st.sampled_from(["big5", "utf-8"]))
def test_round_trip(recs: list[Record], encoding: str) -> None:
    version = recs[0].version if recs else "2.0"
    data = written(recs, encoding=encoding, version=version)
    back, errors, info = read_upload(io.BytesIO(data))
    assert errors == [] and info.complete
    assert len(back) == len(recs)
    assert all(_same(a, b) for a, b in zip(recs, back, strict=True))
    assert [b.line for b in back] == list(range(3, 3 + len(recs)))
    # Writing what was read gives the same bytes.
    assert written(back, encoding=encoding, version=version) == data
