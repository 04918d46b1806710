"""Visit identifiers (就醫識別碼) in M15, M16 and M52.

- D002: not a 20-symbol identifier (digits and letters without I and O), unless it is a sentinel
  the field allows (rules.json ``D002.sentinels``). Always checked.
- With an issuing key only (``CheckContext.decode``), the identifier is decoded and compared with
  the record: D003 person, D004 institution, D005 visit date-time (D075 / D076: only plausible,
  for G000 and AC visits), and the channel it was issued through (D069-D072).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nhihub.checks.fieldlevel import datetime_ok
from nhihub.checks.rules import rules
from nhihub.formats.model import Finding
from nhihub.visitid import (
    Keyring,
    KeyScopeError,
    VisitIdError,
    decode,
    format_spec,
    sentinel,
    verify,
)

_SPEC = format_spec()
IDENTIFIER_SHAPE = re.compile(f"[{_SPEC.alphabet}]{{{_SPEC.length}}}")
_SENTINEL_CODES = {s.name: s.code for s in _SPEC.sentinels}

_D002 = rules()["D002"]
VISIT_ID_FIELDS: tuple[str, ...] = tuple(_D002["fields"])
_ALLOWED_SENTINELS: dict[str, frozenset[str]] = {
    f: frozenset(_SENTINEL_CODES[name] for name in names) for f, names in _D002["sentinels"].items()
}
_D068 = rules()["D068"]
SM_FIELD: str = _D068["field"]
SM_CODE: str = _SENTINEL_CODES[_D068["sentinel"]]
SM_VISITS_BEFORE: str = _D068["visits_before"]
_D054 = rules()["D054"]
D054_M12: str = _D054["M12"]
MISSING_CODE: str = _SENTINEL_CODES[_D054["sentinel"]]

# Field -> a regex (text) of the values D002 accepts there, for the fast path (fastpath.py).
D002_PATTERNS: dict[str, str] = {
    name: "(?:"
    + "|".join(
        [IDENTIFIER_SHAPE.pattern, *map(re.escape, sorted(_ALLOWED_SENTINELS.get(name, ())))]
    )
    + ")"
    for name in VISIT_ID_FIELDS
}

_CODEC = rules()["codec"]
_IDENTIFIERS: dict[str, list[str]] = _CODEC["identifiers"]
_PLAUSIBLE: dict[str, dict[str, str]] = _CODEC["plausible"]
_CHANNEL_RULES: dict[str, list[list[str]]] = _CODEC["channels"]


def check_shapes(mb1: Mapping[str, str], out: list[Finding]) -> None:
    """D002 for M15, M16, M52; D068 and D054 for the sentinels."""
    check_identifier_shapes(mb1, out)
    check_sentinels(mb1, out)


def check_identifier_shapes(mb1: Mapping[str, str], out: list[Finding]) -> None:
    """D002 for M15, M16, M52."""
    for name in VISIT_ID_FIELDS:
        value = mb1.get(name)
        if value is None:
            continue
        if value in _ALLOWED_SENTINELS.get(name, ()):
            continue
        if not IDENTIFIER_SHAPE.fullmatch(value):
            out.append(Finding(name, "D002"))


def check_sentinels(mb1: Mapping[str, str], out: list[Finding]) -> None:
    """D068 and D054: the sentinels M15 and M52 may hold only in some records."""
    if mb1.get(SM_FIELD) == SM_CODE:
        visit = mb1.get("M11", "")
        if len(visit) == 13 and datetime_ok(visit) and visit >= SM_VISITS_BEFORE:
            out.append(Finding(SM_FIELD, "D068"))
    if mb1.get("M12") == D054_M12:
        m52 = mb1.get("M52")
        if m52 is not None and m52 != MISSING_CODE:
            out.append(Finding("M52", "D054"))


def _channel_findings(name: str, channel: str, h01: str | None, out: list[Finding]) -> None:
    for where, code in _CHANNEL_RULES.get(channel, ()):
        if where.startswith("H01="):
            if h01 == where[4:] and name != "M52":
                out.append(Finding(name, code))
        elif where == name:
            out.append(Finding(name, code))


def check_decoded(
    header: Mapping[str, str],
    mb1: Mapping[str, str],
    keyring: Keyring,
    as_of_roc: str,
    out: list[Finding],
) -> None:
    """The decode checks, for identifiers nhihub issued (only with a configured issuing key)."""
    h01 = header.get("H01")
    for name, (person_field, place_field, time_field) in _IDENTIFIERS.items():
        code = mb1.get(name)
        if code is None or sentinel(code) is not None or not IDENTIFIER_SHAPE.fullmatch(code):
            continue  # absent, a sentinel (never decoded) or already D002
        try:
            visit = decode(code, keyring=keyring)
        except KeyScopeError:
            out.append(Finding(name, "D004"))  # another institution's identifier
            continue
        except VisitIdError:
            out.append(Finding(name, "D002"))  # not an identifier issued under these keys
            continue
        place = mb1.get(place_field)
        if place is not None and visit.institution != place:
            out.append(Finding(name, "D004"))
        person = mb1.get(person_field)
        if person is not None:
            try:
                if not verify(code, person, keyring=keyring):
                    out.append(Finding(name, "D003"))
            except VisitIdError:
                pass  # a malformed person ID is reported on its own field
        at = mb1.get(time_field)
        if at is not None and not (len(at) == 13 and datetime_ok(at)):
            at = None  # a bad date-time is reported on its own field
        plausible_code = None
        if name == "M15":
            plausible_code = _PLAUSIBLE["M13"].get(mb1.get("M13", "")) or _PLAUSIBLE["M07"].get(
                mb1.get("M07", "")
            )
        decoded_at = visit.at
        if plausible_code is not None:
            # identifier taken later than the visit (new contract, preventive care): it must
            # fall between the visit and the upload
            if at is not None and not at <= decoded_at <= as_of_roc:
                out.append(Finding(name, plausible_code))
        elif at is not None and decoded_at != at:
            out.append(Finding(name, "D005"))
        _channel_findings(name, str(visit.channel), h01, out)
