from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from nhihub import config
from nhihub.config import ConfigError, Settings, load_settings, parse_key
from nhihub.protect import DEV_KEY_ID, PiiCipher

ROOT = Path(__file__).resolve().parents[1]
DATA_KEY = bytes(range(32))
LOOKUP_KEY = bytes(range(32, 64))
KEYS = {"NHIHUB_DATA_KEY": DATA_KEY.hex(), "NHIHUB_LOOKUP_KEY": LOOKUP_KEY.hex()}


@pytest.fixture(autouse=True)
def _fresh_warning() -> None:
    config.warn_development_keys.cache_clear()


def test_defaults_use_development_keys_and_warn_once(capsys: pytest.CaptureFixture[str]) -> None:
    first = load_settings({})
    second = load_settings({})
    assert first == second
    assert first.db_url == "sqlite:///./nhihub-data/nhihub.db"
    assert first.data_dir == Path("./nhihub-data")
    assert first.development_keys and first.data_key_id == DEV_KEY_ID
    assert first.cipher().is_development
    assert (first.result_retention_days, first.worker_lease_seconds) == (14, 300)
    assert first.max_upload_bytes == 64 * 1024 * 1024
    err = capsys.readouterr().err
    assert err.count("NHIHUB_DATA_KEY") == 2  # one warning (zh + en line), printed once
    assert "開發用金鑰" in err and "DEVELOPMENT keys" in err


def test_real_keys_do_not_warn(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(KEYS)
    assert capsys.readouterr().err == ""
    assert not settings.development_keys
    assert (settings.data_key, settings.lookup_key, settings.data_key_id) == (
        DATA_KEY,
        LOOKUP_KEY,
        1,
    )


def test_keys_accept_base64_and_hex() -> None:
    std = base64.b64encode(DATA_KEY).decode()
    url = base64.urlsafe_b64encode(DATA_KEY).decode().rstrip("=")
    for text in (DATA_KEY.hex(), DATA_KEY.hex().upper(), std, url, f"  {std}\n"):
        assert parse_key(text, "K") == DATA_KEY


@pytest.mark.parametrize("text", ["", "abc", DATA_KEY.hex()[:-2], base64.b64encode(b"x" * 31)])
def test_bad_keys_are_refused(text: str | bytes) -> None:
    value = text.decode() if isinstance(text, bytes) else text
    with pytest.raises(ConfigError, match="must be a 32-byte key"):
        parse_key(value, "NHIHUB_DATA_KEY")


def test_settings_from_environment() -> None:
    retired = bytes(range(64, 96))
    retired_b64 = base64.b64encode(retired).decode()
    settings = load_settings(
        {
            **KEYS,
            "NHIHUB_DATA_KEY_ID": "3",
            "NHIHUB_RETIRED_DATA_KEYS": f"1:{retired.hex()}, 2:{retired_b64}",
            "NHIHUB_DB_URL": "postgresql://db/nhihub",
            "NHIHUB_RESULT_RETENTION_DAYS": "30",
            "NHIHUB_MAX_UPLOAD_BYTES": "2048",
            "NHIHUB_WORKER_LEASE_SECONDS": "60",
            "NHIHUB_SQLITE_BUSY_TIMEOUT_MS": "500",
            "UNRELATED": "x",
        }
    )
    assert settings.db_url == "postgresql://db/nhihub"
    assert settings.data_key_id == 3
    assert settings.retired_data_keys == ((1, retired), (2, retired))
    assert settings.result_retention_days == 30
    assert settings.max_upload_bytes == 2048
    assert settings.worker_lease_seconds == 60
    assert settings.sqlite_busy_timeout_ms == 500
    old_blob = PiiCipher(retired, LOOKUP_KEY, key_id=2).encrypt("A123456789")
    assert settings.cipher().decrypt(old_blob) == "A123456789"
    assert settings.cipher().key_id == 3


def test_data_dir_moves_the_default_database(tmp_path: Path) -> None:
    settings = load_settings({"NHIHUB_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.db_url == f"sqlite:///{tmp_path}/nhihub.db"


def test_toml_file_and_environment_precedence(tmp_path: Path) -> None:
    path = tmp_path / "nhihub.toml"
    path.write_text(
        f'db_url = "sqlite:///from-file.db"\nresult_retention_days = 20\n'
        f'data_key = "{DATA_KEY.hex()}"\nlookup_key = "{LOOKUP_KEY.hex()}"\n',
        encoding="utf-8",
    )
    from_file = load_settings({"NHIHUB_CONFIG": str(path)})
    assert from_file.db_url == "sqlite:///from-file.db"
    assert from_file.result_retention_days == 20
    assert from_file.data_key == DATA_KEY and from_file.config_file == path
    overridden = load_settings({"NHIHUB_CONFIG": str(path), "NHIHUB_DB_URL": "sqlite:///env.db"})
    assert overridden.db_url == "sqlite:///env.db"
    assert overridden.result_retention_days == 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("db_ulr = 'x'\n", "unknown setting 'db_ulr'"),
        ("config = 'x'\n", "unknown setting 'config'"),
        ("db_url = [1]\n", "must be a string or integer"),
        ("db_url = true\n", "must be a string or integer"),
        ("db_url = \n", "invalid TOML"),
    ],
)
def test_bad_toml_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({"NHIHUB_CONFIG": str(path)})


def test_missing_toml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings({"NHIHUB_CONFIG": str(tmp_path / "absent.toml")})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NHIHUB_DATA_KEY": DATA_KEY.hex()}, "must be set together"),
        ({"NHIHUB_LOOKUP_KEY": LOOKUP_KEY.hex()}, "must be set together"),
        ({**KEYS, "NHIHUB_LOOKUP_KEY": DATA_KEY.hex()}, "must differ"),
        ({**KEYS, "NHIHUB_DATA_KEY_ID": "0"}, "NHIHUB_DATA_KEY_ID must be between 1 and 255"),
        ({**KEYS, "NHIHUB_DATA_KEY_ID": "x"}, "NHIHUB_DATA_KEY_ID must be an integer"),
        ({**KEYS, "NHIHUB_RETIRED_DATA_KEYS": "nokey"}, "must look like id:key"),
        ({**KEYS, "NHIHUB_RETIRED_DATA_KEYS": f"0:{DATA_KEY.hex()}"}, "must look like id:key"),
        ({**KEYS, "NHIHUB_RETIRED_DATA_KEYS": f"1:{DATA_KEY.hex()}"}, "reuse the current key id"),
        ({"NHIHUB_RESULT_RETENTION_DAYS": "0"}, "between 1 and 3650"),
        ({"NHIHUB_MAX_UPLOAD_BYTES": "ten"}, "must be an integer"),
        ({"NHIHUB_WORKER_LEASE_SECONDS": "1"}, "between 5 and 86400"),
    ],
)
def test_bad_settings_give_bilingual_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_settings(env)
    assert re.search(r"[\u4e00-\u9fff]", str(info.value)), "message must carry zh-TW"


def test_load_settings_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NHIHUB_DB_URL", "sqlite:///from-os.db")
    assert load_settings().db_url == "sqlite:///from-os.db"


def test_repr_never_shows_keys() -> None:
    settings = load_settings(KEYS)
    text = repr(settings)
    assert DATA_KEY.hex() not in text and repr(DATA_KEY) not in text
    assert repr(LOOKUP_KEY) not in text
    assert "data_key=" not in text and "lookup_key=" not in text


def test_settings_default_instance_matches_loaded_defaults() -> None:
    assert Settings() == load_settings({})


def test_every_setting_is_documented() -> None:
    """Each NHIHUB_* name used in config.py appears in docs/storage.md's settings table."""
    source = Path(config.__file__).read_text(encoding="utf-8")
    names = set(re.findall(r"\bNHIHUB_[A-Z0-9_]+\b", source))
    assert {s.env for s in config.SETTINGS} <= names
    doc = (ROOT / "docs" / "storage.md").read_text(encoding="utf-8")
    table_rows = {m.group(1) for m in re.finditer(r"^\|\s*`(NHIHUB_[A-Z0-9_]+)`", doc, re.M)}
    missing = sorted(names - table_rows)
    assert not missing, f"settings missing from docs/storage.md: {missing}"
