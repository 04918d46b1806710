"""The compiled fast path (nhihub.formats._native): it reads plain records exactly as the Python
reader does and refuses (None) every record that is not plain, leaving it to the exact walk.

The reader's own equivalence tests (test_records.py) run the whole reader with and without it;
these tests pin the C function itself. With ``NHIHUB_REQUIRE_NATIVE=1`` (set by CI) a module that
was not built fails them instead of skipping.
"""

from __future__ import annotations

import gc
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from nhihub.formats.records import native_reader

try:
    from nhihub.formats import _native
except ImportError:  # pragma: no cover - only where no C compiler was available
    if os.environ.get("NHIHUB_REQUIRE_NATIVE", "").strip() not in ("", "0"):
        raise
    pytest.skip("nhihub.formats._native is not built", allow_module_level=True)

NAMES = ("MSH", "MB", "MB1", "MB2")
MSH = "<MSH><H00>1</H00><H01>A</H01></MSH>"


def element(xml: str) -> Any:
    """The REC element of ``xml`` as the reader's parser builds it (comments removed, CDATA
    merged into text, blank text between elements dropped)."""
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True, resolve_entities=False)
    return etree.fromstring(xml, parser)


def read(xml: str) -> Any:
    return _native.read_record(element(xml), *NAMES)


def test_the_reader_uses_it_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert native_reader() is _native.read_record
    monkeypatch.setenv("NHIHUB_NATIVE", "0")
    assert native_reader() is None


def test_a_plain_record() -> None:
    xml = (
        f"<REC>{MSH}<MB><MB1><M03>A123456789</M03><M07>01</M07></MB1>"
        "<MB2><D01>1130101083000</D01></MB2><MB2><D03>002</D03></MB2></MB></REC>"
    )
    assert read(xml) == (
        {"H00": "1", "H01": "A"},
        {"M03": "A123456789", "M07": "01"},
        [{"D01": "1130101083000"}, {"D03": "002"}],
    )


def test_no_order_lines_and_attributes_ignored() -> None:
    xml = f'<REC>{MSH}<MB><MB1 x="1"><M07 y="2">01</M07></MB1></MB></REC>'
    assert read(xml) == ({"H00": "1", "H01": "A"}, {"M07": "01"}, [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("  01\n", "01"),
        ("\u300001\u3000", "01"),  # ideographic space: str.strip removes it, so does the reader
        ("&#xa0;1&#x85;", "1"),
        ("a b", "a b"),
        ("a&amp;b", "a&b"),
        ("<![CDATA[<x>]]>", "<x>"),
        ("碁€", "碁€"),
    ],
)
def test_texts_are_stripped_as_str_strip_does(text: str, value: str) -> None:
    plain = read(f"<REC>{MSH}<MB><MB1><M07>{text}</M07></MB1></MB></REC>")
    assert plain is not None and plain[1] == {"M07": value}


@pytest.mark.parametrize(
    "xml",
    [
        f"<REC>{MSH}</REC>",  # no MB
        f"<REC><MB><MB1><M07>01</M07></MB1></MB>{MSH}</REC>",  # segments swapped
        f"<REC>{MSH}<MB><MB1><M07>01</M07></MB1></MB><MB/></REC>",  # a second MB
        f"<REC>{MSH}x<MB><MB1><M07>01</M07></MB1></MB></REC>",  # text between segments
        f"<REC>{MSH}<MB></MB></REC>",  # empty MB
        f"<REC>{MSH}<MB><MB2><D01>1</D01></MB2><MB1><M07>01</M07></MB1></MB></REC>",  # order
        f"<REC>{MSH}<MB><MB1><M07>01</M07></MB1><NOTE/></MB></REC>",  # unknown segment
        f"<REC>{MSH}<MB><MB1><M07>01</M07>x</MB1></MB></REC>",  # text between fields
        f"<REC>{MSH}<MB><MB1><M07></M07></MB1></MB></REC>",  # empty field
        f"<REC>{MSH}<MB><MB1><M07>\u3000 </M07></MB1></MB></REC>",  # blank field
        f"<REC>{MSH}<MB><MB1><M07>0<B/>1</M07></MB1></MB></REC>",  # element in a field
        f"<REC>{MSH}<MB><MB1><M07>01</M07><M07>02</M07></MB1></MB></REC>",  # repeated
        f'<REC>{MSH}<MB><MB1><x:M07 xmlns:x="urn:x">01</x:M07></MB1></MB></REC>',  # namespace
        f'<REC xmlns="urn:x">{MSH}<MB><MB1><M07>01</M07></MB1></MB></REC>',  # default ns
        "<REC><MSH><H00>1</H00><H00>2</H00></MSH><MB><MB1><M07>01</M07></MB1></MB></REC>",
    ],
)
def test_anything_not_plain_is_refused(xml: str) -> None:
    assert read(xml) is None


def test_a_segment_of_more_than_128_fields_is_left_to_python() -> None:
    fields = "".join(f"<F{n}>{n}</F{n}>" for n in range(129))
    assert read(f"<REC>{MSH}<MB><MB1>{fields}</MB1></MB></REC>") is None
    fields = "".join(f"<F{n}>{n}</F{n}>" for n in range(128))
    plain = read(f"<REC>{MSH}<MB><MB1>{fields}</MB1></MB></REC>")
    assert plain is not None and len(plain[1]) == 128


def test_the_same_shape_twice_gives_equal_but_separate_dicts() -> None:
    """Dicts of a shape met before are copies of a kept template: never the template itself."""
    xml = f"<REC>{MSH}<MB><MB1><M03>A123456789</M03><M07>01</M07></MB1></MB></REC>"
    first, second = read(xml), read(xml.replace("01", "02"))
    assert first[1] == {"M03": "A123456789", "M07": "01"}
    assert second[1] == {"M03": "A123456789", "M07": "02"}
    first[1]["M07"] = "changed"
    assert read(xml)[1]["M07"] == "01"


def test_the_segment_names_come_from_the_caller() -> None:
    rec = element("<R><H><A>1</A></H><B><V><C>2</C></V><O><D>3</D></O></B></R>")
    assert _native.read_record(rec, "H", "B", "V", "O") == ({"A": "1"}, {"C": "2"}, [{"D": "3"}])
    assert _native.read_record(rec, *NAMES) is None


def test_wrong_arguments_are_type_errors() -> None:
    rec = element(f"<REC>{MSH}<MB><MB1><M07>01</M07></MB1></MB></REC>")
    with pytest.raises(TypeError):
        _native.read_record("<REC/>", *NAMES)
    with pytest.raises(TypeError):
        _native.read_record(rec, b"MSH", "MB", "MB1", "MB2")
    with pytest.raises(TypeError):
        _native.read_record(rec, "MSH")  # type: ignore[call-arg]


TAG = st.sampled_from(["M01", "M03", "M07", "M11", "D01", "H00", "X"])
TEXT = st.text(alphabet=st.sampled_from("01AZ \t\n\u3000中碁"), max_size=6)


@given(st.lists(st.tuples(TAG, TEXT), max_size=8))
def test_it_agrees_with_lxml_wherever_it_accepts(fields: list[tuple[str, str]]) -> None:
    """Whatever the fields, an accepted record holds what lxml's own API reads, and a record is
    refused exactly when a field repeats or is blank."""
    body = "".join(f"<{tag}>{text}</{tag}>" for tag, text in fields)
    rec = element(f"<REC>{MSH}<MB><MB1>{body}</MB1></MB></REC>")
    plain = _native.read_record(rec, *NAMES)
    tags = [tag for tag, _ in fields]
    refused = len(set(tags)) != len(tags) or any(not text.strip() for _, text in fields)
    assert (plain is None) == refused
    if plain is not None:
        mb1 = rec[1][0]
        assert plain[1] == {f.tag: f.text.strip() for f in mb1}


def test_a_template_replaced_while_it_is_copied_is_not_read_after_it_is_freed() -> None:
    """Copying a kept template allocates; the garbage collector may run there, and a finalizer
    (or another thread) may read records of other shapes, replacing and freeing that template.
    Read from freed memory, the copy claimed five fields while holding two."""
    parser = etree.XMLParser(remove_blank_text=True)

    def rec(names: list[str]) -> Any:
        fields = "".join(f"<{n}>v</{n}>" for n in names)
        return etree.fromstring(
            f"<REC><MSH>{fields}</MSH><MB><MB1>{fields}</MB1></MB></REC>", parser
        )

    main = rec(["M03", "M07"])
    others = [rec([f"Z{i}", f"Y{j}", "W", "V", "U"]) for i in range(40) for j in range(8)]
    ran = []

    class Finalized:  # garbage only the collector frees (a cycle), reading other records
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            ran.append(1)
            junk: list[dict[str, int]] = [{} for _ in range(200)]  # dict free list full
            del junk
            for other in others:  # every template slot replaced
                _native.read_record(other, *NAMES)

    expected = {"M03": "v", "M07": "v"}
    threshold = gc.get_threshold()
    try:
        for _ in range(20):
            Finalized()
            _native.read_record(main, *NAMES)  # main's templates back in their slots
            hold: list[dict[str, int]] = [{} for _ in range(200)]  # dict free list empty
            gc.set_threshold(1)  # the next tracked allocation collects: in read_record
            plain = _native.read_record(main, *NAMES)
            gc.set_threshold(*threshold)
            del hold
            assert plain is not None
            header, mb1, _ = plain
            assert (len(header), len(mb1)) == (2, 2)
            assert header == mb1 == expected
    finally:
        gc.set_threshold(*threshold)
        gc.collect()
    assert ran
