"""NHI institution code (醫事機構代碼): 10 characters, digits except that positions 7-9 may be
letters A-Z (the codes NHI's own visit-identifier decoder fails on, check code D058).
No checksum is known, so only the shape is checked."""

from __future__ import annotations

import re

from nhihub.ids.base import Verdict

INSTITUTION_SHAPE = "[0-9]{6}[0-9A-Z]{3}[0-9]"
"""Regex (text) of a valid institution code."""
_INSTITUTION = re.compile(INSTITUTION_SHAPE)


def is_institution_code(s: str) -> bool:
    """Whether ``s`` is a valid institution code as it stands (the verdict of
    :func:`validate_institution`, without building a result)."""
    return _INSTITUTION.fullmatch(s) is not None


def validate_institution(s: str) -> Verdict:
    """Check a canonical institution code."""
    if len(s) != 10:
        return Verdict(s, "length")
    if not _INSTITUTION.fullmatch(s):
        return Verdict(s, "shape")
    return Verdict(s, None)
