"""The modest checks of a format-1.0 record beyond single fields: the upload version (03), every
order's date-time equal to the visit's (BE), dates not before the birth date (BG), the number of
order lines (AG). Enough to accept 1.0 uploads for the 1.0-vs-2.0 comparison."""

from __future__ import annotations

from collections.abc import Mapping

from nhihub.checks.fieldlevel import date_ok, datetime_ok
from nhihub.checks.rules import rules
from nhihub.formats.model import Finding
from nhihub.specs import codes as code_tables

_R = rules()
_VERSION = _R["version"]["1.0"]
_TIME = _R["visit_time"]["1.0"]
VISIT: str = _TIME["visit"]
LINE: str = _TIME["line"]
BIRTH: str = _TIME["birth"]
DATA_TYPE: str = _R["data_type"]["1.0"]
BG_FIELDS: tuple[str, ...] = tuple(_R["BG"]["1.0"])
MAX_LINES = code_tables.max_order_lines()
DEFAULT_MAX_LINES = max(MAX_LINES.values())


def check_cross(
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    mb2: list[dict[str, str]],
    out: list[Finding],
) -> None:
    version = header.get(_VERSION["field"])
    if version is not None and version != _VERSION["value"]:
        out.append(Finding(_VERSION["field"], _VERSION["code"]))
    if len(mb2) > MAX_LINES.get(header.get(DATA_TYPE, ""), DEFAULT_MAX_LINES):
        out.append(Finding("MB2", "AG"))
    visit = mb1.get(VISIT)
    if visit is not None and len(visit) == 13 and datetime_ok(visit):
        for n, line in enumerate(mb2, 1):
            at = line.get(LINE)
            if at is not None and at != visit and len(at) == 13 and datetime_ok(at):
                out.append(Finding(f"{LINE}[{n}]", "BE"))
    birth = mb1.get(BIRTH)
    if birth is not None and len(birth) == 7 and date_ok(birth):
        for name in BG_FIELDS:
            value = mb1.get(name)
            if value is not None and len(value) >= 7 and date_ok(value[:7]) and value[:7] < birth:
                out.append(Finding(name, "BG"))
