"""``nhihub id check``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nhihub.cli.main import app

runner = CliRunner(env={"COLUMNS": "200"})  # a wide terminal: table cells on one line


def test_all_valid_exits_0_with_a_table() -> None:
    result = runner.invoke(app, ["id", "check", "A123456789", "0401180014"])
    assert result.exit_code == 0, result.output
    for text in (
        "A123456789",
        "0401180014",
        "有效 valid",
        "國民身分證統一編號",
        "Taiwan national ID",
    ):
        assert text in result.output


def test_any_invalid_exits_1_and_explains() -> None:
    result = runner.invoke(app, ["id", "check", "A123456789", "A123456788"])
    assert result.exit_code == 1
    assert "檢查碼錯誤" in result.output
    assert "check character does not match" in result.output


def test_json_output() -> None:
    result = runner.invoke(
        app, ["id", "check", "--json", "a123456789", "A123456788", "12345678(B)"]
    )
    assert result.exit_code == 1
    rows = json.loads(result.output)
    assert [(r["value"], r["normalized"], r["kind"], r["valid"], r["reason"]) for r in rows] == [
        ("a123456789", "A123456789", "national", True, None),
        ("A123456788", "A123456788", "national", False, "checksum"),
        ("12345678(B)", "12345678", "travel-permit", True, None),
    ]
    assert rows[1]["message"] == "檢查碼錯誤"
    assert rows[1]["message_en"] == "check character does not match"
    assert rows[0]["gender"] == "M"


def test_kind_option() -> None:
    result = runner.invoke(app, ["id", "check", "--json", "--kind", "national", "A800000014"])
    assert result.exit_code == 1
    assert json.loads(result.output)[0]["reason"] == "gender"
    result = runner.invoke(app, ["id", "check", "--kind", "resident-tw", "A800000014"])
    assert result.exit_code == 0


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["id", "check"]).exit_code == 2
    assert runner.invoke(app, ["id", "check", "--kind", "passport", "A123456789"]).exit_code == 2


def test_input_is_not_rich_markup() -> None:
    result = runner.invoke(app, ["id", "check", "[red]x[/red]"])
    assert result.exit_code == 1
    assert "[red]x[/red]" in result.output


def test_help_is_bilingual() -> None:
    result = runner.invoke(app, ["id", "check", "--help"])
    assert result.exit_code == 0
    assert "證號" in result.output
    assert "identifiers" in result.output
