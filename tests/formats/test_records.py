"""Assembling records: the fast path agrees with the exact walk, provisional records that hide a
problem are read again, limits on MB2 lines, release of huge records, line numbers beyond what
libxml2 stores, and memory that does not grow with the file."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import io
import random
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nhihub.formats import FileError, Record, UploadReader, read_upload
from nhihub.formats import records as records_module
from nhihub.formats.records import Assembler, RecLines
from nhihub.formats.spec import reader_spec

B5 = '<?xml version="1.0" encoding="Big5"?>\n'
MSH = "<MSH><H00>1</H00><H01>A</H01></MSH>"
MB1 = "<MB1><M03>A123456789</M03><M07>01</M07></MB1>"
LINE = "<MB2><D01>1130101083000</D01><D02>1</D02></MB2>"
REC = f"<REC>{MSH}<MB>{MB1}{LINE}</MB></REC>\n"


def doc(body: str) -> bytes:
    return (B5 + "<RECS>\n" + body + "</RECS>\n").encode("cp950")


def read(data: bytes, **kw: Any) -> tuple[list[Record], list[FileError], Any]:
    return read_upload(io.BytesIO(data), **kw)


# -- the fast path and the exact walk agree ------------------------------------------------------

FIELD_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from("0123456789ABCXYZ \t\n\u3000中文碁"), max_size=8),
    st.sampled_from(["&amp;", "a&lt;b", "&#x41;", "<![CDATA[<x>]]>", "&#xa0;1", "2&#x85;"]),
)


# Flaws of a record, each a field appended to its MB1 or a special case named in files().
MB1_FLAWS = {
    "comment": "<M11>113<!-- c -->0101</M11>",
    "ns": '<x:M11 xmlns:x="urn:x">1130101</x:M11>',
    "attr": '<M11 a="1">1130101</M11>',
    "nested": "<M11>1<B/></M11>",
    "dup": "<M03>B123456789</M03>",
    "empty": "<M08/>",
    "unknown": "<M99>1</M99>",
}
FLAWS = [*MB1_FLAWS, "tail", "order", "header"]


@st.composite
def files(draw: st.DrawFn) -> bytes:
    """Upload files, mostly well formed, with some of the flaws the fast path cannot see."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        flaw = draw(st.sampled_from(["", "", "", *FLAWS]))
        mb1 = ["<M03>A123456789</M03>", f"<M07>{draw(FIELD_TEXT)}</M07>"]
        header = MSH
        lines = LINE * draw(st.integers(0, 3))
        if flaw in MB1_FLAWS:
            mb1.append(MB1_FLAWS[flaw])
        elif flaw == "tail":
            mb1.insert(1, "stray")
        elif flaw == "order":
            lines += "<MB1><M03>A123456789</M03></MB1>"
        elif flaw == "header":
            header = "<MSH><H00>1</H00><H01>A</H01><H01>B</H01></MSH>"
        parts.append(f"<REC>{header}<MB><MB1>{''.join(mb1)}</MB1>{lines}</MB></REC>\n")
    return (B5 + "<RECS>\n" + "".join(parts) + "</RECS>\n").encode("cp950")


def _exact_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Assembler, "_fast", lambda self, rec: None)


def _python_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path in Python (provisional records proved by verify), not the compiled one."""
    monkeypatch.setattr(records_module, "native_reader", lambda: None)


FAST_PATHS = ["native", "python"]


@pytest.mark.parametrize("fast_path", FAST_PATHS)
@settings(
    max_examples=120,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(files(), st.sampled_from([7, 64, 65536]))
def test_fast_path_gives_what_the_exact_walk_gives(
    monkeypatch: pytest.MonkeyPatch, fast_path: str, data: bytes, chunk_size: int
) -> None:
    with monkeypatch.context() as m:
        if fast_path == "python":
            _python_fast_path(m)
        fast = list(UploadReader(io.BytesIO(data), chunk_size=chunk_size))
    with monkeypatch.context() as m:
        _exact_only(m)
        exact = list(UploadReader(io.BytesIO(data), chunk_size=chunk_size))
    assert fast == exact


@pytest.mark.parametrize("fast_path", FAST_PATHS)
@pytest.mark.parametrize(
    ("mb1", "expected", "values"),
    [
        (
            "<M03>A123456789</M03>stray<M07>01</M07>",
            [("MB1", "Y003")],
            {"M03": "A123456789", "M07": "01"},
        ),
        ("<M03>A123456789<B/></M03><M07>01</M07>", [("M03", "Y005")], {"M07": "01"}),
        ("<M03>A123456789</M03><M03>B123456789</M03>", [("M03", "Y004")], {"M03": "A123456789"}),
    ],
)
def test_flaws_the_fast_path_cannot_see_are_found(
    monkeypatch: pytest.MonkeyPatch,
    fast_path: str,
    mb1: str,
    expected: list[Any],
    values: dict[str, str],
) -> None:
    if fast_path == "python":
        _python_fast_path(monkeypatch)
    bad = f"<REC>{MSH}<MB><MB1>{mb1}</MB1></MB></REC>\n"
    records, errors, info = read(doc(REC + bad + REC))
    assert errors == []
    assert [r.index for r in records] == [1, 2, 3]
    assert [r.problems for r in records[::2]] == [[], []]
    assert [(f.field, f.code) for f in records[1].problems] == expected
    assert records[1].mb1 == values  # a field holding elements is left out
    assert info.records == 3 and info.orders == 2


def test_identical_findings_are_reported_once() -> None:
    rec = f"<REC>{MSH}<MB><MB1><M99/><M99/><M99>1</M99></MB1></MB></REC>\n"
    [record], _, _ = read(doc(rec))
    assert [(f.field, f.code) for f in record.problems] == [("M99", "Y004")]


# -- MB2 lines and large records -----------------------------------------------------------------


def test_lines_beyond_max_orders_are_counted_not_kept() -> None:
    lines = "".join(f"<MB2><D03>{n % 1000:03d}</D03></MB2>" for n in range(1, 601))
    rec = f"<REC>{MSH}<MB>{MB1}{lines}</MB></REC>\n"
    [_, record], errors, info = read(doc(REC + rec))
    assert errors == []
    assert len(record.mb2) == reader_spec().limits.max_orders
    assert record.mb2[-1] == {"D03": f"{reader_spec().limits.max_orders:03d}"}
    assert info.orders == 601 and info.dropped_orders == 600 - len(record.mb2)


def test_max_orders_can_be_lowered() -> None:
    rec = f"<REC>{MSH}<MB>{MB1}{LINE * 12}</MB></REC>\n"
    [record], _, info = read(doc(rec), max_orders=10)
    assert len(record.mb2) == 10 and info.dropped_orders == 2


def test_a_huge_record_is_released_while_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    released = []
    original = Assembler.release

    def spy(self: Assembler) -> bool:
        done = original(self)
        released.append(done)
        return done

    monkeypatch.setattr(Assembler, "release", spy)
    n = 12_000  # about 600 KB of MB2 lines in one record
    lines = []
    for i in range(1, n + 1):
        lines.append(f"<MB2><D01>1130101083000</D01><D03>{i % 1000:03d}</D03></MB2>")
        if i % 3000 == 0:
            lines.append("<JUNK/>")
    rec = f"<REC>{MSH}<NOTE/><MB>{MB1}{''.join(lines)}</MB></REC>\n"
    records, errors, info = read(doc(REC + rec + REC))
    assert any(released)
    assert errors == []
    assert [r.index for r in records] == [1, 2, 3]
    big = records[1]
    assert len(big.mb2) == reader_spec().limits.max_orders
    assert big.mb1 == {"M03": "A123456789", "M07": "01"}
    assert sorted((f.field, f.code) for f in big.problems) == [("JUNK", "Y004"), ("NOTE", "Y004")]
    assert info.orders == n + 2


# -- line numbers ----------------------------------------------------------------------------------


def _layouts(count: int, seed: int) -> tuple[bytes, list[int]]:
    """A file of ``count`` records in mixed layouts, and the line of each <REC>."""
    rnd = random.Random(seed)
    out = [B5, "<RECS>\n"]
    line = 3
    lines = []
    for _ in range(count):
        kind = rnd.randrange(4)
        if kind == 0:
            text = REC
        elif kind == 1:
            text = f"<REC>\n  {MSH}\n  <MB>{MB1}</MB>\n</REC>\n"
        elif kind == 2:
            text = f"\n\n<REC>\n\n<MSH>\n<H00>1</H00>\n</MSH>\n<MB>\n{MB1}\n{LINE}\n</MB>\n</REC>\n"
        else:
            text = f"<REC><MSH><H00>\n1\n</H00></MSH><MB>{MB1}</MB></REC><!-- x -->\n"
        lines.append(line + len(text) - len(text.lstrip("\n")))
        line += text.count("\n")
        out.append(text)
    out.append("</RECS>\n")
    return "".join(out).encode(), lines


def test_record_lines_beyond_65535_are_exact() -> None:
    data, lines = _layouts(15_000, seed=1)
    assert lines[-1] > 70_000
    records, errors, _ = read(data)
    assert errors == []
    assert [r.line for r in records] == lines


def test_rec_lines_finds_a_tag_cut_in_two() -> None:
    rl = RecLines()
    rl.note(b"\n" * 3, 60_001, 60_004)
    rl.note(b"x<RE", 60_004, 60_004)
    rl.note(b"C>\n<REC>", 60_004, 60_005)
    assert [rl.take(60_004), rl.take(60_005), rl.take(60_009)] == [60_004, 60_005, 60_009]


# -- memory ----------------------------------------------------------------------------------------


def _stream(count: int) -> Iterator[bytes]:
    yield (B5 + "<RECS>\n").encode()
    for _ in range(count):
        yield REC.encode()
    yield b"</RECS>\n"


class _Stream(io.RawIOBase):
    """A file generated on the fly, so the test itself holds no large buffer."""

    def __init__(self, count: int) -> None:
        self._parts = _stream(count)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while len(self._buf) < len(b):
            try:
                self._buf += next(self._parts)
            except StopIteration:
                break
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _c_heap() -> int | None:
    """Bytes in use on the C heap (glibc), where libxml2 keeps the tree; None elsewhere."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallinfo2"):
        return None

    class MallInfo2(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                   "usmblks", "fsmblks", "uordblks", "fordblks",
                                                   "keepcost")]  # fmt: skip

    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def _peaks(count: int) -> tuple[int, int | None]:
    """Peak Python memory (tracemalloc) and peak C heap growth while reading ``count`` records."""
    gc.collect()
    base = _c_heap()
    c_peak = 0
    tracemalloc.start()
    try:
        for n, _item in enumerate(UploadReader(io.BufferedReader(_Stream(count))), 1):
            if base is not None and n % 500 == 0:
                c_peak = max(c_peak, (_c_heap() or 0) - base)
        _, py_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return py_peak, (c_peak if base is not None else None)


def test_memory_does_not_grow_with_the_file() -> None:
    small_py, small_c = _peaks(2_000)
    large_py, large_c = _peaks(20_000)
    # Ten times the records, about the same peak: a small absolute margin, not a factor.
    assert large_py < small_py + 512 * 1024
    if small_c is not None and large_c is not None:
        assert large_c < small_c + 2 * 1024 * 1024


# -- the three ways of reading agree on realistic files --------------------------------------------


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """A format-2.0 file with every kind of injected error (Big5), the same bytes declared
    UTF-8, and a format-1.0 file."""
    import datetime as dt

    from nhihub.synth import generate, write_synth

    out = tmp_path_factory.mktemp("synth")
    as_of = dt.datetime(2024, 11, 20, 12, 0)
    v20 = out / "v20.xml"
    write_synth(generate(5, 400, as_of=as_of, error_rate=0.3), v20)
    v10 = out / "v10.xml"
    write_synth(generate(6, 200, as_of=as_of, version="1.0"), v10)
    big5 = v20.read_bytes()
    return [big5, big5.replace(b'encoding="Big5"', b'encoding="UTF-8"', 1), v10.read_bytes()]


@pytest.mark.parametrize("chunk_size", [97, 65536])
def test_native_python_and_exact_reading_agree_on_synthetic_files(
    monkeypatch: pytest.MonkeyPatch, synthetic_files: list[bytes], chunk_size: int
) -> None:
    for data in synthetic_files:
        native = list(UploadReader(io.BytesIO(data), chunk_size=chunk_size))
        with monkeypatch.context() as m:
            _python_fast_path(m)
            python = list(UploadReader(io.BytesIO(data), chunk_size=chunk_size))
        with monkeypatch.context() as m:
            _exact_only(m)
            exact = list(UploadReader(io.BytesIO(data), chunk_size=chunk_size))
        assert len(native) > 100
        assert native == python == exact
