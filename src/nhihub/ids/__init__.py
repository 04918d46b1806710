"""Identifier checks: Taiwan national ID and resident certificate numbers, the mainland residence
and travel permits of Taiwan residents, NHI institution codes; ROC dates in :mod:`.rocdate`.

Everything is a pure function. :func:`check` is the single entry point; each failure carries a
short reason code whose zh-TW / English messages are in ``data/reasons.tsv``.
See docs/identifiers.md.
"""

from nhihub.ids.base import Gender, normalize, reason_message, reasons
from nhihub.ids.check import (
    KINDS,
    IdResult,
    Kind,
    check,
    detect_kind,
    is_valid_institution_code,
    is_valid_person_id,
)
from nhihub.ids.mainland import make_residence_permit, mod11_2_check
from nhihub.ids.taiwan import check_digit, make_national_id, make_resident_id

__all__ = [
    "KINDS",
    "Gender",
    "IdResult",
    "Kind",
    "check",
    "check_digit",
    "detect_kind",
    "is_valid_institution_code",
    "is_valid_person_id",
    "make_national_id",
    "make_residence_permit",
    "make_resident_id",
    "mod11_2_check",
    "normalize",
    "reason_message",
    "reasons",
]
