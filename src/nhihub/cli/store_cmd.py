"""Commands that use the store: ``nhihub ingest``, ``visit show``, ``refill status``,
``db upgrade``, ``token create``, ``institution add`` and ``worker``.

Every command takes ``--db URL`` (default: the settings, SQLite in ./nhihub-data) and creates or
upgrades the schema on first use. Errors are one bilingual line on stderr (with ``--json``, an
``{"error": ...}`` object on stdout), never a traceback. Person IDs are never printed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import signal
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from nhihub.cli.options import DbOption, JsonOption
from nhihub.config import ConfigError, Settings, load_settings
from nhihub.ids import is_valid_institution_code
from nhihub.service import (
    IngestReport,
    InvalidVisitId,
    UploadRejected,
    Viewer,
    create_token,
    get_visit,
    ingest_file,
    refill_status,
    run_worker,
)
from nhihub.specs.catalogue import message
from nhihub.storage import (
    Institution,
    UnsupportedDatabase,
    code_table,
    codes,
    create_engine_for,
    insert_institution,
    unit_of_work,
    upgrade,
)


class Kind(StrEnum):
    A1 = "A1"
    A2 = "A2"


def _fail(zh: str, en: str, exit_code: int, as_json: bool = False, **extra: Any) -> NoReturn:
    if as_json:
        doc = {"error": extra.pop("error", "error"), **extra, "message": zh, "message_en": en}
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"錯誤 error: {zh} / {en}", err=True)
    raise typer.Exit(exit_code)


def _settings(db: str | None, as_json: bool = False) -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), "see the message", 2, as_json, error="config")
    return settings if db is None else dataclasses.replace(settings, db_url=db)


def _engine(settings: Settings, as_json: bool = False) -> Engine:
    """An engine on the configured database, the schema created or upgraded."""
    try:
        engine = create_engine_for(settings.db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        upgrade(engine)
    except UnsupportedDatabase as exc:
        _fail(str(exc), "see the message", 2, as_json, error="database")
    except OperationalError:
        _fail(
            "無法連線或開啟資料庫",
            "cannot connect to or open the database",
            2,
            as_json,
            error="database",
        )
    return engine


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# -- ingest ----------------------------------------------------------------------------------


def _print_report(report: IngestReport) -> None:
    console = Console()
    b = report.batch
    c = b.counts
    status_zh, status_en = code_table()["batch_status"][b.status]
    table = Table(
        title=f"批次 batch {b.id}  {escape(b.file_name or '')}  ({status_zh} {status_en})"
    )
    heads = (
        "接收筆數 records",
        "有效明細 valid",
        "接收醫令 orders",
        "有效醫令 valid orders",
        "無效明細 invalid",
        "無效醫令 invalid orders",
        "已寫入 applied",
    )
    for h in heads:
        table.add_column(h, justify="right")
    table.add_row(
        *(
            str(v)
            for v in (
                c.records,
                c.valid_records,
                c.orders,
                c.valid_orders,
                c.invalid_records,
                c.invalid_orders,
                c.applied_records,
            )
        )
    )
    console.print(table)
    s = report.summary
    for e in s.file_errors:
        console.print(
            f"[red]檔案錯誤 file error {e.code}[/red] (第 {e.line} 行 line): "
            f"{escape(message(e.code, 'zh'))} / {escape(message(e.code, 'en'))}"
        )
    if s.reported:
        t = Table("筆 #", "就醫識別碼 visit id", "欄位 field", "代碼 code", "說明 message")
        for o in s.reported:
            for f in o.findings:
                style = "yellow" if o.valid else "red"
                t.add_row(
                    str(o.record.index),
                    escape(o.record.mb1.get("M15", "")[:20]),
                    escape(f.field or ""),
                    f"[{style}]{escape(f.code)}[/{style}]",
                    escape(f"{message(f.code, 'zh')} / {message(f.code, 'en')}"),
                )
        console.print(t)
    if report.exit_code == 0:
        console.print("[green]檢核無誤 / no errors[/green]")


def ingest(
    file: Annotated[Path, typer.Argument(help="上傳檔案 / upload file (format 2.0 or 1.0)")],
    institution: Annotated[
        str, typer.Option("--institution", help="上傳機構代碼 / uploading institution code")
    ],
    kind: Annotated[
        Kind, typer.Option("--kind", help="A1 正式上傳 formal upload, A2 預檢 pre-check")
    ] = Kind.A1,
    db: DbOption = None,
    as_json: JsonOption = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="檢核用行程數（預設：CPU 數）/ checking processes"),
    ] = None,
) -> None:
    """上傳檔案並等待結果 / upload a file to the store and process it.

    結束碼 exit code: 0 全部有效 all valid, 1 有無效資料或整批退件 some invalid or rejected,
    2 無法讀取或拒收 unreadable or refused.
    """
    settings = _settings(db, as_json)
    if not file.is_file():
        _fail(f"無法讀取檔案：{file}", f"cannot read file: {file}", 2, as_json, error="file")
    engine = _engine(settings, as_json)
    try:
        report = ingest_file(
            engine, file, institution=institution, kind=kind.value, settings=settings, jobs=jobs
        )
    except OSError:
        _fail(f"無法讀取檔案：{file}", f"cannot read file: {file}", 2, as_json, error="file")
    except UploadRejected as exc:
        _fail(exc.message_zh, exc.message_en, 2, as_json, error=exc.reason, code=exc.code)
    finally:
        engine.dispose()
    if as_json:
        _dump(report.result)
    else:
        _print_report(report)
    raise typer.Exit(report.exit_code)


# -- visit show, refill status ------------------------------------------------------------------

visit_app = typer.Typer(help="就醫紀錄 / stored visits.", no_args_is_help=True)
refill_app = typer.Typer(
    help="慢連箋處方狀態 / chronic prescription refills.", no_args_is_help=True
)


@visit_app.command("show")
def visit_show(
    m15: Annotated[str, typer.Argument(help="就醫識別碼 / visit identifier (M15)")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """顯示就醫紀錄目前版本 / show the current version of a visit (person ID withheld).

    結束碼 exit code: 0 found, 1 無此紀錄或已刪除 absent or deleted, 2 error.
    """
    settings = _settings(db, as_json)
    engine = _engine(settings, as_json)
    try:
        with unit_of_work(engine) as conn:
            view = get_visit(conn, m15.strip().upper(), viewer=Viewer.staff())
    finally:
        engine.dispose()
    if view is None:
        _fail(f"查無就醫紀錄 {m15}", f"no visit {m15}", 1, as_json, error="not_found")
    if as_json:
        _dump(view.to_dict())
    else:
        console = Console()
        state = "已刪除 deleted" if view.deleted else "有效 current"
        console.print(
            f"[bold]{escape(view.m15)}[/bold]  {escape(view.institution)}  "
            f"M07={escape(view.category or '')}  H01={escape(view.h01)}  {state}  "
            f"版本 version {view.version}/{view.versions}  批次 batch {view.batch_id}"
        )
        mb1 = view.record.get("mb1", {})
        t = Table("欄位 field", "值 value")
        for name in sorted(mb1):
            t.add_row(escape(name), escape(str(mb1[name])))
        console.print(t)
        for n, line in enumerate(view.record.get("mb2", []), 1):
            items = " ".join(f"{k}={v}" for k, v in sorted(line.items()))
            console.print(f"MB2[{n}] {escape(items)}")
        for r in view.refills:
            console.print(
                f"第 {r.refill_no} 次調劑 refill {r.refill_no}: {r.state_zh} {r.state_en}"
            )
    raise typer.Exit(1 if view.deleted else 0)


@refill_app.command("status")
def refill_status_cmd(
    m15: Annotated[str, typer.Argument(help="處方之就醫識別碼 / identifier of the prescription")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """慢連箋各次調劑狀態 / the state of each refill of a chronic prescription.

    結束碼 exit code: 0 found, 1 查無處方 no prescription (D024), 2 就醫識別碼有誤 bad
    identifier (D074) or error.
    """
    settings = _settings(db, as_json)
    engine = _engine(settings, as_json)
    try:
        with unit_of_work(engine) as conn:
            status = refill_status(conn, m15, viewer=Viewer.staff())
    except InvalidVisitId as exc:
        _fail(f"{exc.code} {exc.message_zh}", exc.message_en, 2, as_json, error=exc.code)
    finally:
        engine.dispose()
    if as_json:
        _dump(status.to_dict())
    elif not status.refills:
        typer.echo(f"{status.code} {status.message_zh} / {status.message_en}")
    else:
        t = Table(
            "次 refill", "狀態 state", "調劑機構 dispensed by", "調劑時間 dispensed at",
            title=f"{status.prescription}  {status.institution}",
        )  # fmt: skip
        for r in status.refills:
            at = "" if r.dispensed_at is None else r.dispensed_at.strftime("%Y-%m-%d %H:%M")
            t.add_row(str(r.refill_no), f"{r.state_zh} {r.state_en}", r.dispensed_by or "", at)
        Console().print(t)
    raise typer.Exit(0 if status.refills else 1)


# -- db, token, institution, worker ---------------------------------------------------------

db_app = typer.Typer(help="資料庫 / the database.", no_args_is_help=True)
token_app = typer.Typer(help="API 權杖 / API tokens.", no_args_is_help=True)
institution_app = typer.Typer(help="醫事機構 / institutions.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """建立或升級資料庫結構 / create or upgrade the database schema."""
    settings = _settings(db)
    engine = _engine(settings)
    engine.dispose()
    typer.echo("資料庫結構已是最新 / the schema is up to date")


@token_app.command("create")
def token_create(
    institution: Annotated[
        str | None, typer.Option("--institution", help="機構代碼 / institution code")
    ] = None,
    staff: Annotated[bool, typer.Option("--staff", help="健保署人員 / insurer staff")] = False,
    label: Annotated[str | None, typer.Option("--label", help="用途 / what it is for")] = None,
    db: DbOption = None,
) -> None:
    """建立 API 權杖（只顯示一次）/ create an API token (shown once, only its hash is kept)."""
    if staff == (institution is not None):
        _fail(
            "請指定 --institution 或 --staff 其中之一",
            "give exactly one of --institution and --staff",
            2,
        )
    settings = _settings(db)
    engine = _engine(settings)
    try:
        with unit_of_work(engine) as conn:
            token = create_token(
                conn,
                institution=institution,
                role="staff" if staff else "institution",
                label=label,
            )
    except UploadRejected as exc:
        _fail(exc.message_zh, exc.message_en, 2)
    except ValueError as exc:
        _fail(str(exc), "see the message", 2)
    finally:
        engine.dispose()
    typer.echo(token)


@institution_app.command("add")
def institution_add(
    code: Annotated[str, typer.Argument(help="醫事機構代碼 / institution code (10 characters)")],
    name: Annotated[str, typer.Option("--name", help="機構名稱 / name")],
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="層級 / level: medical_center, regional_hospital, district_hospital, clinic, "
            "pharmacy, other",
        ),
    ],
    medical_type: Annotated[
        str | None, typer.Option("--medical-type", help="醫事類別 / M56 code (11-15)")
    ] = None,
    contract_start: Annotated[
        str | None, typer.Option("--contract-start", help="特約起日 / YYYY-MM-DD")
    ] = None,
    contract_end: Annotated[
        str | None, typer.Option("--contract-end", help="特約迄日 / YYYY-MM-DD")
    ] = None,
    db: DbOption = None,
) -> None:
    """登錄醫事機構 / register an institution (uploads from unknown ones are refused: 9005).

    結束碼 exit code: 0 added, 1 已存在 exists already, 2 bad input.
    """
    if not is_valid_institution_code(code):
        _fail(f"醫事機構代碼格式錯誤：{code}", f"malformed institution code: {code}", 2)
    if level not in codes("institution_level"):
        allowed = ", ".join(codes("institution_level"))
        _fail(f"層級錯誤：{level}（可用 {allowed}）", f"unknown level {level} ({allowed})", 2)
    try:
        start = None if contract_start is None else dt.date.fromisoformat(contract_start)
        end = None if contract_end is None else dt.date.fromisoformat(contract_end)
    except ValueError:
        _fail("日期格式應為 YYYY-MM-DD", "dates must be YYYY-MM-DD", 2)
    settings = _settings(db)
    engine = _engine(settings)
    try:
        with unit_of_work(engine) as conn:
            insert_institution(conn, Institution(code, name, level, medical_type, start, end))
    except IntegrityError:
        _fail(f"機構 {code} 已存在", f"institution {code} exists already", 1)
    finally:
        engine.dispose()
    typer.echo(f"已登錄 added {code} {name}")


def worker(
    db: DbOption = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="檢核用行程數（預設：CPU 數）/ checking processes"),
    ] = None,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="閒置輪詢秒數 / idle poll seconds")
    ] = 1.0,
) -> None:
    """處理上傳的工作程序（PostgreSQL 可多個）/ a worker process; run several on PostgreSQL.

    Stops on Ctrl-C or SIGTERM after the batch at hand.
    """
    settings = _settings(db)
    engine = _engine(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        run_worker(engine, settings, stop, poll, jobs=jobs)
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add the store commands to the ``nhihub`` application."""
    app.command("ingest")(ingest)
    app.command("worker")(worker)
    app.add_typer(visit_app, name="visit")
    app.add_typer(refill_app, name="refill")
    app.add_typer(db_app, name="db")
    app.add_typer(token_app, name="token")
    app.add_typer(institution_app, name="institution")
