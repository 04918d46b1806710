"""``nhihub synth``: write a realistic synthetic upload file, optionally with known errors."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nhihub.ids.rocdate import RocDateError, format_roc_datetime, parse_roc_datetime
from nhihub.synth import SynthError, generate, mutation_kinds
from nhihub.synth.write import write_synth
from nhihub.visitid import TAIWAN


class Version(StrEnum):
    v2 = "2.0"
    v1 = "1.0"


class Encoding(StrEnum):
    big5 = "big5"
    utf8 = "utf-8"


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]錯誤 error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _as_of(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(TAIWAN).replace(tzinfo=None, microsecond=0)
    try:
        return parse_roc_datetime(value.strip())
    except RocDateError:
        raise _fail(
            f"--as-of 須為民國年月日時分秒 YYYMMDDHHMMSS（13 碼）/ --as-of must be an ROC "
            f"date-time YYYMMDDHHMMSS (13 digits), not {value!r}"
        ) from None


def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="輸出檔 / output file.", show_default=False, dir_okay=False
        ),
    ],
    records: Annotated[
        int, typer.Option("--records", "-n", help="筆數 / number of records.", min=1)
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="亂數種子 / random seed.")] = 0,
    version: Annotated[
        Version, typer.Option("--version", help="格式版本 / upload format version.")
    ] = Version.v2,
    paired_v1: Annotated[
        Path | None,
        typer.Option(
            "--paired-v1",
            help="另寫同批就醫之 1.0 檔（2.0 預檢比對用）/ also write the same visits as a 1.0 "
            "file (for the 1.0-vs-2.0 comparison).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    unmatched: Annotated[
        float,
        typer.Option(
            "--unmatched",
            help="1.0 檔中無 2.0 對應之比例 / share of the 1.0 file's visits with no 2.0 record.",
        ),
    ] = 0.0,
    encoding: Annotated[
        Encoding, typer.Option("--encoding", help="檔案編碼 / file encoding.")
    ] = Encoding.big5,
    error_rate: Annotated[
        float,
        typer.Option(
            "--error-rate",
            help="注入已知錯誤之筆數比例 0–1 / share of records given one known error, 0-1.",
        ),
    ] = 0.0,
    kinds: Annotated[
        str | None,
        typer.Option(
            "--kinds",
            help="只用這些錯誤種類，逗號分隔 / only these mutation kinds, comma-separated "
            "(see docs/synth.md).",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="上傳時間 YYYMMDDHHMMSS，就醫時間在其之前；預設現在 / upload time, visits "
            "fall before it; default now.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="輸出 JSON 摘要 / print a JSON summary.")
    ] = False,
) -> None:
    """產生擬真健保卡上傳檔，可注入已知錯誤並列於旁檔 / write a realistic synthetic upload
    file, optionally with known errors listed in a sidecar file (<out>.errors.jsonl).

    結束碼 exit code: 0 完成 done, 1 無法寫檔 cannot write, 2 用法錯誤 usage error.
    """
    when = _as_of(as_of)
    chosen = None
    if kinds is not None:
        chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    if paired_v1 is not None and version is not Version.v2:
        raise _fail("--paired-v1 需搭配 --version 2.0 / --paired-v1 needs --version 2.0")
    if unmatched and paired_v1 is None:
        raise _fail("--unmatched 需搭配 --paired-v1 / --unmatched needs --paired-v1")
    if paired_v1 is not None and paired_v1.resolve() == out.resolve():
        raise _fail("--paired-v1 不可與 --out 相同 / --paired-v1 must differ from --out")
    try:
        result = generate(
            seed,
            records,
            as_of=when,
            version=version.value,
            error_rate=error_rate,
            unmatched_share=unmatched,
            mutations=chosen,
        )
    except SynthError as exc:
        known = ", ".join(mutation_kinds())
        hint = f"\n可用種類 / known kinds: {known}" if "mutation" in str(exc) else ""
        raise _fail(f"{exc}{hint}") from None
    console = Console(stderr=True)
    show_bar = console.is_terminal and not as_json
    try:
        if show_bar:
            with Progress(
                TextColumn("[bold]產生中 generating[/bold]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                total = records
                if paired_v1 is not None:  # about records / (1 - unmatched) more
                    total += round(records / (1.0 - unmatched))
                task = bar.add_task("synth", total=total)
                summary = write_synth(
                    result,
                    out,
                    encoding=encoding.value,
                    paired_v1=paired_v1,
                    progress=lambda n: bar.update(task, completed=min(n, total)),
                )
        else:
            summary = write_synth(result, out, encoding=encoding.value, paired_v1=paired_v1)
    except OSError as exc:
        raise _fail(f"無法寫入檔案 / cannot write the file: {exc.strerror or exc}", 1) from None
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
        return
    typer.echo(
        f"已產生 {summary.records} 筆 / wrote {summary.records} records "
        f"(格式 format {version.value}, as-of {format_roc_datetime(when)}): {summary.out}"
    )
    typer.echo(
        f"注入錯誤 {summary.errors_injected} 筆 / errors injected: {summary.errors_injected} "
        f"-> {summary.sidecar}"
    )
    if summary.paired_v1 is not None:
        typer.echo(
            f"1.0 對照檔 {summary.paired_records} 筆 / paired 1.0 file, "
            f"{summary.paired_records} records: {summary.paired_v1}"
        )
