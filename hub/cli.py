"""`tenken-hub`: start the hub and manage its CA, agents and operator tokens.

Every command works on one data directory (`--data DIR`, or $TENKEN_HUB_DATA); the database URL given to
`serve --db` on first start is remembered there, so the other commands find the same database.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tenken.agent import dsse
from tenken.hub import ca as hubca
from tenken.hub.settings import DEFAULT_DATA_DIR, DEFAULT_PORT, HubSettings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_USAGE = 2

app = typer.Typer(
    help="tenken hub: 署名付き点検報告書を受け取り、保存し、提供します。 / Receives, verifies, stores and serves signed tenken reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ca_app = typer.Typer(help="The hub's certificate authority.", no_args_is_help=True)
agent_app = typer.Typer(help="Enroll, list and revoke agents.", no_args_is_help=True)
token_app = typer.Typer(help="Operator API tokens (and operator client certificates).", no_args_is_help=True)
app.add_typer(ca_app, name="ca")
app.add_typer(agent_app, name="agent")
app.add_typer(token_app, name="token")
user_app = typer.Typer(help="Web view accounts (admin / auditor).", no_args_is_help=True)
app.add_typer(user_app, name="user")
db_app = typer.Typer(help="The hub's database: schema revision, upgrades, moving to PostgreSQL.", no_args_is_help=True)
app.add_typer(db_app, name="db")
retention_app = typer.Typer(help="Retention: export data older than the configured years to verified evidence bundles, then remove it.",
                            no_args_is_help=True)
app.add_typer(retention_app, name="retention")

DataOpt = Annotated[Path, typer.Option("--data", envvar="TENKEN_HUB_DATA", help="The hub's data directory.")]
DbOpt = Annotated[str | None, typer.Option("--db", envvar="TENKEN_HUB_DB", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in DIR).")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"tenken-hub: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _settings(data: Path, db: str | None = None, **kw: object) -> HubSettings:
    return load_settings(data.resolve(), db_url=db, **kw)


def _open_db(settings: HubSettings) -> Engine:
    """The hub's database, or a clear exit when its schema is older (or newer) than this code."""
    from tenken.hub.db import open_db
    from tenken.hub.migrations import SchemaOutdated

    try:
        return open_db(settings.database_url)
    except SchemaOutdated as exc:
        raise _fail(str(exc)) from exc


def _require_init(settings: HubSettings) -> None:
    if not settings.ca_cert.exists():
        raise _fail(f"{settings.data_dir} is not a hub data directory yet: run `tenken-hub serve --data {settings.data_dir}` (or `ca init`) first")


@app.command("serve")
def serve(
    data: DataOpt = DEFAULT_DATA_DIR,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = DEFAULT_PORT,
    db: DbOpt = None,
    san: Annotated[list[str] | None, typer.Option("--san", help="Extra name or IP for the hub's TLS certificate (repeatable).")] = None,
    max_body: Annotated[int | None, typer.Option("--max-body", help="Largest accepted report envelope in bytes (default 16 MiB).")] = None,
    window_days: Annotated[float | None, typer.Option("--window-days", help="Refuse reports that finished longer ago than this many days.")] = None,
    max_clock_skew: Annotated[float | None, typer.Option("--max-clock-skew", help="Seconds a report may finish ahead of the hub's clock (default 300).")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    web_port: Annotated[int | None, typer.Option("--web-port", envvar="TENKEN_HUB_WEB_PORT", min=1, max=65535,
                                                 help="Also serve the web view for people on this port (HTTPS, TLS 1.3, no client certificate; suggested 8444).")] = None,
) -> None:
    """Start the hub (HTTPS, TLS 1.3, client certificates required). On an empty DIR, initialise it first.

    Listens on 127.0.0.1 unless --host says otherwise: agents on other machines need `--host 0.0.0.0` (or the
    hub's address) and TCP port 8443 open to them in the firewall. With --web-port, people's browsers reach
    the web view there (accounts from `tenken-hub user add`); the agent port keeps mutual TLS.
    """
    from tenken.hub.app import create_app
    from tenken.hub.bootstrap import ensure_initialised, first_run_text, secure_db_files, write_token_file
    from tenken.hub.server import raise_nofile_limit
    from tenken.hub.server import serve as run_server
    from tenken.hub.tls import server_context

    if not isinstance(getattr(logging, log_level.upper(), None), int):
        raise _fail(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    # Everything the hub writes (database, WAL, logs, keys) is for its own user only, whatever umask it got.
    os.umask(0o077)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limits = raise_nofile_limit()
    settings = _settings(
        data, db, host=host, port=port, extra_sans=san or [], max_body_bytes=max_body, window_days=window_days, max_clock_skew=max_clock_skew
    )
    from tenken.hub.migrations import SchemaOutdated

    try:
        res, engine = ensure_initialised(settings)
    except (hubca.CAError, SchemaOutdated) as exc:
        raise _fail(str(exc)) from exc
    except OSError as exc:
        raise _fail(f"{data}: cannot create or use the hub data directory ({exc.strerror or exc}); "
                    "choose a writable --data or run as the user that owns it") from exc
    if res.admin_token:
        write_token_file(res)
        typer.echo(first_run_text(settings, res))
    elif res.renewed_server_cert:
        typer.echo(f"hub TLS certificate (re)issued: {settings.tls_cert}", err=True)
    secure_db_files(settings)
    if limits is not None and limits[0] < settings.limit_concurrency * 2:
        logging.getLogger("tenken.hub").warning(
            "only %d open files allowed (hard limit %d): raise LimitNOFILE= for the hub", limits[0], limits[1])
    sys.stdout.flush()
    ctx = server_context(settings.tls_cert, settings.tls_key, settings.ca_cert)
    web = None
    if web_port is not None:
        if web_port == settings.port:
            raise _fail("--web-port must differ from --port")
        from tenken.hub.web.app import create_web_app
        from tenken.hub.web.security import SecurityHeaders
        from tenken.hub.web.tls import web_context

        # outermost too, so that even the server's own 500 answers carry the headers
        web = (SecurityHeaders(create_web_app(settings, engine=engine)), web_port, web_context(settings.tls_cert, settings.tls_key))
    run_server(
        create_app(settings, engine=engine), host=settings.host, port=settings.port, context=ctx, log_level=log_level,
        handshake_timeout=settings.handshake_timeout, limit_concurrency=settings.limit_concurrency, web=web,
    )


@ca_app.command("init")
def ca_init(data: DataOpt = DEFAULT_DATA_DIR) -> None:
    """Create the CA (ECDSA P-256, key mode 0600) in DIR. Refuses to overwrite an existing one."""
    from tenken.hub.bootstrap import ensure_data_dir

    settings = _settings(data)
    ensure_data_dir(settings)
    try:
        authority = hubca.create_ca(settings.ca_key, settings.ca_cert)
    except hubca.CAError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"CA created: {settings.ca_cert} (key {settings.ca_key}, mode 0600)")
    typer.echo(f"CA fingerprint (SHA-256): {authority.cert.fingerprint(hubca.hashes.SHA256()).hex(':')}")


@app.command("bundle-key")
def bundle_key(data: DataOpt = DEFAULT_DATA_DIR) -> None:
    """Print the public key the hub signs exported evidence bundles with (give it to auditors for `tenken verify --key`)."""
    from tenken.hub.bundle_export import bundle_public_pem

    settings = _settings(data)
    _require_init(settings)
    pem = bundle_public_pem(settings)
    typer.echo(pem.decode().rstrip())
    typer.echo(f"# key id: {dsse.key_id(dsse.load_public_key(pem))}", err=True)


@agent_app.command("enroll")
def agent_enroll(
    csr: Annotated[Path, typer.Argument(help="The agent's tls.csr (from `tenken agent init`).")],
    pub: Annotated[Path, typer.Option("--pub", help="The agent's signing public key (agent.pub).")],
    data: DataOpt = DEFAULT_DATA_DIR,
    out: Annotated[Path | None, typer.Option("--out", help="Write the certificate here (default: print it).")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3650)] = hubca.CLIENT_DAYS,
    targets: Annotated[list[str] | None, typer.Option("--targets", help="Remote targets it may report on (shell pattern; repeatable).")] = None,
    db: DbOpt = None,
) -> None:
    """Issue the agent's client certificate (CN = agent id of --pub) and register its signing key.

    The agent is bound to the host named in its CSR (recorded by `tenken agent init`): its local scans are
    accepted for that host only. Remote targets (SSH/WinRM hosts, TLS endpoints, offline roots) need
    --targets here or `tenken-hub agent authorize` later.
    """
    from tenken.hub.authz import validate_patterns
    from tenken.hub.db import RegistryError, enroll_agent

    settings = _settings(data, db)
    _require_init(settings)
    try:
        key = dsse.load_public_key(pub.read_bytes())
        csr_pem = csr.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read: {exc}") from exc
    except ValueError as exc:
        raise _fail(f"{pub}: {exc}") from exc
    try:
        patterns = validate_patterns(targets or [])
    except ValueError as exc:
        raise _fail(f"--targets: {exc}") from exc
    try:
        authority = hubca.load_ca(settings.ca_key, settings.ca_cert)
        aid, cert = hubca.issue_agent_cert(authority, csr_pem, key, days)
        host_id, hostname = hubca.csr_host(csr_pem)
    except hubca.CAError as exc:
        raise _fail(str(exc)) from exc
    engine = _open_db(settings)
    try:
        enroll_agent(
            engine, agent_id=aid, signing_key_pem=_pub_pem(key), key_id=dsse.key_id(key), serial=hubca.serial_hex(cert),
            not_after=cert.not_valid_after_utc, host_id=host_id, hostname=hostname, targets=patterns,
        )
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    pem = hubca.pem(cert)
    hubca.write_public(settings.agents_dir / f"{aid}.pem", pem)
    if out is not None:
        hubca.write_public(out, pem)
        typer.echo(f"enrolled {aid}: certificate written to {out} (serial {hubca.serial_hex(cert)})", err=True)
    else:
        typer.echo(f"enrolled {aid} (serial {hubca.serial_hex(cert)}); certificate follows:", err=True)
        typer.echo(pem.decode(), nl=False)
    if host_id:
        typer.echo(f"bound to host {hostname or '?'} ({host_id}): its local scans are accepted for that host only", err=True)
    else:
        typer.echo("the CSR names no host: this agent may report only on remote targets it is authorised for", err=True)
    if patterns:
        typer.echo(f"authorised remote targets: {', '.join(patterns)}", err=True)
    typer.echo(f"give the agent this certificate (as tls.crt) and the hub CA {settings.ca_cert}", err=True)


@agent_app.command("authorize")
def agent_authorize(
    agent_id: Annotated[str, typer.Argument()],
    targets: Annotated[list[str], typer.Option("--targets", help="Shell pattern of target names or host ids (repeatable).")],
    remove: Annotated[bool, typer.Option("--remove", help="Withdraw these patterns instead of granting them.")] = False,
    data: DataOpt = DEFAULT_DATA_DIR,
    db: DbOpt = None,
) -> None:
    """Allow an agent to report on remote targets (SSH/WinRM hosts, TLS endpoints, offline roots).

    例: tenken-hub agent authorize ag-0123 --targets 'ehr-*' --targets '*.hospital.local:443'
    """
    from tenken.hub.authz import validate_patterns
    from tenken.hub.db import RegistryError, authorize_agent

    settings = _settings(data, db)
    _require_init(settings)
    try:
        patterns = validate_patterns(targets)
    except ValueError as exc:
        raise _fail(f"--targets: {exc}") from exc
    engine = _open_db(settings)
    try:
        now = authorize_agent(engine, agent_id, patterns, remove=remove)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    typer.echo(f"{agent_id} may report on: {', '.join(now) if now else '(no remote targets)'}")


def _pub_pem(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@agent_app.command("revoke")
def agent_revoke(agent_id: Annotated[str, typer.Argument()], data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Revoke an agent: its certificates and signing key are refused from now on (reports stay stored)."""
    from tenken.hub.db import RegistryError, revoke_agent

    settings = _settings(data, db)
    _require_init(settings)
    engine = _open_db(settings)
    try:
        revoke_agent(engine, agent_id)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    typer.echo(f"revoked {agent_id}")


@agent_app.command("list")
def agent_list(data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Enrolled agents, with revocation and last report time."""
    from tenken.hub.db import list_agents

    settings = _settings(data, db)
    _require_init(settings)
    engine = _open_db(settings)
    try:
        rows = list_agents(engine)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([{k: v for k, v in r.items() if k != "signing_key"} for r in rows], default=str, indent=2))
        return
    for r in rows:
        state = f"REVOKED {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
        last = f"{r['last_report_at']:%Y-%m-%d %H:%M}" if r["last_report_at"] else "never"
        host = f"host {r['hostname']} ({r['host_id']})" if r["host_id"] else "no host"
        grants = f"  targets {','.join(r['targets'])}" if r["targets"] else ""
        typer.echo(f"{r['agent_id']}  {state:<24} enrolled {r['enrolled_at']:%Y-%m-%d %H:%M}  last report {last}  {host}{grants}")
    if not rows:
        typer.echo("no agents enrolled", err=True)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who the token is for.")] = "operator",
    data: DataOpt = DEFAULT_DATA_DIR,
    db: DbOpt = None,
    cert: Annotated[bool, typer.Option("--cert/--no-cert", help="Also issue an operator client certificate (needed to connect).")] = True,
    out: Annotated[Path | None, typer.Option("--out", help="Directory for client.pem/client.key (default DIR/clients/NAME).")] = None,
) -> None:
    """Create an API token (printed once on stdout, stored hashed) and an operator client certificate."""
    from tenken.hub.bootstrap import issue_operator
    from tenken.hub.db import create_token

    settings = _settings(data, db)
    _require_init(settings)
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise _fail("--name may contain letters, digits, '-', '_' and '.' only")
    engine = _open_db(settings)
    try:
        serial = None
        if cert:
            authority = hubca.load_ca(settings.ca_key, settings.ca_cert)
            crt, key, serial = issue_operator(settings, engine, authority, name, out)
            typer.echo(f"operator certificate: {crt}  key: {key} (the token works only with this certificate)", err=True)
        token = create_token(engine, name, cert_serial=serial)
    finally:
        engine.dispose()
    typer.echo("API token (shown only now) / APIトークン（この一度だけ表示）:", err=True)
    typer.echo(token)


@token_app.command("list")
def token_list(data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Tokens by name (never their values)."""
    from tenken.hub.db import list_tokens

    settings = _settings(data, db)
    _require_init(settings)
    engine = _open_db(settings)
    try:
        for r in list_tokens(engine):
            typer.echo(f"{r['id']:>4}  {r['name']:<20} created {r['created_at']:%Y-%m-%d %H:%M}" + (f"  REVOKED {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else ""))
    finally:
        engine.dispose()


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument()], data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Revoke every token and operator certificate of NAME."""
    from tenken.hub.db import revoke_user

    settings = _settings(data, db)
    _require_init(settings)
    engine = _open_db(settings)
    try:
        n_tok, n_cert = revoke_user(engine, name)
    finally:
        engine.dispose()
    if n_tok == 0 and n_cert == 0:
        raise _fail(f"nothing to revoke for {name!r}")
    typer.echo(f"revoked {n_tok} token(s) and {n_cert} certificate(s) of {name}")


def _read_password(prompt: str) -> str:
    """From the terminal (asked twice, not echoed) or, when stdin is not a terminal, its first line. Never argv."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass(f"{prompt}（確認 / again）: ") != first:
            raise _fail("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@contextmanager
def _accounts_engine(data: Path, db: str | None) -> Iterator[Engine]:
    """The hub's database for a `user` command; an account error becomes its message and exit 2."""
    from tenken.hub.db import open_db
    from tenken.hub.web.accounts import AccountError

    engine = open_db(_settings(data, db).database_url)
    try:
        yield engine
    except AccountError as exc:
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="admin (agents, users, audit log) or auditor (read and export).")] = "auditor",
    totp: Annotated[bool, typer.Option("--totp/--no-totp", help="Enrol TOTP two-factor (always on for admins).")] = False,
    data: DataOpt = DEFAULT_DATA_DIR,
    db: DbOpt = None,
) -> None:
    """Add a web account. The password is read from the terminal (or stdin), never from the command line.

    Admins always get a TOTP secret, printed once here (to the terminal only): enter it in an authenticator app.
    """
    from tenken.hub.db import utcnow
    from tenken.hub.web import accounts as acc
    from tenken.hub.web.credentials import otpauth_uri

    try:
        r = acc.Role(role)
    except ValueError as exc:
        raise _fail("--role must be admin or auditor") from exc
    password = _read_password("パスワード / password")
    with _accounts_engine(data, db) as engine:
        secret = acc.add_user(engine, name, r, password, now=utcnow(), totp=totp)
    typer.echo(f"user {name} added ({r.value})", err=True)
    if secret:
        typer.echo("TOTP secret (shown only now) / 二要素認証の秘密鍵（この一度だけ表示）:", err=True)
        typer.echo(secret)
        typer.echo(otpauth_uri(secret, name))


@user_app.command("passwd")
def user_passwd(name: Annotated[str, typer.Argument()], data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Set a new password (from the terminal or stdin); unlocks the account and ends its sessions."""
    from tenken.hub.db import utcnow
    from tenken.hub.web import accounts as acc

    password = _read_password("新しいパスワード / new password")
    with _accounts_engine(data, db) as engine:
        acc.set_password(engine, name, password, now=utcnow())
    typer.echo(f"password of {name} changed")


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument()], data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Disable an account (kept for the audit log) and end its sessions."""
    from tenken.hub.db import utcnow
    from tenken.hub.web import accounts as acc

    with _accounts_engine(data, db) as engine:
        acc.disable_user(engine, name, now=utcnow())
    typer.echo(f"disabled {name}")


@user_app.command("list")
def user_list(data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Web accounts: role, two-factor, state (never a hash or secret)."""
    from tenken.hub.db import utcnow
    from tenken.hub.web import accounts as acc

    with _accounts_engine(data, db) as engine:
        users = acc.list_users(engine)
    now = utcnow()
    for u in users:
        state = "disabled" if u.disabled else (f"locked until {u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until and u.locked_until > now else "active")
        typer.echo(f"{u.name:<20} {u.role.value:<8} totp={'yes' if u.has_totp else 'no':<3} {state}")
    if not users:
        typer.echo("no web users (add one with `tenken-hub user add NAME --role admin`)", err=True)
@db_app.command("current")
def db_current(data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Show the database's schema revision and the one this tenken-hub needs (exit 1 when they differ)."""
    from tenken.hub.db import make_engine
    from tenken.hub.migrations import revision

    settings = _settings(data, db)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rev = revision(conn)
    finally:
        engine.dispose()
    note = "" if rev.stamped or rev.current is None else " (not stamped: a hub from before migrations, recognised by its tables)"
    typer.echo(f"database: {rev.current or 'empty'}{note}")
    typer.echo(f"this tenken-hub: {rev.head}")
    if rev.current is not None and not rev.at_head:
        typer.echo("upgrade needed: back up (`tenken-hub backup --output FILE`), then `tenken-hub db upgrade`", err=True)
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(data: DataOpt = DEFAULT_DATA_DIR, db: DbOpt = None) -> None:
    """Apply pending schema migrations in one transaction (stop the hub and back it up first)."""
    from tenken.hub.migrations import SchemaOutdated, upgrade

    settings = _settings(data, db)
    try:
        res = upgrade(settings.database_url)
    except SchemaOutdated as exc:
        raise _fail(str(exc)) from exc
    if res.created:
        typer.echo(f"created a new database at revision {res.after}")
    elif res.before == res.after:
        typer.echo(f"already at revision {res.after}: nothing to do")
    else:
        typer.echo(f"upgraded the hub database from revision {res.before} to {res.after}")


@db_app.command("migrate-to")
def db_migrate_to(
    url: Annotated[str, typer.Argument(help="The empty target database, e.g. postgresql+psycopg://tenken@dbhost/tenken")],
    data: DataOpt = DEFAULT_DATA_DIR,
    db: DbOpt = None,
    switch: Annotated[bool, typer.Option("--switch", help="Afterwards, make hub.json use the new database.")] = False,
) -> None:
    """Copy the hub's database (e.g. SQLite) into an empty one (e.g. PostgreSQL); row counts are compared.

    Stop the hub first: reports received during the copy would be left behind.
    """
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from tenken.hub.dbcopy import CopyError, copy_database
    from tenken.hub.settings import save_settings

    settings = _settings(data, db)
    _require_init(settings)
    try:
        res = copy_database(settings.database_url, url)
    except CopyError as exc:
        raise _fail(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise _fail(f"cannot copy into {make_url(url).render_as_string(hide_password=True)}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
    total = sum(res.counts.values())
    typer.echo(f"copied {total} rows in {len(res.counts)} tables; counts equal: " + ", ".join(f"{k} {v}" for k, v in res.counts.items()))
    if switch:
        save_settings(settings.model_copy(update={"db_url": url}))
        typer.echo(f"{settings.data_dir / 'hub.json'} now names the new database; the old one is left as it was")
    else:
        typer.echo("start the hub with --db URL (or rerun with --switch) to use the new database", err=True)


@app.command("backup")
def backup(
    output: Annotated[Path, typer.Option("--output", "-o", help="The backup file to write (must not exist).")],
    data: DataOpt = DEFAULT_DATA_DIR,
    db: DbOpt = None,
    secrets: Annotated[bool, typer.Option("--secrets/--no-secrets", help="Include the CA and TLS private keys, operator keys and tokens.")] = True,
) -> None:
    """Consistent online backup of the database and the data directory into one file (mode 0600)."""
    from tenken.hub.backup import BackupError, make_backup

    settings = _settings(data, db)
    _require_init(settings)
    os.umask(0o077)
    try:
        info = make_backup(settings, output, secrets=secrets)
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"backup written: {info.path} ({info.path.stat().st_size} bytes, mode 0600), {info.dialect} schema {info.revision}, "
               f"{info.counts.get('reports', 0)} reports, {info.counts.get('agents', 0)} agents")
    if info.secrets:
        typer.echo("it CONTAINS SECRETS (" + ", ".join(info.secrets) + "): keep it as securely as the CA key", err=True)
    else:
        typer.echo("made without secrets: keep the data directory's private/ and clients/ elsewhere", err=True)


@app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A file made by `tenken-hub backup`.")],
    data: DataOpt = DEFAULT_DATA_DIR,
    db: Annotated[str | None, typer.Option("--db", help="Restore the database into this URL instead of the one backed up.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing hub (stop it first); the old directory is kept aside.")] = False,
) -> None:
    """Verify a backup completely, then restore it into DIR (refuses an existing hub without --force)."""
    from tenken.hub.backup import BackupError, restore_backup

    os.umask(0o077)
    try:
        res = restore_backup(file, data, db_url=db, force=force, say=lambda m: typer.echo(m, err=True))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    m = res["manifest"]
    typer.echo(f"restored {file} (made {m['created_at']}, schema {m['schema_revision']}) into {data.resolve()}"
               + (f", database {res['db_url']}" if res["db_url"] else ""))
    if not m["contains_secrets"]:
        typer.echo("the backup holds no private keys: copy private/ and clients/ into the data directory before `serve`", err=True)


@retention_app.command("set")
def retention_set(
    years: Annotated[str, typer.Option("--years", help="Keep reports this many years (a number), or 'off' to keep everything.")],
    export_dir: Annotated[Path | None, typer.Option("--export-dir", help="Where the evidence bundles go (default DIR/retention).")] = None,
    data: DataOpt = DEFAULT_DATA_DIR,
) -> None:
    """Store the retention setting in DIR/hub.json (read by `retention apply`)."""
    from tenken.hub.settings import save_settings

    settings = _settings(data)
    _require_init(settings)
    try:
        value = None if years.strip().lower() in ("off", "none", "forever") else float(years)
        settings = HubSettings.model_validate({**settings.model_dump(), "retention_years": value,
                                               "retention_dir": export_dir.resolve() if export_dir else settings.retention_dir})
    except ValueError as exc:
        raise _fail(f"--years must be a positive number of years or 'off': {exc}") from exc
    save_settings(settings)
    typer.echo("retention: off (keep forever)" if value is None else
               f"retention: {value:g} years; bundles go to {settings.retention_export_dir}")


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be exported and removed.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, max=5000, help="Reports per evidence bundle.")] = 500,
    data: DataOpt = DEFAULT_DATA_DIR,
    db: DbOpt = None,
) -> None:
    """Export every month past the retention limit to evidence bundles, verify them, then remove that data
    (dropping whole partitions on PostgreSQL). Data whose export failed is never removed. Exit 1 on a failure."""
    from tenken.hub import retention

    settings = _settings(data, db)
    _require_init(settings)
    engine = _open_db(settings)
    try:
        try:
            if dry_run:
                months = retention.plan(engine, settings)
                for mp in months:
                    typer.echo(f"{mp.label}: would export {len(mp.report_ids)} reports to {settings.retention_export_dir}, remove "
                               f"{mp.findings} findings" + (f", drop partitions {', '.join(mp.partitions)}" if mp.partitions else ""))
                typer.echo(f"{len(months)} month(s) past the limit; nothing changed (dry run)" if months else "nothing is past the retention limit")
                return
            res = retention.apply(engine, settings, batch=batch, say=typer.echo)
        except retention.RetentionError as exc:
            raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    if res.failed:
        typer.echo(f"tenken-hub: retention stopped, nothing of that month was removed: {res.failed}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(res.months)} month(s) exported and removed" if res.months else "nothing is past the retention limit")


def main() -> None:
    app()
