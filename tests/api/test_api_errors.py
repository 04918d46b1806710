"""The error catalogue (data/errors.tsv, data/rtncodes.tsv)."""

from __future__ import annotations

import pytest

from nhihub.api.errors import ApiError, error_body, error_specs, rtn_codes

NHI_RTN_CODES = {"0000", "5002", "5003", "9002", "9005", "9999"}


def test_every_error_maps_to_a_known_rtncode_and_status() -> None:
    assert set(rtn_codes()) == NHI_RTN_CODES
    for spec in error_specs().values():
        assert spec.rtn in rtn_codes(), spec.code
        assert 200 <= spec.http < 600, spec.code
        assert spec.zh and spec.en, spec.code
        assert spec.zh != spec.en


@pytest.mark.parametrize(
    ("code", "http", "rtn"),
    [
        ("unauthorized", 401, "9002"),
        ("institution-mismatch", 403, "9002"),
        ("unknown-institution", 404, "9005"),
        ("bad-kind", 422, "5003"),
        ("result-not-ready", 202, "5002"),
        ("too-large", 413, "9999"),
        ("internal", 500, "9999"),
    ],
)
def test_key_mappings(code: str, http: int, rtn: str) -> None:
    spec = error_specs()[code]
    assert (spec.http, spec.rtn) == (http, rtn)


def test_bodies() -> None:
    body = error_body("unauthorized")
    assert set(body) == {"code", "message", "message_en"}
    assert body["code"] == "unauthorized"
    nhi = error_body("unauthorized", nhi=True)
    assert nhi["RtnCode"] == "9002"
    exc = ApiError("bad-field", detail_zh="sMrecs", detail_en="sMrecs")
    assert exc.message_zh.endswith("：sMrecs")
    assert exc.message_en.endswith(": sMrecs")
    replaced = ApiError("upload-rejected", message_zh="甲", message_en="A")
    assert (replaced.message_zh, replaced.message_en) == ("甲", "A")


def test_unknown_code_is_a_bug() -> None:
    with pytest.raises(KeyError):
        ApiError("no-such-code")
