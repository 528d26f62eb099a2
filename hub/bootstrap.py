"""First start in one command: CA, the hub's TLS certificate, the database, the first operator credential.

Every step is idempotent: on an initialised directory `ensure_initialised` only renews the hub's TLS
certificate if a requested name is missing or it is about to expire, so `tenken-hub serve --data DIR` is
safe to put in a systemd unit.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select
from tenken.hub import ca as hubca
from tenken.hub import tables as t
from tenken.hub.db import create_token, open_db, register_user_cert
from tenken.hub.settings import HubSettings, save_settings


@dataclass
class InitResult:
    created_ca: bool = False
    renewed_server_cert: bool = False
    admin_token: str | None = None
    admin_cert: Path | None = None
    admin_key: Path | None = None
    notes: list[str] = field(default_factory=list)


def ensure_data_dir(settings: HubSettings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.data_dir, 0o700)


def ensure_ca(settings: HubSettings) -> tuple[hubca.CA, bool]:
    ensure_data_dir(settings)
    if settings.ca_key.exists() or settings.ca_cert.exists():
        return hubca.load_ca(settings.ca_key, settings.ca_cert), False
    return hubca.create_ca(settings.ca_key, settings.ca_cert), True


def hub_sans(settings: HubSettings) -> list[str]:
    extra = list(settings.extra_sans)
    if settings.host not in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        extra.append(settings.host)
    return hubca.default_sans(extra)


def issue_operator(settings: HubSettings, engine: Engine, authority: hubca.CA, name: str, out_dir: Path | None = None) -> tuple[Path, Path, str]:
    """An operator's client certificate + key (files), registered so the hub accepts and can revoke it.

    Returns (certificate file, key file, serial): tokens are bound to the serial."""
    key, cert = hubca.issue_user_cert(authority, name)
    out = out_dir or (settings.clients_dir / name)
    cert_path, key_path = out / "client.pem", out / "client.key"
    hubca.write_private(key_path, hubca.key_pem(key))
    hubca.write_public(cert_path, hubca.pem(cert))
    serial = hubca.serial_hex(cert)
    register_user_cert(engine, name=name, serial=serial, not_after=cert.not_valid_after_utc)
    return cert_path, key_path, serial


def ensure_initialised(settings: HubSettings) -> tuple[InitResult, Engine]:
    res = InitResult()
    authority, res.created_ca = ensure_ca(settings)
    sans = hub_sans(settings)
    if hubca.server_cert_needs_renewal(settings.tls_cert, sans):
        hubca.issue_server_cert(authority, settings.tls_key, settings.tls_cert, sans)
        res.renewed_server_cert = True
    engine = open_db(settings.database_url)
    save_settings(settings)
    with engine.connect() as conn:
        have_tokens = conn.execute(select(func.count()).select_from(t.tokens)).scalar_one() > 0
    if not have_tokens:
        res.admin_cert, res.admin_key, serial = issue_operator(settings, engine, authority, "admin")
        res.admin_token = create_token(engine, "admin", cert_serial=serial)
    return res, engine


def public_url(settings: HubSettings) -> str:
    wildcard = settings.host in ("0.0.0.0", "::", "")  # noqa: S104 - comparing, not binding
    host = socket.getfqdn() if wildcard else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{settings.port}"


def token_file(res: InitResult) -> Path | None:
    return Path(res.admin_key).with_name("token") if res.admin_key else None


def write_token_file(res: InitResult) -> None:
    """The first operator token goes to a 0600 file beside the operator key, not to the service's log."""
    path = token_file(res)
    if path is None or res.admin_token is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(res.admin_token + "\n")


def token_lines(res: InitResult) -> list[str]:
    """Printed on a terminal; under systemd stdout is the journal, where a token must never land."""
    path = token_file(res)
    lines = [f"Operator API token (stored hashed; the only copy is this file, mode 0600) / 管理者APIトークン: {path}"]
    if sys.stdout.isatty():
        lines.append(f"  {res.admin_token}")
    return lines


def first_run_text(settings: HubSettings, res: InitResult) -> str:
    d = settings.data_dir
    url = public_url(settings)
    lines = [
        "",
        "tenken hub: initialised / 初期化しました",
        f"  CA certificate (give to agents): {settings.ca_cert}",
        f"  CA key (keep secret, mode 0600): {settings.ca_key}",
        f"  hub TLS certificate:             {settings.tls_cert}",
        f"  database:                        {settings.database_url if not settings.db_url else '(given with --db)'}",
        "",
        *token_lines(res),
        f"Operator client certificate: {res.admin_cert}  key: {res.admin_key}",
        f"  try: curl --cacert {settings.ca_cert} --cert {res.admin_cert} --key {res.admin_key} -H 'Authorization: Bearer <token>' {url}/api/v1/hosts",
        "",
        "Enroll an agent / エージェントの登録:",
        "  1. on the machine to audit:   tenken agent init --dir /var/lib/tenken",
        "  2. copy /var/lib/tenken/tls.csr and agent.pub to this hub, then here:",
        f"        tenken-hub agent enroll tls.csr --pub agent.pub --data {d} --out tls.crt [--targets 'PATTERN' for remote scans]",
        f"  3. copy tls.crt to /var/lib/tenken/ and {settings.ca_cert} to /etc/tenken/hub-ca.pem on the agent, and write",
        "     /etc/tenken/agent.yaml (complete; see config/examples/agent.yaml for more jobs):",
        "",
        *("        " + line for line in agent_yaml_snippet(url).splitlines()),
        "",
        "  4. tenken agent once --config /etc/tenken/agent.yaml   (then enable tenken-agent.service)",
        "  Agents on other machines reach this hub only if it listens on their network: serve with --host 0.0.0.0",
        f"  (or this machine's address) and open TCP port {settings.port} to them in the firewall.",
        "  revoke later: tenken-hub agent revoke <agent-id> --data " + str(d),
        "",
    ]
    return "\n".join(lines)


def secure_db_files(settings: HubSettings) -> None:
    """A database made by an older hub (or under umask 022) is tightened to 0600 with its WAL and SHM files."""
    if settings.db_url:
        return
    base = settings.data_dir / "hub.db"
    for p in (base, base.with_name("hub.db-wal"), base.with_name("hub.db-shm"), settings.data_dir / "hub.json"):
        if p.exists():
            os.chmod(p, 0o600)


def agent_yaml_snippet(url: str) -> str:
    """A complete agent.yaml for the paths the README and deploy/ use (keys and spool in /var/lib/tenken)."""
    return "\n".join([
        "signing_key: /var/lib/tenken/agent.key",
        "hub:",
        f"  url: {url}",
        "  ca_file: /etc/tenken/hub-ca.pem",
        "  client_cert: /var/lib/tenken/tls.crt",
        "  client_key: /var/lib/tenken/tls.key",
        "spool:",
        "  dir: /var/lib/tenken/spool",
        "jobs:",
        "  - name: this-host",
        "    kind: local",
        "    schedule:",
        '      daily_at: "02:30"',
        "      jitter: 30m",
    ]) + "\n"
