"""``nhihub serve`` (the HTTP API with its in-process worker) and ``nhihub demo`` (``make run``:
demo data on a fresh SQLite database, then the service).

Exit codes: 0 stopped normally (Ctrl-C), 1 the service could not start (port taken, database
unreachable), 2 a wrong option or setting (the message says which, zh-TW and English).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from nhihub.cli.options import DbOption
from nhihub.config import ConfigError, Settings, load_settings
from nhihub.storage import UnsupportedDatabase, create_engine_for, list_institutions, upgrade

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEMO_DB_FILE = "demo.db"

HostOption = Annotated[str, typer.Option("--host", help="監聽位址 / address to listen on.")]
PortOption = Annotated[
    int, typer.Option("--port", min=1, max=65535, help="監聽埠 / port to listen on.")
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"錯誤 error: {message}", err=True)
    raise typer.Exit(code)


def _settings(db: str | None) -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)
    return settings if db is None else dataclasses.replace(settings, db_url=db)


def _check_port(host: str, port: int) -> None:
    """Fail with a clear message before uvicorn does with a traceback-like log."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        _fail(f"無法解析位址 {host} / cannot resolve host {host}", 2)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(
                    f"埠 {port} 已被使用，請用 --port 指定其他埠 / port {port} is in use; "
                    "choose another with --port"
                )
            _fail(f"無法監聽 {host}:{port} / cannot listen on {host}:{port}: {exc.strerror}")


def _prepare_database(settings: Settings) -> None:
    try:
        engine = create_engine_for(settings.db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
    except UnsupportedDatabase as exc:
        _fail(str(exc), 2)
    except SQLAlchemyError as exc:
        _fail(f"無法連線或升級資料庫 / cannot open or upgrade the database: {type(exc).__name__}")


def _display_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def run_server(
    settings: Settings, host: str, port: int, *, worker: bool, log_level: str = "info"
) -> None:
    """Serve the API with uvicorn until Ctrl-C (SIGINT) or SIGTERM; the lifespan stops the
    worker, which finishes or releases the batch it holds."""
    import uvicorn

    from nhihub.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings, worker=worker, purge=True)
    # uvicorn shuts down gracefully on Ctrl-C, then raises the signal again: a normal stop here.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
    typer.echo("已停止 / stopped", err=True)


def serve(
    db: DbOption = None,
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help=(
                "不在此行程處理上傳（另以 nhihub worker 處理，PostgreSQL）/ do not process "
                "uploads in this process (run nhihub worker processes; PostgreSQL)."
            ),
        ),
    ] = False,
) -> None:
    """啟動 API 服務（含上傳處理）/ run the HTTP API with its upload worker.

    NHI 相容：POST /nhi/VNHI_Upload、/nhi/VNHI_Download；REST：/api/v1/…；文件 /docs。
    Ctrl-C 結束 / stop with Ctrl-C.
    """
    settings = _settings(db)
    _prepare_database(settings)
    _check_port(host, port)
    url = _display_url(host, port)
    typer.echo(
        f"nhihub API: {url}  （文件 docs: {url}/docs；主控台 console: {url}/console/）",
        err=True,
    )
    run_server(settings, host, port, worker=not no_worker)


# -- demo ----------------------------------------------------------------------------------------


def _demo_db_url(db: str | None, settings: Settings) -> str:
    return db or f"sqlite:///{settings.data_dir / DEMO_DB_FILE}"


def _recreate(url: str) -> None:
    """Delete a SQLite demo database (and its WAL files); refuse a PostgreSQL one in use."""
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises several kinds
        _fail(f"無法解析資料庫網址 / invalid database URL: {url}", 2)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(database + suffix).unlink(missing_ok=True)
        return
    engine = create_engine_for(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            if list_institutions(conn):
                _fail(
                    "示範資料須用空的資料庫（此 PostgreSQL 資料庫已有資料）/ the demo needs an "
                    "empty database; this PostgreSQL database has data",
                    2,
                )
    finally:
        engine.dispose()


def _show_identifier_tools(console: Console) -> None:
    from nhihub.api.demo import demo_config
    from nhihub.ids import check
    from nhihub.visitid import Channel, decode, issue

    cfg = demo_config()
    example = cfg["visit_id_example"]
    institution = "3502060427"
    code = issue(example["person"], example["at"], institution, Channel.WEB)
    visit = decode(code)
    console.print("\n[bold]識別碼工具 / identifier tools[/bold]")
    console.print(
        f"  nhihub visit-id issue → {code}（民國 {example['at']}，機構 {institution}，web）"
    )
    console.print(
        f"  nhihub visit-id decode {code} → 機構 institution {visit.institution}, "
        f"時間 at {visit.at}, 管道 channel {visit.channel.value}"
    )
    for value in cfg["check_ids"]:
        result = check(value)
        verdict = "有效 valid" if result.valid else "無效 invalid"
        console.print(f"  nhihub id check {value} → {verdict}")


def _curl_examples(url: str, result: Any, files: dict[str, Path]) -> list[str]:
    clinic = result.plan.code("clinic")
    token = result.tokens[clinic]
    hospital = result.plan.code("prescriber")
    pharmacy = result.plan.code("pharmacy")
    up, req = files["upload"], files["nhi_request"]
    return [
        "# REST：上傳原始 XML / upload the raw XML (202 + batch_id)",
        f"curl -s -H 'Authorization: Bearer {token}' --data-binary @{up} "
        f"'{url}/api/v1/uploads?kind=A1'",
        "# 狀態與計數 / status and counts",
        f"curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/uploads/<batch_id>",
        "# 檢核結果 / result (format=json|csv|nhi|nhi-zip)",
        f"curl -s -H 'Authorization: Bearer {token}' "
        f"'{url}/api/v1/uploads/<batch_id>/result?format=json'",
        "# NHI 格式 JSON 上傳（sSignature = 權杖）/ NHI-style JSON upload (RtnCode, Opcode)",
        f"curl -s -H 'Content-Type: application/json' -d @{req} {url}/nhi/VNHI_Upload",
        "# NHI 格式下載（5002 未完成；0000 + tx_result_json）/ NHI-style download",
        f"curl -s -H 'Content-Type: application/json' -d "
        f'\'{{"sHospId":"{clinic}","sSignature":"{token}","sOpcode":"<Opcode>"}}\' '
        f"{url}/nhi/VNHI_Download | python3 -c 'import sys,json,base64;"
        'sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["tx_result_json"]))\''
        " > result.zip",
        "# 慢連箋調劑狀態（藥局查詢）/ refill status, as the pharmacy",
        f"curl -s -H 'Authorization: Bearer {result.tokens[pharmacy]}' "
        f"{url}/api/v1/refills/{result.plan.prescription}",
        "# 就醫資料（開立醫院）/ the prescription visit, as the hospital",
        f"curl -s -H 'Authorization: Bearer {result.tokens[hospital]}' "
        f"{url}/api/v1/visits/{result.plan.prescription}",
        "# 上傳清單（署方）/ all uploads, as insurer staff",
        f"curl -s -H 'Authorization: Bearer {result.staff_token}' {url}/api/v1/uploads",
    ]


def _print_precheck(console: Console, result: Any, url: str | None) -> None:
    """Which institution has the 1.0-vs-2.0 pre-check report to look at, and what it shows."""
    from nhihub.api.demo import PRECHECK_ROLE, precheck_path

    code = result.plan.code(PRECHECK_ROLE)
    where = f"{url or ''}{precheck_path(code)}"
    console.print(
        f"2.0預檢比對報表 pre-check report：機構 {code} 有 1.0 上傳與 2.0 預檢（A2, Web-API）/ "
        f"institution {code} has 1.0 uploads and 2.0 pre-checks: {where}",
        soft_wrap=True,
    )
    report = result.precheck
    if report is not None:
        t = report.total
        a, b, ratio = t.v1_success, t.matched, t.ratio_text
        console.print(
            f"  (A) 1.0上傳成功 {a}，(B) 對應之2.0預檢成功 {b}，(B)/(A) {ratio}，"
            f"比對不到 {a - b} 筆（列於下載CSV）/ (A) {a} 1.0 records, (B) {b} matched by a "
            f"pre-check ({ratio}), {a - b} unmatched (listed in the CSV download)",
            soft_wrap=True,
        )


def _print_demo(console: Console, result: Any, url: str | None, db_url: str) -> None:
    from nhihub.api.demo import PRECHECK_ROLE, precheck_path
    from nhihub.storage.codes import code_table

    plan = result.plan
    precheck = plan.code(PRECHECK_ROLE)
    levels = code_table()["institution_level"]
    table = Table(
        "角色 Role", "代碼 Code", "名稱 Name", "層級 Level", title="示範機構 Institutions"
    )
    for column in table.columns:
        column.overflow = "fold"
    for item in plan.institutions:
        inst = item.institution
        table.add_row(item.role, inst.code, inst.name, " ".join(levels[inst.level]))
    console.print(table)
    console.print("[bold]權杖 tokens[/bold]（Authorization: Bearer …）")
    for item in plan.institutions:
        code = item.institution.code
        console.print(f"  {item.role} {code}: {result.tokens[code]}", soft_wrap=True)
    console.print(f"  署方 staff: {result.staff_token}", soft_wrap=True)

    batches = Table(
        "上傳 upload",
        "Opcode",
        "類別 kind",
        "狀態 status",
        "接收筆數",
        "有效明細",
        "無效明細",
        "接收醫令",
        "有效醫令",
        "無效醫令",
        title="示範上傳 Demo uploads",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for role, view in result.batches.items():
        c = view.counts
        batches.add_row(
            role.replace("_", " "),
            str(view.id),
            f"{view.kind} {view.format_version or ''}".strip(),
            view.status,
            *(str(n) for n in (c.records, c.valid_records, c.invalid_records)),
            *(str(n) for n in (c.orders, c.valid_orders, c.invalid_orders)),
        )
    console.print(batches)
    console.print(
        f"慢連箋 chronic prescription {plan.prescription}：第 {plan.refill_no} 次調劑已於藥局 "
        f"{plan.code('pharmacy')} 調劑；{plan.code('second_pharmacy')} 重複調劑 "
        f"{plan.duplicate} 被拒（D025 處方箋重複調劑）/ refill {plan.refill_no} was dispensed "
        f"at {plan.code('pharmacy')}; dispensing it again at {plan.code('second_pharmacy')} "
        "is refused with D025."
    )
    _print_precheck(console, result, url)
    console.print(f"資料庫 database: {db_url}")
    for name, path in result.files.items():
        console.print(f"檔案 file ({name}): {path}")
    if url is not None:
        console.print(f"\n[bold]服務 service: {url}[/bold]   文件 docs: {url}/docs")
        console.print(
            f"[bold]主控台 web console: {url}/console/[/bold]"
            "（以上方權杖登入 / sign in with a token above）"
        )
        console.print(
            f"[bold]2.0預檢比對報表 pre-check report: {url}{precheck_path(precheck)}[/bold]"
            f"（以 precheck {precheck} 或署方權杖登入 / sign in with the precheck or staff token）",
            soft_wrap=True,
        )
        console.print("\n[bold]curl 範例 examples[/bold]")
        for line in _curl_examples(url, result, result.files):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        console.print("\nCtrl-C 結束 / stop with Ctrl-C")


def demo(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help=(
                "資料庫網址（預設 ./nhihub-data/demo.db，每次重建）/ database URL (default: "
                "./nhihub-data/demo.db, recreated every time)."
            ),
            show_default=False,
        ),
    ] = None,
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="只準備示範資料，不啟動服務 / prepare the data only."),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="以 JSON 輸出示範資料摘要 / print the demo summary as JSON."),
    ] = False,
) -> None:
    """示範：建立示範資料並啟動服務（make run）/ demo data on SQLite, then the service.

    建立醫學中心、診所、牙醫、藥局等示範機構與權杖，上傳合成資料（含錯誤
    資料、慢連箋調劑、重複調劑被拒 D025；一家醫院另有 1.0 上傳與 2.0 預檢，
    供 2.0預檢比對報表），再啟動服務並印出網址、權杖、報表網址與 curl 範例。
    """
    from nhihub.api.demo import DemoError, load_demo, plan_demo
    from nhihub.reports.timeutil import taiwan_now

    settings = _settings(None)
    db_url = _demo_db_url(db, settings)
    settings = dataclasses.replace(settings, db_url=db_url)
    if not no_serve:
        _check_port(host, port)
    _recreate(db_url)
    _prepare_database(settings)
    console = Console(stderr=as_json)
    if not console.is_terminal:  # a log or a pipe: wide enough for the tables
        console = Console(stderr=as_json, width=120)
    console.print("準備示範資料 / preparing demo data…")
    try:
        plan = plan_demo(taiwan_now() - dt.timedelta(minutes=1))
    except DemoError as exc:
        _fail(f"無法建立示範資料 / cannot build the demo data: {exc}")
    engine = create_engine_for(db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        result = load_demo(engine, settings, plan, out_dir=settings.data_dir)
    finally:
        engine.dispose()
    url = None if no_serve else _display_url(host, port)
    if as_json:
        summary = json.loads(result.files["summary"].read_text("utf-8"))
        summary["db_url"] = db_url
        summary["url"] = url
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _show_identifier_tools(console)
        _print_demo(console, result, url, db_url)
    if no_serve:
        return
    sys.stdout.flush()
    run_server(settings, host, port, worker=True, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``demo`` to the ``nhihub`` command."""
    app.command("serve")(serve)
    app.command("demo")(demo)
