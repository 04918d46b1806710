"""``nhihub visit-id issue|decode`` and ``nhihub keys derive``."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from nhihub.cli.main import app
from nhihub.visitid import DEVELOPMENT_WARNING, ENV_VAR, Keyring, decode, issue, verify
from nhihub.visitid import keyring as keyring_module

MASTER_HEX = "0f1e2d3c4b5a69788796a5b4c3d2e1f0" * 2
MASTER = Keyring.from_master(bytes.fromhex(MASTER_HEX))
WITH_KEY = {ENV_VAR: MASTER_HEX, "COLUMNS": "200"}
NO_KEY = {ENV_VAR: None, "COLUMNS": "200"}  # None: unset while the command runs
PERSON = "A123456789"
runner = CliRunner()


@pytest.fixture
def fresh_warning() -> Iterator[None]:
    keyring_module._warn_development_key.cache_clear()
    yield
    keyring_module._warn_development_key.cache_clear()


def invoke(args: list[str], env: dict[str, str | None] = WITH_KEY) -> Result:
    return runner.invoke(app, args, env=env)


def issue_args(*extra: str, institution: str = "350206AZ27") -> list[str]:
    return ["visit-id", "issue", "--person", PERSON, "--at", "1130901083005",
            "--institution", institution, *extra]  # fmt: skip


def test_issue_prints_a_code_the_master_decodes() -> None:
    result = invoke(issue_args("--channel", "no-card"))
    assert result.exit_code == 0, result.output
    code = result.stdout.strip()
    visit = decode(code, keyring=MASTER)
    assert (visit.institution, visit.at, visit.channel) == (
        "350206AZ27",
        "1130901083005",
        "no-card",
    )
    assert verify(code, PERSON, keyring=MASTER)
    assert PERSON not in result.output


def test_issue_json_and_default_channel() -> None:
    result = invoke(issue_args("--json"))
    assert result.exit_code == 0, result.output
    code = json.loads(result.stdout)["code"]
    assert code == issue(PERSON, "1130901083005", "350206AZ27", "card", keyring=MASTER)


@pytest.mark.parametrize(
    ("args", "reason", "zh"),
    [
        (["--person", "A-1"], "person", "身分證號格式錯誤"),
        (["--at", "1130230083005"], "datetime", "就醫日期時間錯誤"),
        (["--at", "2570101000000"], "range", "超出可編碼範圍"),
        (["--institution", "35020604AZ"], "institution", "醫事機構代碼格式錯誤"),
    ],
)
def test_issue_bad_input_exits_1_with_a_message(args: list[str], reason: str, zh: str) -> None:
    base = {"--person": PERSON, "--at": "1130901083005", "--institution": "3502060427"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["visit-id", "issue", *[x for kv in base.items() for x in kv]]
    result = invoke(argv)
    assert result.exit_code == 1
    assert zh in result.stderr and "/" in result.stderr
    assert "Traceback" not in result.output
    as_json = invoke([*argv, "--json"])
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert document["error"] == reason
    assert zh in document["message"] and document["message_en"]


def test_issue_unknown_channel_is_a_usage_error() -> None:
    assert invoke(issue_args("--channel", "fax")).exit_code == 2


def test_decode_text_and_json() -> None:
    code = issue(PERSON, "1130901083005", "350206AZ27", "virtual", keyring=MASTER)
    text = invoke(["visit-id", "decode", code])
    assert text.exit_code == 0, text.output
    for part in ("350206AZ27", "1130901083005", "2024-09-01 08:30:05", "virtual", "虛擬健保卡"):
        assert part in text.stdout
    assert "person matches" not in text.stdout
    result = invoke(["visit-id", "decode", code, "--json"])
    assert json.loads(result.stdout) == {
        "code": code,
        "institution": "350206AZ27",
        "at": "1130901083005",
        "channel": "virtual",
    }


def test_decode_with_person() -> None:
    code = issue(PERSON, "1130901083005", "3502060427", keyring=MASTER)
    same = invoke(["visit-id", "decode", code, "--person", "a123456789", "--json"])
    assert same.exit_code == 0
    assert json.loads(same.stdout)["person_matches"] is True
    other = invoke(["visit-id", "decode", code, "--person", "B123456789", "--json"])
    assert other.exit_code == 1
    assert json.loads(other.stdout)["person_matches"] is False
    text = invoke(["visit-id", "decode", code, "--person", "B123456789"])
    assert text.exit_code == 1
    assert "否 no" in text.stdout and "不是為此身分證號產生" in text.stderr


def test_decode_accepts_typed_codes() -> None:
    code = issue(PERSON, "1130901083005", "3502060427", keyring=MASTER)
    typed = f" {code.lower()} ".replace("0", "o")
    result = invoke(["visit-id", "decode", typed, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code"] == code


def test_decode_with_the_wrong_key_or_a_typo_exits_1() -> None:
    code = issue(PERSON, "1130901083005", "3502060427", keyring=Keyring.development())
    failures = 0
    for k in range(20):
        changed = code[:k] + ("1" if code[k] != "1" else "2") + code[k + 1 :]
        result = invoke(["visit-id", "decode", changed, "--person", PERSON, "--json"])
        assert result.exit_code == 1, result.output
        failures += json.loads(result.stdout).get("error") == "undecodable"
    assert failures > 0
    malformed = invoke(["visit-id", "decode", "12345"])
    assert malformed.exit_code == 1
    assert "20 碼" in malformed.stderr and "Traceback" not in malformed.output


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("MISS0000000000000000", "missing"),
        ("SM000000000000000000", "before-2.0"),
        ("99999999999999999999", "unknown-original"),
    ],
)
def test_decode_sentinels_exit_1_and_say_which(code: str, name: str) -> None:
    result = invoke(["visit-id", "decode", code, "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert (document["error"], document["sentinel"]) == ("sentinel", name)
    text = invoke(["visit-id", "decode", code.lower()])
    assert text.exit_code == 1
    assert code in text.stderr and "固定值" in text.stderr


def test_keys_derive_writes_a_private_key_file(tmp_path: Path) -> None:
    out = tmp_path / "clinic.json"
    result = invoke(["keys", "derive", "--institution", "350206az27", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "institution": "350206AZ27",
        "out": str(out),
        "key_id": MASTER.key_id,
        "development": False,
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert MASTER_HEX not in out.read_text()
    # the file issues for its institution; the master decodes it
    issued = invoke(issue_args("--key-file", str(out)), env=NO_KEY)
    assert issued.exit_code == 0, issued.output
    assert decode(issued.stdout.strip(), keyring=MASTER).institution == "350206AZ27"
    # ... and refuses other institutions
    refused = invoke(issue_args("--key-file", str(out), institution="3502060427"), env=NO_KEY)
    assert refused.exit_code == 1
    assert "只能處理該機構" in refused.stderr
    other = issue(PERSON, "1130901083005", "3502060427", keyring=MASTER)
    decoded = invoke(["visit-id", "decode", other, "--key-file", str(out), "--json"], env=NO_KEY)
    assert decoded.exit_code == 1
    assert json.loads(decoded.stdout)["error"] == "scope"


def test_keys_derive_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "clinic.json"
    out.write_text("keep me")
    out.chmod(0o644)
    args = ["keys", "derive", "--institution", "3502060427", "--out", str(out)]
    refused = invoke(args)
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert out.read_text() == "keep me"
    forced = invoke([*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "3502060427" in forced.stdout and MASTER.key_id in forced.stdout
    assert json.loads(out.read_text())["institution"] == "3502060427"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_keys_derive_bad_institution_or_directory(tmp_path: Path) -> None:
    bad = invoke(["keys", "derive", "--institution", "12", "--out", str(tmp_path / "k.json")])
    assert bad.exit_code == 1 and "醫事機構代碼格式錯誤" in bad.stderr
    nowhere = tmp_path / "missing" / "k.json"
    unwritable = invoke(["keys", "derive", "--institution", "3502060427", "--out", str(nowhere)])
    assert unwritable.exit_code == 1 and "無法寫入金鑰檔" in unwritable.stderr


def test_bad_key_files(tmp_path: Path) -> None:
    missing = invoke(issue_args("--key-file", str(tmp_path / "none.json")), env=NO_KEY)
    assert missing.exit_code == 1 and "無法讀取金鑰檔" in missing.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{")
    result = invoke(issue_args("--key-file", str(garbage), "--json"), env=NO_KEY)
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == "key-file"


def test_malformed_master_key_in_the_environment() -> None:
    result = invoke(issue_args(), env={ENV_VAR: "not hex"})
    assert result.exit_code == 1
    assert "主金鑰格式錯誤" in result.stderr


def test_development_key_warns_on_stderr(fresh_warning: None, tmp_path: Path) -> None:
    result = invoke(issue_args("--json"), env=NO_KEY)
    assert result.exit_code == 0
    assert DEVELOPMENT_WARNING in result.stderr
    assert json.loads(result.stdout)["code"]  # stdout stays clean JSON
    out = tmp_path / "dev.json"
    derived = invoke(["keys", "derive", "--institution", "3502060427", "--out", str(out)], NO_KEY)
    assert derived.exit_code == 0
    assert "development key" in derived.stdout
    assert json.loads(out.read_text())["development"] is True


def test_help_is_bilingual() -> None:
    for args in (["visit-id", "--help"], ["visit-id", "decode", "--help"], ["keys", "--help"]):
        result = invoke(args)
        assert result.exit_code == 0
        assert "就醫識別碼" in result.stdout
