"""Time synchronisation: which NTP clients are configured with which sources, whether they run, and the
clock's state (synchronised, offset, stratum, reference) as the running daemon reports it.

Covers chrony (chrony.conf + confdir/sourcedir/include; `chronyc -n tracking|sources`), systemd-timesyncd
(timesyncd.conf + drop-ins; `timedatectl show|timesync-status`), ntpd/ntpsec (`ntpq -pn`) and OpenNTPD
(`ntpctl -s status`). Machines without systemd as PID 1 make `timedatectl` fail; the other daemons'
tools still answer. Configuration is read offline too; the clock's state only on a live host.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.linux.procs import list_processes, running_named
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

CHRONY_CONFS = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
NTP_CONFS = ("/etc/ntpsec/ntp.conf", "/etc/ntp.conf")
OPENNTPD_CONFS = ("/etc/openntpd/ntpd.conf", "/etc/ntpd.conf")
TIMESYNCD_CONF = "/etc/systemd/timesyncd.conf"
TIMESYNCD_DROPIN_DIRS = ("/etc/systemd/timesyncd.conf.d", "/run/systemd/timesyncd.conf.d", "/usr/lib/systemd/timesyncd.conf.d")
TIMESYNCD_BINARIES = ("/lib/systemd/systemd-timesyncd", "/usr/lib/systemd/systemd-timesyncd")
TIMESYNCD_WANTS = "/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service"
MAX_INCLUDED_FILES = 64

# chronyd's reference id when it serves its own clock (`local` directive): "synchronised" to nothing
CHRONY_LOCAL_REFID = "7F7F0101"


class TimeSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    daemon: str  # chrony | timesyncd | ntpd | openntpd
    kind: str  # server | pool | peer | refclock | servers | NTP | FallbackNTP | default
    host: str
    options: str = ""
    origin: str  # the file it came from
    local_clock: bool = False  # the machine's own clock (ntpd 127.127.1.0, chrony refclock SHM/SOCK aside)


class DaemonState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str  # chronyd | systemd-timesyncd | ntpd | openntpd
    config_files: list[str] = Field(default_factory=list)
    installed: bool | None = None  # its binary exists
    enabled: bool | None = None  # only known for systemd-timesyncd (the unit link)
    running: bool | None = None  # None: processes unknown (offline root)


class PeerState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    address: str
    state: str  # chrony: * + - ? x ~ ; ntpq tally: * + - # x . o or blank
    selected: bool
    stratum: int | None = None
    reach: str | None = None
    offset_seconds: float | None = None


class SyncStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    daemon: str
    queried_with: str
    synchronised: bool
    offset_seconds: float | None = None  # local clock minus reference; positive = fast
    stratum: int | None = None
    reference_id: str | None = None
    reference_name: str | None = None
    leap_status: str | None = None
    local_reference: bool = False  # synchronised only to the machine's own clock
    peers: list[PeerState] = Field(default_factory=list)


class TimeFacts(Facts):
    daemons: list[DaemonState] = Field(default_factory=list)
    sources: list[TimeSource] = Field(default_factory=list)
    status: SyncStatus | None = None  # None: see unavailable["status"]
    other_status: list[SyncStatus] = Field(default_factory=list)  # further daemons that answered
    chrony_local_stratum: int | None = None  # `local stratum N`: chronyd serves its own clock when unsynchronised


# -- helpers -----------------------------------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0}
_DURATION = re.compile(r"^([+-]?\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|sec|min)$")


def duration_seconds(text: str) -> float | None:
    """`+155ns`, `-1.021ms`, `152us`, `0.5s` -> seconds. None when not such a value."""
    m = _DURATION.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * _UNITS[m.group(2)]


def _strip_comment(line: str, marks: str = "#") -> str:
    s = line.strip()
    return "" if not s or s[0] in marks else s


# -- configuration parsers -----------------------------------------------------------------------------------


class ChronyConf(BaseModel):
    model_config = ConfigDict(frozen=True)
    sources: list[TimeSource] = Field(default_factory=list)
    confdirs: list[str] = Field(default_factory=list)
    sourcedirs: list[str] = Field(default_factory=list)
    includes: list[str] = Field(default_factory=list)
    bindcmdaddress: list[str] = Field(default_factory=list)
    cmdport: int | None = None
    local_stratum: int | None = None


def parse_chrony_conf(text: str, origin: str) -> ChronyConf:
    """chrony.conf(5) directives tenken needs. Comments start with # ! ; or %. Pure and total."""
    sources: list[TimeSource] = []
    confdirs: list[str] = []
    sourcedirs: list[str] = []
    includes: list[str] = []
    bind: list[str] = []
    cmdport = None
    local = None
    for raw in text.splitlines():
        line = _strip_comment(raw, "#!;%")
        if not line:
            continue
        t = line.split()
        d = t[0].lower()
        args = t[1:]
        if d in ("server", "pool", "peer") and args:
            sources.append(TimeSource(daemon="chrony", kind=d, host=args[0], options=" ".join(args[1:]), origin=origin))
        elif d == "refclock" and args:
            sources.append(TimeSource(daemon="chrony", kind="refclock", host=" ".join(args[:2]), options=" ".join(args[2:]), origin=origin))
        elif d == "confdir":
            confdirs += args
        elif d == "sourcedir":
            sourcedirs += args
        elif d == "include" and args:
            includes.append(args[0])
        elif d == "bindcmdaddress" and args:
            bind.append(args[0])
        elif d == "cmdport" and args and args[0].isdecimal():
            cmdport = int(args[0])
        elif d == "local":
            local = 10  # chrony's default stratum for `local`
            for i, a in enumerate(args[:-1]):
                if a == "stratum" and args[i + 1].isdecimal():
                    local = int(args[i + 1])
    return ChronyConf(sources=sources, confdirs=confdirs, sourcedirs=sourcedirs, includes=includes,
                      bindcmdaddress=bind, cmdport=cmdport, local_stratum=local)


def parse_ntp_conf(text: str, origin: str, daemon: str = "ntpd") -> list[TimeSource]:
    """ntp.conf(5) / OpenNTPD ntpd.conf(5) server lines (`server`, `pool`, `peer`, `servers`)."""
    out: list[TimeSource] = []
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        t = line.split()
        if t[0] in ("server", "pool", "peer", "servers") and len(t) > 1:
            host = t[1]
            out.append(TimeSource(daemon=daemon, kind=t[0], host=host, options=" ".join(t[2:]), origin=origin,
                                  local_clock=host.startswith("127.127.1.")))
    return out


def parse_timesyncd_conf(texts: list[tuple[str, str]]) -> tuple[list[str], list[str], str]:
    """[Time] NTP= and FallbackNTP= across timesyncd.conf and its drop-ins (later wins, empty resets).

    Returns (ntp, fallback, origin of the winning NTP= or FallbackNTP=).
    """
    ntp: list[str] = []
    fallback: list[str] | None = None
    origin = ""
    for path, text in texts:
        section = ""
        for raw in text.splitlines():
            line = _strip_comment(raw, "#;")
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
                continue
            if section != "Time" or "=" not in line:
                continue
            k, _, v = line.partition("=")
            k, vals = k.strip(), v.split()
            if k == "NTP":
                ntp = [] if not vals else ntp + vals
                origin = path
            elif k == "FallbackNTP":
                fallback = [] if not vals else (fallback or []) + vals
                origin = origin or path
    return ntp, fallback or [], origin


# -- status parsers ----------------------------------------------------------------------------------------


def _kv_colon(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def parse_chrony_tracking(text: str) -> SyncStatus | None:
    """`chronyc -n tracking`. None unless it has a Reference ID line (e.g. `506 Cannot talk to daemon`)."""
    kv = _kv_colon(text)
    ref = kv.get("Reference ID")
    if ref is None:
        return None
    m = re.match(r"^([0-9A-Fa-f]{1,8})\s*(?:\((.*)\))?", ref)
    refid = m.group(1).upper().rjust(8, "0") if m else None
    refname = (m.group(2) or "").strip() or None if m else None
    stratum = int(kv["Stratum"]) if kv.get("Stratum", "").isdecimal() else None
    offset = None
    st = re.match(r"^([0-9.]+)\s+seconds\s+(fast|slow)", kv.get("System time", ""))
    if st:
        try:
            offset = float(st.group(1)) * (1 if st.group(2) == "fast" else -1)
        except ValueError:
            offset = None
    leap = kv.get("Leap status")
    local = refid == CHRONY_LOCAL_REFID
    synced = refid not in (None, "00000000") and bool(stratum) and (leap or "").lower() != "not synchronised"
    return SyncStatus(daemon="chrony", queried_with="chronyc -n tracking", synchronised=synced and not local,
                      offset_seconds=offset, stratum=stratum, reference_id=refid, reference_name=refname,
                      leap_status=leap, local_reference=local)


_CHRONY_SOURCE = re.compile(r"^([\^=#])([*+\-?x~ ])\s+(\S+)\s+(\d+)\s+(-?\d+)\s+([0-7]+)\s+(\S+)\s+(\S+?)\[")


def parse_chrony_sources(text: str) -> list[PeerState]:
    """`chronyc -n sources`: `^* 127.0.0.1   8  -4   377     0   +155ns[ +169ns] +/- 4495ns`."""
    out = []
    for line in text.splitlines():
        m = _CHRONY_SOURCE.match(line)
        if not m:
            continue
        out.append(PeerState(address=m.group(3), state=m.group(2).strip() or " ", selected=m.group(2) == "*",
                             stratum=int(m.group(4)), reach=m.group(6), offset_seconds=duration_seconds(m.group(8))))
    return out


_NTPQ_ROW = re.compile(r"^([ *+\-#x.o])(\S+)\s+(\S+)\s+(\d+)\s+\S+\s+\S+\s+\S+\s+([0-7]+)\s+(-?[\d.]+)\s+([+-]?[\d.]+)\s+(-?[\d.]+)\s*$")


def parse_ntpq_peers(text: str) -> SyncStatus | None:
    """`ntpq -pn`: the `*` row is the system peer; our stratum is its stratum + 1. Offsets are in ms."""
    if "remote" not in text or "refid" not in text:
        return None
    peers = []
    for line in text.splitlines():
        m = _NTPQ_ROW.match(line)
        if not m:
            continue
        try:
            off = float(m.group(7)) / 1000.0
        except ValueError:
            off = None
        peers.append(PeerState(address=m.group(2), state=m.group(1).strip() or " ", selected=m.group(1) in "*o",
                               stratum=int(m.group(4)), reach=m.group(5), offset_seconds=off))
    sys_peer = next((pe for pe in peers if pe.selected), None)
    local = sys_peer is not None and sys_peer.address.startswith("127.127.1.")
    return SyncStatus(
        daemon="ntpd", queried_with="ntpq -pn", synchronised=sys_peer is not None and not local,
        offset_seconds=sys_peer.offset_seconds if sys_peer else None,
        stratum=(sys_peer.stratum + 1) if sys_peer and sys_peer.stratum is not None and sys_peer.stratum < 16 else None,
        reference_id=sys_peer.address if sys_peer else None, local_reference=local, peers=peers,
    )


def parse_timedatectl_show(text: str) -> dict[str, str]:
    """`timedatectl show` / `show-timesync`: KEY=value lines."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k and " " not in k:
            out[k.strip()] = v.strip()
    return out


def timesyncd_status(show: dict[str, str], timesync: str | None) -> SyncStatus | None:
    """Combine `timedatectl show` (NTPSynchronized) with `timedatectl timesync-status` (server, offset)."""
    if "NTPSynchronized" not in show:
        return None
    kv = _kv_colon(timesync or "")
    server = kv.get("Server")
    ref_id = ref_name = None
    if server:
        m = re.match(r"^(\S+)(?:\s+\((.*)\))?", server)
        if m:
            ref_id, ref_name = m.group(1), m.group(2)
    stratum = int(kv["Stratum"]) if kv.get("Stratum", "").isdecimal() else None
    return SyncStatus(
        daemon="timesyncd", queried_with="timedatectl show" + (" + timesync-status" if timesync else ""),
        synchronised=show.get("NTPSynchronized") == "yes", offset_seconds=duration_seconds(kv.get("Offset", "")),
        stratum=stratum, reference_id=ref_id, reference_name=ref_name, leap_status=kv.get("Leap"),
    )


_NTPCTL = re.compile(r"(\d+)/(\d+) peers valid, clock (synced|unsynced)(?:, stratum (\d+))?")


def parse_ntpctl_status(text: str) -> SyncStatus | None:
    """OpenNTPD `ntpctl -s status`: `4/4 peers valid, clock synced, stratum 3`."""
    m = _NTPCTL.search(text)
    if not m:
        return None
    return SyncStatus(daemon="openntpd", queried_with="ntpctl -s status", synchronised=m.group(3) == "synced",
                      stratum=int(m.group(4)) if m.group(4) else None)


# -- the collector -----------------------------------------------------------------------------------------


def _glob(p: Probe, pattern: str) -> list[str]:
    """Expand a glob in the last path component through the transport (chrony `include`, confdir)."""
    d, base = posixpath.split(pattern)
    if not any(c in base for c in "*?["):
        return [pattern]
    return [posixpath.join(d, n) for n in p.listdir(d) or [] if fnmatch.fnmatchcase(n, base)][:MAX_INCLUDED_FILES]


def _read_chrony(p: Probe, facts: TimeFacts) -> tuple[list[str], ChronyConf | None]:
    main_path = None
    main: ChronyConf | None = None
    for path in CHRONY_CONFS:
        data = p.file(path)
        if data is not None:
            main_path, main = path, parse_chrony_conf(data.decode("utf-8", "replace"), path)
            break
    if main is None or main_path is None:
        return [], None
    files = [main_path]
    sources = list(main.sources)
    queue: list[tuple[str, str]] = [(pat, "conf") for pat in main.includes]
    # confdir/sourcedir: the first directory that holds a file of a given name wins (chrony.conf(5))
    seen_names: set[str] = set()
    for d in main.confdirs:
        for n in sorted(x for x in p.listdir(d) or [] if x.endswith(".conf")):
            if n not in seen_names:
                seen_names.add(n)
                queue.append((f"{d}/{n}", "conf"))
    seen_names = set()
    for d in main.sourcedirs:
        for n in sorted(x for x in p.listdir(d) or [] if x.endswith(".sources")):
            if n not in seen_names:
                seen_names.add(n)
                queue.append((f"{d}/{n}", "sources"))
    local = main.local_stratum
    bind = list(main.bindcmdaddress)
    cmdport = main.cmdport
    done: set[str] = set()
    while queue and len(done) < MAX_INCLUDED_FILES:
        pattern, what = queue.pop(0)
        for path in _glob(p, pattern):
            if path in done:
                continue
            done.add(path)
            data = p.file(path)
            if data is None:
                continue
            files.append(path)
            sub = parse_chrony_conf(data.decode("utf-8", "replace"), path)
            if what == "sources":  # a .sources file may hold only server/pool/peer lines
                sources += [s for s in sub.sources if s.kind != "refclock"]
                continue
            sources += sub.sources
            queue += [(pat, "conf") for pat in sub.includes]
            local = sub.local_stratum if sub.local_stratum is not None else local
            bind += sub.bindcmdaddress
            cmdport = sub.cmdport if sub.cmdport is not None else cmdport
    facts.sources += sources
    facts.chrony_local_stratum = local
    return files, ChronyConf(bindcmdaddress=bind, cmdport=cmdport, local_stratum=local)


def chronyc_argv(conf: ChronyConf | None, command: str) -> list[str]:
    """chronyc pointed where this chronyd listens: a non-default Unix socket or command port."""
    argv = ["chronyc"]
    if conf is not None:
        sock = next((a for a in conf.bindcmdaddress if a.startswith("/")), None)
        if sock and sock not in ("/var/run/chrony/chronyd.sock", "/run/chrony/chronyd.sock"):
            argv += ["-h", sock]
        elif conf.cmdport not in (None, 0, 323):
            argv += ["-p", str(conf.cmdport)]
    return [*argv, "-n", command]


def _read_timesyncd(p: Probe, facts: TimeFacts) -> list[str]:
    texts: list[tuple[str, str]] = []
    data = p.file(TIMESYNCD_CONF)
    if data is not None:
        texts.append((TIMESYNCD_CONF, data.decode("utf-8", "replace")))
    dropins: dict[str, str] = {}
    for d in reversed(TIMESYNCD_DROPIN_DIRS):  # /etc overrides /run overrides /usr/lib for the same name
        for n in p.listdir(d) or []:
            if n.endswith(".conf"):
                dropins[n] = f"{d}/{n}"
    for n in sorted(dropins):
        data = p.file(dropins[n])
        if data is not None:
            texts.append((dropins[n], data.decode("utf-8", "replace")))
    ntp, fallback, origin = parse_timesyncd_conf(texts)
    for host in ntp:
        facts.sources.append(TimeSource(daemon="timesyncd", kind="NTP", host=host, origin=origin))
    if not ntp:
        for host in fallback:
            facts.sources.append(TimeSource(daemon="timesyncd", kind="FallbackNTP", host=host, origin=origin))
    return [t[0] for t in texts]


@collector("linux.timesync", facts=TimeFacts)
def collect_timesync(p: Probe) -> TimeFacts:
    """Time synchronisation: daemons, configured sources, and whether the clock is synchronised."""
    facts = TimeFacts()
    procs = list_processes(p, fact="processes")

    def running(name: str) -> bool | None:
        return bool(running_named(procs, (name,))) if procs is not None else None

    def exists(*paths: str) -> bool:
        return any(p.stat(x) is not None for x in paths)

    chrony_files, chrony_conf = _read_chrony(p, facts)
    chrony_installed = exists("/usr/sbin/chronyd", "/usr/bin/chronyc")
    if chrony_files or chrony_installed:
        facts.daemons.append(DaemonState(name="chronyd", config_files=chrony_files, installed=chrony_installed, running=running("chronyd")))

    ts_installed = exists(*TIMESYNCD_BINARIES)
    ts_enabled = p.stat(TIMESYNCD_WANTS) is not None
    before = len(facts.sources)
    ts_files = _read_timesyncd(p, facts) if ts_installed else []
    if ts_installed:
        facts.daemons.append(DaemonState(name="systemd-timesyncd", config_files=ts_files, installed=True,
                                         enabled=ts_enabled, running=running("systemd-timesyncd")))
        if len(facts.sources) == before and ts_enabled:
            # no NTP=/FallbackNTP=: timesyncd uses the servers compiled in by the distribution
            facts.sources.append(TimeSource(daemon="timesyncd", kind="default", host="(distribution default servers)",
                                            origin=TIMESYNCD_CONF))

    ntp_files = []
    for path in NTP_CONFS:
        data = p.file(path)
        if data is not None:
            ntp_files.append(path)
            facts.sources += parse_ntp_conf(data.decode("utf-8", "replace"), path)
            break
    ntp_installed = exists("/usr/sbin/ntpd") and not exists("/usr/sbin/openntpd") and not any(
        p.stat(c) is not None for c in OPENNTPD_CONFS)
    if ntp_files or ntp_installed:
        facts.daemons.append(DaemonState(name="ntpd", config_files=ntp_files, installed=ntp_installed, running=running("ntpd")))

    open_files = []
    for path in OPENNTPD_CONFS:
        data = p.file(path)
        if data is not None:
            open_files.append(path)
            facts.sources += parse_ntp_conf(data.decode("utf-8", "replace"), path, daemon="openntpd")
            break
    if open_files:
        facts.daemons.append(DaemonState(name="openntpd", config_files=open_files, installed=exists("/usr/sbin/ntpctl"),
                                         running=running("ntpd")))

    _query(p, facts, chrony_conf, chrony_installed or bool(chrony_files), ts_installed, bool(ntp_files) or ntp_installed, bool(open_files))
    p.excerpt("time sources (parsed)", "\n".join(f"{s.daemon} {s.kind} {s.host} ({s.origin})" for s in facts.sources) or "none configured")
    return facts


def _query(p: Probe, facts: TimeFacts, chrony_conf: ChronyConf | None, chrony: bool, timesyncd: bool, ntpd: bool, openntpd: bool) -> None:
    """Ask every present daemon's tool; the synchronised answer (else the first) becomes `status`."""
    if not p.t.can_run:
        p.note("status", Reason.OFFLINE, "the clock's synchronisation state can only be queried on a running host")
        return
    answers: list[SyncStatus] = []
    failures: list[tuple[Reason, str]] = []

    def ask(argv: list[str], fact: str) -> str | None:
        res = p.command(argv, fact=fact, timeout=15)
        if res is None:
            u = p.unavailable.get(fact)
            if u is not None:
                failures.append((u.reason, f"{' '.join(argv)}: {u.detail}"))
            return None
        text = res.text()
        if not res.ok:
            msg = (res.stderr.decode("utf-8", "replace").strip() or text.strip()).splitlines()
            failures.append((Reason.FAILED, f"{' '.join(argv)} exited {res.exit_code}: {msg[-1] if msg else 'no message'}"))
            return None
        return text

    if chrony:
        text = ask(chronyc_argv(chrony_conf, "tracking"), "chrony_status")
        st = parse_chrony_tracking(text) if text is not None else None
        if st is not None:
            src = ask(chronyc_argv(chrony_conf, "sources"), "chrony_sources")
            answers.append(st.model_copy(update={"peers": parse_chrony_sources(src) if src else []}))
        elif text is not None:
            failures.append((Reason.FAILED, "chronyc tracking: unrecognised output"))
    if ntpd:
        text = ask(["ntpq", "-pn"], "ntp_status")
        st = parse_ntpq_peers(text) if text is not None else None
        if st is not None:
            answers.append(st)
    if timesyncd:
        text = ask(["timedatectl", "show"], "timesyncd_status")
        if text is not None:
            ts = ask(["timedatectl", "timesync-status"], "timesyncd_detail")
            st = timesyncd_status(parse_timedatectl_show(text), ts)
            if st is not None:
                answers.append(st)
    if openntpd:
        text = ask(["ntpctl", "-s", "status"], "openntpd_status")
        st = parse_ntpctl_status(text) if text is not None else None
        if st is not None:
            answers.append(st)
    if answers:
        best = next((a for a in answers if a.synchronised), answers[0])
        facts.status = best
        facts.other_status = [a for a in answers if a is not best]
        return
    if failures:
        reason = Reason.FAILED if any(r is Reason.FAILED for r, _ in failures) else failures[0][0]
        p.note("status", reason, "; ".join(d for _, d in failures))
    else:
        p.note("status", Reason.ABSENT, "no time synchronisation daemon (chrony, systemd-timesyncd, ntpd, OpenNTPD) found")
