"""Error codes of the HTTP API and NHI's RtnCodes, loaded from ``data/errors.tsv`` and
``data/rtncodes.tsv`` (specs as data), and the exception every handler raises.

An :class:`ApiError` becomes ``{"code", "message", "message_en"}`` with the code's HTTP status on
the REST endpoints, and ``{"RtnCode", "code", "message", "message_en"}`` with HTTP 200 on the
NHI-compatible ones (their clients read RtnCode, not the status).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from starlette.exceptions import HTTPException


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    http: int
    rtn: str  # NHI RtnCode for the same situation
    zh: str
    en: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("nhihub.api").joinpath(f"data/{name}").read_text("utf-8")
    lines = (line for line in text.splitlines() if line and not line.startswith("#"))
    return list(csv.DictReader(lines, delimiter="\t"))


@cache
def error_specs() -> dict[str, ErrorSpec]:
    """Error code -> its HTTP status, NHI RtnCode and messages."""
    return {
        r["code"]: ErrorSpec(r["code"], int(r["http"]), r["rtn"], r["zh"], r["en"])
        for r in _rows("errors.tsv")
    }


@cache
def rtn_codes() -> dict[str, tuple[str, str]]:
    """NHI RtnCode -> (zh-TW, English)."""
    return {r["rtn"]: (r["zh"], r["en"]) for r in _rows("rtncodes.tsv")}


class ApiError(HTTPException):
    """A refusal with a catalogued code. ``detail_zh`` / ``detail_en`` add context (never a
    person ID); ``message_zh`` / ``message_en`` replace the catalogue text when a lower layer
    already has a precise bilingual message (e.g. the service's rejection reasons)."""

    def __init__(
        self,
        code: str,
        *,
        detail_zh: str | None = None,
        detail_en: str | None = None,
        message_zh: str | None = None,
        message_en: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        spec = error_specs()[code]  # KeyError: a code missing from errors.tsv is a bug
        self.spec = spec
        zh = message_zh or spec.zh
        en = message_en or spec.en
        if detail_zh:
            zh = f"{zh}：{detail_zh}"
        if detail_en:
            en = f"{en}: {detail_en}"
        self.message_zh = zh
        self.message_en = en
        super().__init__(
            status_code=spec.http,
            detail=f"{zh} / {en}",
            headers=None if headers is None else dict(headers),
        )

    @property
    def code(self) -> str:
        return self.spec.code

    def body(self, *, nhi: bool = False) -> dict[str, Any]:
        document: dict[str, Any] = {
            "code": self.spec.code,
            "message": self.message_zh,
            "message_en": self.message_en,
        }
        if nhi:
            return {"RtnCode": self.spec.rtn, **document}
        return document


def error_body(code: str, *, nhi: bool = False) -> dict[str, Any]:
    """The body of a catalogued error without context."""
    return ApiError(code).body(nhi=nhi)
