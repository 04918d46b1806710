"""The comparison report's SQL on SQLite and PostgreSQL, with a hand-computable fixture, and the
encrypted export read back with the independent reader."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection

from nhihub.formats import iter_upload
from nhihub.formats.model import Record
from nhihub.ids.rocdate import format_roc_date, format_roc_datetime, parse_roc_datetime
from nhihub.protect import PiiCipher
from nhihub.reports import (
    ZipPasswordError,
    mask_person_id,
    precheck_export,
    precheck_report,
    unmatched_records,
)
from nhihub.storage import (
    PrecheckRecord,
    V1Record,
    insert_precheck_records,
    insert_v1_records,
    v1_record_of,
)
from nhihub.storage.mapping import person_id_of
from nhihub.synth import generate, write_synth

AS_OF = dt.date(2024, 3, 21)
DAY1 = dt.date(2024, 3, 14)  # first day of the window
DAY7 = dt.date(2024, 3, 20)  # last day
BIRTH = dt.date(1980, 5, 6)
CLINIC = "3501200000"
OTHER = "3501200011"
MakeBatch = Callable[..., int]


def _h(n: int) -> bytes:
    return bytes([n]) * 32


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 0))


def _v1(batch: int, i: int, person: int, at: dt.datetime, category: str = "01",
        success: bool = True, institution: str = CLINIC) -> V1Record:  # fmt: skip
    return V1Record(batch, i, institution, _h(person), BIRTH, at, category, success)


def _pre(batch: int, i: int, person: int, at: dt.datetime, channel: str, *, category: str = "01",
         success: bool = True, birth: dt.date = BIRTH,
         institution: str = CLINIC) -> PrecheckRecord:  # fmt: skip
    return PrecheckRecord(batch, i, institution, _h(person), birth, at, category, success, channel)


@pytest.fixture
def fixture_rows(conn: Connection, make_batch: MakeBatch) -> None:
    """CLINIC: 5 successful 1.0 records in the window (A = 5):

    1 (DAY1, 01): matched via Web-API                      -> web-api
    2 (DAY1, 01): matched via VPN and via Web-API          -> web-api (preferred)
    3 (DAY1, 01): only a failed pre-check                  -> unmatched
    4 (DAY7, 02): matched via the REST channel "web"       -> vpn (a file a person uploaded)
    5 (DAY7, 02): pre-checks differ (birth date; other institution; category) -> unmatched
    Not counted: a failed 1.0 record, one on the as-of day, one the day before the window.
    OTHER: 1 successful 1.0 record on DAY7 matched via VPN.
    So CLINIC: A 5, B 3 (web-api 2, vpn 1) = 60%; all institutions: A 6, B 4 = 67%.
    """
    v1 = make_batch(kind="A1")
    v1_other = make_batch(kind="A1", institution_code=OTHER)
    web = make_batch(kind="A2", channel="web-api")
    vpn = make_batch(kind="A2", channel="vpn")
    rest = make_batch(kind="A2", channel="web")
    other = make_batch(kind="A2", channel="vpn", institution_code=OTHER)
    insert_v1_records(conn, [
        _v1(v1, 1, 1, _at(DAY1, 9)),
        _v1(v1, 2, 2, _at(DAY1, 10)),
        _v1(v1, 3, 3, _at(DAY1, 11)),
        _v1(v1, 4, 4, _at(DAY7, 9), "02"),
        _v1(v1, 5, 5, _at(DAY7, 10), "02"),
        _v1(v1, 6, 6, _at(DAY7, 11), success=False),
        _v1(v1, 7, 7, _at(AS_OF, 9)),
        _v1(v1, 8, 8, _at(DAY1 - dt.timedelta(days=1), 9)),
        _v1(v1_other, 1, 9, _at(DAY7, 12), institution=OTHER),
    ])  # fmt: skip
    insert_precheck_records(conn, [
        _pre(web, 1, 1, _at(DAY1, 9), "web-api"),
        _pre(vpn, 1, 2, _at(DAY1, 10), "vpn"),
        _pre(web, 2, 2, _at(DAY1, 10), "web-api"),
        _pre(web, 3, 3, _at(DAY1, 11), "web-api", success=False),
        _pre(rest, 1, 4, _at(DAY7, 9), "web", category="02"),
        _pre(web, 4, 5, _at(DAY7, 10), "web-api", category="02", birth=dt.date(1980, 5, 7)),
        _pre(other, 1, 5, _at(DAY7, 10), "vpn", category="02", institution=OTHER),
        _pre(web, 5, 5, _at(DAY7, 10), "web-api", category="01"),
        _pre(web, 6, 6, _at(DAY7, 11), "web-api"),
        _pre(web, 7, 7, _at(AS_OF, 9), "web-api"),
        _pre(other, 2, 9, _at(DAY7, 12), "vpn", institution=OTHER),
    ])  # fmt: skip


@pytest.mark.usefixtures("fixture_rows")
def test_report_of_one_institution(conn: Connection) -> None:
    report = precheck_report(conn, CLINIC, AS_OF)
    assert (report.first_day, report.last_day) == (DAY1, DAY7)
    t = report.total
    assert (t.v1_success, t.matched, t.web_api, t.vpn, t.ratio_text) == (5, 3, 2, 1, "60%")
    assert [(r.key, r.v1_success, r.matched, r.vpn, r.web_api) for r in report.by_date] == [
        (DAY1.isoformat(), 3, 2, 0, 2),
        (DAY7.isoformat(), 2, 1, 1, 0),
    ]
    assert [(r.label, r.v1_success, r.matched, r.ratio_text) for r in report.by_category] == [
        ("01-西醫門診", 3, 2, "67%"),
        ("02-牙醫門診", 2, 1, "50%"),
    ]
    assert not report.qualified


@pytest.mark.usefixtures("fixture_rows")
def test_report_of_every_institution(conn: Connection) -> None:
    t = precheck_report(conn, None, AS_OF).total
    assert (t.v1_success, t.matched, t.vpn, t.web_api, t.ratio_text) == (6, 4, 2, 2, "67%")


@pytest.mark.usefixtures("fixture_rows")
def test_other_institution_alone_qualifies(conn: Connection) -> None:
    report = precheck_report(conn, OTHER, AS_OF)
    assert report.total.ratio_text == "100%" and report.qualified


@pytest.mark.usefixtures("fixture_rows")
def test_unmatched_records_are_the_rest_of_a(conn: Connection) -> None:
    rows = unmatched_records(conn, CLINIC, DAY1, DAY7)
    assert [(r.record_index, r.visit_at, r.category) for r in rows] == [
        (3, _at(DAY1, 11), "01"),
        (5, _at(DAY7, 10), "02"),
    ]


@pytest.mark.usefixtures("fixture_rows")
def test_window_moves_with_the_as_of_date(conn: Connection) -> None:
    # One day later the first day drops out and the as-of day's record (7) comes in.
    report = precheck_report(conn, CLINIC, AS_OF + dt.timedelta(days=1))
    assert report.total.v1_success == 3
    assert report.by_date[-1].key == AS_OF.isoformat()


# -- export with real uploads --------------------------------------------------------------------


@pytest.fixture
def uploaded_v1(
    conn: Connection, make_batch: MakeBatch, pii_cipher: PiiCipher, tmp_path: Path
) -> list[Record]:
    """A synthetic 1.0 upload stored as a batch (raw encrypted) and its report rows (the
    records are all counted as CLINIC's)."""
    as_of = dt.datetime.combine(AS_OF, dt.time(0, 0))
    path = tmp_path / "v1.xml"
    write_synth(generate(11, 60, as_of=as_of, version="1.0"), path)
    raw = path.read_bytes()
    records = [r for r in iter_upload(io.BytesIO(raw)) if isinstance(r, Record)]
    batch = make_batch(kind="A1", raw=raw, channel="vpn")
    rows = [v1_record_of(r, pii_cipher, batch_id=batch, institution_code=CLINIC, success=True)
            for r in records]  # fmt: skip
    # The synthetic visits are spread over several institutions (A14): all become CLINIC's.
    insert_v1_records(conn, [dataclasses.replace(r, institution_code=CLINIC) for r in rows])
    return records


def _read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_export_zip_holds_results_and_masked_unmatched_list(
    conn: Connection,
    uploaded_v1: list[Record],
    pii_cipher: PiiCipher,
    aes_unzip: Callable[[bytes, str], dict[str, bytes]],
    bad_zip: type[Exception],
) -> None:
    as_of = max(_visit(r) for r in uploaded_v1).date() + dt.timedelta(days=1)
    institution = CLINIC
    archive = precheck_export(conn, institution, as_of, "A123456789", pii_cipher)
    with pytest.raises(bad_zip):
        aes_unzip(archive, "A123456788")
    files = aes_unzip(archive, "A123456789")
    names = sorted(files)
    day = format_roc_date(as_of)
    assert names == [
        f"健保卡1.0比對不到健保卡2.0之清單_{day}.csv",
        f"就醫日期為系統日期前7日之健保卡就醫資料上傳結果_{day}.csv",
    ]
    report = precheck_report(conn, institution, as_of)
    results = _read_csv(files[names[1]])
    assert results[1][:6] == [institution, "合計", "", str(report.total.v1_success), "0", "0%"]
    assert len(results) == 2 + len(report.by_date) + len(report.by_category)
    unmatched = _read_csv(files[names[0]])
    in_window = [r for r in uploaded_v1 if report.first_day <= _visit(r).date() <= report.last_day]
    assert report.total.v1_success == len(in_window) > 0
    expected = sorted(
        (format_roc_datetime(_visit(r)), str(r.index), mask_person_id(person_id_of(r) or ""))
        for r in in_window
    )
    assert sorted((row[3], row[2], row[6]) for row in unmatched[1:]) == expected
    clear_ids = {person_id_of(r) for r in uploaded_v1}
    assert not any(cell in clear_ids for row in unmatched for cell in row)


def _visit(record: Record) -> dt.datetime:
    return parse_roc_datetime(record.mb1["A17"])


def test_export_refuses_a_short_password(conn: Connection, pii_cipher: PiiCipher) -> None:
    with pytest.raises(ZipPasswordError):
        precheck_export(conn, CLINIC, AS_OF, "abc", pii_cipher)


@pytest.mark.usefixtures("fixture_rows")
def test_export_without_raw_upload_says_so(
    conn: Connection, pii_cipher: PiiCipher, aes_unzip: Callable[[bytes, str], dict[str, bytes]]
) -> None:
    # The fixture's batches hold an empty document: the IDs cannot be read back.
    files = aes_unzip(precheck_export(conn, CLINIC, AS_OF, "password", pii_cipher), "password")
    unmatched = next(v for k, v in files.items() if k.startswith("健保卡1.0"))
    rows = _read_csv(unmatched)
    assert [r[2] for r in rows[1:]] == ["3", "5"]
    assert all("原始檔" in r[6] for r in rows[1:])
