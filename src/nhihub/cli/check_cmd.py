"""``nhihub check FILE...``: the offline pre-check with NHI's check codes."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from nhihub.ids.rocdate import RocDateError, parse_roc_datetime
from nhihub.precheck.runner import check_path_parallel
from nhihub.reports.timeutil import taiwan_now
from nhihub.results import FileSummary, render_csv, render_json, render_nhi_text
from nhihub.results.render import encode_nhi_text
from nhihub.specs.catalogue import message
from nhihub.specs.fields import by_id


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    nhi = "nhi"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


def _field_name(field: str | None, version: str, lang: str) -> str:
    if not field:
        return ""
    spec = by_id(version).get(field.split("[", 1)[0])
    if spec is None:
        return ""
    return spec.name_zh if lang == "zh" else spec.name_en


def _print_text(console: Console, s: FileSummary, lang: str) -> None:
    zh = lang == "zh"
    title = (
        f"{s.file}  (格式 {s.format_version or '?'})"
        if zh
        else f"{s.file}  (format {s.format_version or '?'})"
    )
    counts = Table(title=title, show_header=True)
    heads = (
        ["接收筆數", "有效明細筆數", "接收醫令", "有效醫令", "無效明細筆數", "無效醫令"]
        if zh
        else [
            "records",
            "valid records",
            "orders",
            "valid orders",
            "invalid records",
            "invalid orders",
        ]
    )
    for h in heads:
        counts.add_column(h, justify="right")
    counts.add_row(
        *(
            str(v)
            for v in (
                s.records,
                s.valid_records,
                s.orders,
                s.valid_orders,
                s.invalid_records,
                s.invalid_orders,
            )
        )
    )
    console.print(counts)
    for e in s.file_errors:
        where = f"第{e.line}行" if zh else f"line {e.line}"
        detail = f" — {e.detail}" if e.detail else ""
        label = "檔案錯誤" if zh else "File error"
        console.print(f"[red]{label} {e.code}[/red] ({where}): {message(e.code, lang)}{detail}")
    if s.reported:
        t = Table(show_lines=False)
        for h in (
            ["筆", "就醫識別碼", "欄位", "欄位名稱", "代碼", "說明"]
            if zh
            else ["#", "visit id", "field", "field name", "code", "message"]
        ):
            t.add_column(h, overflow="fold")
        for o in s.reported:
            for f in o.findings:
                style = "yellow" if o.valid else "red"
                t.add_row(
                    str(o.record.index),
                    o.record.mb1.get("M15", ""),
                    f.field or "",
                    _field_name(f.field, o.record.version, lang),
                    f"[{style}]{f.code}[/{style}]",
                    message(f.code, lang),
                )
        console.print(t)
    if s.skipped_checks:
        console.print(
            ("未載入主檔，略過檢核: " if zh else "Master files not loaded, checks skipped: ")
            + ", ".join(s.skipped_checks),
            style="dim",
        )
    if s.ok and not s.reported:
        console.print("[green]檢核無誤 / no errors[/green]")


def check(
    files: Annotated[
        list[Path], typer.Argument(help="上傳檔案 / upload files (format 2.0 or 1.0)")
    ],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="輸出格式 / output: text, json, csv, nhi")
    ] = OutputFormat.text,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=(
                "上傳時間 YYYMMDDHHMMSS（預設：台灣現在時間）/ "
                "upload time for BD, BH (default: now in Taiwan)"
            ),
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="平行處理數 / worker processes")] = 1,
    lang: Annotated[Lang, typer.Option("--lang", help="文字輸出語言 / text language")] = Lang.zh,
) -> None:
    """檢核上傳檔案 / Check upload files offline with NHI's check codes.

    Exit 0: all valid; 1: some records invalid or a structural error; 2: a file cannot be read.
    """
    err = Console(stderr=True)
    try:
        # Taiwan's clock, as the files' times are, whatever this machine's time zone.
        when = parse_roc_datetime(as_of) if as_of else taiwan_now().replace(microsecond=0)
    except RocDateError:
        err.print(
            f"--as-of 格式錯誤，應為 YYYMMDDHHMMSS / --as-of must be YYYMMDDHHMMSS: {as_of!r}"
        )
        raise typer.Exit(2) from None
    unreadable = [f for f in files if not f.is_file()]
    for f in unreadable:
        err.print(f"無法讀取檔案 / cannot read file: {f}")
    summaries: list[FileSummary] = []
    show_bar = output is OutputFormat.text and sys.stdout.isatty()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} 筆/records"),
        TimeElapsedColumn(),
        disable=not show_bar,
        transient=True,
    ) as bar:
        for f in files:
            if f in unreadable:
                continue
            task = bar.add_task(f.name, total=None)

            def advance(n: int, task: TaskID = task) -> None:
                bar.update(task, completed=n)

            summaries.append(check_path_parallel(f, when, jobs, progress=advance))
    if output is OutputFormat.json:
        typer.echo(render_json(summaries))
    elif output is OutputFormat.csv:
        typer.echo(render_csv(summaries), nl=False)
    elif output is OutputFormat.nhi:
        for s in summaries:
            size = Path(s.file).stat().st_size
            sys.stdout.buffer.write(encode_nhi_text(render_nhi_text(s, file_size=size)))
        sys.stdout.buffer.flush()
    else:
        console = Console()
        for s in summaries:
            _print_text(console, s, lang.value)
    if unreadable:
        raise typer.Exit(2)
    raise typer.Exit(0 if all(s.ok for s in summaries) else 1)
