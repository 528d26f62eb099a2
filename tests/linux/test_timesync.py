"""SO-17-3 time: real chronyd instances (one serving, one synchronised to it, one with an unreachable
server) queried by the real chronyc; the clock is never touched (`chronyd -x`). Plus captured outputs of
ntpq/timedatectl, configuration layouts of Debian and RHEL, and root trees through the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import hostroot as hr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.agent.report import TargetKind
from tenken.agent.scan import scan_host
from tenken.checks.finding import Status
from tenken.checks.policy import load_policy
from tenken.checks.registry import run_checks
from tenken.collectors.evidence import Reason, Unavailable
from tenken.collectors.linux.timesync import (
    DaemonState,
    SyncStatus,
    TimeFacts,
    TimeSource,
    chronyc_argv,
    duration_seconds,
    parse_chrony_conf,
    parse_chrony_sources,
    parse_chrony_tracking,
    parse_ntp_conf,
    parse_ntpctl_status,
    parse_ntpq_peers,
    parse_timedatectl_show,
    parse_timesyncd_conf,
    timesyncd_status,
)
from tenken.collectors.transport.base import CommandResult, OsFamily
from tenken.collectors.transport.local import run_subprocess
from tenken.collectors.transport.root import RootTransport

FIX = Path(__file__).parent / "fixtures"
ENV = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

# ntpsec 1.2 (Debian 12) and classic ntp 4.2.8 (RHEL 7) `ntpq -pn`
NTPQ_NTPSEC = """\
     remote                                   refid      st t when poll reach   delay   offset   jitter
=======================================================================================================
 0.debian.pool.ntp.org                   .POOL.          16 p    -  256    0   0.0000   0.0000   0.0019
*133.243.238.163                         .NICT.           1 u  112  128  377   5.6412  -0.4123   0.2011
+210.173.160.87                          133.243.238.244  2 u   45  128  377   6.0015   0.1550   0.3202
-2001:ce8:78::2                          .GPS.            1 u   33  128  377  12.3344   1.2000   0.5000
"""
NTPQ_UNSYNCED = """\
     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
 10.0.0.1        .INIT.          16 u    -   64    0    0.000    0.000   0.000
 127.127.1.0     .LOCL.          10 l   12   64  377    0.000    0.000   0.000
"""
NTPQ_LOCAL = """\
     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
*127.127.1.0     .LOCL.          10 l   12   64  377    0.000    0.000   0.000
"""
TIMEDATECTL_SHOW = """Timezone=Asia/Tokyo
LocalRTC=no
CanNTP=yes
NTP=yes
NTPSynchronized=yes
TimeUSec=Tue 2024-04-09 10:15:02 JST
RTCTimeUSec=Tue 2024-04-09 01:15:02 JST
"""
TIMESYNC_STATUS = """       Server: 133.243.238.164 (ntp.nict.jp)
Poll interval: 34min 8s (min: 32s; max 34min 8s)
         Leap: normal
      Version: 4
      Stratum: 1
    Reference: NICT
    Precision: 1us (-24)
Root distance: 152us (max: 5s)
       Offset: -1.021ms
        Delay: 5.304ms
       Jitter: 1.062ms
 Packet count: 42
    Frequency: -9.917ppm
"""


# -- real chronyd -------------------------------------------------------------------------------------------


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Chrony:
    name: str
    conf: str  # the chrony.conf text it runs with
    sock: str  # its command socket

    def chronyc(self, command: str) -> str:
        res = subprocess.run(["chronyc", "-h", self.sock, "-n", command], capture_output=True, text=True, env=ENV, timeout=10)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout


@pytest.fixture(scope="module")
def chronyds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Chrony]]:
    """Three chronyd with private pid, socket and drift files; `-x` leaves the system clock alone."""
    if not Path("/usr/sbin/chronyd").exists():
        pytest.skip("chronyd not installed (tests/run-all.sh installs chrony)")
    d = tmp_path_factory.mktemp("chrony")
    os.chmod(d, 0o700)
    serve, dead = _free_udp_port(), _free_udp_port()
    confs = {
        # serves its own clock at stratum 3 on a private port: the "upstream" for the synced client
        "local": f"local stratum 3\nallow 127.0.0.1\nport {serve}\nbindaddress 127.0.0.1\n",
        "synced": f"server 127.0.0.1 port {serve} iburst minpoll -4 maxpoll -4\nport 0\n",
        "lost": f"server 127.0.0.1 port {dead} iburst minpoll -4 maxpoll -4\nport 0\n",
    }
    user = ["-u", "root"] if os.geteuid() == 0 else ["-U", "-u", os.environ.get("USER", "nobody")]
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, Chrony] = {}
    for name, body in confs.items():
        sock = f"{d}/{name}.sock"
        conf = f"{body}cmdport 0\nbindcmdaddress {sock}\npidfile {d}/{name}.pid\ndriftfile {d}/{name}.drift\n"
        (d / f"{name}.conf").write_text(conf)
        log = open(d / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen(["chronyd", "-x", *user, "-d", "-f", str(d / f"{name}.conf")], stdout=log, stderr=log))
        out[name] = Chrony(name, conf, sock)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # readiness, not a timing assertion
            if all(p.poll() is None for p in procs) and all(Path(c.sock).exists() for c in out.values()):
                r = subprocess.run(["chronyc", "-h", out["synced"].sock, "-n", "tracking"], capture_output=True, text=True, env=ENV)
                if "7F000001" in r.stdout:
                    break
            if any(p.poll() is not None for p in procs):
                logs = "\n".join((d / f"{n}.log").read_text(errors="replace") for n in confs)
                pytest.fail(f"chronyd exited: {logs}")
            time.sleep(0.3)
        else:
            pytest.fail("the synced chronyd did not select its source within 30 s")
        yield out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


def test_live_chronyc_tracking_synchronised(chronyds: dict[str, Chrony]) -> None:
    st_ = parse_chrony_tracking(chronyds["synced"].chronyc("tracking"))
    assert st_ is not None
    assert (st_.synchronised, st_.reference_id, st_.reference_name, st_.stratum, st_.leap_status) == (
        True, "7F000001", "127.0.0.1", 4, "Normal")
    assert st_.offset_seconds is not None and abs(st_.offset_seconds) < 1.0
    peers = parse_chrony_sources(chronyds["synced"].chronyc("sources"))
    assert [(p.address, p.state, p.selected, p.stratum) for p in peers] == [("127.0.0.1", "*", True, 3)]


def test_live_chronyc_unsynchronised_and_local(chronyds: dict[str, Chrony]) -> None:
    lost = parse_chrony_tracking(chronyds["lost"].chronyc("tracking"))
    assert lost is not None and not lost.synchronised
    assert (lost.reference_id, lost.stratum, lost.leap_status) == ("00000000", 0, "Not synchronised")
    (peer,) = parse_chrony_sources(chronyds["lost"].chronyc("sources"))
    assert (peer.state, peer.selected, peer.reach) == ("?", False, "0")
    local = parse_chrony_tracking(chronyds["local"].chronyc("tracking"))
    assert local is not None and local.local_reference and not local.synchronised and local.stratum == 3


class RootFilesLocalCommands(RootTransport):
    """Configuration from a root tree, commands and processes from this machine (where the chronyd run)."""

    can_run = True
    is_local = True

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        return run_subprocess(argv, timeout)


def _scan_time(root: Path) -> tuple[list[tuple[str, str, str | None]], TimeFacts]:
    with RootFilesLocalCommands(root) as t:
        res = scan_host(t, load_policy(), kind=TargetKind.LOCAL, only_collectors={"linux.timesync"})
    facts = res.facts["linux.timesync"]
    assert isinstance(facts, TimeFacts)
    got = sorted((f.check_id, f.status.value, f.subject) for f in res.findings if f.check_id.startswith("linux.time."))
    return got, facts


def test_collector_end_to_end_against_real_chronyd(chronyds: dict[str, Chrony], tmp_path: Path) -> None:
    """The collector reads chrony.conf, finds the non-default command socket there, asks chronyc."""
    for name, expect in (
        ("synced", [("linux.time.sources", "pass", None), ("linux.time.sync", "pass", None)]),
        ("lost", [("linux.time.sources", "pass", None), ("linux.time.sync", "fail", "unsynchronised")]),
        ("local", [("linux.time.sources", "fail", None), ("linux.time.sync", "fail", "unsynchronised")]),
    ):
        root = tmp_path / name
        hr.write(root, "/etc/chrony/chrony.conf", chronyds[name].conf)
        got, facts = _scan_time(root)
        assert got == expect, name
        assert facts.status is not None and facts.status.daemon == "chrony"
        assert [d.name for d in facts.daemons] == ["chronyd"] and facts.daemons[0].running is True
    _, facts = _scan_time(tmp_path / "synced")
    assert facts.status is not None and facts.status.peers[0].selected and facts.status.reference_id == "7F000001"
    _, facts = _scan_time(tmp_path / "local")
    assert facts.chrony_local_stratum == 3


def test_chronyc_argv_follows_the_config() -> None:
    assert chronyc_argv(None, "tracking") == ["chronyc", "-n", "tracking"]
    c = parse_chrony_conf("bindcmdaddress /var/run/chrony/chronyd.sock\nbindcmdaddress 127.0.0.1\n", "x")
    assert chronyc_argv(c, "tracking") == ["chronyc", "-n", "tracking"]  # the default socket needs no -h
    assert chronyc_argv(parse_chrony_conf("cmdport 10323\n", "x"), "sources") == ["chronyc", "-p", "10323", "-n", "sources"]


# -- captured outputs ----------------------------------------------------------------------------------------


def test_captured_chronyc_outputs() -> None:
    synced = parse_chrony_tracking((FIX / "chronyc-tracking.synced.txt").read_text())
    assert synced is not None and synced.synchronised and synced.offset_seconds == pytest.approx(1.655e-6)
    unsynced = parse_chrony_tracking((FIX / "chronyc-tracking.unsynced.txt").read_text())
    assert unsynced is not None and not unsynced.synchronised
    assert parse_chrony_tracking("506 Cannot talk to daemon\n") is None
    (peer,) = parse_chrony_sources((FIX / "chronyc-sources.synced.txt").read_text())
    assert peer.offset_seconds == pytest.approx(213e-9)
    assert parse_chrony_sources((FIX / "chronyc-sources.local.txt").read_text()) == []


def test_ntpq_timedatectl_ntpctl() -> None:
    s = parse_ntpq_peers(NTPQ_NTPSEC)
    assert s is not None and s.synchronised
    assert (s.reference_id, s.stratum, s.offset_seconds) == ("133.243.238.163", 2, pytest.approx(-0.0004123))
    assert [p.state for p in s.peers] == [" ", "*", "+", "-"]
    u = parse_ntpq_peers(NTPQ_UNSYNCED)
    assert u is not None and not u.synchronised and u.stratum is None
    loc = parse_ntpq_peers(NTPQ_LOCAL)
    assert loc is not None and loc.local_reference and not loc.synchronised
    assert parse_ntpq_peers("ntpq: read: Connection refused\n") is None
    ts = timesyncd_status(parse_timedatectl_show(TIMEDATECTL_SHOW), TIMESYNC_STATUS)
    assert ts is not None
    assert (ts.synchronised, ts.reference_id, ts.reference_name, ts.stratum, ts.offset_seconds) == (
        True, "133.243.238.164", "ntp.nict.jp", 1, pytest.approx(-0.001021))
    assert timesyncd_status(parse_timedatectl_show("System has not been booted with systemd"), None) is None
    o = parse_ntpctl_status("4/4 peers valid, clock synced, stratum 3\n")
    assert o is not None and o.synchronised and o.stratum == 3
    o2 = parse_ntpctl_status("0/1 peers valid, clock unsynced\n")
    assert o2 is not None and not o2.synchronised
    assert duration_seconds("34min") == 2040 and duration_seconds("+155ns") == pytest.approx(155e-9)
    assert duration_seconds("fast") is None


def test_config_parsers() -> None:
    c = parse_chrony_conf("! comment\n% other\npool ntp.nict.jp iburst maxsources 2\nserver 10.1.1.1\n"
                          "refclock PHC /dev/ptp0 poll 2\nlocal stratum 10 orphan\nconfdir /etc/chrony/conf.d\n"
                          "sourcedir /run/chrony-dhcp /etc/chrony/sources.d\ninclude /etc/chrony/extra/*.conf\n", "/etc/chrony/chrony.conf")
    assert [(s.kind, s.host, s.options) for s in c.sources] == [
        ("pool", "ntp.nict.jp", "iburst maxsources 2"), ("server", "10.1.1.1", ""), ("refclock", "PHC /dev/ptp0", "poll 2")]
    assert c.local_stratum == 10 and c.sourcedirs == ["/run/chrony-dhcp", "/etc/chrony/sources.d"]
    assert c.includes == ["/etc/chrony/extra/*.conf"]
    ntp = parse_ntp_conf("server 127.127.1.0\nfudge 127.127.1.0 stratum 10\npool ntp.nict.jp iburst\n", "/etc/ntp.conf")
    assert [(s.host, s.local_clock) for s in ntp] == [("127.127.1.0", True), ("ntp.nict.jp", False)]
    ntp_, fb, origin = parse_timesyncd_conf([
        ("/etc/systemd/timesyncd.conf", "[Time]\n#NTP=\nFallbackNTP=0.debian.pool.ntp.org\n"),
        ("/etc/systemd/timesyncd.conf.d/10-hospital.conf", "[Time]\nNTP=ntp1.hospital.local ntp2.hospital.local\n"),
    ])
    assert (ntp_, fb, origin) == (["ntp1.hospital.local", "ntp2.hospital.local"], ["0.debian.pool.ntp.org"],
                                  "/etc/systemd/timesyncd.conf.d/10-hospital.conf")
    assert parse_timesyncd_conf([("a", "[Time]\nNTP=x\n"), ("b", "[Time]\nNTP=\n")])[0] == []  # empty resets


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600)


@given(text)
@settings(max_examples=250)
def test_parsers_are_total(s: str) -> None:
    parse_chrony_conf(s, "f")
    parse_ntp_conf(s, "f")
    parse_timesyncd_conf([("f", s)])
    parse_chrony_tracking(s)
    parse_chrony_tracking("Reference ID : " + s)
    parse_chrony_sources(s)
    parse_ntpq_peers("remote refid\n" + s)
    parse_timedatectl_show(s)
    timesyncd_status(parse_timedatectl_show(s), s)
    timesyncd_status({"NTPSynchronized": "yes"}, s)
    parse_ntpctl_status(s)
    duration_seconds(s)


@given(st.lists(st.sampled_from([
    "Reference ID    : ", "7F000001 ", "(x)", "\n", "Stratum         : ", "99999999999999999999", "System time     : ",
    "1e400 seconds fast of NTP time", "^* ", "^? ", "127.0.0.1 ", " 8 ", "-4 ", "377 ", "+155ns[ +169ns]", "Leap status : ",
    "*133.243.238.163 ", ".NICT. ", "1 u 33 64 377 5.1 -0.4 0.2", "Server: ", "Offset: -1e999ms",
]), max_size=40))
@settings(max_examples=300)
def test_parsers_survive_near_miss_input(parts: list[str]) -> None:
    s = "".join(parts)
    parse_chrony_tracking(s)
    parse_chrony_sources(s)
    parse_ntpq_peers("remote refid\n" + s)
    timesyncd_status({"NTPSynchronized": "no"}, s)


# -- root trees through the CLI ------------------------------------------------------------------------------

T = "linux.time."


def test_root_with_nict_pool_and_with_nothing(tmp_path: Path) -> None:
    good = hr.debian(tmp_path / "good")
    hr.write(good, "/etc/chrony/chrony.conf", "confdir /etc/chrony/conf.d\npool ntp.nict.jp iburst\nsourcedir /etc/chrony/sources.d\n"
                                              "driftfile /var/lib/chrony/chrony.drift\nmakestep 1 3\n")
    hr.write(good, "/usr/sbin/chronyd", b"\x7fELF")
    rep = hr.scan(good)
    assert hr.mine(rep, T) == [
        ("linux.time.sources", "pass", None, ["SO-17-3"]),
        ("linux.time.sync", "error", None, ["SO-17-3"]),  # offline: the clock's state is unknown, never a pass
    ]
    assert "ntp.nict.jp (chrony pool)" in hr.detail(rep, "linux.time.sources")
    weak = hr.debian(tmp_path / "weak")
    rep2 = hr.scan(weak)
    assert hr.mine(rep2, T) == [
        ("linux.time.sources", "fail", None, ["SO-17-3"]),
        ("linux.time.sync", "error", None, ["SO-17-3"]),
    ]
    assert "No NTP time source" in hr.detail(rep2, "linux.time.sources")


def test_rhel_chrony_with_sourcedir_and_include(tmp_path: Path) -> None:
    root = hr.rhel(tmp_path / "r")
    hr.write(root, "/etc/chrony.conf", "# RHEL layout\nsourcedir /etc/chrony/sources.d\ninclude /etc/chrony.d/*.conf\n"
                                       "keyfile /etc/chrony.keys\n")
    hr.write(root, "/etc/chrony/sources.d/hospital.sources", "server ntp1.hospital.local iburst\nrefclock SHM 0\n")
    hr.write(root, "/etc/chrony.d/10-nict.conf", "server ntp.nict.jp iburst\n")
    hr.write(root, "/etc/chrony.d/README", "pool should-not-be-read.example\n")
    pol = tmp_path / "p.yaml"
    pol.write_text("time:\n  trusted_servers: [nict.jp]\n")
    rep = hr.scan(root, "--policy", str(pol))
    assert hr.mine(rep, "linux.time.sources") == [("linux.time.sources", "pass", None, ["SO-17-3"])]
    d = hr.detail(rep, "linux.time.sources")
    assert "ntp1.hospital.local (chrony server)" in d and "ntp.nict.jp (chrony server)" in d
    assert "should-not-be-read" not in d and "SHM" not in d  # .sources files hold no refclocks


def test_untrusted_sources_warn(tmp_path: Path) -> None:
    root = hr.debian(tmp_path / "r")
    hr.write(root, "/etc/chrony/chrony.conf", "pool 2.debian.pool.ntp.org iburst\n")
    pol = tmp_path / "p.yaml"
    pol.write_text("time:\n  trusted_servers: [ntp.nict.jp, ntp1.hospital.local]\n")
    rep = hr.scan(root, "--policy", str(pol))
    assert ("linux.time.sources", "warn", "trusted", ["SO-17-3"]) in hr.mine(rep, T)


def test_timesyncd_and_ntp_layouts(tmp_path: Path) -> None:
    ts = hr.debian(tmp_path / "ts")
    hr.write(ts, "/lib/systemd/systemd-timesyncd", b"\x7fELF")
    hr.write(ts, "/etc/systemd/timesyncd.conf", "[Time]\n#NTP=\n")
    hr.write(ts, "/etc/systemd/timesyncd.conf.d/hospital.conf", "[Time]\nNTP=ntp.nict.jp\n")
    rep = hr.scan(ts)
    assert ("linux.time.sources", "pass", None, ["SO-17-3"]) in hr.mine(rep, T)
    assert "ntp.nict.jp (timesyncd NTP)" in hr.detail(rep, "linux.time.sources")
    # enabled timesyncd without NTP=: the distribution's built-in servers are used
    ts2 = hr.debian(tmp_path / "ts2")
    hr.write(ts2, "/lib/systemd/systemd-timesyncd", b"\x7fELF")
    os.makedirs(ts2 / "etc/systemd/system/sysinit.target.wants")
    os.symlink("/lib/systemd/system/systemd-timesyncd.service", ts2 / "etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service")
    rep2 = hr.scan(ts2)
    assert "distribution default servers" in hr.detail(rep2, "linux.time.sources")
    # ntpd following only its own clock (127.127.1.0) has no real source
    nt = hr.rhel(tmp_path / "nt")
    hr.write(nt, "/etc/ntp.conf", "driftfile /var/lib/ntp/drift\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n")
    rep3 = hr.scan(nt)
    assert ("linux.time.sources", "fail", None, ["SO-17-3"]) in hr.mine(rep3, T)
    assert "own clock" in hr.detail(rep3, "linux.time.sources")


# -- the sync check's judgement on every state -----------------------------------------------------------------


def _judge(facts: TimeFacts, policy_yaml: str | None = None, tmp: Path | None = None) -> list[tuple[str, str | None]]:
    pol = load_policy()
    if policy_yaml is not None and tmp is not None:
        f = tmp / "p.yaml"
        f.write_text(policy_yaml)
        pol = load_policy(f)
    out = run_checks(os=OsFamily.LINUX, target="t", facts={"linux.timesync": facts}, evidence_ids={"linux.timesync": "e-1"},
                     evidence_errors={}, policy=pol, only={"linux.time.sync"})
    return [(f.status.value, f.subject) for f in out]


SRC = [TimeSource(daemon="chrony", kind="pool", host="ntp.nict.jp", origin="/etc/chrony/chrony.conf")]


def _synced(offset: float, stratum: int = 2) -> SyncStatus:
    return SyncStatus(daemon="chrony", queried_with="chronyc -n tracking", synchronised=True, offset_seconds=offset,
                      stratum=stratum, reference_id="85F3EEA3", reference_name="133.243.238.163")


def test_sync_check_states(tmp_path: Path) -> None:
    stopped = TimeFacts(daemons=[DaemonState(name="chronyd", running=False, installed=True)], sources=SRC,
                        unavailable={"status": Unavailable(reason=Reason.FAILED, detail="chronyc -n tracking exited 1: 506 Cannot talk to daemon")})
    assert _judge(stopped) == [("fail", "not-running")]
    nothing = TimeFacts(unavailable={"status": Unavailable(reason=Reason.ABSENT, detail="no time synchronisation daemon")})
    assert _judge(nothing) == [("fail", None)]
    offline = TimeFacts(sources=SRC, daemons=[DaemonState(name="chronyd")],
                        unavailable={"status": Unavailable(reason=Reason.OFFLINE, detail="offline root")})
    assert _judge(offline) == [("error", None)]
    running_but_mute = TimeFacts(daemons=[DaemonState(name="chronyd", running=True)], sources=SRC,
                                 unavailable={"status": Unavailable(reason=Reason.TIMEOUT, detail="chronyc timed out")})
    assert _judge(running_but_mute) == [("error", None)]
    assert _judge(TimeFacts(sources=SRC, status=_synced(0.002))) == [("pass", None)]
    assert _judge(TimeFacts(sources=SRC, status=_synced(-3.5))) == [("warn", "offset")]
    assert _judge(TimeFacts(sources=SRC, status=_synced(120.0))) == [("fail", "offset")]
    assert _judge(TimeFacts(sources=SRC, status=_synced(0.01, stratum=7))) == [("warn", "stratum")]
    assert _judge(TimeFacts(sources=SRC, status=_synced(0.5)), "time:\n  max_offset_seconds: 0.1\n", tmp_path) == [("warn", "offset")]
    assert Status.PASS.value == "pass"
