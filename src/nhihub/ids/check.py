"""The single entry point :func:`check` and the helpers the rest of nhihub uses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, get_args

from nhihub.ids.base import Gender, Verdict, kind_names, normalize, reason_message
from nhihub.ids.institution import is_institution_code, validate_institution
from nhihub.ids.mainland import (
    looks_like_travel_permit,
    validate_residence_permit,
    validate_travel_permit,
)
from nhihub.ids.taiwan import (
    LETTER_VALUES,
    RESIDENT_SECOND,
    is_valid_number,
    validate_national,
    validate_resident,
)

Kind = Literal["national", "resident-tw", "residence-permit", "travel-permit", "institution"]
KINDS: tuple[str, ...] = get_args(Kind)
"""The kinds :func:`check` accepts besides ``auto``; a result's kind may also be ``unknown``."""


@dataclass(frozen=True, slots=True)
class IdResult:
    """The outcome of :func:`check`. ``value`` is the input as given, ``normalized`` its canonical
    form (the lifelong 8 digits for a travel permit), ``reason`` ``None`` or a short code from
    ``data/reasons.tsv``; ``gender`` is set for valid numbers that encode it."""

    value: str
    normalized: str
    kind: str
    reason: str | None
    gender: Gender | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def messages(self) -> tuple[str, str]:
        """(zh-TW, English) explanation: the reason's message, or which kind is valid."""
        if self.reason is not None:
            return reason_message(self.reason)
        zh, en = kind_names()[self.kind]
        return f"有效的{zh}", f"valid {en}"

    @property
    def message_zh(self) -> str:
        return self.messages[0]

    @property
    def message_en(self) -> str:
        return self.messages[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``message`` is zh-TW, ``message_en`` English."""
        zh, en = self.messages
        return {
            "value": self.value,
            "normalized": self.normalized,
            "kind": self.kind,
            "valid": self.valid,
            "reason": self.reason,
            "gender": self.gender,
            "message": zh,
            "message_en": en,
        }


def detect_kind(s: str) -> str:
    """The kind ``auto`` picks for a normalised value, first rule that applies:

    1. starts with a letter: ``resident-tw`` when the 2nd character is 8, 9 or A-D, otherwise
       ``national`` (so a mistyped national ID is reported as one);
    2. 18 characters: ``residence-permit``;
    3. 8 digits or an old travel-permit form with the authority letter: ``travel-permit``;
    4. 10 characters: ``institution`` (10 plain digits are an institution code, never an old
       travel permit without its letter);
    5. otherwise ``unknown``.
    """
    if s[:1] in LETTER_VALUES:
        return "resident-tw" if s[1:2] in RESIDENT_SECOND else "national"
    if len(s) == 18:
        return "residence-permit"
    if looks_like_travel_permit(s):
        return "travel-permit"
    if len(s) == 10:
        return "institution"
    return "unknown"


def _validate(kind: str, s: str, today: dt.date | None) -> Verdict:
    match kind:
        case "national":
            return validate_national(s)
        case "resident-tw":
            return validate_resident(s)
        case "residence-permit":
            return validate_residence_permit(s, today or dt.date.today())
        case "travel-permit":
            return validate_travel_permit(s)
        case "institution":
            return validate_institution(s)
    return Verdict(s, "unrecognized")


def check(value: str, kind: str = "auto", *, today: dt.date | None = None) -> IdResult:
    """Normalise ``value`` (NFKC, white space removed, a-z upper-cased) and check it as ``kind``
    (``auto`` or one of :data:`KINDS`). ``today`` bounds residence-permit birth dates (default:
    the local date). Raises ``ValueError`` for an unknown kind; bad values never raise."""
    if kind != "auto" and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected auto or one of {', '.join(KINDS)}")
    s = normalize(value)
    if not s:
        return IdResult(value, s, "unknown" if kind == "auto" else kind, "empty")
    if kind == "auto":
        kind = detect_kind(s)
    verdict = _validate(kind, s, today)
    return IdResult(value, verdict.normalized, kind, verdict.reason, verdict.gender)


def is_valid_person_id(s: str, *, lenient: bool = False) -> bool:
    """A national ID or resident certificate number (new or old form), as NHI's M03 carries.

    The value is taken as is (a file field must already be canonical: ``a123456789`` is not
    valid); ``lenient=True`` first folds it like :func:`check` does."""
    if lenient:
        s = normalize(s)
    return is_valid_number(s)


def is_valid_institution_code(s: str, *, lenient: bool = False) -> bool:
    """A 10-character institution code (letters allowed only in positions 7-9), taken as is
    unless ``lenient=True``."""
    if lenient:
        s = normalize(s)
    return is_institution_code(s)
