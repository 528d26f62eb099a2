"""The `tenken` command line (typer). Each family of commands lives in its own module and registers here."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tenken.agent.output import EXIT_USAGE, Format, Lang, exit_code, write_report

if TYPE_CHECKING:  # the report models (pydantic) load only when a command needs them
    from tenken.agent.report import Report
    from tenken.checks.policy import Policy
    from tenken.checks.waivers import Waiver

from tenken import __version__

#: Help and usage errors are plain click text: Rich's help renderer (markdown-it, pygments) alone costs more than
#: the whole `tenken --help` budget (0.15 s). Every Typer of the CLI passes this.
MARKUP = None

app = typer.Typer(
    rich_markup_mode=MARKUP,
    help="tenken (点検): 医療情報システム安全管理ガイドライン 第6.0版 システム運用編の技術的対策を点検します。\n\n"
    "Audits hospital hosts and endpoints against the MHLW guideline 6.0, System Operations volume.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
scan_app = typer.Typer(
    help="Scan targets and write a report. / 対象をスキャンして報告書を出力します。", no_args_is_help=True, rich_markup_mode=MARKUP
)
app.add_typer(scan_app, name="scan")

# Options shared by every scan command.
PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Site policy file merged over the defaults.", exists=False)]
WaiversOpt = Annotated[Path | None, typer.Option("--waivers", help="Waivers file (accepted exceptions).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here instead of stdout.")]
LangOpt = Annotated[Lang, typer.Option("--lang", help="Language of the table, HTML and CSV output.")]
SignOpt = Annotated[Path | None, typer.Option("--sign", help="Ed25519 key file: write a signed DSSE envelope instead.")]


def fail_usage(message: str) -> typer.Exit:
    typer.echo(f"tenken: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def load_site_config(policy: Path | None, waivers: Path | None) -> tuple[Policy, list[Waiver]]:
    """The policy (defaults + site file) and waivers every scan command takes; a bad file is exit 2."""
    from tenken.checks.configfile import ConfigError
    from tenken.checks.policy import load_policy
    from tenken.checks.waivers import load_waivers

    try:
        return load_policy(policy), load_waivers(waivers)
    except ConfigError as exc:
        raise fail_usage(str(exc)) from exc


def finish(report: Report, fmt: Format, lang: Lang, output: Path | None, sign: Path | None) -> None:
    from tenken.checks.configfile import ConfigError

    try:
        write_report(report, fmt=fmt, lang=lang, output=output, sign=sign)
    except ConfigError as exc:
        raise fail_usage(str(exc)) from exc
    except OSError as exc:
        if output is not None and not output.parent.is_dir():
            raise fail_usage(f"--output: directory {output.parent} does not exist: create it or choose another path") from exc
        raise fail_usage(f"cannot write report to {output}: {exc.strerror or exc}") from exc
    raise typer.Exit(exit_code(report))


@scan_app.command("local")
def scan_local(
    root: Annotated[Path | None, typer.Option("--root", help="Audit an offline root filesystem (mounted image, container rootfs).")] = None,
    policy: PolicyOpt = None,
    waivers: WaiversOpt = None,
    fmt: FormatOpt = Format.TABLE,
    output: OutputOpt = None,
    lang: LangOpt = Lang.JA,
    sign: SignOpt = None,
) -> None:
    """Audit this machine (or an offline root with --root). / このマシンを点検します。"""
    from tenken.agent.scan import assemble_report, scan_this_host
    from tenken.collectors.transport.base import TransportError

    from tenken.malloc import limit_arenas

    # One glibc arena: the collector threads' big reads then reuse one heap (measured: 53-54 -> 49-50 MB peak
    # RSS, same wall time; `MALLOC_ARENA_MAX=1 tenken scan local -f json`, four runs each)
    limit_arenas(1)
    pol, wv = load_site_config(policy, waivers)
    try:
        result = scan_this_host(pol, root)
    except TransportError as exc:  # --root is not a directory
        raise fail_usage(str(exc)) from exc
    report = assemble_report([result], policy=pol, waivers=wv, scanned_kinds={"host"})
    finish(report, fmt, lang, output, sign)


@app.command("clauses")
def clauses(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    lang: LangOpt = Lang.JA,
) -> None:
    """Browse the システム運用編 clause catalogue and which checks cover each clause."""
    from tenken.agent.clauses_view import show_clauses
    from tenken.checks.configfile import ConfigError

    if fmt not in ("table", "json"):
        raise fail_usage(f"--format must be table or json, not {fmt!r}")
    try:
        show_clauses(fmt, lang.value)
    except ConfigError as exc:
        raise fail_usage(str(exc)) from exc


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(f"tenken {__version__}")


def _register_extensions() -> None:
    """Command families added by later features, each in its own module."""
    from tenken.agent import cli_agent, cli_bundle, cli_remote, cli_tls, cli_winrm

    cli_remote.register(app, scan_app)
    cli_tls.register(app, scan_app)
    cli_agent.register(app, scan_app)
    cli_winrm.register(app, scan_app)
    cli_bundle.register(app)


_register_extensions()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    app()
