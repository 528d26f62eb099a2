"""The SSH transport and `tenken scan ssh` against real OpenSSH servers started by the tests.

Covers: parity with the local scan, host-key refusal (unknown, changed), `hosts trust`, bad keys, a
listener that never sends a banner, a closed port, sudo / no-sudo, jump hosts and passphrase keys.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest
from sshd_fixture import NOSUDO_USER, TEST_USER, SshServer, free_port, keygen
from tenken.collectors.transport.base import (
    AccessDenied,
    AuthFailed,
    CommandNotFound,
    FileMissing,
    HostKeyChanged,
    HostKeyUnknown,
    NotRegularFile,
    TimedOut,
    Unreachable,
)
from tenken.collectors.transport.local import LocalTransport
from tenken.collectors.transport.ssh import SSHTransport, parse_destination

pytestmark = pytest.mark.slow


def connect(server: SshServer, user: str = "root", **kw) -> SSHTransport:
    kw.setdefault("identity", str(server.client_key))
    kw.setdefault("known_hosts", str(server.known_hosts))
    kw.setdefault("use_agent", False)
    return SSHTransport(server.host, port=server.port, username=user, **kw).connect()


def ssh_args(server: SshServer, user: str = "root", *extra: str) -> list[str]:
    return ["scan", "ssh", server.dest(user), "-i", str(server.client_key), "--known-hosts", str(server.known_hosts),
            "--no-agent", "-f", "json", *extra]


def host_error(report: dict) -> str:
    [t] = report["targets"]
    assert t["state"] == "error"
    [f] = [f for f in report["findings"] if f["check_id"] == "target.reachable"]
    assert f["status"] == "error"
    return f["detail"]["en"]


# -- parity --------------------------------------------------------------------------------------
# Facts that differ between two scans of the same machine for reasons other than a transport bug.
# Each exclusion says why; every other fact of every collector must be identical.
EXCLUDED: dict[str, dict[str, str]] = {
    "linux.services": {
        "processes": "the process list changes between the scans (each scan starts its own shells and commands)",
        "listeners_source": "by design: psutil when local, `ss` over SSH (the listeners themselves must match)",
    },
    "linux.patches": {
        # both paths compute `pending` from the same apt files (read here, filtered on the target over SSH)
        "pending_method": "names the path: apt-lists locally, apt-lists-remote over SSH",
        "pending_source": "names that path",
    },
    "linux.timesync": {
        "status": "offset and last-update age are sampled from the daemon at two different instants",
        "other_status": "same as status",
    },
}


def _stable_listeners(a: dict, b: dict) -> None:
    """Keep only the listening sockets of processes that listen in both scans (and kernel sockets, no pid).

    The scans run at different moments, and other processes on this machine (other test runs, the
    hub harness, package timers) start and stop listening in between: a socket of a process alive in
    only one scan says nothing about the transport. Every socket of a process present in both must match.
    """
    pids = [{lst["pid"] for lst in x["facts"]["listeners"]} for x in (a, b)]
    common = pids[0] & pids[1]
    for x in (a, b):
        x["facts"]["listeners"] = sorted(
            (lst for lst in x["facts"]["listeners"] if lst["pid"] is None or lst["pid"] in common),
            key=lambda lst: (lst["proto"], lst["address"], lst["port"], lst["pid"] or 0),
        )


def _comparable(ev: dict) -> dict:
    facts = {k: v for k, v in ev["facts"].items() if k not in EXCLUDED.get(ev["collector"], {})}
    # the reason a fact is missing must match; its wording names the transport
    facts["unavailable"] = {
        k: v["reason"] for k, v in facts.get("unavailable", {}).items() if k not in EXCLUDED.get(ev["collector"], {})
    }
    return facts


def test_ssh_scan_of_this_machine_matches_the_local_scan(sshd: SshServer, remote_cli) -> None:
    # ssh first: the SSH login itself is recorded (lastlog, wtmp) before either scan reads those files
    remote = remote_cli(*ssh_args(sshd, "root"))
    local = remote_cli("scan", "local", "-f", "json")
    r, lo = remote.json(), local.json()
    assert r["targets"][0]["state"] == "scanned", r["targets"]
    assert r["targets"][0]["target"] == f"root@127.0.0.1:{sshd.port}"
    rev = {e["collector"]: e for e in r["evidence"]}
    lev = {e["collector"]: e for e in lo["evidence"]}
    assert set(rev) == set(lev) and "linux.accounts" in rev
    _stable_listeners(rev["linux.services"], lev["linux.services"])
    assert any(lst["port"] == sshd.port for lst in rev["linux.services"]["facts"]["listeners"])  # not emptied
    differ = []
    for name in sorted(lev):
        assert (rev[name]["error"] is None) == (lev[name]["error"] is None), (name, rev[name]["error"], lev[name]["error"])
        if _comparable(rev[name]) != _comparable(lev[name]):
            differ.append(name)
    details = {n: {k: (v, _comparable(lev[n]).get(k)) for k, v in _comparable(rev[n]).items() if v != _comparable(lev[n]).get(k)}
               for n in differ}
    assert not differ, f"facts differ between ssh and local: {details}"
    # and every check resting on fully compared evidence comes out the same
    def statuses(rep: dict) -> dict:
        collector_of = {e["id"]: e["collector"] for e in rep["evidence"]}
        return {(f["check_id"], f.get("subject")): f["status"] for f in rep["findings"]
                if f["evidence"] and not {collector_of.get(e) for e in f["evidence"]} & set(EXCLUDED)}
    assert statuses(r) == statuses(lo)
    assert statuses(r)


# -- host keys -----------------------------------------------------------------------------------
def test_unknown_host_key_is_refused(sshd: SshServer, remote_cli, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyUnknown):
        connect(sshd, known_hosts=str(empty))
    res = remote_cli("scan", "ssh", sshd.dest(), "-i", str(sshd.client_key), "--known-hosts", str(empty), "-f", "json")
    assert res.exit_code == 3
    msg = host_error(res.json())
    assert f"unknown host key for 127.0.0.1:{sshd.port} (ssh-ed25519 SHA256:" in msg
    assert f"tenken hosts trust 127.0.0.1:{sshd.port}" in msg
    assert empty.read_text() == ""  # never added automatically


def test_hosts_trust_records_the_key_then_the_scan_works(sshd: SshServer, remote_cli, tmp_path: Path) -> None:
    kh = tmp_path / "kh" / "known_hosts"
    # declining records nothing
    res = remote_cli("hosts", "trust", f"127.0.0.1:{sshd.port}", "--known-hosts", str(kh), input="n\n")
    assert res.exit_code == 1 and not (kh.exists() and kh.read_text())
    fp = res.stdout.split()[2]
    assert fp.startswith("SHA256:")
    res = remote_cli("hosts", "trust", f"127.0.0.1:{sshd.port}", "--known-hosts", str(kh), input="y\n")
    assert res.exit_code == 0, res.stderr
    text = kh.read_text()
    assert text.startswith("|1|") and "127.0.0.1" not in text  # hashed, like HashKnownHosts
    assert oct(kh.stat().st_mode & 0o777) == "0o600"
    res = remote_cli("hosts", "trust", f"127.0.0.1:{sshd.port}", "--known-hosts", str(kh), "--yes")
    assert "already trusted" in res.stdout and kh.read_text() == text
    t = connect(sshd, known_hosts=str(kh))
    assert t.run(["true"]).exit_code == 0
    t.close()


def test_changed_host_key_is_refused(sshd_factory, remote_cli, tmp_path: Path) -> None:
    server: SshServer = sshd_factory()
    kh = tmp_path / "known_hosts"
    kh.write_text(server.known_hosts_line() + "\n")
    connect(server, known_hosts=str(kh)).close()
    server.new_host_key()
    with pytest.raises(HostKeyChanged, match="man-in-the-middle"):
        connect(server, known_hosts=str(kh))
    res = remote_cli("scan", "ssh", server.dest(), "-i", str(server.client_key), "--known-hosts", str(kh), "-f", "json")
    assert res.exit_code == 3 and "has CHANGED" in host_error(res.json())
    # trust refuses a changed key unless told to replace it
    res = remote_cli("hosts", "trust", f"127.0.0.1:{server.port}", "--known-hosts", str(kh), "--yes")
    assert res.exit_code == 1 and "WARNING" in res.stderr
    res = remote_cli("hosts", "trust", f"127.0.0.1:{server.port}", "--known-hosts", str(kh), "--yes", "--replace")
    assert res.exit_code == 0
    assert len(kh.read_text().splitlines()) == 1
    connect(server, known_hosts=str(kh)).close()


# -- authentication and reachability -----------------------------------------------------------
def test_wrong_key_is_auth_failed(sshd: SshServer, remote_cli, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other")
    with pytest.raises(AuthFailed, match=r"public-key authentication as 'root' failed"):
        connect(sshd, identity=str(other))
    res = remote_cli("scan", "ssh", sshd.dest(), "-i", str(other), "--known-hosts", str(sshd.known_hosts), "--no-agent", "-f", "json")
    assert res.exit_code == 3 and "authentication" in host_error(res.json())


def test_passphrase_key_by_reference(sshd_factory, tmp_path: Path, monkeypatch, remote_cli) -> None:
    key = keygen(tmp_path / "locked", passphrase="correct horse")
    server: SshServer = sshd_factory(client_key=key)
    with pytest.raises(AuthFailed, match="passphrase-protected"):
        connect(server, identity=str(key))
    monkeypatch.setenv("TENKEN_TEST_PASSPHRASE", "correct horse")
    res = remote_cli(*ssh_args(server, "root", "--passphrase", "env:TENKEN_TEST_PASSPHRASE"))
    assert res.json()["targets"][0]["state"] == "scanned"
    assert "correct horse" not in res.stdout
    res = remote_cli(*ssh_args(server, "root", "--passphrase", "correct horse"))
    assert res.exit_code == 2 and "must be a reference" in res.stderr


def test_listener_without_banner_times_out(remote_cli, sshd: SshServer) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])  # accept and say nothing
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        with pytest.raises(TimedOut, match="banner"):
            SSHTransport("127.0.0.1", port=port, username="root", identity=str(sshd.client_key),
                         known_hosts=str(sshd.known_hosts), connect_timeout=1.5, use_agent=False).connect()
        res = remote_cli("scan", "ssh", f"root@127.0.0.1:{port}", "-i", str(sshd.client_key), "--known-hosts",
                         str(sshd.known_hosts), "--timeout", "1.5", "-f", "json")
        assert res.exit_code == 3
        assert "timeout" in host_error(res.json()).lower() or "within 1.5 s" in host_error(res.json())
    finally:
        stop.set()
        th.join()
        for s in held:
            s.close()
        srv.close()


def test_closed_port_is_unreachable(remote_cli, sshd: SshServer) -> None:
    port = free_port()
    with pytest.raises(Unreachable, match="connection refused"):
        SSHTransport("127.0.0.1", port=port, username="root", identity=str(sshd.client_key), use_agent=False,
                     known_hosts=str(sshd.known_hosts), connect_timeout=30).connect()
    res = remote_cli("scan", "ssh", f"root@127.0.0.1:{port}", "-i", str(sshd.client_key), "--timeout", "30", "-f", "json")
    assert res.exit_code == 3 and "connection refused" in host_error(res.json())


def test_jump_host_with_strict_keys(sshd_factory, tmp_path: Path) -> None:
    jump: SshServer = sshd_factory()
    inner: SshServer = sshd_factory()
    kh = tmp_path / "kh"
    kh.write_text(inner.known_hosts_line() + "\n")
    via = parse_destination(f"root@127.0.0.1:{jump.port}")
    # the jump host's key is checked too: unknown -> refused
    with pytest.raises(HostKeyUnknown, match=f"127.0.0.1:{jump.port}"):
        connect(inner, known_hosts=str(kh), jump=via)
    kh.write_text(inner.known_hosts_line() + "\n" + jump.known_hosts_line() + "\n")
    t = connect(inner, known_hosts=str(kh), jump=via)
    try:
        assert t.run(["true"]).ok and t.read_file("/etc/hostname")
    finally:
        t.close()
    inner.stop()
    with pytest.raises(Unreachable, match="jump host"):
        connect(inner, known_hosts=str(kh), jump=via)


# -- reads, commands and privileges -------------------------------------------------------------
@pytest.mark.parametrize("user", ["root", TEST_USER])
def test_reads_match_local(sshd: SshServer, user: str) -> None:
    t = connect(sshd, user)
    loc = LocalTransport()
    try:
        for path in ("/etc/passwd", "/etc/hostname", "/etc/pam.d/sshd", "/etc/group"):
            assert t.read_file(path) == loc.read_file(path)
        for d in ("/etc/pam.d", "/etc", "/etc/ssh"):
            assert t.list_dir(d) == loc.list_dir(d)
        for path in ("/etc/passwd", "/etc/ssh", "/etc/os-release", "/etc/ssh/sshd_config"):
            assert t.stat(path) == loc.stat(path), path
        for name in loc.list_dir("/etc/ssh"):  # listdir-then-stat is batched; results stay exact
            assert t.stat(f"/etc/ssh/{name}") == loc.stat(f"/etc/ssh/{name}")
        with pytest.raises(FileMissing):
            t.read_file("/etc/does-not-exist")
        with pytest.raises(FileMissing):
            t.stat("/nonexistent/dir/x")
        with pytest.raises(FileMissing, match="is a directory"):
            t.read_file("/etc")
        fifo = f"/tmp/tenken-fifo-{os.getpid()}-{user}"
        os.mkfifo(fifo)
        try:  # planted where a collector reads (a home, a log folder): refused at once, the shell lives on
            with pytest.raises(NotRegularFile, match="not a regular file"):
                t.read_file(fifo)
            assert t.read_file("/etc/hostname") == loc.read_file("/etc/hostname")
        finally:
            os.unlink(fifo)
        got = t.read_many(["/etc/passwd", "/nope", "/etc/shadow"], privileged=True)
        assert got["/etc/passwd"] == loc.read_file("/etc/passwd")
        assert isinstance(got["/nope"], FileMissing)
        assert got["/etc/shadow"] == loc.read_file("/etc/shadow")  # via sudo -n for the test user
        assert t.read_file("/etc/passwd", max_bytes=10) == loc.read_file("/etc/passwd")[:10]
        res = t.run(["sh", "-c", "printf 'a\\0b'; echo err >&2; exit 3"])
        assert (res.exit_code, res.stdout, res.stderr) == (3, b"a\0b", b"err\n")
        assert t.run(["id", "-u"], privileged=True).stdout == b"0\n"
        with pytest.raises(CommandNotFound):
            t.run(["tenken-no-such-command"])
        with pytest.raises(TimedOut):
            t.run(["sleep", "30"], timeout=1)
        assert t.run(["true"]).ok  # the connection survives a timed-out command
    finally:
        t.close()
    with pytest.raises(Unreachable):
        t.run(["true"])


def test_without_sudo_root_only_facts_are_errors(sshd: SshServer, remote_cli) -> None:
    t = connect(sshd, NOSUDO_USER)
    try:
        with pytest.raises(AccessDenied, match="needs root"):
            t.read_file("/etc/shadow", privileged=True)
        with pytest.raises(AccessDenied, match="needs root"):
            t.run(["id"], privileged=True)
        assert t.read_file("/etc/passwd")  # unprivileged reads still work
    finally:
        t.close()
    res = remote_cli(*ssh_args(sshd, NOSUDO_USER))
    rep = res.json()
    assert rep["targets"][0]["state"] == "scanned"
    [acc] = [e for e in rep["evidence"] if e["collector"] == "linux.accounts"]
    assert acc["facts"]["unavailable"]["shadow"]["reason"] == "denied"
    storage = [f for f in rep["findings"] if f["check_id"] == "linux.password.storage" and f.get("subject") == "/etc/shadow"]
    assert storage and storage[0]["status"] == "error"
    assert "needs root" in storage[0]["detail"]["en"]
    assert not [f for f in rep["findings"] if f["check_id"] == "linux.password.storage" and f["status"] == "pass"]
    # with sudo, the same scan reads /etc/shadow (its content never reaches the report)
    out = remote_cli(*ssh_args(sshd, TEST_USER)).stdout
    [acc2] = [e for e in json.loads(out)["evidence"] if e["collector"] == "linux.accounts"]
    assert "shadow" not in acc2["facts"]["unavailable"]
    assert any(a["password"] is not None for a in acc2["facts"]["accounts"])
    shadow = Path("/etc/shadow").read_text()
    for h in [ln.split(":")[1] for ln in shadow.splitlines() if ln.split(":")[1].startswith("$")]:
        assert h not in out


def test_is_root_skips_sudo(sshd: SshServer) -> None:
    t = connect(sshd, "root")
    try:
        assert t.os.value == "linux" and not t.is_local and t.can_run
        before = t.round_trips
        t.read_file("/etc/shadow", privileged=True)
        t.read_file("/etc/passwd")
        t.list_dir("/etc/sudoers.d")
        assert t.round_trips == before  # served from the connect-time batch
    finally:
        t.close()

