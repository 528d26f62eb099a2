"""`tenken scan winrm HOST`: audit one Windows host over WinRM (WS-Management).

The password is taken only by reference (`--credential env:VAR` or `keyring:SERVICE/USER`), never as a
flag value: command lines end up in shell history and process listings. HTTPS with certificate
validation is the default; `--ca-file` names the hospital's internal CA. `--insecure-http` is allowed
(Windows' default HTTP listener with NTLM message encryption) but warns and marks the target
`http://host:port` in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tenken.agent.cli import (
    FormatOpt,
    LangOpt,
    OutputOpt,
    PolicyOpt,
    SignOpt,
    WaiversOpt,
    fail_usage,
    finish,
    load_site_config,
)
from tenken.agent.output import Format, Lang

AUTHS = ("ntlm", "kerberos", "credssp", "basic")


def scan_winrm(
    host: Annotated[str, typer.Argument(help="Windows host name or address.")],
    port: Annotated[int | None, typer.Option("--port", help="WinRM port (default 5986 for HTTPS, 5985 with --insecure-http).")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Account (DOMAIN\\user, user@domain or a local user).")] = None,
    credential: Annotated[str | None, typer.Option("--credential", help="Password reference: env:VARNAME or keyring:SERVICE/USER.")] = None,
    auth: Annotated[str, typer.Option("--auth", help="ntlm, kerberos, credssp or basic.")] = "ntlm",
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA certificate(s) (PEM) that issued the host's WinRM certificate.")] = None,
    insecure_http: Annotated[bool, typer.Option("--insecure-http", help="Use plain HTTP (NTLM/Kerberos message encryption only; no server authentication).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds each remote command may take.", min=1)] = 60.0,
    policy: PolicyOpt = None,
    waivers: WaiversOpt = None,
    fmt: FormatOpt = Format.TABLE,
    output: OutputOpt = None,
    lang: LangOpt = Lang.JA,
    sign: SignOpt = None,
) -> None:
    """Audit a Windows host over WinRM. / Windows ホストを WinRM で点検します。"""
    from tenken.agent.credentials import SecretUnavailable, check_reference, resolve_secret
    from tenken.agent.report import TargetKind
    from tenken.agent.scan import assemble_report, scan_host
    from tenken.checks.configfile import ConfigError
    from tenken.collectors.transport.base import TransportError
    from tenken.collectors.transport.winrm import WinRMTransport

    auth = auth.lower()
    if auth not in AUTHS:
        raise fail_usage(f"--auth must be one of {', '.join(AUTHS)}, not {auth!r}")
    if not user:
        raise fail_usage("--user is required")
    if not credential:
        raise fail_usage("--credential is required (env:VARNAME or keyring:SERVICE/USER); passwords are never given on the command line")
    if ca_file is not None and not ca_file.is_file():
        raise fail_usage(f"--ca-file {ca_file}: no such file")
    try:
        check_reference(credential, where="--credential")
    except ConfigError as exc:
        raise fail_usage(str(exc)) from exc
    pol, wv = load_site_config(policy, waivers)
    try:
        password = resolve_secret(credential)
    except SecretUnavailable as exc:
        raise fail_usage(f"--credential: {exc}") from exc
    try:
        transport = WinRMTransport(
            host,
            port=port or (5985 if insecure_http else 5986),
            username=user,
            password=password,
            auth=auth,
            use_https=not insecure_http,
            ca_file=str(ca_file) if ca_file else None,
            connect_timeout=min(10.0, timeout),
            command_timeout=timeout,
        )
    except TransportError as exc:
        raise fail_usage(str(exc)) from exc
    del password
    with transport:
        result = scan_host(transport, pol, kind=TargetKind.WINRM, settings=pol.collect_settings(command_timeout=timeout))
    report = assemble_report([result], policy=pol, waivers=wv, scanned_kinds={"host"})
    finish(report, fmt, lang, output, sign)


def register(app: typer.Typer, scan_app: typer.Typer) -> None:
    """Add `scan winrm` to the CLI."""
    scan_app.command("winrm")(scan_winrm)
