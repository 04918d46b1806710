"""The ``nhihub`` command. Sub-command groups live in sibling modules and are registered here."""

from __future__ import annotations

import typer

from nhihub.cli import check_cmd, ids_cmd, report_cmd, serve_cmd, store_cmd, synth_cmd, visitid_cmd

app = typer.Typer(
    name="nhihub",
    help="nhihub：健保就醫資料平台 / open platform for Taiwan NHI visit data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(ids_cmd.app, name="id")
app.add_typer(visitid_cmd.app, name="visit-id")
app.add_typer(visitid_cmd.keys_app, name="keys")
app.add_typer(report_cmd.app, name="report")
app.command("check")(check_cmd.check)
app.command("synth")(synth_cmd.synth)
serve_cmd.register(app)
store_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
