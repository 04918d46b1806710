"""docs/api.md stays complete: every error code, every RtnCode and every endpoint is in it."""

from __future__ import annotations

import re
from pathlib import Path

from nhihub.api import create_app, error_specs, rtn_codes
from nhihub.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_error_code_is_documented() -> None:
    text = DOC.read_text("utf-8")
    missing = [code for code in error_specs() if f"`{code}`" not in text]
    assert not missing


def test_every_rtncode_is_documented() -> None:
    text = DOC.read_text("utf-8")
    assert all(re.search(rf"^\| {rtn} \|", text, re.M) for rtn in rtn_codes())


def test_every_endpoint_is_documented(tmp_path: Path) -> None:
    text = DOC.read_text("utf-8")
    paths = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'x.db'}")).openapi()["paths"]
    missing = [p for p in paths if p.replace("{batch_id}", "{id}") not in text]
    assert not missing
