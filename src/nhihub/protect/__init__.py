"""Protection of personal data: person IDs encrypted at rest (AES-GCM), keyed lookup hashes
(HMAC-SHA256) and API-token hashes. Pure: keys come in as arguments, never from the environment."""

from nhihub.protect.cipher import (
    DEV_DATA_KEY,
    DEV_KEY_ID,
    DEV_LOOKUP_KEY,
    KEY_BYTES,
    PURPOSE_PERSON_ID,
    PURPOSE_RAW_UPLOAD,
    PiiCipher,
    PiiError,
    development_cipher,
    normalize_person_id,
)
from nhihub.protect.tokens import TOKEN_PREFIX, hash_token, new_token

__all__ = [
    "DEV_DATA_KEY",
    "DEV_KEY_ID",
    "DEV_LOOKUP_KEY",
    "KEY_BYTES",
    "PURPOSE_PERSON_ID",
    "PURPOSE_RAW_UPLOAD",
    "TOKEN_PREFIX",
    "PiiCipher",
    "PiiError",
    "development_cipher",
    "hash_token",
    "new_token",
    "normalize_person_id",
]
