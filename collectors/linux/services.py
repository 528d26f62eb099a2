"""What runs and listens: listening sockets, enabled services (systemd, SysV, inetd/xinetd), processes and
installed server packages.

Enablement is read from files (the `*.wants/` symlinks, rc?.d links, inetd.conf), so it works on an offline
image and on hosts without a running systemd. Sockets and processes only exist on a running host: psutil
locally, `ss`/`netstat` and `ps` remotely, and `offline` under `--root`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.linux.pkgdb import installed_dpkg
from tenken.collectors.linux.procs import process_names
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

SYSTEMD_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path", ".target", ".mount")


@dataclass(frozen=True)
class ServiceSpec:
    """How one network service shows itself: unit names, inetd service names, processes, packages.

    Client packages (`telnet`, `tftp`, `rsh-client`) are deliberately absent: only servers are services.
    """

    units: frozenset[str]
    inetd: frozenset[str] = frozenset()
    processes: frozenset[str] = frozenset()
    packages: frozenset[str] = frozenset()


def _s(units: str, inetd: str = "", processes: str = "", packages: str = "") -> ServiceSpec:
    return ServiceSpec(*(frozenset(x.split()) for x in (units, inetd, processes, packages)))


# canonical name -> (names a policy may use for it, how it shows). Debian and RHEL package names both.
KNOWN_SERVICES: dict[str, tuple[frozenset[str], ServiceSpec]] = {
    "telnet": (frozenset({"telnet", "telnetd", "telnet-server"}),
               _s("telnet telnetd inetutils-telnetd", "telnet", "in.telnetd telnetd",
                  "telnetd inetutils-telnetd telnetd-ssl telnet-server")),
    "rsh": (frozenset({"rsh", "rshd", "rsh-server"}),
            _s("rsh rshd", "shell", "in.rshd rshd", "rsh-server rsh-redone-server")),
    "rlogin": (frozenset({"rlogin", "rlogind"}), _s("rlogin rlogind", "login", "in.rlogind rlogind", "rsh-server rsh-redone-server")),
    "rexec": (frozenset({"rexec", "rexecd"}), _s("rexec rexecd", "exec", "in.rexecd rexecd", "rsh-server")),
    "tftp": (frozenset({"tftp", "tftpd", "tftp-server"}),
             _s("tftp tftpd tftpd-hpa atftpd", "tftp", "in.tftpd tftpd atftpd", "tftpd tftpd-hpa atftpd tftp-server")),
    "ftp": (frozenset({"ftp", "ftpd"}), _s("ftpd inetutils-ftpd", "ftp", "in.ftpd ftpd", "ftpd inetutils-ftpd")),
    "vsftpd": (frozenset({"vsftpd"}), _s("vsftpd", "", "vsftpd", "vsftpd")),
    "proftpd": (frozenset({"proftpd"}), _s("proftpd", "", "proftpd", "proftpd proftpd-basic proftpd-core")),
    "pure-ftpd": (frozenset({"pure-ftpd"}), _s("pure-ftpd", "", "pure-ftpd", "pure-ftpd pure-ftpd-mysql pure-ftpd-ldap")),
    "inetd": (frozenset({"inetd", "openbsd-inetd", "inetutils-inetd"}),
              _s("inetd openbsd-inetd inetutils-inetd", "", "inetd", "openbsd-inetd inetutils-inetd")),
    "xinetd": (frozenset({"xinetd"}), _s("xinetd", "", "xinetd", "xinetd")),
    "nis": (frozenset({"nis", "ypserv", "ypbind", "yppasswdd"}),
            _s("nis ypserv ypbind yppasswdd ypxfrd", "", "ypserv ypbind rpc.yppasswdd", "nis ypserv ypbind yp-tools")),
    "rpcbind": (frozenset({"rpcbind", "portmap"}), _s("rpcbind portmap", "", "rpcbind portmap", "rpcbind portmap")),
    "avahi-daemon": (frozenset({"avahi-daemon", "avahi"}), _s("avahi-daemon", "", "avahi-daemon", "avahi-daemon avahi")),
    "snmpd": (frozenset({"snmpd", "snmp", "net-snmp"}), _s("snmpd", "", "snmpd", "snmpd net-snmp")),
    "talk": (frozenset({"talk", "talkd", "ntalk"}),
             _s("talk talkd ntalk", "talk ntalk", "in.talkd in.ntalkd talkd", "talkd inetutils-talkd talk-server")),
    "finger": (frozenset({"finger", "fingerd"}),
               _s("finger fingerd", "finger", "in.fingerd fingerd", "fingerd finger-server cfingerd efingerd")),
    "nfs": (frozenset({"nfs", "nfs-server", "nfs-kernel-server"}),
            _s("nfs-server nfs-kernel-server", "", "nfsd rpc.mountd", "nfs-kernel-server nfs-utils")),
    "samba": (frozenset({"samba", "smbd", "nmbd"}), _s("smbd nmbd smb nmb samba", "", "smbd nmbd", "samba")),
    "cups": (frozenset({"cups", "cupsd"}), _s("cups cupsd", "", "cupsd", "cups cups-daemon")),
    "sshd": (frozenset({"sshd", "ssh", "openssh-server"}), _s("ssh sshd", "", "sshd", "openssh-server")),
}

PACKAGES_OF_INTEREST = frozenset(p for _, spec in KNOWN_SERVICES.values() for p in spec.packages)


def resolve_service(name: str) -> tuple[str, ServiceSpec]:
    """A policy's service name -> canonical name and spec; unknown names match themselves exactly."""
    for canon, (aliases, spec) in KNOWN_SERVICES.items():
        if name in aliases or name == canon:
            return canon, spec
    return name, _s(name, name, name, name)


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Listener(_M):
    proto: str  # tcp | udp
    address: str
    port: int
    process: str | None = None
    pid: int | None = None

    @property
    def loopback_only(self) -> bool:
        a = self.address.split("%", 1)[0]
        return a.startswith("127.") or a == "::1"


class EnabledUnit(_M):
    name: str  # e.g. telnet.socket
    wanted_by: str  # e.g. sockets.target.wants
    vendor: bool = False  # enabled statically by the package (under /usr/lib or /lib)


class InetdEntry(_M):
    service: str
    source: str  # file:line
    server: str | None = None


class ServicesFacts(Facts):
    listeners: list[Listener] = Field(default_factory=list)
    listeners_source: str | None = None  # psutil | ss | netstat
    systemd_present: bool = False
    enabled_units: list[EnabledUnit] = Field(default_factory=list)
    sysv_enabled: list[str] = Field(default_factory=list)
    inetd_entries: list[InetdEntry] = Field(default_factory=list)
    processes: list[str] = Field(default_factory=list)
    packages: dict[str, str] = Field(default_factory=dict)  # of interest only: name -> version
    package_manager: str | None = None  # dpkg | rpm
    installed_package_count: int | None = None


# ---------------------------------------------------------------------------------------------------
# parsers (pure, total)


def split_hostport(s: str) -> tuple[str, int] | None:
    """`0.0.0.0:22`, `[::]:22`, `*:22`, `127.0.0.53%lo:53`, `:::22` (netstat) -> (address, port)."""
    s = s.strip()
    if ":" not in s:
        return None
    host, _, port = s.rpartition(":")
    if not port.isdigit():
        return None
    host = host.strip("[]") or "*"
    if host == "::" or host == "":
        host = "::"
    return host, int(port)


_SS_PROC = re.compile(r'users:\(\("([^"]*)",pid=(\d+)')


def parse_ss(text: str) -> list[Listener]:
    """`ss -H -tulpn`: Netid State Recv-Q Send-Q Local Peer [Process]."""
    out: list[Listener] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 5 or f[0] not in ("tcp", "udp", "tcp6", "udp6"):
            continue
        state = f[1]
        proto = f[0].rstrip("6")
        if proto == "tcp" and state != "LISTEN":
            continue
        if proto == "udp" and state not in ("UNCONN", "LISTEN"):
            continue
        hp = split_hostport(f[4])
        if hp is None:
            continue
        m = _SS_PROC.search(line)
        out.append(Listener(proto=proto, address=hp[0], port=hp[1],
                            process=m.group(1) if m else None, pid=int(m.group(2)) if m else None))
    return _dedup(out)


def parse_netstat(text: str) -> list[Listener]:
    """`netstat -tulpn`: Proto Recv-Q Send-Q Local Foreign [State] PID/Program."""
    out: list[Listener] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 5 or f[0] not in ("tcp", "udp", "tcp6", "udp6"):
            continue
        proto = f[0].rstrip("6")
        if proto == "tcp" and (len(f) < 6 or f[5] != "LISTEN"):
            continue
        if proto == "udp" and f[4].rsplit(":", 1)[-1] not in ("*", "0"):
            continue  # a connected UDP socket has a peer: not a listener
        hp = split_hostport(f[3])
        if hp is None:
            continue
        rest = " ".join(f[6:] if proto == "tcp" else f[5:])  # the program name may hold spaces
        pid = name = None
        if "/" in rest:
            pid_s, _, prog = rest.partition("/")
            pid = int(pid_s) if pid_s.isdigit() else None
            name = (prog.split() or [""])[0].rstrip(":")
        out.append(Listener(proto=proto, address=hp[0], port=hp[1], process=name or None, pid=pid))
    return _dedup(out)


def _dedup(items: list[Listener]) -> list[Listener]:
    seen: set[tuple[str, str, int]] = set()
    out = []
    for li in sorted(items, key=lambda x: (x.proto, x.port, x.address)):
        key = (li.proto, li.address, li.port)
        if key not in seen:
            seen.add(key)
            out.append(li)
    return out


def parse_rpm_qa(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
        elif len(parts) == 1:
            out[parts[0]] = ""
    return out


def parse_inetd_conf(text: str, source: str) -> list[InetdEntry]:
    """Active (uncommented) /etc/inetd.conf lines: service socket proto wait user server [args]."""
    out: list[InetdEntry] = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        f = s.split()
        if len(f) < 6:
            continue
        service = f[0].split(":")[-1]  # [addr:]service
        server = f[6] if len(f) > 6 and f[5].endswith("tcpd") else f[5]
        out.append(InetdEntry(service=service, source=f"{source}:{n}", server=server))
    return out


def parse_xinetd(text: str, source: str) -> list[InetdEntry]:
    """xinetd `service NAME { ... disable = yes|no }`; a service without `disable = yes` is enabled."""
    out: list[InetdEntry] = []
    name = None
    start = 0
    disabled = False
    server = None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        m = re.match(r"^service\s+(\S+)", s)
        if m:
            name, start, disabled, server = m.group(1), n, False, None
            continue
        if name is None:
            continue
        kv = re.match(r"^(\w+)\s*[+-]?=\s*(.*)$", s)
        if kv and kv.group(1) == "disable":
            disabled = kv.group(2).strip().lower() == "yes"
        elif kv and kv.group(1) == "server":
            server = kv.group(2).strip()
        if s.startswith("}"):
            if not disabled:
                out.append(InetdEntry(service=name, source=f"{source}:{start}", server=server))
            name = None
    return out


def unit_base(unit: str) -> str:
    """telnet.socket -> telnet; getty@tty1.service -> getty; name without a unit suffix stays."""
    for suf in UNIT_SUFFIXES:
        if unit.endswith(suf):
            unit = unit[: -len(suf)]
            break
    return unit.split("@", 1)[0]


# ---------------------------------------------------------------------------------------------------
# collector


def _listeners_local(p: Probe) -> list[Listener]:
    import psutil

    out: list[Listener] = []
    names: dict[int, str] = {}
    for c in psutil.net_connections(kind="inet"):
        if not c.laddr:
            continue
        is_tcp = c.type == 1  # socket.SOCK_STREAM
        if is_tcp and c.status != psutil.CONN_LISTEN:
            continue
        if not is_tcp and c.raddr:
            continue
        name = None
        if c.pid:
            if c.pid not in names:
                try:
                    names[c.pid] = psutil.Process(c.pid).name()
                except (psutil.Error, OSError):
                    names[c.pid] = ""
            name = names[c.pid] or None
        out.append(Listener(proto="tcp" if is_tcp else "udp", address=c.laddr.ip, port=c.laddr.port, process=name, pid=c.pid))
    out = _dedup(out)
    p.api("psutil.net_connections(kind=inet) LISTEN",
          "\n".join(f"{li.proto} {li.address}:{li.port} {li.process or '-'}" for li in out))
    return out


def _collect_listeners(p: Probe, facts: ServicesFacts) -> None:
    if p.t.is_local:
        facts.listeners = _listeners_local(p)
        facts.listeners_source = "psutil"
        return
    if not p.t.can_run:
        p.note("listeners", Reason.OFFLINE, "listening sockets exist only on a running host")
        return
    # root shows every socket's process; without sudo, ss still lists every socket (names only for ours)
    for privileged in (True, False):
        res = p.command(["ss", "-H", "-tulpn"], privileged=privileged)
        if res is not None and res.ok:
            facts.listeners = parse_ss(res.text())
            facts.listeners_source = "ss" if privileged else "ss (unprivileged: process names partial)"
            return
    res2 = p.command(["netstat", "-tulpn"], privileged=True, fact="listeners")
    if res2 is not None and res2.ok:
        facts.listeners = parse_netstat(res2.text())
        facts.listeners_source = "netstat"
        return
    p.note("listeners", Reason.FAILED, "neither `ss -tulpn` nor `netstat -tulpn` worked")


def _collect_units(p: Probe, facts: ServicesFacts) -> None:
    seen: set[tuple[str, str]] = set()
    found_any_dir = False
    for base in SYSTEMD_DIRS:
        names = p.listdir(base)
        if names is None:
            continue
        found_any_dir = True
        vendor = base != "/etc/systemd/system"
        for d in names:
            if not (d.endswith(".wants") or d.endswith(".requires")):
                continue
            for unit in p.listdir(f"{base}/{d}") or []:
                if (unit, d) in seen:
                    continue
                seen.add((unit, d))
                facts.enabled_units.append(EnabledUnit(name=unit, wanted_by=d, vendor=vendor))
    facts.systemd_present = found_any_dir
    if facts.enabled_units:
        p.excerpt("enabled systemd units (*.wants/*.requires)",
                  "\n".join(f"{u.wanted_by}/{u.name}{' (vendor)' if u.vendor else ''}" for u in facts.enabled_units))


def _collect_sysv(p: Probe, facts: ServicesFacts) -> None:
    scripts = set(p.listdir("/etc/init.d") or [])
    enabled: set[str] = set()
    for level in "2345":
        for link in p.listdir(f"/etc/rc{level}.d") or []:
            m = re.match(r"^S\d\d(.+)$", link)
            if m and (not scripts or m.group(1) in scripts):
                enabled.add(m.group(1))
    facts.sysv_enabled = sorted(enabled)
    if enabled:
        p.excerpt("SysV rc?.d start links", "\n".join(facts.sysv_enabled))


def _collect_inetd(p: Probe, facts: ServicesFacts) -> None:
    data = p.file("/etc/inetd.conf")
    if data is not None:
        facts.inetd_entries += parse_inetd_conf(data.decode("utf-8", "replace"), "/etc/inetd.conf")
    for name in p.listdir("/etc/xinetd.d") or []:
        if name.startswith(".") or name.endswith("~"):
            continue
        d = p.file(f"/etc/xinetd.d/{name}")
        if d is not None:
            facts.inetd_entries += parse_xinetd(d.decode("utf-8", "replace"), f"/etc/xinetd.d/{name}")


def _collect_packages(p: Probe, facts: ServicesFacts) -> None:
    status = p.file("/var/lib/dpkg/status", keep_raw=False)
    if status is not None:
        pkgs = p.parsed(installed_dpkg, status)
        facts.package_manager = "dpkg"
    elif p.stat("/var/lib/rpm") is not None:
        facts.package_manager = "rpm"
        res = p.command(["rpm", "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"], fact="packages", timeout=60, keep_raw=False)
        if res is None:
            return
        if not res.ok:
            p.note("packages", Reason.FAILED, f"rpm -qa exited {res.exit_code}")
            return
        pkgs = parse_rpm_qa(res.text())
    else:
        p.note("packages", Reason.ABSENT, "no dpkg status file and no rpm database")
        return
    facts.installed_package_count = len(pkgs)
    facts.packages = {k: v for k, v in sorted(pkgs.items()) if k in PACKAGES_OF_INTEREST}
    p.excerpt(f"installed server packages of interest ({facts.package_manager}, {len(pkgs)} installed)",
              "\n".join(f"{k} {v}" for k, v in facts.packages.items()) or "(none)")


@collector("linux.services", facts=ServicesFacts)
def collect_services(p: Probe) -> ServicesFacts:
    """Listening sockets, enabled services, running processes and installed server packages."""
    facts = ServicesFacts()
    _collect_listeners(p, facts)
    _collect_units(p, facts)
    _collect_sysv(p, facts)
    _collect_inetd(p, facts)
    if p.t.can_run:
        names = process_names(p, "processes")
        if names is not None:
            facts.processes = sorted(names)
    else:
        p.note("processes", Reason.OFFLINE, "processes exist only on a running host")
    _collect_packages(p, facts)
    return facts
