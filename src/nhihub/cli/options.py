"""Options shared by several commands, defined once so that their flags and help agree."""

from __future__ import annotations

from typing import Annotated

import typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="資料庫網址（預設：設定檔，SQLite 於 ./nhihub-data）/ database URL "
        "(default: settings, SQLite in ./nhihub-data).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="輸出 JSON / print JSON.")]
