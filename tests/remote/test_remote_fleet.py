"""`tenken scan inventory`: several real sshd servers, a dead host and a hung host in one report."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from sshd_fixture import SshServer, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def hung_listener():
    """Accepts TCP connections and never says a word (a wedged sshd, a tarpit)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    yield srv.getsockname()[1]
    stop.set()
    th.join()
    for s in held:
        s.close()
    srv.close()


def test_fleet_scan_reports_every_host(sshd_factory, hung_listener: int, tmp_path: Path, remote_cli, monkeypatch) -> None:
    servers: list[SshServer] = [sshd_factory() for _ in range(4)]
    kh = tmp_path / "known_hosts"
    kh.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
    dead = free_port()
    monkeypatch.delenv("TENKEN_TEST_WINRM_PW", raising=False)
    inv = tmp_path / "inventory.yaml"
    inv.write_text(f"""
defaults:
  user: root
  identity: {servers[0].client_key}
  known_hosts: {kh}
  agent: false
  timeouts: {{connect: 60, deadline: 120}}
groups:
  linux:
    hosts:
""" + "".join(f"      - name: srv{i}\n        address: 127.0.0.1\n        port: {s.port}\n" for i, s in enumerate(servers)) + f"""
  broken:
    hosts:
      - name: dead
        address: 127.0.0.1
        port: {dead}
      - name: hung
        address: 127.0.0.1
        port: {hung_listener}
        timeouts: {{deadline: 3}}
  windows:
    transport: winrm
    winrm: {{port: {free_port()}, auth: ntlm, username: audit, credential: env:TENKEN_TEST_WINRM_PW}}
    hosts: [winpc]
""")
    res = remote_cli("scan", "inventory", str(inv), "--concurrency", "8", "-f", "json")
    assert res.exit_code == 3  # some hosts could not be scanned
    rep = res.json()
    states = {t["target"]: (t["state"], t["error"]) for t in rep["targets"]}
    for i, s in enumerate(servers):
        assert states[f"root@srv{i}:{s.port}"] == ("scanned", None)
    assert states[f"root@dead:{dead}"][0] == "error" and "connection refused" in states[f"root@dead:{dead}"][1]
    hung = states[f"root@hung:{hung_listener}"]
    assert hung == ("error", "deadline exceeded after 3 s")
    win = [v for k, v in states.items() if "winpc" in k]
    assert win and win[0][0] == "error" and "TENKEN_TEST_WINRM_PW" in win[0][1]
    # one error finding per unscanned host, each naming it
    errors = {f["target"] for f in rep["findings"] if f["check_id"] == "target.reachable"}
    assert errors == {k for k, v in states.items() if v[0] == "error"}
    # every scanned host contributed evidence and checks
    for i, s in enumerate(servers):
        assert any(e["target"] == f"root@srv{i}:{s.port}" and e["collector"] == "linux.accounts" for e in rep["evidence"])

    # --group / --limit select a subset
    res = remote_cli("scan", "inventory", str(inv), "--group", "linux", "--limit", "srv0,srv3", "-f", "json")
    assert sorted(t["target"] for t in res.json()["targets"]) == sorted(
        [f"root@srv0:{servers[0].port}", f"root@srv3:{servers[3].port}"]
    )
    assert res.exit_code in (0, 1)
    res = remote_cli("scan", "inventory", str(inv), "--limit", "nothing-matches")
    assert res.exit_code == 2 and "no hosts" in res.stderr


def test_inventory_errors_are_usage_errors(tmp_path: Path, remote_cli) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  - address: db01\n    password: Secret1\n")
    res = remote_cli("scan", "inventory", str(inv))
    assert res.exit_code == 2
    assert f"{inv}:3: hosts.0.password: passwords must not be in configuration files" in res.stderr
    assert "Secret1" not in res.stderr + res.stdout
    res = remote_cli("hosts", "list", str(inv))
    assert res.exit_code == 2
