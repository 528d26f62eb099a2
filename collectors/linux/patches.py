"""OS patch state: pending (security) updates, when updates were last applied, automatic updates, reboot.

Debian/Ubuntu: `apt-get -s dist-upgrade` (a simulation: nothing is changed, no lock taken) or
`apt list --upgradable`; apt's history.log (+ rotated, gzip) and dpkg.log for when packages were last
upgraded; unattended-upgrades settings. RHEL family: `dnf updateinfo list --security` and
`dnf check-update` from the metadata cache (a scan never downloads metadata: hospital networks are often
closed, and a hung mirror must not hold the scan), dnf.rpm.log, dnf-automatic. Both: the running kernel
against the installed ones, and /run/reboot-required.

On Debian/Ubuntu, when tenken runs on the host itself or reads an offline root, pending updates are
computed from the files apt would read (dpkg status, apt lists, Release files, pins: see apt_lists.py)
instead of running apt-get, which on hosts without a kept pkgcache.bin spends seconds rebuilding it.
Over SSH the same computation runs on lines the target filters out of those files (apt_remote.py: one
command, a few tens of KB back); `apt-get -s` is the fallback and an optional cross-check. An offline
root without apt lists records pending updates as `offline`; the other file-based facts are collected.

Pending lists are only as fresh as the host's package index, so the index age is collected too.

RHEL family (dnf): the same idea. Pending updates and security advisories are computed from the rpm
database, the enabled repositories' cached repodata and dnf's configuration (rpm_files.py on the host or an
image, rpm_remote.py filtered on the target; rpm_pending.py computes); `dnf -C check-update` is the fallback
and an optional cross-check (CollectSettings.dnf_crosscheck). yum (RHEL 7) caches its metadata as sqlite:
yum_remote.py queries it with the host's sqlite3 (remote and local hosts alike, `yum -C check-update` as the
fallback), yum_files.py reads it in-process from an offline RHEL 7 image (Berkeley DB rpm database: rpmdb_bdb).
The reboot hint applies `needs-restarting -r`'s rule (rpm_reboot.py) instead of running dnf for it.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import BadRecord, Facts, Reason
from tenken.collectors.linux.apt_lists import Upgrade, collect_apt_lists
from tenken.collectors.linux.apt_remote import collect_apt_lists_remote
from tenken.collectors.linux.osrelease import OsRelease, read_os_release
from tenken.collectors.linux.pkgdb import query_packages
from tenken.collectors.linux.rpm_reboot import (
    EXTRA_DIR,
    NEED_REBOOT,
    boot_time,
    parse_btime,
    parse_extra_names,
    parse_install_times,
    rpm_query,
    updated_since_boot,
)
from tenken.collectors.linux.rpmvercmp import vercmp
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

if TYPE_CHECKING:
    from tenken.collectors.linux.rpm_files import RpmResult

# apt and dnf read their whole local index; give them longer than an ordinary command
PKG_TIMEOUT = 120.0
MAX_ROTATED_LOGS = 12


class PendingUpdate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    current: str | None = None  # None: a new package the upgrade pulls in (e.g. a new kernel ABI)
    candidate: str | None = None
    origin: str | None = None  # apt origin/suite or dnf repository
    security: bool = False
    replaced_by: str | None = None  # dnf: another package that obsoletes this one (candidate is its version)


class Advisory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    severity: str | None = None
    package: str


class AutoUpdates(BaseModel):
    """How (and whether) the host applies updates by itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mechanism: str  # unattended-upgrades | dnf-automatic | yum-cron
    installed: bool | None = None  # None: package database unreadable
    enabled: bool | None = None  # scheduled to run
    applies_updates: bool | None = None  # installs (not only downloads or notifies)
    security_only: bool | None = None
    detail: str = ""


class KernelState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    running: str | None = None
    installed: list[str] = Field(default_factory=list)
    installed_source: str | None = None  # /boot or /lib/modules
    newest_installed: str | None = None  # newest of the running kernel's flavour
    reboot_required_flag: bool = False  # /run/reboot-required present
    reboot_required_path: str | None = None
    reboot_required_packages: list[str] = Field(default_factory=list)
    # RHEL: `needs-restarting -r`'s rule (rpm_reboot), applied without dnf; None when it could not be applied
    needs_restarting: bool | None = None
    updated_since_boot: list[str] = Field(default_factory=list)  # the core packages installed after the boot

    @property
    def newer_installed(self) -> bool | None:
        if self.running is None or self.newest_installed is None:
            return None
        return vercmp(self.newest_installed, self.running) > 0


class AptListState(BaseModel):
    """One apt list read for the file-based computation: its archive and how old it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    suite: str
    origin: str
    security: bool
    not_automatic: bool
    priority: int
    published: datetime | None = None  # the archive's Release `Date:`
    downloaded: datetime | None = None  # the list file's mtime


class PatchFacts(Facts):
    os: OsRelease | None = None
    package_manager: str | None = None  # apt | dnf | yum | None
    pending: list[PendingUpdate] | None = None  # None: not collected (see unavailable["pending"])
    pending_source: str | None = None
    # how `pending` was obtained: apt-lists / apt-lists-remote, dnf-repodata / dnf-repodata-remote, yum-cache /
    # yum-cache-remote (computed from the files) | apt-get -s | apt list | dnf | yum (their commands)
    pending_method: str | None = None
    apt_lists: list[AptListState] = Field(default_factory=list)  # the lists read, with their freshness
    held: list[PendingUpdate] = Field(default_factory=list)  # dpkg-held packages with a newer candidate
    security_known: bool = False  # whether `security` on each pending update is meaningful
    advisories: list[Advisory] = Field(default_factory=list)
    index_refreshed_at: datetime | None = None
    index_source: str | None = None
    last_upgrade_at: datetime | None = None
    last_upgrade_source: str | None = None
    last_install_at: datetime | None = None
    auto_updates: AutoUpdates | None = None
    kernel: KernelState = Field(default_factory=KernelState)


_FLAVOUR_DEB = re.compile(r"^\d+(?:\.\d+)*-\d+(?:\.\d+)*-([A-Za-z][\w.-]*)$")


def kernel_flavour(release: str) -> str:
    """`amd64`, `cloud-amd64`, `generic`, `debug` ...: a newer kernel only matters within one flavour."""
    if "+" in release:
        return release.rsplit("+", 1)[1]
    m = _FLAVOUR_DEB.match(release)
    return m.group(1) if m else ""


def newest_kernel(installed: list[str], running: str | None) -> str | None:
    """Newest installed kernel of the running kernel's flavour (of all, if none shares it)."""
    if not installed:
        return None
    pool = installed
    if running is not None:
        same = [k for k in installed if kernel_flavour(k) == kernel_flavour(running)]
        pool = same or installed
    best = pool[0]
    for k in pool[1:]:
        if vercmp(k, best) > 0:
            best = k
    return best


def kernels_in_boot(names: list[str]) -> list[str]:
    """Kernel releases from /boot's vmlinuz-<release> files (rescue images and *.old links excluded)."""
    out = []
    for n in names:
        if not n.startswith("vmlinuz-"):
            continue
        rel = n[len("vmlinuz-"):]
        if not rel or rel.startswith("0-rescue") or rel.endswith((".old", ".bak", ".hmac")):
            continue
        out.append(rel)
    return sorted(set(out))


# -- pending updates parsers -------------------------------------------------------------------------------

_INST = re.compile(r"^Inst\s+(\S+)\s+(?:\[([^\]]*)\]\s+)?\((.*)\)")
_ARCH_TAIL = re.compile(r"\s*\[[^\]]*\]\s*$")
_SECURITY_ORIGIN = re.compile(r"-security\b|debian-security|/security\b|security\.", re.IGNORECASE)


def is_security_origin(origin: str) -> bool:
    """Debian's `Debian-Security:12/stable-security`, Ubuntu's `Ubuntu:22.04/jammy-security`."""
    return bool(_SECURITY_ORIGIN.search(origin))


def parse_apt_simulate(text: str) -> list[PendingUpdate]:
    """`apt-get -s dist-upgrade` Inst lines: `Inst pkg [old] (new Origin:ver/suite, ... [arch])`."""
    out: dict[str, PendingUpdate] = {}
    for line in text.splitlines():
        m = _INST.match(line.strip())
        if not m:
            continue
        name, old, inner = m.group(1), m.group(2), m.group(3)
        candidate, _, rest = inner.strip().partition(" ")
        origins = [o.strip() for o in _ARCH_TAIL.sub("", rest).split(",") if o.strip()]
        out[name] = PendingUpdate(
            name=name,
            current=old or None,
            candidate=candidate or None,
            origin=", ".join(origins) or None,
            security=any(is_security_origin(o) for o in origins),
        )
    return list(out.values())


_UPGRADABLE = re.compile(r"^(\S+?)/(\S+)\s+(\S+)\s+(\S+)(?:\s+\[upgradable from:\s*([^\]]+)\])?")


def parse_apt_list_upgradable(text: str) -> list[PendingUpdate]:
    """`apt list --upgradable`: `name/suite1,suite2 version arch [upgradable from: old]`."""
    out: dict[str, PendingUpdate] = {}
    for line in text.splitlines():
        if "upgradable from" not in line:
            continue
        m = _UPGRADABLE.match(line.strip())
        if not m:
            continue
        suites = [s for s in m.group(2).split(",") if s]
        out[m.group(1)] = PendingUpdate(
            name=m.group(1),
            current=(m.group(5) or "").strip() or None,
            candidate=m.group(3),
            origin=",".join(suites) or None,
            security=any(is_security_origin(s) for s in suites),
        )
    return list(out.values())


def rpm_name_of(nevra: str) -> str:
    """`openssl-libs-1:3.0.7-25.el9_3.x86_64` -> `openssl-libs`."""
    base = nevra
    m = re.match(r"^(.*)\.(x86_64|aarch64|i[3-6]86|noarch|ppc64le|s390x|src|armv7hl)$", base)
    if m:
        base = m.group(1)
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[0] else base


def parse_dnf_updateinfo(text: str) -> list[Advisory]:
    """`dnf|yum updateinfo list --security` (dnf4 `ID Sev/Sec. NEVRA`, dnf5 `ID security Sev NEVRA date`)."""
    out: list[Advisory] = []
    seen: set[tuple[str, str]] = set()
    for line in text.splitlines():
        t = line.split()
        if len(t) < 3:
            continue
        adv = None
        if t[1].endswith("/Sec.") or t[1].lower() == "security/sec.":
            adv = Advisory(id=t[0], severity=t[1].split("/", 1)[0] or None, package=t[2])
        elif len(t) >= 4 and t[1].lower() == "security":
            adv = Advisory(id=t[0], severity=t[2], package=t[3])
        if adv is not None and (adv.id, adv.package) not in seen:
            seen.add((adv.id, adv.package))
            out.append(adv)
    return out


_RPM_VERSION = re.compile(r"^(\d+:)?[0-9A-Za-z._+~^]+-[0-9A-Za-z._+~^]+$")


def parse_dnf_check_update(text: str) -> list[PendingUpdate]:
    """`dnf|yum check-update`: `name.arch  [epoch:]version-release  repo`, long names wrap to a second line."""
    out: dict[str, PendingUpdate] = {}
    carry: str | None = None
    for line in text.splitlines():
        if line.startswith(("Obsoleting Packages", "Security:")):
            break
        t = line.split()
        if carry is not None and len(t) == 2:
            t = [carry, *t]
        carry = None
        if len(t) == 1 and "." in t[0] and not line.startswith(" "):
            carry = t[0]
            continue
        if len(t) != 3 or "." not in t[0] or not _RPM_VERSION.match(t[1]):
            continue
        name = t[0].rsplit(".", 1)[0]
        out[name] = PendingUpdate(name=name, candidate=t[1], origin=t[2])
    return list(out.values())


# -- update history parsers --------------------------------------------------------------------------------

_APT_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2})")


def _naive_utc(date: str, time: str) -> datetime | None:
    """apt and dpkg log local time without a zone; taken as UTC (at most 14 h off, irrelevant in days)."""
    try:
        return datetime.strptime(f"{date} {time}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


class HistoryTimes(BaseModel):
    model_config = ConfigDict(frozen=True)
    last_upgrade: datetime | None = None
    last_install: datetime | None = None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def parse_apt_history(text: str) -> HistoryTimes:
    """Latest End-Date of successful apt transactions that upgraded, and that installed, packages.

    A transaction with an `Error:` line failed and does not count; one cut off without End-Date
    (interrupted) does not either.
    """
    up = inst = None
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            k, sep, v = line.partition(":")
            if sep and k and " " not in k:
                fields[k] = v.strip()
        if "Error" in fields or "End-Date" not in fields:
            continue
        m = _APT_DATE.search(fields["End-Date"])
        when = _naive_utc(m.group(1), m.group(2)) if m else None
        if when is None:
            continue
        if "Upgrade" in fields:
            up = _later(up, when)
        if "Install" in fields:
            inst = _later(inst, when)
    return HistoryTimes(last_upgrade=up, last_install=inst)


_DPKG_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (upgrade|install) ", re.MULTILINE)


def _latest(stamps: set[tuple[str, str]]) -> datetime | None:
    """The latest valid `date time` of a set: ISO stamps order as strings, so only the winner is parsed."""
    for date, time in sorted(stamps, reverse=True):
        when = _naive_utc(date, time)
        if when is not None:
            return when
    return None


def parse_dpkg_log(text: str) -> HistoryTimes:
    """/var/log/dpkg.log: `2024-03-01 10:15:03 upgrade pkg:arch old new` (thousands of lines: one regex pass)."""
    seen: dict[str, set[tuple[str, str]]] = {"upgrade": set(), "install": set()}
    for date, time, kind in _DPKG_LINE.findall(text):
        seen[kind].add((date, time))
    return HistoryTimes(last_upgrade=_latest(seen["upgrade"]), last_install=_latest(seen["install"]))


_DNF_RPM_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:?\d{2})?)\s+\S+\s+(Upgrade|Upgraded|Install|Installed|Installing|Upgrading):")


def _iso(ts: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            d = datetime.strptime(ts, fmt)
        except ValueError:
            continue
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return None


def parse_dnf_rpm_log(text: str) -> HistoryTimes:
    """/var/log/dnf.rpm.log: `2024-03-01T10:15:03+0000 SUBDEBUG Upgrade: openssl-libs-1:3.0.7-25.el9_3.x86_64`."""
    up = inst = None
    for line in text.splitlines():
        m = _DNF_RPM_LINE.match(line)
        if not m:
            continue
        when = _iso(m.group(1).replace("Z", "+0000"))
        if m.group(2).startswith("Upgrad"):
            up = _later(up, when)
        else:
            inst = _later(inst, when)
    return HistoryTimes(last_upgrade=up, last_install=inst)


_YUM_LINE = re.compile(r"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (Updated|Installed|Erased|Obsoleted): ")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def parse_yum_log(text: str, mtime: datetime) -> HistoryTimes:
    """/var/log/yum.log (RHEL/CentOS 5-7, kept after upgrades to dnf): `Mar 01 10:15:03 Updated: openssl-...`.
    Lines carry no year: logrotate rotates the file yearly, so a line belongs to the year of the file's last
    write, or the year before when that date would lie after it. Local time, taken as UTC like apt's."""
    up = inst = None
    for line in text.splitlines():
        m = _YUM_LINE.match(line)
        if not m or m.group(1) not in _MONTHS:
            continue
        try:
            when = datetime(mtime.year, _MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4)),
                            int(m.group(5)), tzinfo=UTC)
        except ValueError:
            continue
        if when > mtime + timedelta(days=1):
            when = when.replace(year=mtime.year - 1)
        if m.group(6) == "Updated":
            up = _later(up, when)
        elif m.group(6) == "Installed":
            inst = _later(inst, when)
    return HistoryTimes(last_upgrade=up, last_install=inst)


# libdnf's history database (/var/lib/dnf/history.sqlite): TransactionState DONE = 1; TransactionItemAction
# UPGRADE = 6, INSTALL = 1 (libdnf/transaction/Types.hpp).
_DNF_DONE, _DNF_UPGRADE, _DNF_INSTALL = 1, 6, 1


def parse_dnf_history_db(data: bytes) -> HistoryTimes:
    """The newest finished upgrade and install in dnf's history.sqlite, read offline (no `dnf` needed)."""
    import sqlite3
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".sqlite") as tmp:
        tmp.write(data)
        tmp.flush()
        con = sqlite3.connect(f"file:{tmp.name}?mode=ro", uri=True)
        try:
            def newest(action: int) -> datetime | None:
                row = con.execute(
                    "SELECT MAX(t.dt_end) FROM trans t JOIN trans_item i ON i.trans_id = t.id "
                    "WHERE t.state = ? AND i.action = ?", (_DNF_DONE, action)).fetchone()
                return datetime.fromtimestamp(row[0], UTC) if row and row[0] else None

            return HistoryTimes(last_upgrade=newest(_DNF_UPGRADE), last_install=newest(_DNF_INSTALL))
        finally:
            con.close()


_DNF_HISTORY_ROW = re.compile(r"^\s*\d+\s*\|(.*)\|\s*(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2})\s*\|(.*)\|")


def parse_dnf_history(text: str) -> HistoryTimes:
    """`dnf history list`: `ID | Command line | 2024-03-01 10:15 | Upgrade | 25`; actions may be `I, U`."""
    up = inst = None
    for line in text.splitlines():
        m = _DNF_HISTORY_ROW.match(line)
        if not m:
            continue
        when = _naive_utc(m.group(2), m.group(3) + ":00")
        actions = {a.strip().lower() for a in re.split(r"[,\s]+", m.group(4)) if a.strip()}
        if actions & {"upgrade", "u", "update"}:
            up = _later(up, when)
        if actions & {"install", "i"}:
            inst = _later(inst, when)
    return HistoryTimes(last_upgrade=up, last_install=inst)


# -- automatic updates -------------------------------------------------------------------------------------

_APT_PERIODIC = re.compile(r'APT::Periodic::(Unattended-Upgrade|Update-Package-Lists)\s+"([^"]*)"\s*;')


def parse_apt_periodic(texts: list[str]) -> dict[str, str]:
    """APT::Periodic settings across apt.conf.d files given in apt's reading order (later ones win)."""
    out: dict[str, str] = {}
    for text in texts:
        body = re.sub(r"(?m)^\s*(//|#).*$", "", text)
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL)
        for m in _APT_PERIODIC.finditer(body):
            out[m.group(1)] = m.group(2).strip()
    return out


def apt_interval_on(value: str | None) -> bool | None:
    """APT::Periodic values are day intervals ("1" daily, "0" off); `always` and durations also enable."""
    if value is None:
        return None
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Minimal INI (dnf automatic.conf, yum-cron.conf): sections of key = value, comments dropped."""
    out: dict[str, dict[str, str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        if "=" in line:
            k, _, v = line.partition("=")
            out.setdefault(section, {})[k.strip().lower()] = v.split("#", 1)[0].strip()
    return out


def _truthy(v: str | None) -> bool | None:
    if v is None:
        return None
    return v.strip().lower() in ("yes", "true", "1", "on")


# -- the collector -----------------------------------------------------------------------------------------


def _from_upgrade(u: Upgrade) -> PendingUpdate:
    return PendingUpdate(name=u.name, current=u.current, candidate=u.candidate, origin=u.origin or None, security=u.security)


def _pending_apt(p: Probe, facts: PatchFacts) -> None:
    """From apt's files (no apt cache rebuild): read in-process on the host or an offline root, filtered on
    the target over a remote transport (apt_remote). Files unusable, or live host: apt-get -s as fallback."""
    local = p.t.is_local or not p.t.can_run
    got = collect_apt_lists(p) if local else collect_apt_lists_remote(p)
    comp = got.computation
    if comp is not None:
        facts.pending = [_from_upgrade(u) for u in comp.upgrades]
        facts.held = [_from_upgrade(u) for u in comp.held]
        facts.apt_lists = [AptListState(**asdict(s)) for s in got.lists]
        where = "read on this host" if local else "filtered on the target, computed on the scanner"
        facts.pending_source = f"apt lists ({len(got.lists)} lists in /var/lib/apt/lists, dpkg status; {where})"
        facts.pending_method = "apt-lists" if local else "apt-lists-remote"
        facts.security_known = True
        if not local and p.settings.apt_crosscheck:
            _crosscheck(p, facts)
        return
    if not p.t.can_run:
        p.note("pending", Reason.OFFLINE, f"offline root: apt-get cannot run, and pending updates cannot be computed "
                                          f"from the files: {got.fallback}")
        return
    p.excerpt("apt lists", f"file-based computation not possible: {got.fallback}; falling back to apt-get -s")
    _pending_apt_command(p, facts)


def _crosscheck(p: Probe, facts: PatchFacts) -> None:
    """Record (as evidence, not a judgement) where `apt-get -s` disagrees with the file-based list."""
    res = p.command(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], timeout=PKG_TIMEOUT, keep_raw=False)
    if res is None or not res.ok:
        p.excerpt("apt-get -s cross-check", "apt-get -s could not run: no cross-check")
        return
    apt = {u.name: u.candidate for u in parse_apt_simulate(res.text())}
    ours = {u.name: u.candidate for u in facts.pending or []}
    only_apt = sorted(set(apt) - set(ours))
    only_ours = sorted(set(ours) - set(apt))
    other = sorted(n for n in set(apt) & set(ours) if apt[n] != ours[n])
    p.excerpt("apt-get -s cross-check", (
        f"apt-get -s: {len(apt)} upgrades, file-based: {len(ours)}; "
        f"only apt-get (new dependencies or phased): {', '.join(only_apt) or 'none'}; "
        f"only file-based (kept back by apt): {', '.join(only_ours) or 'none'}; "
        f"different candidate: {', '.join(other) or 'none'}"
    ))


def _pending_apt_command(p: Probe, facts: PatchFacts) -> None:
    res = p.command(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], fact="pending", timeout=PKG_TIMEOUT)
    if res is not None and res.ok:
        facts.pending = parse_apt_simulate(res.text())
        facts.pending_source = "apt-get -s dist-upgrade"
        facts.pending_method = "apt-get -s"
        facts.security_known = True
        return
    if not p.t.can_run:
        return
    res2 = p.command(["apt", "list", "--upgradable"], timeout=PKG_TIMEOUT)
    if res2 is not None and res2.ok:
        p.unavailable.pop("pending", None)
        facts.pending = parse_apt_list_upgradable(res2.text())
        facts.pending_source = "apt list --upgradable"
        facts.pending_method = "apt list"
        facts.security_known = True
    elif res is not None:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        p.note("pending", Reason.FAILED, f"apt-get -s exited {res.exit_code}: {err[-1] if err else 'no message'}")


def _pending_rpm(p: Probe, facts: PatchFacts, tool: str) -> None:
    """From the files the package manager reads, its command (`dnf|yum -C check-update`) only when they cannot
    be used: dnf's repodata (rpm_files on the host or an image, rpm_remote filtered on the target), yum's
    sqlite cache (yum_remote's script on a live host, yum_files in an image). Imported here: only RHEL-family
    hosts need them (a Debian scan does not pay their import)."""
    from tenken.collectors.linux.rpm_files import collect_rpm_files
    from tenken.collectors.linux.rpm_remote import collect_rpm_remote
    from tenken.collectors.linux.yum_files import collect_yum_files
    from tenken.collectors.linux.yum_remote import collect_yum_remote

    live = p.t.can_run
    if tool == "dnf":
        local = p.t.is_local or not live
        got = collect_rpm_files(p) if local else collect_rpm_remote(p)
        method = "dnf-repodata" if local else "dnf-repodata-remote"
    else:
        got = collect_yum_remote(p) if live else collect_yum_files(p)
        method = "yum-cache-remote" if live and not p.t.is_local else "yum-cache"
    if got.computation is not None and got.config is not None:
        _from_rpm_computation(p, facts, got, method, tool)
        if live and p.settings.dnf_crosscheck:
            _rpm_crosscheck(p, facts, tool)
        return
    if not live:
        p.note("pending", Reason.OFFLINE, f"offline root: {tool} cannot run, and pending updates cannot be computed "
                                          f"from the files: {got.fallback}")
        return
    p.excerpt(f"{tool} metadata", f"file-based computation not possible: {got.fallback}; falling back to {tool} -C check-update")
    _pending_rpm_command(p, facts, tool)


def _from_rpm_computation(p: Probe, facts: PatchFacts, got: RpmResult, method: str, tool: str) -> None:
    comp, cfg = got.computation, got.config
    assert comp is not None and cfg is not None
    facts.pending = [PendingUpdate(
        name=u.installed.name, current=u.installed.evr, candidate=u.candidate.evr, origin=u.repo, security=u.security,
        replaced_by=u.candidate.name if u.obsoletes else None,
    ) for u in comp.upgrades]
    facts.advisories = [Advisory(id=a.id, severity=a.severity, package=str(a.package)) for a in comp.advisories]
    facts.security_known = True
    repos = ", ".join(r.id for r in cfg.repos)
    skipped = f"; not cached, skipped (skip_if_unavailable): {', '.join(cfg.skipped)}" if cfg.skipped else ""
    streams = f"; active module streams: {', '.join(comp.active_streams)}" if comp.active_streams else ""
    applied = "excludes, priorities, obsoletes and modular filtering" if tool == "dnf" else "excludes, priorities (when the plugin is on) and obsoletes"
    what = "dnf repodata" if tool == "dnf" else "yum cache"
    facts.pending_source = (f"{what} ({len(cfg.repos)} enabled repositories: {repos}{skipped}; rpm database; {got.how}; "
                            f"{applied} applied, dependencies not resolved){streams}")
    facts.pending_method = method
    if got.no_advisories:  # updateinfo declared but never downloaded (yum fetches it lazily): not "no advisory"
        facts.security_known = False
        p.note("pending_security", Reason.ABSENT, f"the advisories (updateinfo) of {', '.join(got.no_advisories)} are "
                                                  f"not in the metadata cache: which updates are security fixes is unknown")
    if cfg.cache_mtime:  # the index age from the very caches the list was computed from (no second look)
        facts.index_refreshed_at = datetime.fromtimestamp(max(cfg.cache_mtime.values()), UTC)
        facts.index_source = f"repomd.xml in {', '.join(cfg.roots)} (the newest of the enabled repositories')"
    p.excerpt(what, f"{facts.pending_source}; {comp.hidden_modular} packages hidden by modular filtering" if tool == "dnf" else facts.pending_source)


def _rpm_crosscheck(p: Probe, facts: PatchFacts, tool: str) -> None:
    """Record (as evidence, not a judgement) where `dnf -C check-update` disagrees with the file-based list."""
    res = p.command([tool, "-q", "-C", "check-update"], timeout=PKG_TIMEOUT, keep_raw=False)
    if res is None or res.exit_code not in (0, 100):
        p.excerpt(f"{tool} check-update cross-check", f"{tool} -C check-update could not run: no cross-check")
        return
    theirs = {u.name: u.candidate for u in parse_dnf_check_update(res.text())}
    ours = {u.name: u.candidate for u in facts.pending or [] if u.replaced_by is None}
    only_dnf = sorted(set(theirs) - set(ours))
    only_ours = sorted(set(ours) - set(theirs))
    other = sorted(n for n in set(theirs) & set(ours) if theirs[n] != ours[n])
    p.excerpt(f"{tool} check-update cross-check", (
        f"{tool} check-update: {len(theirs)} upgrades, file-based: {len(ours)}; only {tool}: {', '.join(only_dnf) or 'none'}; "
        f"only file-based: {', '.join(only_ours) or 'none'}; different candidate: {', '.join(other) or 'none'}"
    ))


def _pending_rpm_command(p: Probe, facts: PatchFacts, tool: str) -> None:
    res = p.command([tool, "-q", "-C", "check-update"], fact="pending", timeout=PKG_TIMEOUT)
    if res is None:
        return
    # check-update: 0 = nothing pending, 100 = updates listed, anything else = failure (e.g. no cache)
    if res.exit_code not in (0, 100):
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        p.note("pending", Reason.FAILED, f"{tool} check-update exited {res.exit_code}: {err[-1] if err else 'no message'}")
        return
    pending = parse_dnf_check_update(res.text())
    sec = p.command([tool, "-q", "-C", "updateinfo", "list", "--security"], fact="pending_security", timeout=PKG_TIMEOUT)
    if sec is not None and sec.ok:
        facts.advisories = parse_dnf_updateinfo(sec.text())
        names = {rpm_name_of(a.package) for a in facts.advisories}
        pending = [u.model_copy(update={"security": u.name in names}) for u in pending]
        facts.security_known = True
    elif sec is not None:
        p.note("pending_security", Reason.FAILED, f"{tool} updateinfo exited {sec.exit_code}: security classification unknown")
    facts.pending = pending
    facts.pending_source = f"{tool} check-update"
    facts.pending_method = tool


def _index_apt(p: Probe, facts: PatchFacts) -> None:
    best: tuple[float, str] | None = None
    for path in ("/var/lib/apt/periodic/update-success-stamp", "/var/lib/apt/lists"):
        st = p.stat(path)
        if st is not None and (best is None or st.mtime > best[0]):
            best = (st.mtime, path)
    if best is not None:
        facts.index_refreshed_at = datetime.fromtimestamp(best[0], UTC)
        facts.index_source = best[1]


def _index_rpm(p: Probe, facts: PatchFacts) -> None:
    if facts.index_refreshed_at is not None:  # already known from the cache the pending list was computed from
        return
    for cache in ("/var/cache/dnf", "/var/cache/yum"):
        names = p.listdir(cache) or []
        best: float | None = None
        for n in names[:40]:
            st = p.stat(f"{cache}/{n}/repodata/repomd.xml")
            if st is not None and (best is None or st.mtime > best):
                best = st.mtime
        if best is not None:
            facts.index_refreshed_at = datetime.fromtimestamp(best, UTC)
            facts.index_source = f"{cache}/*/repodata/repomd.xml"
            return


def _read_log(p: Probe, path: str) -> str | None:
    """A log, gunzipped if it ends in .gz; kept out of the evidence excerpt (only what was found is)."""
    data = p.file(path, keep_raw=False)
    if data is None:
        return None
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return None
    return data.decode("utf-8", "replace")


def _rotated(names: list[str], base: str) -> list[str]:
    """base, base.1, base.2.gz ... then dateext copies base-20240301(.gz): newest first, at most a year's worth."""
    numbered: list[tuple[int, str]] = []
    dated: list[str] = []
    plain: list[str] = []
    for n in names:
        if n == base:
            plain.append(n)
        elif n.startswith((base + ".", base + "-")):
            rest = n[len(base) + 1:].removesuffix(".gz")
            if rest.isdecimal() and len(rest) < 6:
                numbered.append((int(rest), n))
            elif rest[:8].isdecimal():
                dated.append(n)
    ordered = plain + [n for _, n in sorted(numbered)] + sorted(dated, reverse=True)
    return ordered[: MAX_ROTATED_LOGS + 1]


def _history_apt(p: Probe, facts: PatchFacts) -> None:
    found: list[str] = []
    for d, base, parser in (("/var/log/apt", "history.log", parse_apt_history), ("/var/log", "dpkg.log", parse_dpkg_log)):
        names = p.listdir(d) or []
        for n in _rotated(names, base):
            text = _read_log(p, f"{d}/{n}")
            if text is None:
                continue
            h = parser(text)
            if h.last_upgrade and (facts.last_upgrade_at is None or h.last_upgrade > facts.last_upgrade_at):
                facts.last_upgrade_at = h.last_upgrade
                facts.last_upgrade_source = f"{d}/{n}"
            facts.last_install_at = _later(facts.last_install_at, h.last_install)
            found.append(f"{d}/{n}")
            if h.last_upgrade is not None:
                break  # newer files come first: the newest upgrade is in the first that has one
    _note_history(p, facts, found, "/var/log/apt/history.log, /var/log/dpkg.log")


def _history_rpm(p: Probe, facts: PatchFacts, tool: str) -> None:
    """dnf.rpm.log (dnf), yum.log (yum, and left behind on hosts upgraded to dnf), dnf's history database
    (offline roots too), then `dnf history list` on a live host: the newest upgrade any of them records."""
    found: list[str] = []

    def take(h: HistoryTimes, where: str) -> None:
        if h.last_upgrade and (facts.last_upgrade_at is None or h.last_upgrade > facts.last_upgrade_at):
            facts.last_upgrade_at = h.last_upgrade
            facts.last_upgrade_source = where
        facts.last_install_at = _later(facts.last_install_at, h.last_install)

    names = p.listdir("/var/log") or []
    for base in ("dnf.rpm.log", "yum.log"):
        for n in _rotated(names, base):
            path = f"/var/log/{n}"
            text = _read_log(p, path)
            if text is None:
                continue
            found.append(path)
            if base == "yum.log":
                st = p.stat(path)
                if st is None:
                    continue
                h = parse_yum_log(text, datetime.fromtimestamp(st.mtime, UTC))
            else:
                h = parse_dnf_rpm_log(text)
            take(h, path)
            if h.last_upgrade is not None:
                break  # newer files come first
    db = "/var/lib/dnf/history.sqlite"
    if (data := p.file(db, keep_raw=False)) is not None:
        try:
            h = parse_dnf_history_db(data)
        except Exception as exc:  # a damaged database is named, not a silent "no history"
            p.malformed.append(BadRecord(path=db, line=0, reason=f"unreadable history database: {type(exc).__name__}"))
        else:
            found.append(db)
            take(h, db)
    if facts.last_upgrade_at is None and p.t.can_run:
        res = p.command([tool, "-q", "-C", "history", "list"], timeout=PKG_TIMEOUT)
        if res is not None and res.ok:
            h = parse_dnf_history(res.text())
            found.append(f"{tool} history list")
            take(h, f"{tool} history list")
    _note_history(p, facts, found, "/var/log/dnf.rpm.log, /var/log/yum.log, /var/lib/dnf/history.sqlite")


def _note_history(p: Probe, facts: PatchFacts, found: list[str], where: str) -> None:
    if facts.last_upgrade_at is not None:
        p.excerpt("last upgrade", f"{facts.last_upgrade_at.isoformat()} (from {facts.last_upgrade_source})")
    elif found:
        p.excerpt("last upgrade", f"no successful upgrade recorded in {', '.join(found)}")
        p.note("last_update", Reason.ABSENT, f"no successful package upgrade recorded in {', '.join(found)}")
    else:
        p.note("last_update", Reason.ABSENT, f"no package history log found ({where})")


def _auto_apt(p: Probe, facts: PatchFacts, family: str) -> None:
    texts = []
    paths = ["/etc/apt/apt.conf"] + [
        f"/etc/apt/apt.conf.d/{n}" for n in p.listdir("/etc/apt/apt.conf.d") or []
        if not n.startswith(".") and not n.endswith(("~", ".dpkg-old", ".dpkg-dist", ".bak", ".disabled", ".ucf-old", ".ucf-dist"))
    ]
    for path in paths:  # apt's reading order: apt.conf.d in lexical order, later settings win
        data = p.file(path, keep_raw=False)
        if data is None:
            continue
        text = data.decode("utf-8", "replace")
        texts.append(text)
        if "Periodic" in text:
            p.excerpt(path, text)
    periodic = parse_apt_periodic(texts)
    pk = query_packages(p, ["unattended-upgrades"], family=family)
    installed = None if pk is None else "unattended-upgrades" in pk.installed
    on = apt_interval_on(periodic.get("Unattended-Upgrade"))
    pkg_state = "installed" if installed else "not installed" if installed is False else "unknown"
    facts.auto_updates = AutoUpdates(
        mechanism="unattended-upgrades",
        installed=installed,
        # unset means off: unattended-upgrades runs only when the periodic interval is non-zero
        enabled=bool(on) and installed is not False,
        applies_updates=bool(on),
        detail=f'APT::Periodic::Unattended-Upgrade "{periodic.get("Unattended-Upgrade", "(unset)")}"; '
        f'Update-Package-Lists "{periodic.get("Update-Package-Lists", "(unset)")}"; package {pkg_state}',
    )


_DNF_TIMERS = ("dnf-automatic.timer", "dnf-automatic-install.timer", "dnf-automatic-download.timer", "dnf-automatic-notifyonly.timer")


def _auto_rpm(p: Probe, facts: PatchFacts, tool: str) -> None:
    wants = set(p.listdir("/etc/systemd/system/timers.target.wants") or [])
    conf_path = "/etc/dnf/automatic.conf" if tool == "dnf" else "/etc/yum/yum-cron.conf"
    conf = p.file(conf_path)
    if tool == "dnf":
        ini = parse_ini(conf.decode("utf-8", "replace")) if conf is not None else {}
        apply = _truthy(ini.get("commands", {}).get("apply_updates"))
        timers = sorted(wants.intersection(_DNF_TIMERS))
        if "dnf-automatic-install.timer" in timers:
            apply = True
        elif timers and all(t in ("dnf-automatic-download.timer", "dnf-automatic-notifyonly.timer") for t in timers):
            apply = False
        upgrade_type = ini.get("commands", {}).get("upgrade_type")
        facts.auto_updates = AutoUpdates(
            mechanism="dnf-automatic",
            installed=conf is not None,
            enabled=bool(timers),
            applies_updates=apply if conf is not None or timers else None,
            security_only=(upgrade_type == "security") if upgrade_type else None,
            detail=f"{conf_path}: apply_updates={ini.get('commands', {}).get('apply_updates', '(unset)')}, "
            f"upgrade_type={upgrade_type or '(unset)'}; enabled timers: {', '.join(timers) or 'none'}",
        )
    else:
        ini = parse_ini(conf.decode("utf-8", "replace")) if conf is not None else {}
        enabled = any(n.startswith("yum-cron") for n in p.listdir("/etc/systemd/system/multi-user.target.wants") or [])
        facts.auto_updates = AutoUpdates(
            mechanism="yum-cron",
            installed=conf is not None,
            enabled=enabled,
            applies_updates=_truthy(ini.get("commands", {}).get("apply_updates")),
            detail=f"{conf_path}: apply_updates={ini.get('commands', {}).get('apply_updates', '(unset)')}",
        )


def _kernel(p: Probe, family: str) -> KernelState:
    running = None
    if p.t.can_run:
        res = p.command(["uname", "-r"], fact="running_kernel")
        if res is not None and res.ok and res.text().strip():
            running = res.text().strip().split()[0]
    else:
        p.note("running_kernel", Reason.OFFLINE, "the running kernel of an offline root is unknown (no `uname -r`)")
    if running is None and p.t.can_run:
        data = p.file("/proc/sys/kernel/osrelease")
        if data is not None and data.strip():
            running = data.decode("utf-8", "replace").strip()
            p.unavailable.pop("running_kernel", None)
    installed = kernels_in_boot(p.listdir("/boot") or [])
    source = "/boot" if installed else None
    if not installed:
        for mod in ("/lib/modules", "/usr/lib/modules"):
            names = [n for n in p.listdir(mod) or [] if n and n[0].isdecimal()]
            if names:
                installed, source = sorted(names), mod
                break
    if not installed:
        p.note("installed_kernels", Reason.ABSENT, "no kernel image in /boot or /lib/modules (a container, or a VM booted from outside)")
    flag_path: str | None = None
    pkgs: list[str] = []
    for path in ("/run/reboot-required", "/var/run/reboot-required"):
        if p.stat(path) is not None:
            flag_path = path
            data = p.file(path + ".pkgs")
            if data is not None:
                pkgs = sorted({ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()})
            break
    needs, since = _reboot_rpm(p) if family == "rhel" and p.t.can_run else (None, [])
    return KernelState(
        running=running,
        installed=installed,
        installed_source=source,
        newest_installed=newest_kernel(installed, running),
        reboot_required_flag=flag_path is not None,
        reboot_required_path=flag_path,
        reboot_required_packages=pkgs,
        needs_restarting=needs,
        updated_since_boot=since,
    )


def _reboot_rpm(p: Probe) -> tuple[bool | None, list[str]]:
    """`needs-restarting -r`'s answer by its own rule (rpm_reboot): core packages installed after the boot.

    The fixed names are one `rpm -q` the scan's batch carries; names a site adds in needs-restarting.d are
    asked in a second query only when there are any (they are known only once the directory was read)."""
    # every request first, every decision after: the planning pass must see them all (and batch them)
    st = p.stat("/proc/1")
    stat_text = p.file("/proc/stat", keep_raw=False)
    names = list(NEED_REBOOT)
    extra: list[str] = []
    for n in sorted(p.listdir(EXTRA_DIR) or []):
        if n.endswith(".conf") and (data := p.file(f"{EXTRA_DIR}/{n}")) is not None:
            extra += [x for x in parse_extra_names(data.decode("utf-8", "replace")) if x not in names and x not in extra]
    res = p.command(rpm_query(names), keep_raw=False)
    times = parse_install_times(res.text()) if res is not None else {}
    if extra and times and (res2 := p.command(rpm_query(extra), keep_raw=False)) is not None:
        times.update(parse_install_times(res2.text()))
    boot = boot_time(st.mtime if st is not None else None, parse_btime(stat_text.decode("ascii", "replace")) if stat_text else None)
    if boot is None:
        p.note("reboot", Reason.FAILED, "the boot time is unknown (/proc/1 and /proc/stat unreadable)")
        return None, []
    if not times:  # kernel and glibc are on every such host: no line at all means rpm failed
        p.note("reboot", Reason.FAILED, "`rpm -q` listed none of the core packages (kernel, glibc, systemd)")
        return None, []
    since = updated_since_boot(times, boot, names + extra)
    p.excerpt("reboot (needs-restarting -r rule)",
              f"boot {datetime.fromtimestamp(boot, UTC).isoformat()}; core packages installed since: {', '.join(since) or 'none'}"
              f"{'; site additions (' + EXTRA_DIR + '): ' + ', '.join(extra) if extra else ''}")
    return bool(since), since


def _which_manager(p: Probe, osr: OsRelease | None) -> str | None:
    family = osr.family if osr else "unknown"
    if family == "debian":
        return "apt"
    if family == "rhel":
        if p.stat("/usr/bin/dnf") is not None or p.stat("/usr/bin/dnf-3") is not None or p.stat("/usr/bin/dnf5") is not None:
            return "dnf"
        return "yum" if p.stat("/usr/bin/yum") is not None else "dnf"
    for path, mgr in (("/usr/bin/apt-get", "apt"), ("/usr/bin/dnf", "dnf"), ("/usr/bin/yum", "yum")):
        if p.stat(path) is not None:
            return mgr
    return None


@collector("linux.patches", facts=PatchFacts)
def collect_patches(p: Probe) -> PatchFacts:
    """Pending (security) updates, last update applied, automatic updates and a pending reboot."""
    facts = PatchFacts()
    osr = read_os_release(p)
    facts.os = osr
    family = osr.family if osr else "unknown"
    mgr = _which_manager(p, osr)
    facts.package_manager = mgr
    if mgr == "apt":
        _pending_apt(p, facts)
        _index_apt(p, facts)
        _history_apt(p, facts)
        _auto_apt(p, facts, "debian")
    elif mgr in ("dnf", "yum"):
        _pending_rpm(p, facts, mgr)
        _index_rpm(p, facts)
        _history_rpm(p, facts, mgr)
        _auto_rpm(p, facts, mgr)
    else:
        what = osr.label if osr else "unknown distribution"
        p.note("pending", Reason.UNSUPPORTED, f"no supported package manager (apt, dnf, yum) found on {what}")
        p.note("last_update", Reason.UNSUPPORTED, f"no supported package manager found on {what}")
    if facts.pending is not None:
        sec = [u.name for u in facts.pending if u.security]
        p.excerpt("pending updates (parsed)", f"{len(facts.pending)} pending, {len(sec)} security: {', '.join(sec[:50])}")
    facts.kernel = _kernel(p, family)
    return facts
