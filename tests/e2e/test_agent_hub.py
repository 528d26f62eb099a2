"""The real agent against the real hub over mTLS 1.3: scheduled delivery, outage survival, exactly once.

Nothing is stubbed: `tenken agent init`, `tenken-hub agent enroll`, `tenken agent run` as a process with the
real `schedule` loop, the hub's SQLite store and its read API that re-verifies the stored envelope.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "hub"))

from hub_harness import Hub, free_port, start_hub  # noqa: E402

TENKEN = str(Path(sys.executable).with_name("tenken"))


def tiny_root(where: Path) -> Path:
    (where / "etc").mkdir(parents=True, exist_ok=True)
    (where / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (where / "etc/shadow").write_text("root:!:19000:0:99999:7:::\n")
    (where / "etc/group").write_text("root:x:0:\n")
    return where


def enrolled_agent(hub: Hub, tmp: Path, *targets: str) -> Path:
    """`tenken agent init` + `tenken-hub agent enroll`; the jobs below scan offline roots, which an operator
    must authorise (`--targets 'root:*'`) like any target that is not the agent's own machine."""
    ident = tmp / "agent-id"
    subprocess.run([TENKEN, "agent", "init", "--dir", str(ident)], check=True, capture_output=True, timeout=60)
    grants = [a for p in (targets or ("root:*",)) for a in ("--targets", p)]
    hub.cli("agent", "enroll", str(ident / "tls.csr"), "--pub", str(ident / "agent.pub"), "--out", str(ident / "tls.crt"), *grants)
    return ident


def write_config(tmp: Path, hub: Hub, ident: Path, *, jobs: str) -> Path:
    cfg = tmp / "agent.yaml"
    cfg.write_text(
        f"signing_key: {ident / 'agent.key'}\n"
        f"hub:\n  url: {hub.url}\n  ca_file: {hub.ca}\n  client_cert: {ident / 'tls.crt'}\n  client_key: {ident / 'tls.key'}\n  timeout: 10s\n"
        f"spool:\n  dir: {tmp / 'spool'}\n"
        "retry:\n  base: 1s\n  cap: 2s\n"
        "shutdown_grace: 5s\n"
        f"jobs:\n{jobs}"
    )
    return cfg


def wait_for(pred: Callable[[], object], timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def hub(tmp_path: Path):
    h = start_hub(tmp_path / "hubdata")
    yield h
    h.stop()


def test_scheduled_job_lands_verified_at_the_hub(hub: Hub, tmp_path: Path) -> None:
    ident = enrolled_agent(hub, tmp_path)
    root = tiny_root(tmp_path / "img")
    cfg = write_config(
        tmp_path, hub, ident,
        jobs=f"  - name: golden-image\n    kind: local\n    root: {root}\n    schedule:\n      every_seconds: 1\n      jitter: 0s\n",
    )
    agent = subprocess.Popen([TENKEN, "agent", "run", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: hub.counts().get("reports", 0) >= 1), "no scheduled report reached the hub"
    finally:
        agent.send_signal(signal.SIGTERM)
        _out, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err.decode(errors="replace")[-2000:]
    with hub.operator() as op:
        reports = op.get("/api/v1/findings", params={"target": f"root:{root}", "limit": 500}).json()
        assert reports, "stored findings are readable through the API"
        rid = reports[0]["report_id"] if isinstance(reports, list) else reports["items"][0]["report_id"]
        verdict = op.get(f"/api/v1/reports/{rid}/verify")
        assert verdict.status_code == 200 and verdict.json()["verified"] is True, verdict.text
    assert not list((tmp_path / "spool").glob("*.tmp*")), "no temp file left behind after SIGTERM"


def test_hub_outage_200_reports_arrive_exactly_once(tmp_path: Path) -> None:
    from tenken.agent.agent_config import load_agent_config
    from tenken.agent.report import Report
    from tenken.agent.ship import Backoff, HubClient, Sender
    from tenken.agent.signing import load_signing_key, sign_report
    from tenken.agent.spool import Spool

    port = free_port()
    hub = start_hub(tmp_path / "hubdata", port=port)
    ident = enrolled_agent(hub, tmp_path)
    token = hub.token
    hub.stop()  # the hub goes down; the agent keeps producing

    cfg_path = write_config(tmp_path, hub, ident, jobs='  - {name: nightly, kind: local, schedule: {daily_at: "02:30"}}\n')
    cfg = load_agent_config(cfg_path)
    key = load_signing_key(cfg.signing_key)
    root = tiny_root(tmp_path / "img")
    out = subprocess.run([TENKEN, "scan", "local", "--root", str(root), "-f", "json"], capture_output=True, timeout=120)
    base = Report.model_validate(json.loads(out.stdout))
    spool = Spool(cfg.spool.dir)
    ids = []
    for _ in range(200):
        rep = base.model_copy(update={"id": str(uuid.uuid4())})
        ids.append(rep.id)
        spool.put(rep.id, sign_report(rep, key))

    client = HubClient(cfg.hub)
    sender = Sender(spool, client, Backoff(0.1, 0.5))
    res = sender.drain()
    assert res.acked == 0 and res.remaining == 200, "nothing is acknowledged while the hub is down"
    assert len(spool.entries()) == 200

    hub = start_hub(tmp_path / "hubdata", port=port, token=token)
    try:
        assert wait_for(lambda: (sender.drain().acked or True) and not spool.entries(), timeout=180)
        delivered = hub.counts()["reports"]
        assert delivered == 200
        again = Sender(spool, client, Backoff(0.1, 0.5))
        spool.put(ids[0], sign_report(base.model_copy(update={"id": ids[0]}), key))  # a resend of a stored report
        r = again.drain()
        assert r.acked == 1 and r.duplicates == 1
        assert hub.counts()["reports"] == 200, "a resent report is stored once"
        with hub.operator() as op:
            for rid in (ids[0], ids[99], ids[199]):
                assert op.get(f"/api/v1/reports/{rid}").status_code == 200
    finally:
        client.close()
        hub.stop()


def test_local_job_reports_this_machine_by_identity_and_a_revoked_agent_fails_loudly(hub: Hub, tmp_path: Path) -> None:
    """A real `agent once` of this machine (kind local): stored under this machine's id, named after it, never
    `local`. Once the agent is revoked, `agent once` and `agent status` exit 1 with the reason."""
    from tenken.agent.identity import load_host

    ident = enrolled_agent(hub, tmp_path)
    host = load_host(ident)
    assert host is not None, "agent init records this machine's identity"
    cfg = write_config(tmp_path, hub, ident, jobs='  - {name: me, kind: local, schedule: {daily_at: "02:30"}}\n')
    once = subprocess.run([TENKEN, "agent", "once", "--config", str(cfg)], capture_output=True, text=True, timeout=300)
    assert once.returncode == 0, once.stderr[-2000:]
    with hub.operator() as op:
        hosts = {h["host_key"]: h for h in op.get("/api/v1/hosts").json()}
    assert host.host_id in hosts and hosts[host.host_id]["target"] in (host.fqdn, host.hostname)
    assert all(h["target"] != "local" for h in hosts.values())
    status = subprocess.run([TENKEN, "agent", "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "state:    OK" in status.stdout, status.stdout + status.stderr

    agent_id = json.loads(hub.cli("agent", "list", "--json").stdout)[0]["agent_id"]
    hub.cli("agent", "revoke", agent_id)
    once = subprocess.run([TENKEN, "agent", "once", "--config", str(cfg)], capture_output=True, text=True, timeout=300)
    assert once.returncode == 1, once.stderr[-2000:]
    assert "refused this agent" in once.stderr
    status = subprocess.run([TENKEN, "agent", "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert status.returncode == 1 and "refused this agent" in status.stderr, status.stdout + status.stderr


def test_agent_with_a_certificate_from_another_ca_fails_loudly(tmp_path: Path) -> None:
    """The hub was re-initialised (new CA): the agent's certificate is refused in the TLS handshake."""
    first = start_hub(tmp_path / "old")
    ident = enrolled_agent(first, tmp_path)
    first.stop()
    second = start_hub(tmp_path / "new")
    try:
        cfg = write_config(tmp_path, second, ident, jobs='  - {name: me, kind: local, schedule: {daily_at: "02:30"}}\n')
        once = subprocess.run([TENKEN, "agent", "once", "--config", str(cfg)], capture_output=True, text=True, timeout=300)
        assert once.returncode == 1 and "TLS failure" in once.stderr, once.stderr[-2000:]
        status = subprocess.run([TENKEN, "agent", "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
        assert status.returncode == 1 and "TLS failure" in status.stderr
        assert second.counts()["reports"] == 0
    finally:
        second.stop()


def test_first_start_snippet_is_a_complete_agent_config(tmp_path: Path) -> None:
    from tenken.agent.agent_config import load_agent_config
    from tenken.hub.bootstrap import agent_yaml_snippet

    hub = start_hub(tmp_path / "hubdata")
    hub.stop()
    text = hub.log.read_text()
    assert "spool:" in text and "jobs:" in text and "--host 0.0.0.0" in text
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(agent_yaml_snippet(hub.url))
    loaded = load_agent_config(cfg)
    assert loaded.spool.dir == "/var/lib/tenken/spool" and loaded.jobs[0].kind.value == "local"


def test_verify_of_a_deeply_nested_file_is_a_clean_failure(tmp_path: Path) -> None:
    ident = tmp_path / "k"
    subprocess.run([TENKEN, "agent", "init", "--dir", str(ident)], check=True, capture_output=True, timeout=60)
    bad = tmp_path / "nested.json"
    bad.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    res = subprocess.run([TENKEN, "verify", str(bad), "--key", str(ident / "agent.pub")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "FAILED" in res.stderr
