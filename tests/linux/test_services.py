"""Listening ports and services: real sockets seen through psutil, `ss` and `netstat`; enabled services from
systemd links, SysV rc links, inetd and xinetd in root trees; parser totality; and the live local scan."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from clihelp import run_tenken
from hypothesis import given, settings
from hypothesis import strategies as st
from roots import make_good_root, symlink, write_file
from tenken.agent.report import TargetKind
from tenken.agent.scan import scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.linux.pkgdb import parse_dpkg_status
from tenken.collectors.linux.services import (
    parse_inetd_conf,
    parse_netstat,
    parse_rpm_qa,
    parse_ss,
    parse_xinetd,
    resolve_service,
    split_hostport,
    unit_base,
)
from tenken.collectors.registry import COLLECTORS, load_all, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.local import LocalTransport

FEATURE = ("linux.password.", "linux.sshd.", "linux.services.", "linux.secrets.")
STATUSES = {"pass", "fail", "warn", "error", "not_applicable", "manual"}


class RemoteLikeTransport(LocalTransport):
    """This machine, but collected the way a remote host is: commands (`ss`, `ps`), not psutil."""

    is_local = False


@pytest.fixture
def listening() -> Iterator[tuple[int, int]]:
    """A real TCP listener and a bound UDP socket on 127.0.0.1, owned by this test process."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        yield tcp.getsockname()[1], udp.getsockname()[1]
    finally:
        tcp.close()
        udp.close()


def collect(transport) -> object:
    load_all()
    got = run_collector(COLLECTORS["linux.services"], transport, CollectSettings())
    assert got.facts is not None, got.evidence.error
    return got.facts


def test_psutil_sees_our_listeners_with_process_name(listening: tuple[int, int]) -> None:
    tcp_port, udp_port = listening
    facts = collect(LocalTransport())
    assert facts.listeners_source == "psutil"
    me = psutil.Process().name()
    found = {(li.proto, li.port): li for li in facts.listeners}
    assert found[("tcp", tcp_port)].process == me and found[("tcp", tcp_port)].address == "127.0.0.1"
    assert found[("udp", udp_port)].pid == os.getpid()
    assert facts.processes and me in facts.processes


@pytest.mark.skipif(os.geteuid() != 0, reason="ss -p shows other users' processes only to root")
def test_ss_path_as_on_a_remote_host(listening: tuple[int, int]) -> None:
    tcp_port, udp_port = listening
    facts = collect(RemoteLikeTransport())
    assert facts.listeners_source == "ss"
    found = {(li.proto, li.port): li for li in facts.listeners}
    assert found[("tcp", tcp_port)].pid == os.getpid()
    assert ("udp", udp_port) in found
    assert psutil.Process().name() in facts.processes  # from `ps -eo comm=`


def test_netstat_parser_on_real_output(listening: tuple[int, int]) -> None:
    tcp_port, _ = listening
    res = subprocess.run(["netstat", "-tulpn"], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("netstat not usable here")
    got = {(li.proto, li.port): li for li in parse_netstat(res.stdout)}
    assert got[("tcp", tcp_port)].pid == os.getpid()


@pytest.mark.skipif(os.geteuid() != 0, reason="binding port 23 needs root")
def test_listener_on_unneeded_port_is_flagged() -> None:
    """A real socket on 127.0.0.1:23 (telnet's port): ports check warns (loopback only), others pass on."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", 23))
    except OSError:
        pytest.skip("port 23 in use")
    s.listen()
    try:
        res = scan_host(LocalTransport(), load_policy(), kind=TargetKind.LOCAL, only_collectors={"linux.services"})
    finally:
        s.close()
    ports = [f for f in res.findings if f.check_id == "linux.services.ports"]
    assert [(f.status.value, f.subject) for f in ports] == [("warn", "tcp/23/127.0.0.1")]
    prompt = next(f for f in res.findings if f.check_id == "linux.services.listeners")
    assert prompt.status.value == "manual" and prompt.kind.value == "prompt" and prompt.evidence


def test_sysv_and_xinetd_services_in_a_root_tree(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    write_file(root, "/etc/init.d/rpcbind", "#!/bin/sh\n", 0o755)
    symlink(root, "/etc/rc2.d/S01rpcbind", "../init.d/rpcbind")
    write_file(root, "/etc/init.d/snmpd", "#!/bin/sh\n", 0o755)
    symlink(root, "/etc/rc2.d/K01snmpd", "../init.d/snmpd")  # a kill link: not started
    write_file(root, "/etc/xinetd.d/tftp", "service tftp\n{\n\tsocket_type = dgram\n\tserver = /usr/sbin/in.tftpd\n"
               "\tdisable = no\n}\n")
    write_file(root, "/etc/xinetd.d/rsync", "service rsync\n{\n\tdisable\t= yes\n}\n")
    rep = run_tenken("scan", "local", "--root", str(root), "-f", "json").json()
    got = {(f["status"], f["subject"]) for f in rep["findings"] if f["check_id"] == "linux.services.unnecessary"}
    assert got == {("fail", "rpcbind"), ("fail", "tftp")}


def test_policy_can_soften_and_extend(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    pol = tmp_path / "site.yaml"
    pol.write_text("services:\n  unnecessary_services: [cron, telnet]\n  active_status: warn\n")
    rep = run_tenken("scan", "local", "--root", str(root), "-f", "json", "--policy", str(pol)).json()
    got = {(f["status"], f["subject"]) for f in rep["findings"] if f["check_id"] == "linux.services.unnecessary"}
    assert got == {("warn", "cron")}  # a name tenken has no alias for matches units and processes as written


# ---------------------------------------------------------------------------------------------------
# parsers

SS = """tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=612,fd=3))
tcp   LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=501,fd=14))
tcp   LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=612,fd=4))
tcp   ESTAB  0      0          10.0.0.5:22       10.0.0.9:51234 users:(("sshd",pid=900,fd=4))
udp   UNCONN 0      0      [fe80::1%eth0]:123         [::]:*
udp   UNCONN 0      0                  *:5353            *:*    users:(("avahi-daemon",pid=480,fd=12))
"""
NETSTAT = """Active Internet connections (only servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      612/sshd: /usr/sbin
tcp6       0      0 :::23                   :::*                    LISTEN      1/systemd
udp        0      0 0.0.0.0:68              0.0.0.0:*                           455/dhclient
"""


def test_ss_and_netstat_samples() -> None:
    got = [(li.proto, li.address, li.port, li.process) for li in parse_ss(SS)]
    assert got == [("tcp", "0.0.0.0", 22, "sshd"), ("tcp", "::", 22, "sshd"), ("tcp", "127.0.0.53%lo", 53, "systemd-resolve"),
                   ("udp", "fe80::1%eth0", 123, None), ("udp", "*", 5353, "avahi-daemon")]
    assert next(li for li in parse_ss(SS) if li.port == 53).loopback_only
    got2 = [(li.proto, li.address, li.port, li.process, li.pid) for li in parse_netstat(NETSTAT)]
    assert got2 == [("tcp", "0.0.0.0", 22, "sshd", 612), ("tcp", "::", 23, "systemd", 1), ("udp", "0.0.0.0", 68, "dhclient", 455)]


def test_package_and_inetd_samples() -> None:
    status = ("Package: telnetd\nStatus: install ok installed\nVersion: 0.17-44\n\n"
              "Package: rsh-server\nStatus: deinstall ok config-files\nVersion: 0.17-22\n")
    assert parse_dpkg_status(status) == {"telnetd": "0.17-44"}
    assert parse_rpm_qa("telnet-server 0.17-85.el9\nbash 5.1.8-6.el9\n")["telnet-server"] == "0.17-85.el9"
    entries = parse_inetd_conf("#telnet stream tcp nowait root /usr/sbin/in.telnetd\n"
                               "127.0.0.1:ftp stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.ftpd\n", "/etc/inetd.conf")
    assert [(e.service, e.server, e.source) for e in entries] == [("ftp", "/usr/sbin/in.ftpd", "/etc/inetd.conf:2")]
    assert [e.service for e in parse_xinetd("service telnet\n{\n disable = no\n}\nservice x\n{\n disable = yes\n}\n", "/f")] == ["telnet"]
    assert unit_base("getty@tty1.service") == "getty" and unit_base("telnet.socket") == "telnet"
    assert resolve_service("telnetd")[0] == "telnet"
    assert "telnet" not in resolve_service("telnet")[1].packages  # the client package is not the service


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("tcpudp6 LISTENUNCONN:[]%*0123456789./-\"(),=users\n#{}servicedisable")), max_size=400))
def test_service_parsers_are_total(text: str) -> None:
    for li in parse_ss(text) + parse_netstat(text):
        assert li.port >= 0 and li.proto in ("tcp", "udp")
    parse_dpkg_status(text)
    parse_rpm_qa(text)
    parse_inetd_conf(text, "/f")
    parse_xinetd(text, "/f")
    for word in text.split():
        split_hostport(word)
        unit_base(word)


# ---------------------------------------------------------------------------------------------------
# the live machine


def test_live_local_scan_includes_feature_checks(tmp_path: Path) -> None:
    """`tenken scan local -f json` on this machine: this feature's checks run, none crashes, passes carry evidence."""
    out = tmp_path / "live.json"
    proc = subprocess.run([str(Path(sys.executable).parent / "tenken"), "scan", "local", "-f", "json", "-o", str(out)],
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]
    report = json.loads(out.read_text())
    mine = [f for f in report["findings"] if f["check_id"].startswith(FEATURE)]
    ids = {f["check_id"] for f in mine}
    for expected in ("linux.password.quality", "linux.password.lockout", "linux.sshd.root_login", "linux.services.ports",
                     "linux.services.listeners", "linux.secrets.plaintext"):
        assert expected in ids
    for f in mine:
        assert f["status"] in STATUSES
        assert "Internal error" not in f["detail"]["en"], f
        if f["status"] == "pass":
            assert f["evidence"], f["check_id"]
    ports = next(f for f in mine if f["check_id"] == "linux.services.ports")
    assert ports["status"] in ("pass", "warn", "fail")  # collected live via psutil, never "offline"
    with contextlib.suppress(StopIteration):
        ev = next(e for e in report["evidence"] if e["collector"] == "linux.services")
        assert ev["facts"]["listeners_source"] == "psutil"
