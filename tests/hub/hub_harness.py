"""Start a real `tenken-hub serve` (subprocess, HTTPS on 127.0.0.1) and play agents and operators against it.

Used by the hub tests and by bench/hub_ingest.py. Agents get their identity from the agent's own code
(`tenken.agent.identity.init_identity`, what `tenken agent init` runs) and their certificate from the real
`tenken-hub agent enroll` command; reports are built from the real Report model and signed with dsse.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from tenken.agent import dsse
from tenken.agent.report import HostIdentity, Report, TargetInfo
from tenken.checks.finding import Finding, Text, finding_id
from tenken.collectors.evidence import build_evidence
from tenken.hub.db import make_engine, row_counts

HUB_BIN = str(Path(sys.executable).with_name("tenken-hub"))
CT = "application/vnd.dsse.envelope.v1+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_hub_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([HUB_BIN, *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"tenken-hub {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class Hub:
    data: Path
    port: int
    db_url: str | None
    proc: subprocess.Popen[bytes]
    log: Path
    token: str
    _engine: Engine | None = None
    web_port: int | None = None  # the web view's listener (`serve --web-port`), when started with one

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data / "ca.pem"

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data / 'hub.db'}"

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def counts(self) -> dict[str, int]:
        return row_counts(self.engine())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_hub_cli(*args, "--data", str(self.data), check=check)

    def ssl_context(self, cert: Path | None, key: Path | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def operator(self, token: str | None = None, name: str = "admin") -> httpx.Client:
        d = self.data / "clients" / name
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, verify=self.ssl_context(d / "client.pem", d / "client.key"), headers=headers, timeout=60)

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_hub(data: Path, db_url: str | None = None, *, port: int | None = None, extra: tuple[str, ...] = (), token: str | None = None,
              web_port: int | None = None) -> Hub:
    """Start `tenken-hub serve`; wait until it accepts TCP; read the first-run token from its output."""
    port = port or free_port()
    if web_port is not None:
        extra = (*extra, "--web-port", str(web_port))
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"{data.name}-serve-{port}.log"
    args = [HUB_BIN, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra]
    if db_url:
        args += ["--db", db_url]
    fh = log.open("wb")
    proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tenken-hub serve exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            if web_port is not None:
                with socket.create_connection(("127.0.0.1", web_port), timeout=1):
                    pass
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"tenken-hub serve did not listen on {port}:\n{log.read_text(errors='replace')}")
    if token is None:
        # the first-run token is written to a 0600 file, never to the (journal-bound) output
        tfile = data / "clients" / "admin" / "token"
        if not tfile.exists():
            raise RuntimeError(f"no first-run token file {tfile}:\n{log.read_text(errors='replace')}")
        token = tfile.read_text().strip()
        assert token not in log.read_text(errors="replace"), "the operator token must not appear in the hub's output"
    return Hub(data=data, port=port, db_url=db_url, proc=proc, log=log, token=token, web_port=web_port)


@dataclass
class Agent:
    dir: Path
    agent_id: str
    key: Ed25519PrivateKey
    cert: Path
    tls_key: Path
    enrolled: bool = True
    host: HostIdentity | None = None
    _clients: list[httpx.Client] = field(default_factory=list)

    def sign(self, report: Report | dict[str, Any] | bytes, key: Ed25519PrivateKey | None = None) -> bytes:
        if isinstance(report, Report):
            payload = dsse.canonical(report.model_dump(mode="json", by_alias=True))
        elif isinstance(report, dict):
            payload = dsse.canonical(report)
        else:
            payload = report
        return json.dumps(dsse.sign_payload(payload, key or self.key)).encode()

    def client(self, hub: Hub) -> httpx.Client:
        c = httpx.Client(base_url=hub.url, verify=hub.ssl_context(self.cert, self.tls_key), timeout=60)
        self._clients.append(c)
        return c

    def post(self, hub: Hub, body: bytes, content_type: str = CT) -> httpx.Response:
        with httpx.Client(base_url=hub.url, verify=hub.ssl_context(self.cert, self.tls_key), timeout=60) as c:
            return c.post("/api/v1/reports", content=body, headers={"Content-Type": content_type})


def fake_host(name: str) -> HostIdentity:
    """A distinct machine identity per name, so that several test agents on this one machine are several hosts."""
    return HostIdentity(host_id="machine-id:" + hashlib.md5(name.encode()).hexdigest(), hostname=name, fqdn=f"{name}.hospital.test")


def make_agent(hub: Hub, where: Path, *, enroll: bool = True, host: HostIdentity | None = None, targets: tuple[str, ...] = ("*",)) -> Agent:
    """An agent made by the agent's own code and enrolled with the real CLI; by default authorised for every
    remote target (tests of authorisation pass `targets=()`) and bound to a made-up host of its own."""
    from tenken.agent.identity import init_identity

    ident = init_identity(where, host=host or fake_host(where.name))
    key = serialization.load_pem_private_key((where / "agent.key").read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    cert = where / "tls.crt"
    if enroll:
        grants = [a for p in targets for a in ("--targets", p)]
        hub.cli("agent", "enroll", str(where / "tls.csr"), "--pub", str(where / "agent.pub"), "--out", str(cert), *grants)
    return Agent(dir=where, agent_id=ident.agent_id, key=key, cert=cert, tls_key=where / "tls.key", enrolled=enroll, host=ident.host)


STATUSES = ["pass", "fail", "warn", "error", "not_applicable", "manual"]


def make_report(
    *, target: str = "host1", n_findings: int = 3, finished_at: datetime | None = None, report_id: str | None = None,
    clauses: tuple[str, ...] = ("SO-14-2", "SO-7-1"), statuses: list[str] | None = None, raw: str = "PASS_MAX_DAYS 90\n",
    n_evidence: int = 1, kind: str = "ssh", identity: HostIdentity | None = None,
) -> Report:
    """A valid tenken.report/v1 report: one target, evidence, and n findings cycling through the statuses.

    By default a remote (SSH) scan, which a test agent is authorised for; pass kind="local" and the agent's
    `host` for a local scan."""
    fin = finished_at or datetime.now(UTC)
    evs = [
        build_evidence(collector=f"linux.c{j}" if j else "linux.accounts", target=target, sources=[], raw=raw, facts=None, collected_at=fin)
        for j in range(n_evidence)
    ]
    sts = statuses or STATUSES
    findings = []
    for i in range(n_findings):
        status = sts[i % len(sts)]
        check = f"linux.check_{i % 40}"
        findings.append(
            Finding(
                id=finding_id(check, target, f"s{i}"), check_id=check, target=target, status=status,
                clauses=[clauses[i % len(clauses)]], severity="medium",
                title=Text(ja=f"検査 {i}", en=f"Check {i}"), detail=Text(ja="詳細", en="detail"), remediation=Text(ja="対処", en="fix"),
                evidence=[evs[i % n_evidence].id], subject=f"s{i}",
            )
        )
    return Report(
        id=report_id or str(uuid.uuid4()), started_at=fin - timedelta(seconds=5), finished_at=fin,
        targets=[TargetInfo(target=target, kind=kind, identity=identity, os="Debian 12", state="scanned", started_at=fin - timedelta(seconds=5), finished_at=fin)],
        findings=findings, evidence=evs,
    )
