"""The visit identifier (就醫識別碼): a 20-symbol code over 34 symbols (digits and letters without
I and O) that encodes the institution, the visit date-time, the channel it was obtained through
and a keyed tag of the person.

>>> keys = Keyring.development()
>>> code = issue("A123456789", "1130914093000", "3502060427", "card", keyring=keys)
>>> v = decode(code, keyring=keys)
>>> (v.institution, v.at, v.channel.value)
('3502060427', '1130914093000', 'card')
>>> verify(code, "A123456789", keyring=keys), verify(code, "B123456780", keyring=keys)
(True, False)
>>> sentinel("MISS0000000000000000")
'missing'

Construction (FF1 over radix 34, two layers, per-institution keys), capacity and security notes:
docs/visit-identifier.md.
"""

from nhihub.visitid.codec import (
    TAIWAN,
    VisitId,
    decode,
    issue,
    normalize_code,
    normalize_institution,
    normalize_person_id,
    verify,
)
from nhihub.visitid.errors import KeyScopeError, SentinelError, VisitIdError, messages
from nhihub.visitid.ff1 import FF1, FF1Error
from nhihub.visitid.keyring import (
    DEVELOPMENT_WARNING,
    ENV_VAR,
    Keyring,
    default_keyring,
    load_keyring,
    parse_master_key,
)
from nhihub.visitid.spec import Channel, ChannelInfo, SentinelInfo, format_spec, sentinel

__all__ = [
    "DEVELOPMENT_WARNING",
    "ENV_VAR",
    "FF1",
    "TAIWAN",
    "Channel",
    "ChannelInfo",
    "FF1Error",
    "KeyScopeError",
    "Keyring",
    "SentinelError",
    "SentinelInfo",
    "VisitId",
    "VisitIdError",
    "decode",
    "default_keyring",
    "format_spec",
    "issue",
    "load_keyring",
    "messages",
    "normalize_code",
    "normalize_institution",
    "normalize_person_id",
    "parse_master_key",
    "sentinel",
    "verify",
]
