"""Remote hosts on the command line: `scan ssh`, `scan inventory`, `hosts trust`, `hosts list`.

No `from __future__ import annotations`: typer reads the Annotated option types, defined inside
`register`, at definition time. Imports of the CLI core happen inside `register` (agent/cli.py imports this module while it is still
being defined), and heavy modules (paramiko, rich, pydantic via ConfigError) load only when a command runs.
"""


from pathlib import Path
from typing import Annotated

import typer

HOSTS_HELP = "Remote host keys and inventories. / リモートホストの鍵とインベントリ。"


def register(app: typer.Typer, scan_app: typer.Typer) -> None:
    """Add this family's commands to the CLI."""
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

    KnownHostsOpt = Annotated[
        Path | None,
        typer.Option("--known-hosts", help="known_hosts file to check host keys against (default ~/.ssh/known_hosts)."),
    ]

    @scan_app.command("ssh")
    def scan_ssh(
        dest: Annotated[str, typer.Argument(metavar="USER@HOST[:PORT]", help="The host to audit over SSH.")],
        identity: Annotated[Path | None, typer.Option("--identity", "-i", help="SSH private key file.")] = None,
        passphrase: Annotated[
            str | None, typer.Option("--passphrase", help="Key passphrase as a reference: env:VAR or keyring:SERVICE/USER.")
        ] = None,
        known_hosts: KnownHostsOpt = None,
        jump: Annotated[str | None, typer.Option("--jump", "-J", help="Jump host (ProxyJump): user@host:port.")] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="Connect timeout in seconds (TCP, banner, auth).", min=0.1)] = 10.0,
        command_timeout: Annotated[float, typer.Option("--command-timeout", help="Per-command timeout, seconds.", min=0.1)] = 30.0,
        deadline: Annotated[float, typer.Option("--deadline", help="Deadline for the whole host scan, seconds.", min=1)] = 600.0,
        no_agent: Annotated[bool, typer.Option("--no-agent", help="Do not use ssh-agent keys.")] = False,
        policy: PolicyOpt = None,
        waivers: WaiversOpt = None,
        fmt: FormatOpt = Format.TABLE,
        output: OutputOpt = None,
        lang: LangOpt = Lang.JA,
        sign: SignOpt = None,
    ) -> None:
        """Audit one Linux host over SSH. / SSH で 1 台の Linux ホストを点検します。"""
        from tenken.agent.credentials import check_reference
        from tenken.agent.fleet import run_fleet
        from tenken.agent.inventory import HostSpec
        from tenken.agent.scan import assemble_report
        from tenken.checks.configfile import ConfigError
        from tenken.collectors.transport.ssh import parse_destination

        try:
            d = parse_destination(dest)
            j = parse_destination(jump) if jump else None
            if passphrase is not None:
                check_reference(passphrase, where="--passphrase")
        except (ValueError, ConfigError) as exc:
            raise fail_usage(str(exc)) from exc
        pol, wv = load_site_config(policy, waivers)
        spec = HostSpec(
            name=d.host, address=d.host, group="command line", transport="ssh", port=d.port, user=d.user,
            identity=str(identity) if identity else None, passphrase=passphrase, agent=not no_agent, jump=j,
            known_hosts=str(known_hosts) if known_hosts else None, connect_timeout=timeout,
            command_timeout=command_timeout, deadline=deadline, policy=None, winrm=None, where="command line",
        )
        results = run_fleet([spec], policy_for=lambda _s: pol, concurrency=1)
        report = assemble_report(results, policy=pol, waivers=wv, scanned_kinds={"host"})
        finish(report, fmt, lang, output, sign)

    @scan_app.command("inventory")
    def scan_inventory(
        inventory: Annotated[Path, typer.Argument(help="Inventory YAML file.")],
        group: Annotated[str | None, typer.Option("--group", "-g", help="Only this group.")] = None,
        limit: Annotated[
            str | None, typer.Option("--limit", "-l", help="Only these hosts: comma-separated names, addresses or globs.")
        ] = None,
        concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Hosts scanned at once.", min=1, max=256)] = 10,
        processes: Annotated[int, typer.Option(
            "--processes", "-P", min=0, max=64,
            help="Worker processes sharing the hosts (0: automatic, one per core up to 4 from 100 hosts on, else one).")] = 0,
        known_hosts: KnownHostsOpt = None,
        policy: PolicyOpt = None,
        waivers: WaiversOpt = None,
        fmt: FormatOpt = Format.TABLE,
        output: OutputOpt = None,
        lang: LangOpt = Lang.JA,
        sign: SignOpt = None,
    ) -> None:
        """Audit every host and TLS endpoint of an inventory. / インベントリの全ホストを点検します。"""
        from tenken.agent.fleet import scan_inventory
        from tenken.agent.inventory import load_inventory
        from tenken.agent.scan import assemble_report
        from tenken.checks.configfile import ConfigError

        try:
            inv = load_inventory(inventory)
            hosts, tls = inv.select(group, limit)
        except ConfigError as exc:
            raise fail_usage(str(exc)) from exc
        if not hosts and not tls:
            raise fail_usage(f"{inventory}: no hosts or TLS endpoints match --group/--limit")
        pol, wv = load_site_config(policy, waivers)
        kh = str(known_hosts) if known_hosts else None
        procs = processes or auto_processes(len(hosts))
        if fmt is Format.JSONL:
            raise typer.Exit(stream_inventory(hosts, tls, pol, wv, concurrency=concurrency, known_hosts=kh,
                                              output=output, sign=sign, processes=procs))
        try:
            results, kinds = scan_inventory(hosts, tls, pol, concurrency=concurrency, known_hosts=kh, processes=procs)
        except ConfigError as exc:  # a group's policy file
            raise fail_usage(str(exc)) from exc
        report = assemble_report(results, policy=pol, waivers=wv, scanned_kinds=kinds)
        finish(report, fmt, lang, output, sign)

    def auto_processes(n_hosts: int) -> int:
        """One process below 100 hosts (a scan of a few dozen is network-bound); else one per core, up to 4:
        tenken's own CPU per host (~0.08 s under one GIL) then bounds a large fleet (bench/fleet_sim.py)."""
        import os

        return 1 if n_hosts < 100 else max(1, min(4, os.cpu_count() or 1))

    def stream_inventory(hosts, tls, pol, wv, *, concurrency, known_hosts, output, sign, processes=1) -> int:  # type: ignore[no-untyped-def]
        """`--format jsonl`: each host written to the report as it completes (agent/report_stream.py)."""
        import os
        import sys

        from tenken.agent.fleet import load_group_policies, scan_inventory
        from tenken.agent.output import create_report_file
        from tenken.agent.report_stream import ReportStreamWriter
        from tenken.checks.configfile import ConfigError

        if sign is not None:
            raise fail_usage("--sign needs --format json: a jsonl stream is written host by host and is not signed")
        try:
            load_group_policies(hosts)  # a broken group policy stops the scan before the file is created
            fh = sys.stdout if output is None else os.fdopen(create_report_file(output), "w", encoding="utf-8")
        except ConfigError as exc:
            raise fail_usage(str(exc)) from exc
        except OSError as exc:
            raise fail_usage(f"cannot write report to {output}: {exc.strerror or exc}") from exc
        try:
            writer = ReportStreamWriter(fh, policy=pol.name, waivers=wv)
            _, kinds = scan_inventory(hosts, tls, pol, concurrency=concurrency, known_hosts=known_hosts, emit=writer.add,
                                      processes=processes)
            return writer.finish(scanned_kinds=kinds)
        finally:
            if fh is not sys.stdout:
                fh.close()

    hosts_app = typer.Typer(help=HOSTS_HELP, no_args_is_help=True, rich_markup_mode=None)  # plain help: MARKUP in cli.py
    app.add_typer(hosts_app, name="hosts")

    @hosts_app.command("trust")
    def hosts_trust(
        dest: Annotated[str, typer.Argument(metavar="HOST[:PORT]", help="The SSH server whose key to review.")],
        known_hosts: KnownHostsOpt = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Record without asking (for scripts).")] = False,
        replace: Annotated[bool, typer.Option("--replace", help="Replace a CHANGED key (after checking it out of band).")] = False,
        jump: Annotated[str | None, typer.Option("--jump", "-J", help="Reach the host through this jump host.")] = None,
        identity: Annotated[Path | None, typer.Option("--identity", "-i", help="Key for the jump host.")] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="Connect timeout, seconds.", min=0.1)] = 10.0,
        plain: Annotated[bool, typer.Option("--no-hash", help="Write the host name in clear instead of hashed.")] = False,
    ) -> None:
        """Show a host's SSH key fingerprint and record it after confirmation. / ホスト鍵を確認して登録します。"""
        from tenken.agent.known_hosts import record_host_key
        from tenken.collectors.transport.base import HostKeyChanged, HostKeyUnknown, TransportError
        from tenken.collectors.transport.ssh import DEFAULT_KNOWN_HOSTS, SSHTransport, parse_destination
        from tenken.collectors.transport.ssh_known_hosts import KnownHosts, fingerprint

        try:
            d = parse_destination(dest)
            j = parse_destination(jump) if jump else None
        except ValueError as exc:
            raise fail_usage(str(exc)) from exc
        kh_path = Path(known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()
        t = SSHTransport(d.host, port=d.port, username=d.user, identity=str(identity) if identity else None,
                         known_hosts=str(kh_path), jump=j, connect_timeout=timeout)
        try:
            keytype, blob = t.fetch_host_key()
        except TransportError as exc:
            typer.echo(f"tenken: cannot fetch the host key: {exc}", err=True)
            raise typer.Exit(3) from exc
        where = f"{d.host}:{d.port}"
        fp = fingerprint(blob)
        typer.echo(f"{where}: {keytype} {fp}")
        known = KnownHosts.load(kh_path)
        old_lines: list[int] = []
        try:
            known.verify(d.host, d.port, keytype, blob)
            typer.echo(f"既に登録済みです / already trusted in {kh_path}")
            return
        except HostKeyUnknown:
            pass
        except HostKeyChanged as exc:
            typer.echo(f"警告: ホスト鍵が変わっています（中間者攻撃の可能性）/ WARNING: {exc}", err=True)
            if not replace:
                typer.echo("確認のうえ --replace で置き換えてください / re-run with --replace once verified", err=True)
                raise typer.Exit(1) from exc
            old_lines = [ln.lineno for ln in known.entries_for(d.host, d.port)]
        typer.echo(
            "この指紋を、ホストのコンソールで `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` が示す値と照合してください。\n"
            "Compare this fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host's console.",
            err=True,
        )
        if not yes and not typer.confirm(f"{where} の鍵 {fp} を {kh_path} に登録しますか / record it?", default=False, err=True):
            typer.echo("登録しませんでした / not recorded", err=True)
            raise typer.Exit(1)
        record_host_key(kh_path, d.host, d.port, keytype, blob, hashed=not plain, remove_lines=old_lines)
        typer.echo(f"登録しました / recorded {keytype} {fp} for {where} in {kh_path}")

    @hosts_app.command("list")
    def hosts_list(
        inventory: Annotated[Path, typer.Argument(help="Inventory YAML file.")],
        group: Annotated[str | None, typer.Option("--group", "-g")] = None,
        limit: Annotated[str | None, typer.Option("--limit", "-l")] = None,
    ) -> None:
        """Validate an inventory and list the hosts it expands to. / インベントリを検証し一覧表示します。"""
        from rich.console import Console
        from rich.table import Table
        from tenken.agent.fleet import display_target
        from tenken.agent.inventory import load_inventory
        from tenken.checks.configfile import ConfigError

        try:
            inv = load_inventory(inventory)
            hosts, tls = inv.select(group, limit)
        except ConfigError as exc:
            raise fail_usage(str(exc)) from exc
        table = Table(title=f"{inventory}: {len(hosts)} hosts, {len(tls)} TLS endpoints")
        for col in ("group", "name", "target", "transport", "jump", "deadline", "defined at"):
            table.add_column(col)
        for h in hosts:
            table.add_row(h.group, h.name, display_target(h), h.transport, str(h.jump or ""), f"{h.deadline:g}s", h.where)
        for t in tls:
            table.add_row(t.group, t.endpoint.host, t.endpoint.target, "tls", "", f"{t.endpoint.timeout:g}s", t.where)
        Console(width=160).print(table)
