from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection

from nhihub.formats.model import Record
from nhihub.protect import PiiCipher
from nhihub.storage import (
    get_precheck_records,
    get_v1_records,
    get_visit,
    insert_precheck_records,
    insert_v1_records,
    order_lines_of,
    precheck_record_of,
    record_json,
    upsert_visit,
    v1_record_of,
    visit_from_record,
)
from nhihub.storage.mapping import record_json_text, stdlib_json_text

T0 = dt.datetime(2024, 3, 18, 1, 0, tzinfo=dt.UTC)
M15 = "0USE4FA11RP4J370WR4K"
MakeBatch = Callable[..., int]


def _record_20(**mb1: str) -> Record:
    fields = {
        "M03": "A123456789",
        "M04": "0690102",
        "M05": "3501200000",
        "M07": "AF",
        "M11": "1130318093000",
        "M12": "2",
        "M15": M15,
        "M16": "1ABCDEFGH2JKLMNP3QRS",
        "M52": "2ABCDEFGH2JKLMNP3QRS",
    }
    fields.update(mb1)
    return Record(
        index=4,
        line=12,
        version="2.0",
        header={"H00": "1", "H01": "B"},
        mb1={k: v for k, v in fields.items() if v},
        mb2=[
            {"D01": "1130318093000", "D02": "1", "D03": "001", "D06": "A000123456", "D09": "28"},
            {"D02": "2", "D03": "002", "D06": "00109C", "D09": "x", "D10": "00001.0"},
        ],
    )


def _record_10(**mb1: str) -> Record:
    fields = {
        "A12": "A123456789",
        "A13": "0690102",
        "A14": "3501200000",
        "A17": "1130318093000",
        "A23": "01",
    }
    fields.update(mb1)
    return Record(
        index=2,
        line=5,
        version="1.0",
        header={"A00": "1", "A01": "1", "A02": "1.0"},
        mb1={k: v for k, v in fields.items() if v},
    )


def test_visit_from_record(pii_cipher: PiiCipher) -> None:
    visit = visit_from_record(_record_20(), pii_cipher, batch_id=7, received_at=T0)
    assert pii_cipher.decrypt(visit.person_enc) == "A123456789"
    assert visit.person_hash == pii_cipher.lookup_hash("A123456789")
    assert (visit.m15, visit.institution_code, visit.category) == (M15, "3501200000", "AF")
    assert visit.birth_date == dt.date(1980, 1, 2)
    assert visit.visit_at == dt.datetime(2024, 3, 18, 9, 30)
    assert (visit.h00, visit.h01, visit.m12) == ("1", "B", "2")
    assert (visit.m16, visit.m52) == ("1ABCDEFGH2JKLMNP3QRS", "2ABCDEFGH2JKLMNP3QRS")
    assert (visit.batch_id, visit.record_index, visit.received_at) == (7, 4, T0)
    assert "M03" not in visit.record["mb1"] and visit.record["mb1"]["M15"] == M15
    assert "A123456789" not in repr(visit.record)
    assert [o.item_code for o in visit.orders] == ["A000123456", "00109C"]


def test_order_lines_of() -> None:
    first, second = order_lines_of(_record_20())
    assert (first.line_no, first.order_type, first.seq, first.days) == (1, "1", "001", 28)
    assert (second.days, second.quantity, second.rx_kind) == (None, "00001.0", None)


def test_unparseable_values_become_none(pii_cipher: PiiCipher) -> None:
    visit = visit_from_record(
        _record_20(M04="1130230", M11="bad", M05=""),
        pii_cipher,
        batch_id=1,
        received_at=T0,
        institution_code="9999999999",
    )
    assert (visit.birth_date, visit.visit_at, visit.institution_code) == (None, None, "9999999999")


@pytest.mark.parametrize("missing", ["M15", "M03"])
def test_visit_needs_identifier_and_person(pii_cipher: PiiCipher, missing: str) -> None:
    with pytest.raises(ValueError):
        visit_from_record(_record_20(**{missing: ""}), pii_cipher, batch_id=1, received_at=T0)


def test_unknown_version_is_refused() -> None:
    record = Record(index=1, line=1, version="3.0")
    with pytest.raises(ValueError, match="unknown format version"):
        record_json(record)


@given(st.dictionaries(st.sampled_from(["M03", "M04", "M07", "M15"]), st.text(max_size=12)))
def test_record_json_never_keeps_the_person_id(mb1: dict[str, str]) -> None:
    record = Record(index=1, line=1, version="2.0", mb1=mb1)
    data = record_json(record)
    assert "M03" not in data["mb1"]
    assert {k: v for k, v in mb1.items() if k != "M03"} == data["mb1"]


def test_report_rows(pii_cipher: PiiCipher) -> None:
    v1 = v1_record_of(
        _record_10(), pii_cipher, batch_id=3, institution_code="1111111111", success=True
    )
    pre = precheck_record_of(
        _record_20(M07="01"),
        pii_cipher,
        batch_id=4,
        institution_code="1111111111",
        channel="vpn",
        success=True,
    )
    key_v1 = (v1.person_hash, v1.birth_date, v1.visit_at, v1.category)
    key_pre = (pre.person_hash, pre.birth_date, pre.visit_at, pre.category)
    assert key_v1 == key_pre  # the 1.0 and 2.0 records of the same visit match
    assert (v1.institution_code, v1.record_index, v1.visit_date) == (
        "3501200000",
        2,
        dt.date(2024, 3, 18),
    )
    assert (pre.m15, pre.channel, pre.batch_id) == (M15, "vpn", 4)
    empty = v1_record_of(
        _record_10(A12="", A14="", A17="x"),
        pii_cipher,
        batch_id=3,
        institution_code="1111111111",
        success=False,
    )
    assert (empty.person_hash, empty.visit_at, empty.institution_code) == (
        None,
        None,
        "1111111111",
    )


def test_report_rows_are_stored(
    conn: Connection, make_batch: MakeBatch, pii_cipher: PiiCipher, clinic: str
) -> None:
    v1_batch, pre_batch = make_batch(), make_batch(kind="A2", channel="vpn")
    v1 = v1_record_of(
        _record_10(), pii_cipher, batch_id=v1_batch, institution_code=clinic, success=True
    )
    pre = precheck_record_of(
        _record_20(),
        pii_cipher,
        batch_id=pre_batch,
        institution_code=clinic,
        channel="vpn",
        success=False,
    )
    insert_v1_records(conn, [v1])
    insert_precheck_records(conn, [pre])
    insert_v1_records(conn, [])
    insert_precheck_records(conn, [])
    assert get_v1_records(conn, v1_batch) == [v1]
    assert get_precheck_records(conn, pre_batch) == [pre]
    with pytest.raises(ValueError, match="channel"):
        insert_precheck_records(
            conn,
            [
                precheck_record_of(
                    _record_20(), pii_cipher, batch_id=pre_batch, institution_code=clinic,
                    channel="fax", success=True,
                )
            ],
        )  # fmt: skip


def test_mapped_visit_is_storable(
    conn: Connection, make_batch: MakeBatch, pii_cipher: PiiCipher
) -> None:
    visit = visit_from_record(_record_20(), pii_cipher, batch_id=make_batch(), received_at=T0)
    upsert_visit(conn, visit)
    got = get_visit(conn, M15, cipher=pii_cipher)
    assert got is not None and got.person_id == "A123456789" and got.record == visit.record


_FIELD_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8
) | st.sampled_from(['"', "\\", "\x00\x1f\x7f", "\u2028\u2029", "醫令", "\U0001f600"])


@given(
    st.dictionaries(st.sampled_from(["H00", "H01"]), _FIELD_TEXT, max_size=2),
    st.dictionaries(st.sampled_from(["M03", "M04", "M07", "M15", "M44"]), _FIELD_TEXT),
    st.lists(st.dictionaries(st.sampled_from(["D02", "D06", "D10"]), _FIELD_TEXT), max_size=3),
)
def test_record_json_text_is_the_stdlib_json_of_the_record(
    header: dict[str, str], mb1: dict[str, str], mb2: list[dict[str, str]]
) -> None:
    record = Record(index=1, line=1, version="2.0", header=header, mb1=mb1, mb2=mb2)
    text = record_json_text(record)
    assert text == json.dumps(record_json(record), ensure_ascii=False, separators=(",", ":"))
    assert text == stdlib_json_text(record_json(record))
