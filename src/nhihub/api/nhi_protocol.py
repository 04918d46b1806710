"""NHI's Web-API upload protocol (VNHI_Upload / VNHI_Download): reading the JSON requests.

Pure: takes the decoded JSON object, returns typed requests or raises :class:`ApiError` with the
code whose RtnCode NHI would answer. Field names are NHI's (``sSamId``, ``sHospId``,
``sClientRandom``, ``sSignature``, ``sType``, ``sMrecs``, ``sPrecs``, ``sPatData``, ``sUploadDT``,
``sOpcode``), matched without regard to case because public HIS code sends both ``sHospId`` and
``sHospid``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nhihub.api.errors import ApiError, rtn_codes

UPLOAD_KINDS = ("A1", "A2", "ZZ")  # 正式上傳, 預檢上傳, 介接測試
FIELDS = (
    "sSamId",
    "sHospId",
    "sClientRandom",
    "sSignature",
    "sType",
    "sMrecs",
    "sPrecs",
    "sPatData",
    "sUploadDT",
    "sOpcode",
)
_CANONICAL = {name.lower(): name for name in FIELDS}
_WHITESPACE = re.compile(rb"\s+")
_UPLOAD_DT = re.compile(r"\d{14}(\d{3})?")
_DIGITS = re.compile(r"\d{1,18}")
# Transport fields kept with a batch (client_info): never personal data.
CLIENT_INFO_FIELDS = ("sSamId", "sClientRandom", "sMrecs", "sPrecs", "sUploadDT")
_COUNT_FIELDS = ("sMrecs", "sPrecs")


@dataclass(frozen=True, slots=True)
class NhiUpload:
    hosp_id: str
    kind: str
    raw: bytes
    uploaded_at: dt.datetime | None
    client_info: dict[str, str]
    signature: str | None


@dataclass(frozen=True, slots=True)
class NhiDownload:
    hosp_id: str
    opcode: int
    signature: str | None


def canonical_fields(payload: Any) -> dict[str, Any]:
    """NHI's fields of a request object, keyed by their canonical spelling; unknown keys are
    dropped. :class:`ApiError` ``bad-json`` when the payload is not a JSON object."""
    if not isinstance(payload, Mapping):
        raise ApiError("bad-json")
    fields: dict[str, Any] = {}
    for key, value in payload.items():
        name = _CANONICAL.get(str(key).lower())
        if name is not None and name not in fields:
            fields[name] = value
    return fields


def _text(fields: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError("missing-field", detail_zh=name, detail_en=name)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError("bad-field", detail_zh=name, detail_en=name)
    return str(value).strip()


def signature(fields: Mapping[str, Any]) -> str | None:
    """``sSignature``: in the sandbox, the API token when no Authorization header is sent."""
    value = fields.get("sSignature")
    return value.strip() or None if isinstance(value, str) else None


def parse_kind(value: str | None) -> str:
    """sType / kind: A1, A2 or ZZ (case folded); :class:`ApiError` ``bad-kind`` (5003)."""
    kind = (value or "").strip().upper()
    if kind not in UPLOAD_KINDS:
        raise ApiError("bad-kind")
    return kind


def parse_upload_dt(value: str) -> dt.datetime:
    """sUploadDT ``yyyyMMddHHmmssSSS`` (AD, Taiwan local time) as a naive datetime. The 14-digit
    form without milliseconds is accepted too (some HIS append "000", some send none)."""
    text = value.strip()
    if not _UPLOAD_DT.fullmatch(text):
        raise ApiError("bad-upload-dt")
    try:
        moment = dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S")
    except ValueError:
        raise ApiError("bad-upload-dt") from None
    return moment.replace(microsecond=int(text[14:] or "0") * 1000)


def too_large(max_bytes: int) -> ApiError:
    return ApiError(
        "too-large", detail_zh=f"上限 {max_bytes} 位元組", detail_en=f"limit {max_bytes} bytes"
    )


def decode_pat_data(value: str, max_bytes: int) -> bytes:
    """sPatData: base64 (standard alphabet, line breaks allowed) of the upload file's bytes.

    The encoded length is checked before decoding, so an oversized upload is refused without
    building it in memory: :class:`ApiError` ``too-large``; ``bad-base64``; ``empty-upload``.
    """
    data = _WHITESPACE.sub(b"", value.encode("ascii", errors="replace"))
    if len(data) // 4 * 3 > max_bytes + 2:
        raise too_large(max_bytes)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("bad-base64") from None
    if len(raw) > max_bytes:
        raise too_large(max_bytes)
    if not raw:
        raise ApiError("empty-upload")
    return raw


def _count(fields: Mapping[str, Any], name: str) -> str | None:
    value = _text(fields, name, required=False)
    if value is not None and not _DIGITS.fullmatch(value):
        raise ApiError("bad-field", detail_zh=name, detail_en=name)
    return value


def hosp_id(fields: Mapping[str, Any]) -> str:
    """sHospId, upper-cased (institution codes may carry letters in positions 7-9)."""
    value = _text(fields, "sHospId", required=True)
    assert value is not None
    return value.upper()


def parse_upload(payload: Any, max_bytes: int) -> NhiUpload:
    """A VNHI_Upload request. Checked in this order: JSON object, sHospId present, sType (5003),
    sPatData (size, base64), sUploadDT, sMrecs / sPrecs (optional digits). The caller checks the
    token and the institution first (9002, 9005), as NHI verifies the signature first."""
    fields = canonical_fields(payload)
    hosp = hosp_id(fields)
    kind = parse_kind(_text(fields, "sType", required=False))
    pat_data = fields.get("sPatData")
    if pat_data is None or pat_data == "":
        raise ApiError("missing-field", detail_zh="sPatData", detail_en="sPatData")
    if not isinstance(pat_data, str):
        raise ApiError("bad-base64")
    raw = decode_pat_data(pat_data, max_bytes)
    upload_dt = _text(fields, "sUploadDT", required=False)
    uploaded_at = None if upload_dt is None else parse_upload_dt(upload_dt)
    info: dict[str, str] = {}
    for name in CLIENT_INFO_FIELDS:
        if name in _COUNT_FIELDS:
            value = _count(fields, name)
        else:
            value = _text(fields, name, required=False)
        if value is not None:
            info[name] = value[:64]  # transport values are short; never store a large blob
    return NhiUpload(hosp, kind, raw, uploaded_at, info, signature(fields))


def parse_download(payload: Any) -> NhiDownload:
    """A VNHI_Download request: sHospId and sOpcode (the batch id returned by the upload)."""
    fields = canonical_fields(payload)
    hosp = hosp_id(fields)
    opcode = _text(fields, "sOpcode", required=True)
    if opcode is None or not _DIGITS.fullmatch(opcode):
        raise ApiError("bad-opcode")
    return NhiDownload(hosp, int(opcode), signature(fields))


def rtn_body(rtn: str, **extra: str) -> dict[str, str]:
    """``{"RtnCode", "message", "message_en", **extra}`` for a bare RtnCode."""
    zh, en = rtn_codes()[rtn]
    return {"RtnCode": rtn, **extra, "message": zh, "message_en": en}
