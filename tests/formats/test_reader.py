"""The streaming reader: case files for every structural check code, encodings, the API, hostile
XML, and fuzzing (any bytes give records and/or file errors, never an exception or a hang)."""

from __future__ import annotations

import io
import json
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nhihub.formats import (
    FileError,
    Record,
    UploadReader,
    iter_upload,
    read_upload,
)
from nhihub.formats.spec import reader_spec

CASES = Path(__file__).parent / "cases"
EXPECTED: dict[str, Any] = {
    k: v
    for k, v in json.loads((CASES / "expected.json").read_text("utf-8")).items()
    if not k.startswith("_")
}
B5 = '<?xml version="1.0" encoding="Big5"?>\n'
MSH = "<MSH><H00>1</H00><H01>A</H01></MSH>"
MB1 = "<MB1><M03>A123456789</M03><M07>01</M07><M11>1130101083000</M11></MB1>"
MB2 = "<MB2><D01>1130101083000</D01><D02>1</D02></MB2>"
REC = f"<REC>{MSH}<MB>{MB1}{MB2}</MB></REC>\n"
CODES = reader_spec().codes


def doc(*records: str, head: str = B5, encoding: str = "cp950") -> bytes:
    return (head + "<RECS>\n" + "".join(records) + "</RECS>\n").encode(encoding)


def read(data: bytes, **kw: Any) -> tuple[list[Record], list[FileError], Any]:
    return read_upload(io.BytesIO(data), **kw)


def items(data: bytes, chunk_size: int | None = None) -> list[Record | FileError]:
    return list(UploadReader(io.BytesIO(data), chunk_size=chunk_size))


def _value(records: list[Record], key: str) -> str | None:
    index, segment, field = key.split()
    rec = records[int(index) - 1]
    if segment.startswith("mb2["):
        return rec.mb2[int(segment[4:-1]) - 1].get(field)
    values: dict[str, str] = getattr(rec, segment)
    return values.get(field)


# -- case files --------------------------------------------------------------------------------


def test_every_case_file_has_expectations() -> None:
    assert {p.name for p in CASES.glob("*.xml")} == set(EXPECTED)


def test_every_structural_code_has_a_case_file() -> None:
    seen = {code for e in EXPECTED.values() for code, _ in e["file_errors"]}
    seen |= {c for e in EXPECTED.values() for ps in e.get("problems", {}).values() for _, c in ps}
    assert set(CODES.values()) <= seen


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_file(name: str) -> None:
    expected = EXPECTED[name]
    records, errors, info = read_upload(CASES / name)
    assert [[e.code, e.line] for e in errors] == expected["file_errors"]
    assert [r.line for r in records] == expected["lines"]
    assert [r.index for r in records] == list(range(1, len(records) + 1))
    problems = {str(r.index): [[f.field, f.code] for f in r.problems] for r in records}
    assert {k: v for k, v in problems.items() if v} == expected.get("problems", {})
    for key, value in expected.get("values", {}).items():
        assert _value(records, key) == value, key
    for key in expected.get("absent", []):
        assert _value(records, key) is None, key
    for key, length in expected.get("lengths", {}).items():
        assert len(_value(records, key) or "") == length, key
    if "orders" in expected:
        assert [len(r.mb2) for r in records] == expected["orders"]
    if "version" in expected:
        assert {r.version for r in records} == {expected["version"]}
        assert info.version == expected["version"]
    if "encoding" in expected:
        assert info.encoding == expected["encoding"]
    assert info.complete is expected["complete"]
    assert info.records == len(records)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_case_file_in_small_chunks_reads_the_same(name: str, chunk_size: int) -> None:
    data = (CASES / name).read_bytes()
    assert items(data, chunk_size) == items(data)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_error_details_are_bilingual_and_leak_no_field_text(name: str) -> None:
    _, errors, _ = read_upload(CASES / name)
    for e in errors:
        assert " / " in e.detail
        for secret in ("A123456789", "passwd", "x" * 50):
            assert secret not in e.detail


# -- API ---------------------------------------------------------------------------------------


def test_path_str_pathlike_and_file_object_give_the_same(tmp_path: Path) -> None:
    data = doc(REC, REC)
    path = tmp_path / "up.xml"
    path.write_bytes(data)
    via_path = list(iter_upload(path))
    assert list(iter_upload(str(path))) == via_path
    with path.open("rb") as fh:
        assert list(iter_upload(fh)) == via_path
        assert not fh.closed  # a file object given by the caller stays open
    assert len(via_path) == 2


def test_reader_can_be_read_twice_and_reports_info() -> None:
    data = doc(REC, REC.replace(MB2, MB2 * 3))
    reader = UploadReader(io.BytesIO(data))
    first = list(reader)
    assert reader.info.records == 2 and reader.info.orders == 4
    assert reader.info.encoding == "Big5" and reader.info.codec == "cp950"
    assert reader.info.complete
    reader.source.seek(0)  # type: ignore[union-attr]
    assert list(reader) == first


def test_record_fields_are_stripped_text_and_absent_when_empty() -> None:
    rec = f"<REC>{MSH}<MB><MB1><M03>\n A123456789\t</M03><M08/><M09> </M09></MB1></MB></REC>\n"
    [record], errors, _ = read(doc(rec))
    assert errors == []
    assert record.mb1 == {"M03": "A123456789"}
    assert record.mb2 == []


def test_mixed_versions_are_noted() -> None:
    v10 = (
        "<REC><MSH><A00>1</A00><A01>1</A01><A02>1.0</A02></MSH>"
        "<MB><MB1><A12>A1</A12></MB1></MB></REC>\n"
    )
    records, _, info = read(doc(REC, v10))
    assert [r.version for r in records] == ["2.0", "1.0"]
    assert info.version == "2.0" and info.mixed_versions


def test_a_10_field_in_a_20_record_is_an_unknown_tag() -> None:
    rec = REC.replace("<M07>", "<A23>01</A23><M07>")
    [record], _, _ = read(doc(rec))
    assert [(f.field, f.code) for f in record.problems] == [("A23", "Y004")]


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        UploadReader(io.BytesIO(b""), max_text=0)
    with pytest.raises(ValueError):
        UploadReader(io.BytesIO(b""), chunk_size=0)


# -- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", ["Big5", "big5", "BIG5", "cp950", "MS950"])
def test_big5_names_decode_as_cp950(declared: str) -> None:
    rec = REC.replace(MB2, "<MB2><D15>碁€═</D15></MB2>")
    head = f'<?xml version="1.0" encoding="{declared}"?>\n'
    [record], errors, info = read(doc(rec, head=head))
    assert errors == [] and info.codec == "cp950"
    assert record.mb2 == [{"D15": "碁€═"}]


@pytest.mark.parametrize("head", ['<?xml version="1.0" encoding="UTF-8"?>\n', ""])
def test_utf8_declared_or_undeclared(head: str) -> None:
    rec = REC.replace(MB2, "<MB2><D15>飯後服用 😀</D15></MB2>")
    [record], errors, info = read(doc(rec, head=head, encoding="utf-8"))
    assert errors == [] and info.codec == "utf-8"
    assert record.mb2 == [{"D15": "飯後服用 😀"}]


def test_utf8_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + doc(REC, head="", encoding="utf-8")
    records, errors, _ = read(data)
    assert len(records) == 1 and errors == []


def test_byte_order_mark_contradicting_big5_is_a_header_error() -> None:
    _, errors, _ = read(b"\xef\xbb\xbf" + doc(REC))
    assert [(e.code, e.line) for e in errors] == [("Y002", 1)]


def test_invalid_bytes_are_reported_once_per_line_and_reading_goes_on() -> None:
    bad = REC.replace("<M07>01", "<M07>\udcff1").encode("cp950", "surrogateescape")
    lines = [REC.encode(), bad, bad.replace(b"\xff", b"\xff\xff\xff"), REC.encode()]
    data = B5.encode() + b"<RECS>\n" + b"".join(lines) + b"</RECS>\n"
    records, errors, info = read(data)
    assert [(e.code, e.line) for e in errors] == [("Y014", 4), ("Y014", 5)]
    assert len(records) == 4 and info.complete
    assert records[1].mb1["M07"] == "\ufffd1"


def test_a_character_cut_by_a_chunk_boundary_is_not_an_error() -> None:
    data = doc(REC.replace(MB2, "<MB2><D15>" + "中文" * 50 + "</D15></MB2>"))
    for size in (1, 2, 5, 7):
        assert items(data, size) == items(data)
        assert not any(isinstance(i, FileError) for i in items(data, size))


def test_a_file_in_the_wrong_encoding_stops_after_the_error_budget() -> None:
    text = "".join(REC.replace(MB2, f"<MB2><D15>{'病' * 40}</D15></MB2>") for _ in range(60))
    data = doc(text, head='<?xml version="1.0" encoding="UTF-8"?>\n')  # really cp950
    out = items(data)
    errors = [i for i in out if isinstance(i, FileError)]
    assert all(e.code == "Y014" for e in errors)
    assert len(errors) <= reader_spec().limits.max_file_errors + 1
    assert "stopped" in errors[-1].detail


# -- hostile XML -------------------------------------------------------------------------------

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE RECS [\n <!ENTITY a "aaaaaaaaaa">\n'
    + "".join(f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9))
    + "]>\n<RECS><REC><MSH><H00>&j;</H00></MSH></REC></RECS>\n"
)


@pytest.mark.parametrize(
    "text",
    [
        LAUGHS,
        '<?xml version="1.0"?>\n<!DOCTYPE RECS [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        "<RECS><REC><MSH><H00>&x;</H00></MSH></REC></RECS>",
        '<!DOCTYPE RECS SYSTEM "http://127.0.0.1:9/evil.dtd"><RECS/>',
        '<?xml version="1.0"?><!-- x --><?pi x?>\n<!DOCTYPE RECS><RECS/>',
        '<?xml version="1.0"?>\n<!DOCTYPE RECS [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
        "<RECS/>",
    ],
)
def test_any_doctype_is_refused_before_parsing(text: str) -> None:
    out = items(text.encode())
    assert next(i.code for i in out if isinstance(i, FileError)) == "Y002"
    assert not any(isinstance(i, Record) for i in out)


def test_external_entities_and_xinclude_are_never_followed() -> None:
    passwd = Path("/etc/passwd")
    rec = REC.replace(
        "<M07>01</M07>",
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>',
    )
    out = items(doc(rec, REC.replace("<M07>01", "<M07>&ext;01")))
    text = repr(out)
    if passwd.exists():
        assert "root:" not in text
    assert isinstance(out[0], Record)
    assert [(f.code) for f in out[0].problems] == ["Y004"]
    assert isinstance(out[-1], FileError) and out[-1].code == "Y003"


def test_doctype_inside_the_root_is_a_content_error() -> None:
    out = items(doc(REC, '<!DOCTYPE x [<!ENTITY a "b">]>', REC))
    assert isinstance(out[0], Record)
    assert isinstance(out[-1], FileError) and out[-1].code == "Y003"


def test_deep_nesting_is_stopped_without_a_crash() -> None:
    deep = "<X>" * 100_000 + "</X>" * 100_000
    out = items(doc(REC, f"<REC>{MSH}<MB><MB1>{deep}</MB1></MB></REC>\n"))
    assert isinstance(out[0], Record)
    assert isinstance(out[-1], FileError) and out[-1].code in {"Y003", "Y005"}


def test_an_endless_field_is_stopped_at_the_pending_limit() -> None:
    limit = reader_spec().limits.max_pending_bytes
    rec = REC.replace("<M07>01", "<M07>" + "9" * (2 * limit))
    out = items(doc(REC, rec, REC))
    assert isinstance(out[0], Record)
    assert isinstance(out[-1], FileError) and out[-1].code == "Y003"
    assert len(out) == 2


def test_a_field_without_width_longer_than_max_text_is_cut_and_flagged() -> None:
    rec = REC.replace(MB2, "<MB2><D15>" + "7" * 300 + "</D15></MB2>")  # D15 has no width
    [record], _, _ = read(doc(rec), max_text=100)
    assert record.mb2[0]["D15"] == "7" * 100
    assert [(f.field, f.code) for f in record.problems] == [("D15[1]", "AC")]


def test_a_field_with_a_width_is_kept_whole_for_the_checks_to_judge() -> None:
    rec = REC.replace("<M07>01", "<M07>" + "7" * 300)  # M07 is X(2): AC comes from the checks
    [record], _, _ = read(doc(rec), max_text=100)
    assert record.mb1["M07"] == "7" * 300
    assert record.problems == []


def test_unknown_tags_in_one_record_are_capped() -> None:
    junk = "".join(f"<J{i}>1</J{i}>" for i in range(1000))
    [record], _, _ = read(doc(REC.replace("<M07>", junk + "<M07>")))
    assert len(record.problems) == reader_spec().limits.max_problems
    assert record.mb1["M07"] == "01"


def test_many_stray_elements_stop_the_reading() -> None:
    strays = "<NOTE/>\n" * 500
    out = items(doc(REC, strays, REC))
    errors = [i for i in out if isinstance(i, FileError)]
    assert len(errors) == reader_spec().limits.max_file_errors + 1
    assert "stopped" in errors[-1].detail


# -- fuzzing -----------------------------------------------------------------------------------

FUZZ = settings(
    # NHIHUB_FUZZ_EXAMPLES=5000 for a deeper run than the default suite's
    max_examples=int(os.environ.get("NHIHUB_FUZZ_EXAMPLES", "150")),
    # Examples take milliseconds; a generous deadline still catches a hang without failing on
    # a busy machine.
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow],
)


def _check_stream(out: list[Record | FileError]) -> None:
    known = set(CODES.values())
    for item in out:
        assert isinstance(item, Record | FileError)
        if isinstance(item, FileError):
            assert item.code in known and item.line >= 1
        else:
            assert item.line >= 1 and item.version in {"2.0", "1.0"}
            assert all(f.code in known for f in item.problems)
            assert all(v and v == v.strip(" \t\r\n") for v in item.mb1.values())
    records = [i for i in out if isinstance(i, Record)]
    assert [r.index for r in records] == list(range(1, len(records) + 1))


@FUZZ
@given(st.binary(max_size=3000))
@example(b"")
@example(b"<")
@example(b"<RECS>")
@example(b"<RECS><REC>")
@example(b'<?xml version="1.0" encoding="Big5"?>\xff')
def test_any_bytes_give_a_result(data: bytes) -> None:
    _check_stream(items(data))


TOKENS = st.sampled_from(
    [
        "<RECS>",
        "</RECS>",
        "<REC>",
        "</REC>",
        "<MSH>",
        "</MSH>",
        "<MB>",
        "</MB>",
        "<MB1>",
        "</MB1>",
        "<MB2>",
        "</MB2>",
        "<H00>1</H00>",
        "<H01>A</H01>",
        "<A00>1</A00>",
        "<M03>A123456789</M03>",
        "<M07>01</M07>",
        "<D01>1130101083000</D01>",
        "<D02>1</D02>",
        "<M99>x</M99>",
        "<X/>",
        "text",
        " ",
        "\n",
        "&amp;",
        "&x;",
        "<!-- c -->",
        "<?p i?>",
        "<![CDATA[<REC>]]>",
        "\udcff",
        "中",
        "碁",
        '<?xml version="1.0"?>',
        "<!DOCTYPE R>",
    ]
)


@FUZZ
@given(st.lists(TOKENS, max_size=80), st.sampled_from(["cp950", "utf-8"]))
def test_any_token_soup_gives_a_result(tokens: list[str], encoding: str) -> None:
    text = "".join(tokens)
    head = f'<?xml version="1.0" encoding="{"Big5" if encoding == "cp950" else "UTF-8"}"?>\n'
    data = (head + text).encode(encoding, "surrogateescape")
    out = items(data)
    _check_stream(out)
    assert items(data, 5) == out


VALID = doc(
    REC,
    REC.replace(MB2, MB2 * 3),
    "<REC><MSH><A00>1</A00><A01>1</A01><A02>1.0</A02></MSH><MB><MB1><A12>A1</A12></MB1></MB></REC>\n",
    REC.replace("<M03>", "<M03> 中文").replace(MB2, "<MB2><D15>碁</D15></MB2>"),
)


@FUZZ
@given(st.data())
def test_mutated_valid_file_gives_a_result(data: st.DataObject) -> None:
    raw = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "swap"]))
        at = data.draw(st.integers(0, len(raw)))
        size = data.draw(st.integers(1, 40))
        if kind == "flip" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "delete":
            del raw[at : at + size]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=size))
        elif kind == "duplicate":
            raw[at:at] = raw[at : at + size]
        elif kind == "swap":
            other = data.draw(st.integers(0, len(raw)))
            a, b = sorted((at, other))
            raw[a:b] = raw[a:b][::-1] if b - a < 60 else raw[a:b]
    out = items(bytes(raw))
    _check_stream(out)
    assert items(bytes(raw), 7) == out


def test_random_cuts_of_a_valid_file_end_in_a_structural_error() -> None:
    rnd = random.Random(3)
    for _ in range(40):
        cut = rnd.randrange(len(VALID) - 12)
        out = items(VALID[:cut])
        _check_stream(out)
        if cut > len(B5) + 8:
            assert isinstance(out[-1], FileError)
            assert out[-1].code in {"Y003", "Y005", "Y006", "Y007", "Y002"}
