"""The reader's data file (data/reader.json): it loads, its check codes are catalogued, its
messages are bilingual."""

from __future__ import annotations

import re

from nhihub.formats.spec import reader_spec
from nhihub.specs.catalogue import catalogue
from nhihub.specs.fields import VERSIONS, fields


def test_codes_are_catalogued_and_claimed() -> None:
    cat = catalogue()
    for kind, code in reader_spec().codes.items():
        assert code in cat, kind
        assert cat[code].claimed, code


def test_details_and_writer_errors_are_bilingual() -> None:
    spec = reader_spec()
    for text in [*spec.details.values(), *spec.writer_errors.values()]:
        zh, _, en = text.partition(" / ")
        assert re.search(r"[\u4e00-\u9fff]", zh), text
        assert re.search(r"[A-Za-z]{3}", en), text


def test_encodings_map_to_the_two_codecs() -> None:
    spec = reader_spec()
    assert set(spec.encodings.values()) == {"cp950", "utf-8"}
    assert spec.codec(" BIG5 ") == "cp950" and spec.codec("UTF-8") == "utf-8"
    assert spec.codec("latin-1") is None
    assert set(spec.writer_labels) == set(spec.encodings.values())


def test_limits_are_sane() -> None:
    lim = reader_spec().limits
    assert lim.max_orders > 500  # one more than NHI allows, so that the checks can see AG
    assert lim.chunk_size <= lim.release_bytes < lim.max_pending_bytes
    assert lim.max_text >= max(f.length or 0 for v in VERSIONS for f in fields(v))


def test_field_names_cover_both_versions() -> None:
    names = reader_spec().field_names
    assert {"H00", "M15", "D01", "E13", "A00", "A81"} <= names
