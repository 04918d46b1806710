"""Reading NHI's VNHI_Upload / VNHI_Download requests (pure)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhihub.api.errors import ApiError
from nhihub.api.nhi_protocol import (
    FIELDS,
    canonical_fields,
    decode_pat_data,
    parse_download,
    parse_kind,
    parse_upload,
    parse_upload_dt,
)

XML = "<RECS><REC><MSH><H00>1</H00></MSH></REC></RECS>".encode("big5")


def _upload(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "sSamId": "000000000001",
        "sHospId": "3501200000",
        "sClientRandom": "R",
        "sSignature": "nhh_token",
        "sType": "A1",
        "sMrecs": "1",
        "sPrecs": "2",
        "sPatData": base64.b64encode(XML).decode("ascii"),
        "sUploadDT": "20240915093000123",
    }
    body.update(overrides)
    return body


def _code(exc: pytest.ExceptionInfo[ApiError]) -> tuple[str, str]:
    return exc.value.code, exc.value.spec.rtn


def test_upload_fields_are_read() -> None:
    up = parse_upload(_upload(), 1024)
    assert up.hosp_id == "3501200000"
    assert up.kind == "A1"
    assert up.raw == XML
    assert up.uploaded_at == dt.datetime(2024, 9, 15, 9, 30, 0, 123000)
    assert up.signature == "nhh_token"
    assert up.client_info == {
        "sSamId": "000000000001",
        "sClientRandom": "R",
        "sMrecs": "1",
        "sPrecs": "2",
        "sUploadDT": "20240915093000123",
    }


def test_field_names_match_without_case() -> None:
    # Public HIS code sends sHospid, sSamid, sClientrandom.
    body = {k.lower() if k != "sPatData" else k: v for k, v in _upload().items()}
    up = parse_upload(body, 1024)
    assert up.hosp_id == "3501200000"
    assert up.client_info["sSamId"] == "000000000001"


def test_unknown_keys_are_ignored_and_first_spelling_wins() -> None:
    fields = canonical_fields({"sHospId": "A", "SHOSPID": "B", "other": 1})
    assert fields == {"sHospId": "A"}
    assert set(fields) <= set(FIELDS)


@pytest.mark.parametrize("payload", [[], "x", 3, None])
def test_non_object_is_bad_json(payload: object) -> None:
    with pytest.raises(ApiError) as exc:
        parse_upload(payload, 1024)
    assert _code(exc) == ("bad-json", "9999")


@pytest.mark.parametrize("kind", ["A3", "", "正式", None])
def test_bad_stype_is_5003(kind: object) -> None:
    with pytest.raises(ApiError) as exc:
        parse_upload(_upload(sType=kind), 1024)
    assert _code(exc) == ("bad-kind", "5003")


@pytest.mark.parametrize("kind", ["a1", " A2 ", "zz"])
def test_stype_is_case_folded(kind: str) -> None:
    assert parse_kind(kind) == kind.strip().upper()


@pytest.mark.parametrize("data", ["***", "QUJD=A", "AB"])
def test_bad_base64_is_9999(data: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_upload(_upload(sPatData=data), 1024)
    assert _code(exc) == ("bad-base64", "9999")


def test_missing_patdata_and_hosp_are_named() -> None:
    with pytest.raises(ApiError) as exc:
        parse_upload(_upload(sPatData=""), 1024)
    assert exc.value.code == "missing-field"
    assert "sPatData" in exc.value.message_en
    body = _upload()
    del body["sHospId"]
    with pytest.raises(ApiError) as exc:
        parse_upload(body, 1024)
    assert "sHospId" in exc.value.message_en


def test_empty_file_is_refused() -> None:
    with pytest.raises(ApiError) as exc:
        decode_pat_data("", 1024)
    assert exc.value.code == "empty-upload"


def test_size_limit_applies_to_decoded_bytes() -> None:
    data = base64.b64encode(b"x" * 100).decode()
    assert decode_pat_data(data, 100) == b"x" * 100
    with pytest.raises(ApiError) as exc:
        decode_pat_data(data, 99)
    assert exc.value.code == "too-large"
    assert exc.value.spec.http == 413


def test_huge_patdata_refused_before_decoding() -> None:
    # Far over the limit: refused on its length alone (even though it is not valid base64).
    with pytest.raises(ApiError) as exc:
        decode_pat_data("!" * 10_000, 100)
    assert exc.value.code == "too-large"


def test_base64_with_line_breaks_is_accepted() -> None:
    encoded = base64.encodebytes(XML * 10).decode("ascii")  # MIME style: a break every 76
    assert "\n" in encoded
    assert decode_pat_data(encoded, 10_000) == XML * 10


@given(st.binary(min_size=1, max_size=2000))
def test_any_bytes_round_trip(raw: bytes) -> None:
    assert decode_pat_data(base64.b64encode(raw).decode("ascii"), 2000) == raw


@given(st.text(max_size=40))
def test_patdata_never_raises_anything_but_api_error(text: str) -> None:
    try:
        decode_pat_data(text, 1000)
    except ApiError as exc:
        assert exc.code in ("bad-base64", "empty-upload", "too-large")


@given(
    st.datetimes(min_value=dt.datetime(1912, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    )
)
def test_upload_dt_round_trip(moment: dt.datetime) -> None:
    text = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    assert parse_upload_dt(text) == moment


def test_upload_dt_without_milliseconds() -> None:
    assert parse_upload_dt("20240915093000") == dt.datetime(2024, 9, 15, 9, 30)


@pytest.mark.parametrize("text", ["2024091509300012", "20241315093000000", "2024-09-15", "x"])
def test_bad_upload_dt(text: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_upload(_upload(sUploadDT=text), 1024)
    assert exc.value.code == "bad-upload-dt"


def test_counts_must_be_digits() -> None:
    with pytest.raises(ApiError) as exc:
        parse_upload(_upload(sMrecs="many"), 1024)
    assert exc.value.code == "bad-field"
    assert "sMrecs" in exc.value.message_en
    up = parse_upload(_upload(sMrecs=3, sPrecs=None), 1024)  # numbers are fine, absent too
    assert up.client_info["sMrecs"] == "3"
    assert "sPrecs" not in up.client_info


def test_signature_is_never_kept_in_client_info() -> None:
    up = parse_upload(_upload(), 1024)
    assert "sSignature" not in up.client_info
    assert "nhh_token" not in str(up.client_info)


def test_download_fields() -> None:
    down = parse_download({"sHospid": "3501200000", "sOpcode": "42", "sSignature": " t "})
    assert (down.hosp_id, down.opcode, down.signature) == ("3501200000", 42, "t")
    down = parse_download({"sHospId": "3501200000", "sOpcode": 7})
    assert (down.opcode, down.signature) == (7, None)


@pytest.mark.parametrize("opcode", ["", "abc", "-1", "1.5", True])
def test_bad_opcode(opcode: object) -> None:
    with pytest.raises(ApiError) as exc:
        parse_download({"sHospId": "3501200000", "sOpcode": opcode})
    assert exc.value.code in ("bad-opcode", "missing-field", "bad-field")
    assert exc.value.spec.rtn == "9999"
