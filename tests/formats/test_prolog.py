"""The start of a file: the XML declaration decides the encoding; the prolog may only hold white
space, comments and processing instructions before <RECS>."""

from __future__ import annotations

import pytest

from nhihub.formats.prolog import PrologError, check_prolog, read_declaration
from nhihub.formats.spec import reader_spec

SPEC = reader_spec()


@pytest.mark.parametrize(
    ("head", "encoding", "codec"),
    [
        (b'<?xml version="1.0" encoding="Big5"?><RECS/>', "Big5", "cp950"),
        (b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<RECS/>", "utf-8", "utf-8"),
        (b'<?xml version="1.0"?>\n<RECS/>', None, "utf-8"),
        (b"<RECS></RECS>   ", None, "utf-8"),
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><RECS/>', "UTF-8", "utf-8"),
    ],
)
def test_declaration(head: bytes, encoding: str | None, codec: str) -> None:
    decl = read_declaration(head, SPEC, final=True)
    assert decl is not None
    assert (decl.encoding, decl.codec) == (encoding, codec)
    assert head[decl.body_start :].lstrip().startswith(b"<RECS")


def test_line_breaks_inside_the_declaration_are_counted() -> None:
    decl = read_declaration(b'<?xml version="1.0"\n  encoding="Big5"\n?><RECS/>', SPEC, final=True)
    assert decl is not None and decl.newlines == 2


@pytest.mark.parametrize(
    ("head", "code"),
    [
        (b"", "Y003"),
        (b'<?xml version="1.0" encoding=Big5?><RECS/>', "Y002"),
        (b'<?xml version="1.0" encoding="EUC-JP"?><RECS/>', "Y002"),
        (b'<?xml encoding="Big5"?><RECS/>', "Y002"),
        ('<?xml version="1.0"?><RECS/>'.encode("utf-16"), "Y002"),
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="Big5"?><RECS/>', "Y002"),
    ],
)
def test_bad_declarations(head: bytes, code: str) -> None:
    with pytest.raises(PrologError) as info:
        read_declaration(head, SPEC, final=True)
    assert info.value.code == code and info.value.line == 1
    assert " / " in info.value.detail


def test_a_short_head_waits_for_more() -> None:
    assert read_declaration(b"<?xm", SPEC, final=False) is None
    assert read_declaration(b'<?xml version="1.0" encoding="Big5"', SPEC, final=False) is None


@pytest.mark.parametrize(
    "data",
    [
        b"<RECS>",
        b"\n\n  <!-- a comment -->\n<?pi data?>\n<RECS xmlns:xsi='x'>",
        b"<RECS\n>",
    ],
)
def test_acceptable_prologs(data: bytes) -> None:
    prolog = check_prolog(data, SPEC, final=False)
    assert prolog is not None
    assert prolog.root_line == 1 + data[: data.index(b"<RECS")].count(b"\n")


@pytest.mark.parametrize(
    ("data", "code", "line"),
    [
        (b"\n<!DOCTYPE RECS>\n<RECS>", "Y002", 2),
        (b"<!-- x -->\n<!ENTITY a 'b'>", "Y002", 2),
        (b"\n\ntext<RECS>", "Y002", 3),
        (b"\n<?xml version='1.0'?><RECS>", "Y002", 2),
        (b"<ROOT>", "Y003", 1),
        (b"<RECSX>", "Y003", 1),
        (b'\n<RECS xmlns="urn:x">', "Y003", 2),
    ],
)
def test_bad_prologs(data: bytes, code: str, line: int) -> None:
    with pytest.raises(PrologError) as info:
        check_prolog(data, SPEC, final=False)
    assert (info.value.code, info.value.line) == (code, line)


@pytest.mark.parametrize("data", [b"", b"  \n", b"<!-", b"<!-- open", b"<?pi", b"<REC"])
def test_an_incomplete_prolog_waits_for_more(data: bytes) -> None:
    assert check_prolog(data, SPEC, final=False) is None


def test_no_root_at_all_is_a_content_error() -> None:
    with pytest.raises(PrologError) as info:
        check_prolog(b"\n<!-- only a comment -->\n", SPEC, final=True)
    assert info.value.code == "Y003"


def test_an_endless_prolog_is_refused() -> None:
    data = b"<!--" + b"x" * (SPEC.limits.max_prolog_bytes + 10)
    with pytest.raises(PrologError) as info:
        check_prolog(data, SPEC, final=False)
    assert info.value.code == "Y002"
