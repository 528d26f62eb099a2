"""`tenken verify` and `tenken agent init|run|once|status`: signed reports and the scheduled agent."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

agent_app = typer.Typer(
    help="The scheduled agent: identity, foreground service, one-shot run, spool status. / 定期点検エージェント",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see MARKUP in agent/cli.py
)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Agent configuration file (YAML).")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error (logs go to stderr).")]


def _usage(message: str) -> typer.Exit:
    typer.echo(f"tenken: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _setup_logging(level: str) -> None:
    lvl = getattr(logging, level.upper(), None)
    if not isinstance(lvl, int):
        raise _usage(f"--log-level must be debug, info, warning or error, not {level!r}")
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
    for h in root.handlers:
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.setLevel(lvl)
    logging.getLogger("httpx").setLevel(max(lvl, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(lvl, logging.WARNING))


def _is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def verify(
    file: Annotated[Path, typer.Argument(help="Signed report (DSSE envelope JSON) or evidence bundle (.zip).")],
    key: Annotated[list[Path] | None, typer.Option("--key", "-k", help="Trusted Ed25519 public key (agent.pub); repeatable. Required for a report; for a bundle it pins who may have signed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check a signed report or an evidence bundle: exit 0 when everything holds, exit 1 naming what fails.

    署名付き報告書または監査用証跡バンドルを検証します。
    """
    from tenken.agent.signing import (
        EnvelopeError,
        PayloadError,
        SignatureError,
        Summary,
        load_public_key_file,
        verify_report,
    )
    from tenken.checks.configfile import ConfigError

    try:
        pubs = [load_public_key_file(k) for k in key or []]
    except ConfigError as exc:
        raise _usage(str(exc)) from exc
    if _is_zip(file):
        from tenken.agent.cli_bundle import report_bundle_check

        raise typer.Exit(report_bundle_check(file, pubs, as_json))
    if not pubs:
        raise _usage("--key is required to verify a signed report (the agent's agent.pub)")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _usage(f"{file}: cannot read: {exc.strerror}") from exc
    try:
        report = verify_report(data, pubs)
    except SignatureError as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(EXIT_FAIL) from exc
    except EnvelopeError as exc:
        typer.echo(f"FAILED: malformed envelope: {exc}", err=True)
        raise typer.Exit(EXIT_FAIL) from exc
    except PayloadError as exc:
        typer.echo(f"FAILED: signature valid but {exc}", err=True)
        raise typer.Exit(EXIT_FAIL) from exc
    s = Summary.of(report)
    if as_json:
        typer.echo(json.dumps({"verified": True, "id": s.id, "tool": s.tool, "targets": s.targets, "counts": s.counts}, ensure_ascii=False))
        return
    typer.echo("OK: signature valid / 署名は有効です")
    typer.echo(f"report:  {s.id}")
    typer.echo(f"tool:    {s.tool}")
    typer.echo(f"policy:  {report.policy}")
    typer.echo(f"scanned: {report.started_at.isoformat()} .. {report.finished_at.isoformat()}")
    for t in s.targets:
        typer.echo(f"target:  {t}")
    typer.echo("counts:  " + ", ".join(f"{k}={v}" for k, v in s.counts.items()))


@agent_app.command("init")
def agent_init(
    directory: Annotated[Path, typer.Option("--dir", "-d", help="Where to create agent.key, agent.pub, tls.key, tls.csr.")],
) -> None:
    """Create this agent's signing key and TLS key + CSR (never overwrites). / エージェントの鍵を作成します。"""
    from tenken.agent.identity import IdentityExists, init_identity

    try:
        ident = init_identity(directory)
    except IdentityExists as exc:
        raise _usage(str(exc)) from exc
    except OSError as exc:
        raise _usage(f"{directory}: cannot create keys: {exc.strerror or exc}") from exc
    typer.echo(f"agent id: {ident.agent_id}")
    typer.echo(f"key id:   {ident.key_id}")
    if ident.host is not None:
        typer.echo(f"host:     {ident.host.fqdn or ident.host.hostname} ({ident.host.host_id}); the hub will accept this agent's "
                   "local scans for this machine only")
    else:
        typer.echo("host:     this machine's id could not be read (/etc/machine-id); the agent can report remote scans only", err=True)
    for name, path in ident.files.items():
        typer.echo(f"wrote {path}" + (" (private, mode 0600)" if name.endswith(".key") else ""))
    typer.echo(
        "next: on the hub run `tenken-hub agent enroll tls.csr --pub agent.pub --data DIR`, put the certificate "
        "it prints next to tls.key as tls.crt, copy the hub's ca.pem, and point the agent config at them."
    )


def _load(config: Path):
    from tenken.agent.agent_config import load_agent_config
    from tenken.checks.configfile import ConfigError

    try:
        return load_agent_config(config)
    except ConfigError as exc:
        raise _usage(str(exc)) from exc


def _agent(config: Path):
    from tenken.agent.agent_config import require_files
    from tenken.agent.schedule_runner import Agent
    from tenken.agent.spool import SpoolError
    from tenken.checks.configfile import ConfigError

    cfg = _load(config)
    try:
        require_files(cfg)
        return Agent(cfg)
    except (ConfigError, SpoolError) as exc:
        raise _usage(str(exc)) from exc


@agent_app.command("run")
def agent_run(config: ConfigOpt, log_level: LogLevelOpt = "info") -> None:
    """Run in the foreground on the configured schedules until SIGTERM/SIGINT (for systemd, containers).

    設定されたスケジュールで常駐実行します。
    """
    _setup_logging(log_level)
    agent = _agent(config)
    if os.name == "posix":
        # Validated with the full code above (errors exit 2); from here on a small supervisor process (same PID)
        # runs the schedule and starts every scan and delivery as a child: see tenken/agent/supervisor.py.
        plan = agent.plan(config, log_level)
        agent.log_spool_state()
        agent.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-P", "-m", "tenken.agent.supervisor", plan.to_json()])  # noqa: S606 - our own interpreter, argv list
    stop = threading.Event()
    log = logging.getLogger("tenken.agent")

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            log.warning("signal %s again: already stopping", signal.Signals(signum).name)
        else:
            log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGBREAK"):  # Windows console Ctrl+Break
        signal.signal(signal.SIGBREAK, on_signal)
    try:
        code = agent.run(stop)
    finally:
        agent.close()
    raise typer.Exit(code)


@agent_app.command("once")
def agent_once(config: ConfigOpt, log_level: LogLevelOpt = "info") -> None:
    """Run every job now and ship (exit 0 when every report was delivered or spooled). / 全ジョブを今すぐ実行します。"""
    _setup_logging(log_level)
    agent = _agent(config)
    try:
        result = agent.once()
    finally:
        agent.close()
    raise typer.Exit(result.exit_code)


@agent_app.command("status")
def agent_status(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the spool: queued reports, limits, rejected reports. Exit 1 when full or something was rejected.

    送信待ち・拒否された報告書を表示します。
    """
    from tenken.agent.spool import Spool

    cfg = _load(config)
    sp = Spool(cfg.spool.dir, max_reports=cfg.spool.max_reports, max_bytes=cfg.spool.max_bytes, min_free_bytes=cfg.spool.min_free_bytes)
    st = sp.status()
    problems = []
    if st.full:
        problems.append(f"SPOOL FULL: {st.pending} reports / {st.bytes} bytes (limits {st.max_reports} / {st.max_bytes}); "
                        "the hub has not acknowledged reports — check connectivity and certificates")
    if st.rejected:
        problems.append(f"{len(st.rejected)} report(s) rejected by the hub in {sp.rejected_dir} (see reasons; move them away once handled)")
    if st.free_bytes is not None and st.free_bytes < cfg.spool.min_free_bytes:
        problems.append(f"only {st.free_bytes} bytes free on the spool file system: new reports cannot be written")
    overdue = cfg.overdue_after()
    if st.oldest_age_seconds is not None and st.oldest_age_seconds > overdue:
        problems.append(f"the oldest undelivered report is {st.oldest_age_seconds / 3600:.1f} h old (more than two scan "
                        f"intervals, {overdue / 3600:.1f} h): reports are not reaching the hub")
    state = sp.read_state()
    if state and state.get("outcome") == "refused":
        problems.append(f"the hub refused this agent at the last attempt (HTTP {state.get('status') or '-'}: {state.get('reason')}); "
                        "enroll it again or fix hub.url / the certificates")
    skew = state.get("clock_skew") if state else None
    if isinstance(skew, int | float) and abs(skew) > 60:
        problems.append(f"this machine's clock differs from the hub's by {-skew:+.0f} s: fix time synchronisation")
    if as_json:
        typer.echo(json.dumps({**st.to_dict(), "last_delivery": state, "problems": problems}, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"spool:    {st.directory}")
        typer.echo(f"pending:  {st.pending} report(s), {st.bytes} bytes (limits {st.max_reports} / {st.max_bytes})")
        if st.oldest:
            typer.echo(f"oldest:   {st.oldest} ({st.oldest_age_seconds:.0f} s ago)")
        if st.temp_files:
            typer.echo(f"temp:     {st.temp_files} incomplete file(s) (writes in progress or left by a crash; never sent)")
        if state:
            typer.echo(f"delivery: {state.get('outcome')} (acked {state.get('acked')}, remaining {state.get('remaining')})"
                       + (f": HTTP {state.get('status') or '-'}: {state.get('reason')}" if state.get("reason") else ""))
        for r in st.rejected:
            typer.echo(f"rejected: {r.name}: HTTP {r.status if r.status is not None else '-'}: {r.reason} ({r.rejected_at})")
        for p in problems:
            typer.echo(f"ALARM: {p}", err=True)
        if not problems:
            typer.echo("state:    OK")
    raise typer.Exit(EXIT_FAIL if problems else EXIT_OK)


def register(app: typer.Typer, scan_app: typer.Typer) -> None:
    """Add `tenken verify` and the `tenken agent` family to the CLI."""
    app.command("verify")(verify)
    app.add_typer(agent_app, name="agent")
