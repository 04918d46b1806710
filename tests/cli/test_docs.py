"""Every CLI command and every option is documented (README.md or docs/*.md), as datasette does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from nhihub.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def _docs() -> str:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(f.read_text("utf-8") for f in files)


def _commands(cmd: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    # Typer's command classes are Click-shaped; duck typing keeps this independent of which
    # Click (bundled or not) the installed Typer uses.
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}".strip())
    else:
        yield path, cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_there_are_commands() -> None:
    assert {"check", "synth", "id check", "visit-id issue", "serve"} <= {p for p, _ in COMMANDS}


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_command_is_documented(path: str) -> None:
    assert f"nhihub {path}" in _docs(), f"`nhihub {path}` is not mentioned in README.md or docs/"


@pytest.mark.parametrize(
    ("path", "option"),
    [
        (p, opt)
        for p, cmd in COMMANDS
        for param in cmd.params
        if getattr(param, "param_type_name", "") == "option"
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_option_is_documented(path: str, option: str) -> None:
    assert option in _docs(), f"option {option} of `nhihub {path}` is not documented"
