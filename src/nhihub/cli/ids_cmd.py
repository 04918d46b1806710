"""``nhihub id``: identifier checks (證號檢查)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nhihub.ids import IdResult, Kind, check
from nhihub.ids.base import kind_names

app = typer.Typer(
    help="證號檢查 / identifier checks: 身分證、居留證號、居住證、通行證、醫事機構代碼.",
    no_args_is_help=True,
)

_GENDER = {"M": "男 M", "F": "女 F"}


@app.command("check")
def check_cmd(
    values: Annotated[
        list[str],
        typer.Argument(
            help="要檢查的證號，可多個 / numbers to check, one or more.", show_default=False
        ),
    ],
    kind: Annotated[
        Literal["auto", Kind],
        typer.Option(
            "--kind",
            help="證號類別，auto 依格式判斷 / kind of number; auto decides by shape.",
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="輸出 JSON 陣列 / print a JSON array.")
    ] = False,
) -> None:
    """檢查證號格式與檢查碼 / check identifiers' shape and check character.

    結束碼 exit code: 0 全部有效 all valid, 1 有無效者 some invalid, 2 用法錯誤 usage error.
    """
    results = [check(v, kind) for v in values]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        Console().print(_table(results))
    raise typer.Exit(0 if all(r.valid for r in results) else 1)


def _table(results: list[IdResult]) -> Table:
    table = Table("證號 Number", "類別 Kind", "結果 Result", "說明 Message")
    for column in table.columns:
        column.overflow = "fold"  # wrap, never cut a number or a Chinese text with an ellipsis
    names = kind_names()
    for r in results:
        number = Text(r.value)  # Text, not str: user input is never read as Rich markup
        if r.normalized != r.value:
            number.append(f"\n→ {r.normalized}")
        if r.valid:
            result = Text("✓ 有效 valid", style="green")
            if r.gender:
                result.append(f"\n{_GENDER[r.gender]}")
            message = ""
        else:
            result = Text("✗ 無效 invalid", style="red")
            message = "\n".join(r.messages)
        table.add_row(number, "\n".join(names[r.kind]), result, message)
    return table
