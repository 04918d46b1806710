"""``nhihub visit-id`` (就醫識別碼: issue, decode) and ``nhihub keys`` (institution key files).

Exit codes: 0 success, 1 bad input or a code that does not decode (or is not the person's),
2 usage error. Errors go to stderr, or with ``--json`` to stdout as ``{"error": ...}``. Person IDs
are never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from nhihub.cli.options import JsonOption
from nhihub.visitid import (
    Channel,
    Keyring,
    SentinelError,
    VisitIdError,
    decode,
    format_spec,
    issue,
    load_keyring,
    messages,
    normalize_code,
    normalize_institution,
    verify,
)

app = typer.Typer(
    help="就醫識別碼：產生與解碼 / visit identifiers: issue and decode.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="就醫識別碼金鑰：醫事機構金鑰檔 / visit-identifier keys: institution key files.",
    no_args_is_help=True,
)

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=(
            "醫事機構金鑰檔（nhihub keys derive 產生）；未指定時用 NHIHUB_MASTER_KEY 主金鑰 / "
            "institution key file (from nhihub keys derive); default: the master key in "
            "NHIHUB_MASTER_KEY."
        ),
        dir_okay=False,
        show_default=False,
    ),
]


def _fail(reason: str, as_json: bool, **extra: Any) -> NoReturn:
    zh, en = messages()[reason]
    if as_json:
        document = {"error": reason, **extra, "message": zh, "message_en": en}
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"錯誤 error: {zh} / {en}", err=True)
    raise typer.Exit(1)


def _keyring(key_file: Path | None, as_json: bool) -> Keyring:
    try:
        if key_file is None:
            return load_keyring()
        try:
            text = key_file.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            _fail("file-read", as_json)
        return Keyring.from_key_file(text)
    except VisitIdError as exc:
        _fail(exc.reason, as_json)


@app.command("issue")
def issue_cmd(
    person: Annotated[
        str,
        typer.Option("--person", help="身分證號（M03）/ person ID (M03).", show_default=False),
    ],
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="就醫日期時間，民國 YYYMMDDHHMMSS / visit date-time, ROC YYYMMDDHHMMSS.",
            show_default=False,
        ),
    ],
    institution: Annotated[
        str,
        typer.Option("--institution", help="醫事機構代碼 / institution code.", show_default=False),
    ],
    channel: Annotated[
        Channel,
        typer.Option(
            "--channel",
            help=(
                "取號方式：card 健保卡、no-card 無卡（異常）、virtual 虛擬健保卡、web Web API / "
                "how the code is obtained."
            ),
        ),
    ] = Channel.CARD,
    key_file: KeyFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """產生就醫識別碼 / issue a visit identifier.

    結束碼 exit code: 0 成功 done; 1 輸入錯誤或他機構之金鑰檔 / bad input or another's key file;

    2 用法錯誤 usage error.
    """
    keyring = _keyring(key_file, as_json)
    try:
        code = issue(person, at, institution, channel, keyring=keyring)
    except VisitIdError as exc:
        _fail(exc.reason, as_json)
    typer.echo(json.dumps({"code": code}) if as_json else code)


@app.command("decode")
def decode_cmd(
    code: Annotated[str, typer.Argument(help="就醫識別碼 / visit identifier.", show_default=False)],
    person: Annotated[
        str | None,
        typer.Option(
            "--person",
            help="同時驗證是否為此身分證號之識別碼 / also verify it was issued for this person ID.",
            show_default=False,
        ),
    ] = None,
    key_file: KeyFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """解碼就醫識別碼：醫事機構、就醫日期時間、取號方式 / decode a visit identifier.

    結束碼 exit code: 0 已解碼（有 --person 時且身分相符）/ decoded (and the person's);

    1 無法解碼、固定值或身分不符 / does not decode, a sentinel, or another person's;

    2 用法錯誤 usage error.
    """
    value = normalize_code(code)
    keyring = _keyring(key_file, as_json)
    try:
        visit = decode(value, keyring=keyring)
        matches = None if person is None else verify(value, person, keyring=keyring)
    except SentinelError as exc:
        if not as_json:
            found = next(s for s in format_spec().sentinels if s.name == exc.sentinel)
            typer.echo(f"{value}：{found.zh} / {found.en}", err=True)
        _fail(exc.reason, as_json, code=value, sentinel=exc.sentinel)
    except VisitIdError as exc:
        _fail(exc.reason, as_json, code=value)
    document = visit.to_dict()
    if matches is not None:
        document["person_matches"] = matches
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        info = format_spec().channel_info(visit.channel)
        lines = [
            f"就醫識別碼 code:          {visit.code}",
            f"醫事機構代碼 institution: {visit.institution}",
            f"就醫日期時間 visit at:    {visit.at} ({visit.visit_datetime.isoformat(' ')})",
            f"取號方式 channel:         {visit.channel} {info.zh} / {info.en}",
        ]
        if matches is not None:
            lines.append(f"身分相符 person matches:  {'是 yes' if matches else '否 no'}")
        typer.echo("\n".join(lines))
    if matches is False:
        if not as_json:
            zh, en = messages()["person-mismatch"]
            typer.echo(f"{zh} / {en}", err=True)
        raise typer.Exit(1)


@keys_app.command("derive")
def derive_cmd(
    institution: Annotated[
        str,
        typer.Option("--institution", help="醫事機構代碼 / institution code.", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="要寫入的金鑰檔（權限 0600）/ key file to write (mode 0600).",
            dir_okay=False,
            show_default=False,
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="覆寫已存在的檔案 / overwrite an existing file.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """由主金鑰導出醫事機構金鑰檔 / derive an institution key file from the master key.

    主金鑰取自 NHIHUB_MASTER_KEY；金鑰檔持有者只能為該機構產生與解碼就醫識別碼。

    The master key comes from NHIHUB_MASTER_KEY; the file works for that institution only.

    結束碼 exit code: 0 已寫入 written; 1 錯誤 error (bad code, file exists);

    2 用法錯誤 usage error.
    """
    keyring = _keyring(None, as_json)
    try:
        code = normalize_institution(institution)
        text = keyring.to_key_file(code)
    except VisitIdError as exc:
        _fail(exc.reason, as_json)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(out, flags, 0o600)
    except FileExistsError:
        _fail("file-exists", as_json)
    except OSError:
        _fail("file-write", as_json)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, 0o600)  # an overwritten file keeps its old mode otherwise
        f.write(text)
    document = {
        "institution": code,
        "out": str(out),
        "key_id": keyring.key_id,
        "development": keyring.is_development,
    }
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        dev = "（開發用金鑰 development key）" if keyring.is_development else ""
        typer.echo(f"已寫入 wrote {out}: 醫事機構 institution {code}, key_id {keyring.key_id}{dev}")
