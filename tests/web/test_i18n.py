"""Labels: every key the templates (``t('key')``) and the Python code (``L("key")``) use exists
in both languages; the TSV loader refuses what would show a wrong or empty label."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

import nhihub.web
from nhihub.web.i18n import (
    LANGS,
    Translator,
    console_spec,
    labels,
    normalize_lang,
    parse_console_spec,
    parse_labels,
    text,
)

TEMPLATE_KEY = re.compile(r"""\bt\(\s*['"]([a-z0-9_]+)['"]""")
PYTHON_KEY = re.compile(r"""\bL\(\s*['"]([a-z0-9_]+)['"]\s*\)""")
PACKAGE = Path(nhihub.web.__file__).parent


def _keys(pattern: re.Pattern[str], files: list[Path]) -> set[str]:
    return {key for f in files for key in pattern.findall(f.read_text("utf-8"))}


def used_keys() -> set[str]:
    templates = sorted((PACKAGE / "templates").glob("*.html"))
    sources = sorted(PACKAGE.glob("*.py"))
    assert templates and sources
    return _keys(TEMPLATE_KEY, templates) | _keys(PYTHON_KEY, sources)


def test_every_key_used_exists_in_both_languages() -> None:
    known = labels()
    used = used_keys()
    assert len(used) > 100
    missing = sorted(used - set(known))
    assert missing == []
    for key in used:
        assert all(known[key][lang].strip() for lang in LANGS), key


def test_no_label_is_left_unused() -> None:
    # A label nobody uses is a label nobody keeps up to date.
    assert sorted(set(labels()) - used_keys()) == []


def test_labels_differ_by_language_where_they_should() -> None:
    zh_only = [k for k, v in labels().items() if v["zh"] == v["en"]]
    assert zh_only == []
    assert text("nav_uploads", "zh") == "上傳檢核結果查詢"  # the seed's screen name


def test_placeholders_are_the_same_in_both_languages() -> None:
    field = re.compile(r"\{(\w+)\}")
    for key, value in labels().items():
        assert set(field.findall(value["zh"])) == set(field.findall(value["en"])), key


def test_text_fills_placeholders_and_refuses_unknown_keys() -> None:
    assert text("error_range_long", "en", days=93) == "The range may span at most 93 days"
    assert "93" in text("error_range_long", "zh", days=93)
    with pytest.raises(KeyError):
        text("no_such_key", "zh")
    assert Translator("en")("sign_in") == "Sign in"
    assert Translator("zh").html_lang == "zh-TW" and Translator("en").html_lang == "en"
    assert Translator("en").pick("中", "en") == "en"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("en", "en"), ("EN-us", "en"), ("zh-TW", "zh"), ("zh_tw", "zh"), ("zh-Hant", "zh"),
     ("zh", "zh"), ("fr", None), ("", None), (None, None), ("english", None)],
)  # fmt: skip
def test_normalize_lang(value: str | None, expected: str | None) -> None:
    assert normalize_lang(value) == expected


def test_parse_labels_refuses_bad_files() -> None:
    good = "# comment\nkey\tzh\ten\na\t甲\tA\n"
    assert parse_labels(good)["a"]["en"] == "A"
    with pytest.raises(ValueError, match="header"):
        parse_labels("a\t甲\tA\n")
    with pytest.raises(ValueError, match="duplicate"):
        parse_labels(good + "a\t乙\tB\n")
    with pytest.raises(ValueError, match="label in each language"):
        parse_labels("key\tzh\ten\nb\t乙\t \n")
    with pytest.raises(ValueError, match="label in each language"):
        parse_labels("key\tzh\ten\nb\t乙\n")


def test_console_spec() -> None:
    spec = console_spec()
    assert spec.upload_kinds == ("A1", "A2")
    assert {"M03", "M06"} <= spec.hidden_fields and "M04" in spec.year_only_fields
    raw = resources.files("nhihub.web").joinpath("data/console.json").read_text("utf-8")
    assert '"refresh_seconds"' in raw
    with pytest.raises(ValueError):
        parse_console_spec({"languages": {"zh": "zh-TW"}, "default_language": "zh"})
