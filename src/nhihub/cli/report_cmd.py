"""``nhihub report``: the 1.0-vs-2.0 pre-check comparison report, the upload results and the
operations dashboards, from the database (``--db`` or ``NHIHUB_DB_URL``).

Exit codes: 0 done; 1 bad input (an option, a date, an institution code, a password); 2 the
database cannot be read (missing SQLite file, unreachable server, not an nhihub database).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from nhihub.cli.options import DbOption, JsonOption
from nhihub.config import ConfigError, Settings, load_settings
from nhihub.ids.rocdate import RocDateError, format_roc_date, parse_roc_date
from nhihub.reports import (
    Dashboard,
    PrecheckReport,
    PrecheckRow,
    UploadRow,
    ZipPasswordError,
    check_codes_chart,
    check_password,
    dashboard,
    precheck_export,
    precheck_report,
    refill_blocks_chart,
    timeliness_chart,
    upload_results,
    uploads_chart,
)
from nhihub.reports.spec import reports_spec
from nhihub.reports.timeutil import roc_minute, roc_slash, taiwan_today
from nhihub.storage import UnsupportedDatabase, create_engine_for, read_only, upgrade
from nhihub.storage.engine import normalize_url, sqlite_path
from nhihub.visitid import VisitIdError, normalize_institution

app = typer.Typer(
    help="報表 / reports: 2.0預檢比對1.0統計報表, 上傳檢核結果, 營運儀表板.",
    no_args_is_help=True,
)

EXIT_INPUT = 1
EXIT_DB = 2
DASHBOARD_DAYS = 7


LANGS = ("zh", "en")
LangOption = Annotated[str, typer.Option("--lang", help="語言 zh | en / language")]


def _lang(value: str) -> str:
    if value not in LANGS:
        raise _fail(f"--lang 應為 zh 或 en / --lang must be zh or en: {value!r}", EXIT_INPUT)
    return value


def _fail(message: str, code: int) -> typer.Exit:
    Console(stderr=True).print(f"[red]錯誤 error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _date(value: str | None, option: str, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return parse_roc_date(value.strip())
    except RocDateError:
        raise _fail(
            f"{option} 日期格式錯誤，應為民國 YYYMMDD / {option} must be a ROC date YYYMMDD: "
            f"{value!r}",
            EXIT_INPUT,
        ) from None


def _institution(value: str) -> str:
    try:
        return normalize_institution(value.strip())
    except VisitIdError:
        raise _fail(
            f"醫事機構代碼錯誤（10碼）/ invalid institution code (10 characters): {value!r}",
            EXIT_INPUT,
        ) from None


def _settings(db: str | None) -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_INPUT) from None
    return dataclasses.replace(settings, db_url=db) if db else settings


@contextmanager
def _database(url: str) -> Iterator[Connection]:
    """A read connection on an existing database; exit 1 for a bad URL, 2 if unreadable."""
    try:
        parsed = normalize_url(url)
    except UnsupportedDatabase as exc:
        raise _fail(str(exc), EXIT_INPUT) from None
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None and not path.is_file():
            raise _fail(f"找不到資料庫檔案 / database file not found: {path}", EXIT_DB)
    engine = create_engine_for(parsed)
    try:
        try:
            upgrade(engine)
            with read_only(engine) as conn:
                yield conn
        except SQLAlchemyError as exc:
            reason = str(exc).splitlines()[0]
            raise _fail(f"無法讀取資料庫 / cannot read the database: {reason}", EXIT_DB) from None
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    """JSON-ready: dates ISO, Decimals as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


# -- precheck ------------------------------------------------------------------------------------


def _row_json(row: PrecheckRow) -> dict[str, Any]:
    return {"key": row.key, "label": row.label, "v1_success": row.v1_success,
            "matched": row.matched, "percent": row.percent, "ratio": row.ratio_text,
            "vpn": row.vpn, "web_api": row.web_api}  # fmt: skip


def precheck_json(report: PrecheckReport, lang: str = "zh") -> dict[str, Any]:
    """The report as JSON: the same rows as the screen."""
    return {
        "institution": report.institution,
        "as_of": report.as_of.isoformat(),
        "first_day": report.first_day.isoformat(),
        "last_day": report.last_day.isoformat(),
        "qualified": report.qualified,
        "verdict": report.verdict(lang),
        "total": _row_json(report.total),
        "by_date": [_row_json(r) for r in report.by_date],
        "by_category": [_row_json(r) for r in report.by_category],
    }


def _precheck_table(heading: str, rows: list[PrecheckRow], lang: str) -> Table:
    c = reports_spec().precheck.columns[lang]
    table = Table(show_lines=False)
    table.add_column(heading)
    for key in ("a", "b", "ratio", "vpn", "web-api"):
        table.add_column(c[key], justify="right")
    for r in rows:
        table.add_row(r.label, f"{r.v1_success:,}", f"{r.matched:,}", r.ratio_text,
                      f"{r.vpn:,}", f"{r.web_api:,}")  # fmt: skip
    return table


def _print_precheck(report: PrecheckReport, lang: str) -> None:
    console = Console()
    c = reports_spec().precheck.columns[lang]
    zh = lang == "zh"
    who = report.institution or ("全部醫事機構" if zh else "all institutions")
    console.print(
        f"[bold]{'健保卡2.0預檢比對健保卡1.0統計報表' if zh else '2.0 pre-check vs 1.0 report'}"
        f"[/bold]  {who}",
        highlight=False,
    )
    console.print(
        f"{'就醫日期(過卡日期)' if zh else 'visit dates'} "
        f"{format_roc_date(report.first_day)}–{format_roc_date(report.last_day)}"
        f"  ({'系統日期' if zh else 'as of'} {format_roc_date(report.as_of)})",
        highlight=False,
    )
    console.print(_precheck_table(c["label_total"], [report.total], lang))
    if report.by_date:
        console.print(_precheck_table(c["label_date"], list(report.by_date), lang))
    if report.by_category:
        console.print(_precheck_table(c["label_category"], list(report.by_category), lang))
    colour = "green" if report.qualified else "yellow"
    console.print(f"[{colour}]{report.verdict(lang)}[/{colour}]", highlight=False)


@app.command("precheck")
def precheck(
    institution: Annotated[
        str | None, typer.Option("--institution", help="醫事機構代碼 / institution (required)")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="系統日期 YYYMMDD / as-of date (default today)")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    export: Annotated[
        Path | None, typer.Option("--export", help="下載CSV壓縮檔 / write the encrypted zip")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="NHIHUB_EXPORT_PASSWORD",
            help="壓縮檔密碼 / zip password (or NHIHUB_EXPORT_PASSWORD)",
        ),
    ] = None,
    lang: LangOption = "zh",
) -> None:
    """健保卡2.0預檢比對健保卡1.0統計報表 / the 1.0-vs-2.0 pre-check comparison report.

    Visits of the 7 days before the as-of date (the as-of day excluded).
    """
    lang = _lang(lang)
    if institution is None:
        raise _fail("請指定 --institution / --institution is required", EXIT_INPUT)
    code = _institution(institution)
    day = _date(as_of, "--as-of", taiwan_today())
    if export is not None and not password:
        raise _fail("--export 需要 --password / --export needs --password", EXIT_INPUT)
    if password and export is None:
        raise _fail("--password 只用於 --export / --password is for --export", EXIT_INPUT)
    if password:
        try:
            check_password(password, reports_spec().export.password_min_length)
        except ZipPasswordError as exc:
            raise _fail(str(exc), EXIT_INPUT) from None
    settings = _settings(db)
    with _database(settings.db_url) as conn:
        report = precheck_report(conn, code, day, lang=lang)
        content = None
        if export is not None and password:
            content = precheck_export(conn, code, day, password, settings.cipher(), report=report)
    if export is not None and content is not None:
        try:
            export.write_bytes(content)
        except OSError as exc:
            raise _fail(f"無法寫入 / cannot write {export}: {exc.strerror}", EXIT_INPUT) from None
    if as_json:
        data = precheck_json(report, lang)
        if export is not None:
            data["export"] = str(export)
        _echo_json(data)
    else:
        _print_precheck(report, lang)
        if export is not None:
            Console().print(f"已寫入 / written: {export}", highlight=False)


# -- uploads -------------------------------------------------------------------------------------


def _upload_json(row: UploadRow, lang: str) -> dict[str, Any]:
    data = _plain(row)
    data["state_text"] = row.state_text(lang)
    return data  # type: ignore[no-any-return]


@app.command("uploads")
def uploads(
    institution: Annotated[
        str | None, typer.Option("--institution", help="醫事機構代碼 / institution (default all)")
    ] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="起日 YYYMMDD")] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="迄日 YYYMMDD (default today)")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    lang: LangOption = "zh",
) -> None:
    """健保卡就醫資料上傳檢核結果查詢 / upload results by receiving date (newest first)."""
    lang = _lang(lang)
    code = None if institution is None else _institution(institution)
    last = _date(date_to, "--to", taiwan_today())
    first = _date(date_from, "--from", last - dt.timedelta(days=DASHBOARD_DAYS - 1))
    if last < first:
        raise _fail("--from 晚於 --to / --from is after --to", EXIT_INPUT)
    settings = _settings(db)
    with _database(settings.db_url) as conn:
        rows = upload_results(conn, code, first, last)
    if as_json:
        _echo_json({"institution": code, "from": first.isoformat(), "to": last.isoformat(),
                    "uploads": [_upload_json(r, lang) for r in rows]})  # fmt: skip
        return
    zh = lang == "zh"
    heads = (["序號", "醫事機構", "上傳日期/時間", "接收日期/時間", "接收筆數", "有效明細筆數",
              "接收醫令", "有效醫令", "無效明細筆數", "無效醫令", "下載報表"] if zh else
             ["#", "institution", "uploaded", "received", "records", "valid records", "orders",
              "valid orders", "invalid records", "invalid orders", "result"])  # fmt: skip
    table = Table(title=f"{roc_slash(first)} ~ {roc_slash(last)}")
    for i, h in enumerate(heads):
        table.add_column(h, justify="right" if 4 <= i <= 9 else "left")
    for r in rows:
        counts = (r.records, r.valid_records, r.orders, r.valid_orders, r.invalid_records,
                  r.invalid_orders)  # fmt: skip
        colour = "green" if r.no_errors else "yellow"
        table.add_row(str(r.seq), r.institution_code, roc_minute(r.uploaded_at),
                      roc_minute(r.received_at), *(str(v) for v in counts),
                      f"[{colour}]{r.state_text(lang)}[/{colour}]")  # fmt: skip
    Console().print(table)


# -- dashboard -----------------------------------------------------------------------------------


def _write_charts(d: Dashboard, directory: Path) -> list[Path]:
    charts = {
        "uploads.svg": uploads_chart(d.uploads_by_day),
        "records.svg": uploads_chart(d.records_by_day, records=True),
        "timeliness.svg": timeliness_chart(d.timeliness),
        "check-codes.svg": check_codes_chart(d.top_codes),
        "refill-blocks.svg": refill_blocks_chart(d.refill_blocks),
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, svg in charts.items():
        path = directory / name
        path.write_text(svg, encoding="utf-8")
        paths.append(path)
    return paths


def _print_dashboard(d: Dashboard, lang: str) -> None:
    console = Console()
    zh = lang == "zh"
    console.print(f"[bold]{'營運儀表板' if zh else 'Operations dashboard'}[/bold] "
                  f"{roc_slash(d.first_day)} ~ {roc_slash(d.last_day)}"
                  f"  {d.institution or ('全部醫事機構' if zh else 'all institutions')}",
                  highlight=False)  # fmt: skip
    t = Table(title="每日上傳 / uploads per day and institution")
    for h in ("日期 / date", "醫事機構 / institution", "上傳件數 / uploads", "接收筆數 / records",
              "有效 / valid", "無效 / invalid"):  # fmt: skip
        t.add_column(h)
    for u in d.uploads:
        t.add_row(roc_slash(u.day), u.institution_code, str(u.uploads), str(u.records),
                  str(u.valid_records), str(u.invalid_records))  # fmt: skip
    console.print(t)
    t = Table(title="最常見檢核代碼 / most frequent check codes")
    for h in ("代碼 / code", "次數 / times", "筆數 / records", "說明 / message"):
        t.add_column(h)
    for c in d.top_codes:
        t.add_row(c.code, str(c.occurrences), str(c.records), c.message_zh if zh else c.message_en)
    console.print(t)
    tl = d.timeliness
    verdict = {True: "達標 / met", False: "未達標 / not met", None: "—"}[tl.met]
    console.print(
        f"{tl.hours}小時內上傳 / uploaded within {tl.hours} h: {tl.total.percent_text} "
        f"({tl.total.timely:,}/{tl.total.visits:,}), 目標 / target ≥ {tl.target * 100:.0f}%: "
        f"{verdict}",
        highlight=False,
    )
    t = Table(title="24小時內上傳比率最低 / lowest shares")
    for h in ("醫事機構 / institution", "就醫筆數 / visits", "24h 內 / in time", "比率 / share"):
        t.add_column(h)
    for s in tl.by_institution[:10]:
        t.add_row(s.key, str(s.visits), str(s.timely), s.percent_text)
    console.print(t)
    rb = d.refill_blocks
    console.print(f"重複調劑阻擋 / duplicate dispensing blocked ({rb.code} "
                  f"{rb.message_zh if zh else rb.message_en}): {rb.total:,}",
                  highlight=False)  # fmt: skip


@app.command("dashboard")
def dashboard_command(
    date_from: Annotated[str | None, typer.Option("--from", help="起日 YYYMMDD")] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="迄日 YYYMMDD (default today)")
    ] = None,
    institution: Annotated[
        str | None, typer.Option("--institution", help="醫事機構代碼 / one institution only")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="SVG 圖表目錄 / write SVG charts here")
    ] = None,
    lang: LangOption = "zh",
) -> None:
    """營運儀表板 / operations dashboards: uploads, check codes, 24-hour share, D025 blocks.

    Default range: the 7 days ending today (Taiwan dates, both ends included).
    """
    lang = _lang(lang)
    code = None if institution is None else _institution(institution)
    last = _date(date_to, "--to", taiwan_today())
    first = _date(date_from, "--from", last - dt.timedelta(days=DASHBOARD_DAYS - 1))
    if last < first:
        raise _fail("--from 晚於 --to / --from is after --to", EXIT_INPUT)
    settings = _settings(db)
    with _database(settings.db_url) as conn:
        data = dashboard(conn, first, last, code)
    written = [] if charts is None else _write_charts(data, charts)
    if as_json:
        doc = _plain(data)
        doc["timeliness"]["met"] = data.timeliness.met
        doc["timeliness"]["total"]["ratio"] = _plain(data.timeliness.total.ratio)
        doc["charts"] = [str(p) for p in written]
        _echo_json(doc)
    else:
        _print_dashboard(data, lang)
        for p in written:
            Console().print(f"已寫入 / written: {p}", highlight=False)
