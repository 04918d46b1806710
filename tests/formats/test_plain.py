"""Plain documents read from their bytes (nhihub.formats.plain): exactly the records the full
reader gives, or None, never anything else. With ``NHIHUB_REQUIRE_NATIVE=1`` (set by CI) a
module that was not built fails these tests instead of skipping them."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nhihub.formats import Record, iter_upload
from nhihub.formats.plain import read_plain
from nhihub.formats.spec import reader_spec

try:
    from nhihub.formats import _native
except ImportError:  # pragma: no cover - only where no C compiler was available
    if os.environ.get("NHIHUB_REQUIRE_NATIVE", "").strip() not in ("", "0"):
        raise
    pytest.skip("nhihub.formats._native is not built", allow_module_level=True)

B5 = '<?xml version="1.0" encoding="Big5"?>\n'
U8 = '<?xml version="1.0" encoding="UTF-8"?>\n'
MSH = "<MSH><H00>1</H00><H01>A</H01></MSH>"
MB1 = "<MB1><M03>A123456789</M03><M07>01</M07><M11>1130101083000</M11></MB1>"
LINE = "<MB2><D01>1130101083000</D01><D02>1</D02></MB2>"
REC = f"<REC>{MSH}<MB>{MB1}{LINE}</MB></REC>\n"


def doc(body: str, decl: str = B5, codec: str = "cp950") -> bytes:
    return (decl + "<RECS>\n" + body + "</RECS>\n").encode(codec)


def full(data: bytes) -> list[object]:
    return list(iter_upload(io.BytesIO(data)))


def test_a_plain_document_is_read_as_the_reader_reads_it() -> None:
    data = doc(REC * 3)
    plain = read_plain(data)
    assert plain is not None and len(plain) == 3
    assert plain == full(data)
    assert [(r.index, r.line, r.version) for r in plain] == [
        (1, 3, "2.0"),
        (2, 4, "2.0"),
        (3, 5, "2.0"),
    ]
    assert plain[0].mb1 == {"M03": "A123456789", "M07": "01", "M11": "1130101083000"}
    assert plain[0].mb2 == [{"D01": "1130101083000", "D02": "1"}]


def test_lines_text_white_space_and_windows_line_ends() -> None:
    rec = (
        "<REC>\r\n  <MSH>\r\n    <H00>1</H00>\r\n    <H01>A</H01>\r\n  </MSH>\r\n  <MB>\r\n"
        "    <MB1>\r\n      <M03>\r\n A123456789 \r\n</M03>\r\n      <M07>01</M07>\r\n"
        "    </MB1>\r\n  </MB>\r\n</REC>\r\n"
    )
    data = doc("\r\n" + rec * 2).replace(b"\n<RECS>", b"\r\n<RECS>")
    plain = read_plain(data)
    assert plain is not None
    assert plain == full(data)
    assert [r.line for r in plain] == [4, 18]
    assert plain[0].mb1["M03"] == "A123456789"


def test_big5_and_utf8_text() -> None:
    rec = REC.replace("<M07>01</M07>", "<M07>01</M07><M42>碁銹€中文</M42>")
    for data in (doc(rec), doc(rec, U8, "utf-8")):
        plain = read_plain(data)
        assert plain is not None
        assert plain == full(data)
        assert plain[0].mb1["M42"] == "碁銹€中文"


def test_format_1_0_records() -> None:
    msh = "<MSH><A00>1</A00><A01>1</A01><A02>1.0</A02></MSH>"
    rec = f"<REC>{msh}<MB><MB1><A12>A123456789</A12></MB1></MB></REC>\n"
    data = doc(rec)
    plain = read_plain(data)
    assert plain is not None and plain[0].version == "1.0"
    assert plain == full(data)


@pytest.mark.parametrize(
    "body",
    [
        REC.replace("<M07>01</M07>", "<M07>0&amp;1</M07>"),  # a reference
        REC.replace("<M07>01</M07>", "<M07>0&#x31;</M07>"),
        REC.replace("<M07>01</M07>", "<M07><![CDATA[01]]></M07>"),
        REC.replace("<M07>01</M07>", "<M07>0<!-- c -->1</M07>"),
        REC.replace("<M07>01</M07>", "<!-- c --><M07>01</M07>"),
        REC.replace("<M07>01</M07>", "<?pi x?><M07>01</M07>"),
        REC.replace("<M07>01</M07>", '<M07 a="1">01</M07>'),
        REC.replace("<M07>01</M07>", "<M07 >01</M07>"),
        REC.replace("<M07>01</M07>", "<M07>01</M07 >"),
        REC.replace("<M07>01</M07>", "<M07/>"),
        REC.replace("<M07>01</M07>", "<M07>  </M07>"),
        REC.replace("<M07>01</M07>", "<M07></M07>"),
        REC.replace("<M07>01</M07>", "<M07>0\r1</M07>"),
        REC.replace("<M07>01</M07>", "<M07>0\x011</M07>"),
        REC.replace("<M07>01</M07>", "<M07>0]]>1</M07>"),
        REC.replace("<M07>01</M07>", "<M07>0<B>1</B></M07>"),
        REC.replace("<M07>01</M07>", "<x:M07>01</x:M07>"),
        REC.replace("<M07>01</M07>", "<M07>01</M07><M07>02</M07>"),  # repeated
        REC.replace("<M07>01</M07>", "<M07>01</M07><M99>1</M99>"),  # unknown field
        REC.replace("<M07>01</M07>", "<M07>01</M08>"),
        REC.replace("<M07>01</M07>", "<M07>01</M07>stray"),
        REC.replace("</MSH>", "</MSH>stray"),
        REC.replace(MSH, ""),
        REC.replace(MSH, "<MSH></MSH>"),
        REC.replace("<MB>", "<MB><MB2><D01>1</D01></MB2>"),
        REC.replace("</MB1>", "</MB1><MB1><M03>A123456789</M03></MB1>"),
        REC.replace("\n", "\r"),  # a lone CR
        REC + "stray",
        REC + "<!-- c -->",
    ],
)
def test_anything_else_is_left_to_the_reader(body: str) -> None:
    assert read_plain(doc(REC + body)) is None


@pytest.mark.parametrize(
    "data",
    [
        doc(""),  # no record
        doc(REC).replace(b"<RECS>", b"<!-- c --><RECS>"),
        doc(REC).replace(b"<RECS>", b'<RECS a="1">'),
        doc(REC) + b"<!-- c -->",
        doc(REC).replace(B5.encode(), b""),  # no declaration
        doc(REC).replace(b"Big5", b"Shift_JIS"),
        doc(REC.replace("01", "\ufffe"), U8, "utf-8"),
        doc(REC, U8, "utf-8").replace(b"<M07>01", b"<M07>\xff\xfe"),  # not UTF-8
        doc(REC).replace(b"<M07>01", b"<M07>\x81\x20"),  # not Big5
        doc(REC.replace("<M07>01</M07>", f"<M42>{'x' * 200_000}</M42>")),  # released in pieces
        # where the reader gives up on the prolog, or on bytes in which no record ends
        doc(REC).replace(b"\n<RECS>", b" " * 70_000 + b"<RECS>"),
        doc(REC).replace(b'version="1.0"', b'version="1.0"' + b" " * 70_000),
        doc(REC + " " * 300_000 + REC),
        doc(REC + " " * 300_000),
        doc(REC) + b" " * 300_000,
    ],
)
def test_documents_that_are_not_plain(data: bytes) -> None:
    assert read_plain(data) is None


def test_white_space_up_to_the_limits_is_plain() -> None:
    data = doc(REC + " " * 100_000 + REC).replace(b"\n<RECS>", b" " * 60_000 + b"<RECS>")
    plain = read_plain(data)
    assert plain is not None and len(plain) == 2
    assert plain == full(data)


def test_the_field_rules_are_the_readers() -> None:
    limits = reader_spec().limits
    unsized = "<M07>01</M07><M30>{}</M30>"  # M30 has no width in the field table
    too_long = REC.replace("<M07>01</M07>", unsized.format("x" * (limits.max_text + 1)))
    assert read_plain(doc(too_long)) is None
    longest = doc(REC.replace("<M07>01</M07>", unsized.format("x" * limits.max_text)))
    assert read_plain(longest) == full(longest)
    many = REC.replace(LINE, LINE * (limits.max_orders + 1))
    assert read_plain(doc(many)) is None
    assert read_plain(doc(REC.replace(LINE, LINE * limits.max_orders))) is not None


def test_a_record_longer_than_a_reading_chunk() -> None:
    line = "<MB2><D01>1130101083000</D01><D11>" + "F" * 300 + "</D11><D12>x</D12></MB2>\n"
    data = doc(REC.replace(LINE, line * 500) + REC)
    assert len(data) > 2 * reader_spec().limits.chunk_size
    plain = read_plain(data)
    assert plain is not None and len(plain[0].mb2) == 500
    assert plain == full(data)


def test_off_without_the_compiled_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NHIHUB_NATIVE", "0")
    assert read_plain(doc(REC)) is None


def test_scan_records_refuses_bad_arguments() -> None:
    names = ("REC", "MSH", "MB", "MB1", "MB2")
    with pytest.raises(TypeError):
        _native.scan_records("text", 0, 4, 1, 100, *names)
    with pytest.raises(ValueError):
        _native.scan_records(b"data", 3, 2, 1, 100, *names)
    with pytest.raises(TypeError):
        _native.scan_records(b"data", 0, 4, 1, 100, *names[:4])
    assert _native.scan_records(b"  \n ", 0, 4, 1, 100, *names) == []


@pytest.mark.parametrize(("gap", "answers"), [("\r\n", True), ("\r", False), ("\r\r\n", False)])
def test_scan_records_takes_cr_only_before_lf(gap: str, answers: bool) -> None:
    names = ("REC", "MSH", "MB", "MB1", "MB2")
    for rec in (REC.replace("<MSH>", gap + "<MSH>"), REC.replace("<M07>01", "<M07>01" + gap + "1")):
        data = rec.encode()
        rows = _native.scan_records(data, 0, len(data), 1, 1 << 20, *names)
        assert (rows is not None) is (answers and "M07>01\r\n1" not in rec)


# -- the full reader agrees wherever read_plain answers ------------------------------------------

PLAIN_VALUES = st.one_of(
    st.sampled_from(["01", "A123456789", " 01 ", "\r\n01\n", "碁中文", "1130101083000"]),
    st.text(alphabet=st.sampled_from("0123456789AZ碁>];!-?/"), min_size=1, max_size=6),
)
ODD_VALUES = st.text(alphabet=st.sampled_from("0AZ \n\r\u3000碁&<>]\x01\x85\ufffe"), max_size=6)
PLAIN_GAPS = ["", "", " ", "\n", "\r\n", "\t\n "]
ODD_GAPS = ["x", "<!--c-->", "&amp;", "\r", "<?p?>", "\x0b"]
ODD_TAGS = [" ", "/", ' a="1"', "x:", "-"]


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """Documents of the plain form, and (``odd``) near it: other gaps between tags, odd values,
    odd tags, repeated or unknown fields; sometimes a stray byte anywhere."""
    odd = draw(st.integers(0, 3)) == 0

    def gap() -> str:
        return draw(st.sampled_from(PLAIN_GAPS + ODD_GAPS if odd else PLAIN_GAPS))

    def field(name: str) -> str:
        if odd and draw(st.integers(0, 9)) == 0:
            variant = draw(st.sampled_from(ODD_TAGS))
            if variant in ("x:", "-"):
                return f"<{variant}{name}>1</{variant}{name}>"
            return f"<{name}/>" if variant == "/" else f"<{name}{variant}>1</{name}>"
        value = draw(ODD_VALUES if odd and draw(st.booleans()) else PLAIN_VALUES)
        return f"{gap()}<{name}>{value}</{name}>"

    def segment(tag: str, names: list[str], extra: list[str]) -> str:
        pick = st.sampled_from(names + extra) if odd else st.sampled_from(names)
        chosen = draw(st.lists(pick, min_size=1, max_size=len(names) + 1, unique=not odd))
        return f"<{tag}>{''.join(field(n) for n in chosen)}{gap()}</{tag}>{gap()}"

    recs = []
    for _ in range(draw(st.integers(0 if odd else 1, 4))):
        header = segment("MSH", ["H00", "H01"], ["A01"])
        mb1 = segment("MB1", ["M03", "M07", "M11", "M42", "M30"], ["M99"])
        lines = "".join(
            segment("MB2", ["D01", "D02", "D10"], ["M07"]) for _ in range(draw(st.integers(0, 2)))
        )
        recs.append(f"<REC>{gap()}{header}<MB>{gap()}{mb1}{lines}</MB>{gap()}</REC>{gap()}")
    decl, codec = draw(st.sampled_from([(B5, "cp950"), (U8, "utf-8")]))
    text = decl + "<RECS>\n" + "".join(recs) + "</RECS>\n"
    data = text.encode(codec, "xmlcharrefreplace")  # what cp950 lacks becomes a reference
    if draw(st.integers(0, 5)) == 0:  # a stray byte anywhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=1)) + data[at:]
    return data


@settings(
    max_examples=400, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow]
)
@given(documents())
def test_read_plain_gives_what_the_reader_gives_or_nothing(data: bytes) -> None:
    plain = read_plain(data)
    if plain is not None:
        items = full(data)
        assert all(isinstance(item, Record) and not item.problems for item in items)
        assert plain == items
        assert [_order(r) for r in plain] == [_order(r) for r in items]  # type: ignore[arg-type]


def _order(r: Record) -> tuple[list[str], list[str], list[list[str]]]:
    """The fields' order, which ``==`` on dicts does not compare (the stored JSON keeps it)."""
    return list(r.header), list(r.mb1), [list(line) for line in r.mb2]
