"""Settings of the hub, from the environment and an optional TOML file (``NHIHUB_CONFIG``).

Precedence: environment variable > TOML file > default. In the TOML file a setting is written
without the ``NHIHUB_`` prefix, in lower case (``NHIHUB_DB_URL`` -> ``db_url = "..."``). Every
setting is listed in :data:`SETTINGS` and documented in docs/storage.md (a test checks this).

Keys: ``NHIHUB_DATA_KEY`` (AES-256-GCM, person IDs at rest) and ``NHIHUB_LOOKUP_KEY`` (HMAC for
lookups) are 32 bytes, written as base64 or hex. Without both, the public development keys are
used and a warning goes to stderr once per process.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nhihub.protect import DEV_DATA_KEY, DEV_KEY_ID, DEV_LOOKUP_KEY, KEY_BYTES, PiiCipher

ENV_PREFIX = "NHIHUB_"
CONFIG_ENV = "NHIHUB_CONFIG"
DEFAULT_DATA_DIR = "./nhihub-data"
DEFAULT_DB_URL = "sqlite:///./nhihub-data/nhihub.db"
DB_FILE_NAME = "nhihub.db"


class ConfigError(ValueError):
    """A setting that cannot be used; the message is zh-TW / English and names the setting."""


@dataclass(frozen=True, slots=True)
class SettingSpec:
    env: str
    kind: str  # "str", "path", "int", "key", "keys"
    default: str | None
    summary: str  # zh-TW / English, shown by docs and errors


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("NHIHUB_CONFIG", "path", None, "設定檔（TOML）/ optional TOML settings file"),
    SettingSpec("NHIHUB_DATA_DIR", "path", DEFAULT_DATA_DIR, "資料目錄 / data directory"),
    SettingSpec("NHIHUB_DB_URL", "str", None, "資料庫網址 / database URL"),
    SettingSpec("NHIHUB_DATA_KEY", "key", None, "個資加密金鑰 / AES-GCM key for person IDs"),
    SettingSpec("NHIHUB_DATA_KEY_ID", "int", "1", "加密金鑰編號 / id of the data key (1-255)"),
    SettingSpec(
        "NHIHUB_RETIRED_DATA_KEYS", "keys", "", "舊加密金鑰 / retired data keys, id:key,..."
    ),
    SettingSpec("NHIHUB_LOOKUP_KEY", "key", None, "查詢雜湊金鑰 / HMAC key for lookup hashes"),
    SettingSpec(
        "NHIHUB_RESULT_RETENTION_DAYS", "int", "14", "檢核結果保留天數 / days results are kept"
    ),
    SettingSpec(
        "NHIHUB_MAX_UPLOAD_BYTES", "int", str(64 * 1024 * 1024), "上傳檔案上限 / max upload size"
    ),
    SettingSpec(
        "NHIHUB_WORKER_LEASE_SECONDS", "int", "300", "工作租約秒數 / batch lease of a worker"
    ),
    SettingSpec(
        "NHIHUB_SQLITE_BUSY_TIMEOUT_MS", "int", "30000", "SQLite 等待鎖定毫秒 / busy timeout"
    ),
)

_SPECS = {s.env: s for s in SETTINGS}
_INT_LIMITS: dict[str, tuple[int, int]] = {
    "NHIHUB_DATA_KEY_ID": (1, 255),
    "NHIHUB_RESULT_RETENTION_DAYS": (1, 3650),
    "NHIHUB_MAX_UPLOAD_BYTES": (1024, 2**40),
    "NHIHUB_WORKER_LEASE_SECONDS": (5, 86_400),
    "NHIHUB_SQLITE_BUSY_TIMEOUT_MS": (0, 3_600_000),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings. Key material is excluded from ``repr`` so it never reaches a log."""

    db_url: str = DEFAULT_DB_URL
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    data_key: bytes = field(default=DEV_DATA_KEY, repr=False)
    data_key_id: int = DEV_KEY_ID
    retired_data_keys: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    lookup_key: bytes = field(default=DEV_LOOKUP_KEY, repr=False)
    result_retention_days: int = 14
    max_upload_bytes: int = 64 * 1024 * 1024
    worker_lease_seconds: int = 300
    sqlite_busy_timeout_ms: int = 30_000
    config_file: Path | None = None

    @property
    def development_keys(self) -> bool:
        """True when the public development keys are in use (no protection at all)."""
        return self.data_key_id == DEV_KEY_ID

    def cipher(self) -> PiiCipher:
        return PiiCipher(
            self.data_key,
            self.lookup_key,
            key_id=self.data_key_id,
            retired_keys=dict(self.retired_data_keys),
        )


def parse_key(text: str, name: str) -> bytes:
    """A 32-byte key written as 64 hex digits or base64 (standard or URL-safe alphabet)."""
    value = text.strip()
    if len(value) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        padded = value + "=" * (-len(value) % 4)
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            f"{name} 須為 {KEY_BYTES} 位元組金鑰（base64 或 16 進位）/ "
            f"{name} must be a {KEY_BYTES}-byte key in base64 or hex"
        )
    return raw


def _parse_int(text: str, name: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(f"{name} 須為整數 / {name} must be an integer") from None
    low, high = _INT_LIMITS[name]
    if not low <= value <= high:
        raise ConfigError(
            f"{name} 須介於 {low} 與 {high} / {name} must be between {low} and {high}"
        )
    return value


def _parse_retired(text: str, name: str) -> tuple[tuple[int, bytes], ...]:
    pairs: list[tuple[int, bytes]] = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        key_id, sep, key = item.partition(":")
        if not sep or not key_id.strip().isdigit() or not 1 <= int(key_id) <= 255:
            raise ConfigError(
                f"{name} 格式為 編號:金鑰,… / {name} must look like id:key,id:key (ids 1-255)"
            )
        pairs.append((int(key_id), parse_key(key, name)))
    return tuple(pairs)


def _read_toml(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(
            f"無法讀取設定檔 {path} / cannot read settings file {path}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"設定檔格式錯誤 {path} / invalid TOML in {path}: {exc}") from None
    values: dict[str, str] = {}
    for key, value in data.items():
        env = ENV_PREFIX + key.upper()
        if env not in _SPECS or env == CONFIG_ENV:
            raise ConfigError(f"設定檔有未知設定 {key!r} / unknown setting {key!r} in {path}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"設定 {key!r} 須為字串或整數 / {key!r} must be a string or integer")
        values[env] = str(value)
    return values


@functools.cache
def warn_development_keys() -> None:
    """Tell once per process that data is not protected."""
    print(
        "警告：未設定 NHIHUB_DATA_KEY / NHIHUB_LOOKUP_KEY，使用公開的開發用金鑰，個資未受保護。\n"
        "warning: NHIHUB_DATA_KEY / NHIHUB_LOOKUP_KEY not set: using the public DEVELOPMENT keys; "
        "personal data is NOT protected.",
        file=sys.stderr,
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from ``env`` (default: ``os.environ``) and the optional TOML file."""
    environ = os.environ if env is None else env
    config_path = environ.get(CONFIG_ENV, "").strip()
    values: dict[str, str] = _read_toml(Path(config_path)) if config_path else {}
    values.update({k: v for k, v in environ.items() if k in _SPECS and k != CONFIG_ENV})

    def get(name: str) -> str:
        spec = _SPECS[name]
        value = values.get(name, "").strip()
        return value if value else (spec.default or "")

    data_dir = Path(get("NHIHUB_DATA_DIR"))
    db_url = get("NHIHUB_DB_URL")
    if not db_url:
        db_url = (
            DEFAULT_DB_URL
            if "NHIHUB_DATA_DIR" not in values
            else f"sqlite:///{data_dir / DB_FILE_NAME}"
        )

    data_key_text, lookup_key_text = get("NHIHUB_DATA_KEY"), get("NHIHUB_LOOKUP_KEY")
    if bool(data_key_text) != bool(lookup_key_text):
        raise ConfigError(
            "NHIHUB_DATA_KEY 與 NHIHUB_LOOKUP_KEY 須同時設定 / "
            "NHIHUB_DATA_KEY and NHIHUB_LOOKUP_KEY must be set together"
        )
    if data_key_text:
        data_key = parse_key(data_key_text, "NHIHUB_DATA_KEY")
        lookup_key = parse_key(lookup_key_text, "NHIHUB_LOOKUP_KEY")
        if data_key == lookup_key:
            raise ConfigError(
                "NHIHUB_DATA_KEY 與 NHIHUB_LOOKUP_KEY 不可相同 / "
                "NHIHUB_DATA_KEY and NHIHUB_LOOKUP_KEY must differ"
            )
        data_key_id = _parse_int(get("NHIHUB_DATA_KEY_ID"), "NHIHUB_DATA_KEY_ID")
        retired = _parse_retired(get("NHIHUB_RETIRED_DATA_KEYS"), "NHIHUB_RETIRED_DATA_KEYS")
        if any(key_id == data_key_id for key_id, _ in retired):
            raise ConfigError(
                "舊金鑰編號不可與目前金鑰相同 / a retired key cannot reuse the current key id"
            )
    else:
        warn_development_keys()
        data_key, lookup_key, data_key_id, retired = DEV_DATA_KEY, DEV_LOOKUP_KEY, DEV_KEY_ID, ()

    return Settings(
        db_url=db_url,
        data_dir=data_dir,
        data_key=data_key,
        data_key_id=data_key_id,
        retired_data_keys=retired,
        lookup_key=lookup_key,
        result_retention_days=_parse_int(
            get("NHIHUB_RESULT_RETENTION_DAYS"), "NHIHUB_RESULT_RETENTION_DAYS"
        ),
        max_upload_bytes=_parse_int(get("NHIHUB_MAX_UPLOAD_BYTES"), "NHIHUB_MAX_UPLOAD_BYTES"),
        worker_lease_seconds=_parse_int(
            get("NHIHUB_WORKER_LEASE_SECONDS"), "NHIHUB_WORKER_LEASE_SECONDS"
        ),
        sqlite_busy_timeout_ms=_parse_int(
            get("NHIHUB_SQLITE_BUSY_TIMEOUT_MS"), "NHIHUB_SQLITE_BUSY_TIMEOUT_MS"
        ),
        config_file=Path(config_path) if config_path else None,
    )
