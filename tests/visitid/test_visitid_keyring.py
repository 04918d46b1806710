"""Keys: master, envelope and institution keys, key files, environment, development key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nhihub.visitid import (
    DEVELOPMENT_WARNING,
    ENV_VAR,
    Keyring,
    KeyScopeError,
    VisitIdError,
    decode,
    issue,
    load_keyring,
    parse_master_key,
    verify,
)
from nhihub.visitid import keyring as keyring_module

MASTER_HEX = "00112233445566778899aabbccddeeff" * 2
MASTER = Keyring.from_master(bytes.fromhex(MASTER_HEX))
AT = "1130901083005"


@pytest.fixture
def fresh_warning() -> Iterator[None]:
    """The development-key warning is printed once per process: reset that for a test."""
    keyring_module._warn_development_key.cache_clear()
    yield
    keyring_module._warn_development_key.cache_clear()


def test_institution_key_file_issues_codes_the_master_decodes() -> None:
    tool = Keyring.from_key_file(MASTER.to_key_file("350206AZ27"))
    assert tool.institution == "350206AZ27"
    code = issue("A123456789", AT, "350206AZ27", "virtual", keyring=tool)
    assert code == issue("A123456789", AT, "350206AZ27", "virtual", keyring=MASTER)
    visit = decode(code, keyring=MASTER)
    assert (visit.institution, visit.at, visit.channel) == ("350206AZ27", AT, "virtual")
    assert verify(code, "A123456789", keyring=MASTER)
    assert decode(code, keyring=tool) == visit  # its own codes decode with the file too


def test_institution_key_file_refuses_other_institutions() -> None:
    tool = MASTER.derive_institution("3502060427")
    with pytest.raises(KeyScopeError) as exc:
        issue("A123456789", AT, "3502060428", keyring=tool)
    assert exc.value.reason == "scope"
    other = issue("A123456789", AT, "3502060428", keyring=MASTER)
    with pytest.raises(KeyScopeError):
        decode(other, keyring=tool)
    with pytest.raises(KeyScopeError):
        verify(other, "A123456789", keyring=tool)
    with pytest.raises(KeyScopeError):
        tool.derive_institution("3502060428")
    with pytest.raises(KeyScopeError):
        tool.to_key_file("3502060428")
    with pytest.raises(KeyScopeError):
        tool.institution_key("3502060428")


def test_key_file_content() -> None:
    document = json.loads(MASTER.to_key_file("3502060427"))
    assert document["format"] == "nhihub-visitid-institution-key/1"
    assert document["institution"] == "3502060427"
    assert bytes.fromhex(document["institution_key"]) == MASTER.institution_key("3502060427")
    assert len(bytes.fromhex(document["institution_key"])) == 64
    assert document["key_id"] == MASTER.key_id
    assert document["development"] is False
    assert MASTER_HEX not in json.dumps(document)  # the master key never leaves the insurer
    with pytest.raises(KeyScopeError):
        MASTER.to_key_file()  # the insurer's keyring must say which institution


def test_institution_keys_differ_and_are_deterministic() -> None:
    a = MASTER.institution_key("3502060427")
    assert a == Keyring.from_master(bytes.fromhex(MASTER_HEX)).institution_key("3502060427")
    assert a != MASTER.institution_key("3502060428")
    assert a != Keyring.development().institution_key("3502060427")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="other/1"),
        lambda d: d.update(institution="35020604AZ"),
        lambda d: d.update(institution=3502060427),
        lambda d: d.update(institution_key="zz"),
        lambda d: d.update(institution_key=d["institution_key"][:-2]),
        lambda d: d.update(envelope_key="00" * 31),
        lambda d: d.update(key_id="0" * 16),
        lambda d: d.update(development="no"),
        lambda d: d.pop("institution_key"),
    ],
)
def test_malformed_key_files_are_refused(mutate: Callable[[dict[str, Any]], object]) -> None:
    document = json.loads(MASTER.to_key_file("3502060427"))
    mutate(document)
    with pytest.raises(VisitIdError) as exc:
        Keyring.from_key_file(json.dumps(document))
    assert exc.value.reason == "key-file"


@pytest.mark.parametrize("text", ["", "not json", "[]", "{}"])
def test_non_key_files_are_refused(text: str) -> None:
    with pytest.raises(VisitIdError) as exc:
        Keyring.from_key_file(text)
    assert exc.value.reason == "key-file"


def test_key_id_is_shared_by_master_and_its_institution_files() -> None:
    assert MASTER.derive_institution("3502060427").key_id == MASTER.key_id
    assert Keyring.development().key_id != MASTER.key_id
    assert len(MASTER.key_id) == 16


def test_repr_shows_no_key_material() -> None:
    text = repr(MASTER) + repr(MASTER.derive_institution("3502060427"))
    assert MASTER_HEX not in text
    assert MASTER.institution_key("3502060427").hex()[:16] not in text


def test_environment_key(capsys: pytest.CaptureFixture[str], fresh_warning: None) -> None:
    keys = load_keyring(environ={ENV_VAR: MASTER_HEX})
    assert not keys.is_development
    assert keys.institution is None
    code = issue("A123456789", AT, "3502060427", keyring=keys)
    assert code == issue("A123456789", AT, "3502060427", keyring=MASTER)
    assert capsys.readouterr().err == ""


def test_configuration_value_wins_over_the_environment() -> None:
    keys = load_keyring(MASTER_HEX, environ={ENV_VAR: "ff" * 32})
    assert keys.key_id == MASTER.key_id


def test_without_a_key_the_development_key_is_used_with_one_warning(
    capsys: pytest.CaptureFixture[str], fresh_warning: None
) -> None:
    first = load_keyring(environ={})
    second = load_keyring(environ={ENV_VAR: "  "})  # blank counts as unset
    assert first.is_development and second.is_development
    assert first.key_id == Keyring.development().key_id
    err = capsys.readouterr().err
    assert err.count(DEVELOPMENT_WARNING) == 1
    assert "NHIHUB_MASTER_KEY" in err and "warning" in err and "警告" in err


def test_development_flag_travels_into_key_files() -> None:
    tool = Keyring.from_key_file(Keyring.development().to_key_file("3502060427"))
    assert tool.is_development
    assert not Keyring.from_key_file(MASTER.to_key_file("3502060427")).is_development


def test_default_keyring_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, fresh_warning: None
) -> None:
    keyring_module.default_keyring.cache_clear()
    monkeypatch.setenv(ENV_VAR, MASTER_HEX)
    try:
        code = issue("A123456789", AT, "3502060427")
        assert code == issue("A123456789", AT, "3502060427", keyring=MASTER)
        assert decode(code).institution == "3502060427"
    finally:
        keyring_module.default_keyring.cache_clear()


@pytest.mark.parametrize("text", ["xyz", "00" * 15, "0" * 33])
def test_malformed_master_keys(text: str) -> None:
    with pytest.raises(VisitIdError) as exc:
        parse_master_key(text)
    assert exc.value.reason == "key"
    with pytest.raises(VisitIdError):
        load_keyring(environ={ENV_VAR: text})


def test_master_key_text_may_contain_white_space() -> None:
    assert parse_master_key(" 0011 2233\n" + "44" * 14) == bytes.fromhex("00112233" + "44" * 14)


def test_short_raw_master_keys_are_refused() -> None:
    with pytest.raises(VisitIdError):
        Keyring.from_master(bytes(15))


def test_derive_checks_the_institution_code() -> None:
    with pytest.raises(VisitIdError) as exc:
        MASTER.derive_institution("35020604A7X")
    assert exc.value.reason == "institution"
