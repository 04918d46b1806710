"""Issue, decode and verify visit identifiers (就醫識別碼).

A code is two FF1 layers over radix 34 (see :mod:`nhihub.visitid.layout` and
docs/visit-identifier.md): the inner 12 symbols, under the institution's key, hide the visit
date-time, the channel and a keyed tag of the person; the outer 20 symbols, under the envelope
key, hide which institution issued it. Decoding recovers institution, date-time and channel;
the person can only be verified, never read back.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import dataclass
from typing import Any

from nhihub.ids import normalize
from nhihub.ids.rocdate import RocDateError, format_roc_datetime, parse_roc_datetime
from nhihub.visitid.errors import KeyScopeError, SentinelError, VisitIdError
from nhihub.visitid.keyring import InstitutionCipher, Keyring, default_keyring
from nhihub.visitid.layout import (
    CODE_SHAPE,
    INNER_LENGTH,
    INNER_SIZE,
    INSTITUTION_COUNT,
    INSTITUTION_SHAPE,
    LENGTH,
    TAG_COUNT,
    TIME_SPAN,
    code_to_int,
    datetime_from_seconds,
    institution_from_index,
    institution_index,
    int_to_code,
    pack_inner,
    seconds_since_epoch,
    unpack_inner,
)
from nhihub.visitid.spec import Channel, format_spec, sentinel

# NHI date-times are Taiwan local time, UTC+08:00 (no daylight saving since 1980).
TAIWAN = dt.timezone(dt.timedelta(hours=8))

_PERSON_SHAPE = re.compile(r"[0-9A-Z]{1,10}")
_CHANNELS = tuple(c.channel for c in format_spec().channels)
_CHANNEL_INDEX = {c.channel: c.index for c in format_spec().channels}
# Letters a person may type for the digits they resemble; neither is in the alphabet.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1"})


@dataclass(frozen=True, slots=True)
class VisitId:
    """What a code decodes to. ``visit_datetime`` is naive Taiwan local time, to the second."""

    code: str
    institution: str
    visit_datetime: dt.datetime
    channel: Channel

    @property
    def at(self) -> str:
        """The visit date-time as ROC ``YYYMMDDHHMMSS``."""
        return format_roc_datetime(self.visit_datetime)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "institution": self.institution,
            "at": self.at,
            "channel": str(self.channel),
        }


# -- input normalisation -------------------------------------------------------------------------


def normalize_person_id(value: str) -> str:
    """Fold a person ID like :func:`nhihub.ids.normalize` (full-width, spaces, case) and check
    the shape of NHI's M03: 1-10 letters or digits. No checksum is required, because M03 also
    carries other identity-document numbers; the tag binds exactly this string."""
    if _PERSON_SHAPE.fullmatch(value):
        return value  # already canonical: skip the (slower) folding
    person = normalize(value)
    if not _PERSON_SHAPE.fullmatch(person):
        raise VisitIdError("person")
    return person


def normalize_institution(value: str) -> str:
    """Fold and check an institution code: 10 characters, digits except positions 7-9, which
    may be letters A-Z."""
    if INSTITUTION_SHAPE.fullmatch(value):
        return value
    institution = normalize(value)
    if not INSTITUTION_SHAPE.fullmatch(institution):
        raise VisitIdError("institution")
    return institution


def normalize_code(value: str) -> str:
    """Fold a code as a person typed it: full-width, spaces and case as
    :func:`nhihub.ids.normalize`, and the look-alike letters O and I (never used) read as 0 and 1.
    For user input only; file fields are taken as they are. Sentinels are returned unchanged."""
    folded = normalize(value)
    return folded if sentinel(folded) else folded.translate(_LOOKALIKES)


def _visit_datetime(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        try:
            return parse_roc_datetime(value)
        except RocDateError:
            raise VisitIdError("datetime") from None
    if value.tzinfo is not None:
        value = value.astimezone(TAIWAN).replace(tzinfo=None)
    return value


def _channel(value: Channel | str) -> Channel:
    if isinstance(value, Channel):
        return value
    try:
        return Channel(value)
    except ValueError:
        raise VisitIdError("channel") from None


def _tag(cipher: InstitutionCipher, person: str, seconds: int, channel: int) -> int:
    # The tag binds the person to this visit (time and channel as well), so two persons whose
    # tags collide at one visit are unrelated at every other.
    message = person.encode("ascii") + b"\x00" + seconds.to_bytes(5, "big") + bytes([channel])
    digest = hmac.digest(cipher.tag_key, message, "sha256")
    return int.from_bytes(digest[:8], "big") % TAG_COUNT


# -- the codec -----------------------------------------------------------------------------------


def issue(
    person_id: str,
    visit_datetime: dt.datetime | str,
    institution_code: str,
    channel: Channel | str = Channel.CARD,
    *,
    keyring: Keyring | None = None,
) -> str:
    """The 20-symbol visit identifier of a person's visit at an institution.

    Deterministic for the same inputs and keys. ``visit_datetime`` is a naive Taiwan local
    date-time (an aware one is converted; sub-seconds are dropped) or ROC ``YYYMMDDHHMMSS``,
    within 民國1年 to 民國256年. Raises :class:`VisitIdError` for bad input and
    :class:`KeyScopeError` when an institution keyring is asked to issue for another institution.
    """
    keys = keyring or default_keyring()
    person = normalize_person_id(person_id)
    institution = normalize_institution(institution_code)
    seconds = seconds_since_epoch(_visit_datetime(visit_datetime))
    if not 0 <= seconds < TIME_SPAN:
        raise VisitIdError("range")
    index = _CHANNEL_INDEX[_channel(channel)]
    cipher = keys.cipher(institution)
    inner = pack_inner(seconds, index, _tag(cipher, person, seconds, index))
    sealed = cipher.ff1.encrypt_int(inner, INNER_LENGTH)
    outer = institution_index(institution) * INNER_SIZE + sealed
    # A result equal to a sentinel would need a 2**-100 coincidence; it is not guarded against.
    return int_to_code(keys.envelope.encrypt_int(outer, LENGTH))


def _open(code: str, keys: Keyring) -> tuple[VisitId, InstitutionCipher, int, int, int]:
    name = sentinel(code)
    if name is not None:
        raise SentinelError(name)
    if not CODE_SHAPE.fullmatch(code):
        raise VisitIdError("shape")
    index, sealed = divmod(keys.envelope.decrypt_int(code_to_int(code), LENGTH), INNER_SIZE)
    if index >= INSTITUTION_COUNT:
        raise VisitIdError("undecodable")
    institution = institution_from_index(index)
    cipher = keys.cipher(institution)
    fields = unpack_inner(cipher.ff1.decrypt_int(sealed, INNER_LENGTH))
    if fields is None:
        raise VisitIdError("undecodable")
    seconds, channel, tag = fields
    visit = VisitId(code, institution, datetime_from_seconds(seconds), _CHANNELS[channel])
    return visit, cipher, seconds, channel, tag


def decode(code: str, *, keyring: Keyring | None = None) -> VisitId:
    """Recover institution, visit date-time and channel.

    ``code`` is taken as is (see :func:`normalize_code` for typed input). Raises
    :class:`SentinelError` for a sentinel, :class:`VisitIdError` (``shape`` or ``undecodable``)
    for anything else that is not a code issued under these keys, and :class:`KeyScopeError`
    when an institution keyring meets another institution's code.
    """
    return _open(code, keyring or default_keyring())[0]


def verify(code: str, person_id: str, *, keyring: Keyring | None = None) -> bool:
    """Whether ``code`` was issued for ``person_id``. False for any code that does not decode
    (sentinels included); raises :class:`VisitIdError` for a malformed person ID and
    :class:`KeyScopeError` as :func:`decode` does."""
    person = normalize_person_id(person_id)
    try:
        _, cipher, seconds, channel, tag = _open(code, keyring or default_keyring())
    except KeyScopeError:
        raise
    except VisitIdError:
        return False
    return _tag(cipher, person, seconds, channel) == tag
