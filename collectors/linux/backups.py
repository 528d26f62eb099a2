"""Backups: where they are, how many generations, how fresh, and whether a copy is out of malware's reach.

SO-11-1 / SO-18-1 ask for several generations by several methods, part of them where malware cannot
reach; SO-12-4 asks that they be usable in an emergency. This collector gathers the facts a check needs to
judge that and never judges itself:

* per location (configured in policy `backups.locations`, else the defaults plus rsnapshot's
  `snapshot_root`): existence, generations (entries, restic snapshots, borg repository), names, mtimes,
  sizes, newest and oldest;
* out-of-reach evidence: the mount holding the location (mountinfo via the transport, or the image's
  fstab under `--root`), read-only / noexec / network / separate device / not mounted (`noauto`), and the
  immutable or append-only attribute (`lsattr -d`);
* supporting facts: backup tooling configuration and cron jobs that mention backups (passwords redacted).
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.linux._mounts import (
    Mount,
    mount_for,
    parse_fstab,
    parse_lsattr,
    parse_mountinfo,
    parse_mounts,
    root_mount,
)
from tenken.collectors.probe import FATAL, Probe
from tenken.collectors.registry import collector
from tenken.collectors.settings import DEFAULT_BACKUP_LOCATIONS, BackupLocation
from tenken.collectors.transport.base import FileStat, TransportError

#: Entries listed per location; beyond this only the count grows (a report is not a directory dump).
MAX_LISTED = 60
#: stat() calls spent summing one location's size: bounded because each is a round trip over SSH.
SIZE_BUDGET = 400
#: Names that are never a backup generation.
IGNORED_NAMES = frozenset({"lost+found", ".snapshot", ".snapshots", ".Trash-0"})


class Generation(BaseModel):
    """One backup generation: a dated directory, an archive file, or a repository snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    kind: str  # dir | file | restic-snapshot
    mtime: datetime
    size: int | None = None  # bytes; None when the directory was too large to sum within budget
    name_date: date | None = None  # a date written in the name (emr-2024-05-01.tar.gz, daily-20240501)


class BackupLocationFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    label: str | None = None
    origin: str  # configured | default | rsnapshot
    offline_expected: bool = False
    expected_generations: int | None = None
    # present | absent | unreadable | not_mounted (an fstab mount point that is not mounted now)
    state: str = "absent"
    detail: str | None = None
    resolved_path: str | None = None  # where a symlinked location points
    layout: str | None = None  # plain | restic | borg
    container: str | None = None  # a single sub-directory the generations were found in
    generations: list[Generation] = Field(default_factory=list)  # newest first, at most MAX_LISTED
    count: int | None = None  # None when it cannot be counted cheaply (borg without its key)
    newest: datetime | None = None
    oldest: datetime | None = None
    total_size: int | None = None
    size_complete: bool = False
    skipped: list[str] = Field(default_factory=list)  # symlinks and hidden entries not counted
    # out-of-reach evidence
    mount: Mount | None = None
    mount_table: str | None = None  # mountinfo | mounts | fstab
    same_device_as_root: bool | None = None
    fstab_entry: Mount | None = None  # the most specific fstab entry holding the path
    mounted: bool | None = None  # is that fstab entry mounted now (None: no live mount table)
    attrs: str | None = None  # lsattr flags
    immutable: bool | None = None
    append_only: bool | None = None


class BackupTool(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str  # rsnapshot | restic | borg | borgmatic | bacula | bareos | cron | systemd-timer
    path: str
    detail: str = ""  # a redacted matching line, or a summary


class BackupFacts(Facts):
    locations_configured: bool = False
    locations: list[BackupLocationFacts] = Field(default_factory=list)
    mount_table: str | None = None
    tools: list[BackupTool] = Field(default_factory=list)


# -- pure helpers -------------------------------------------------------------------------------------

_NAME_DATE = re.compile(r"(?<!\d)(20\d{2}|19\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")


def name_date(name: str) -> date | None:
    """A calendar date written in a backup's name, if any (2024-05-01, 20240501, 2024_05_01)."""
    for m in _NAME_DATE.finditer(name):
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
    return None


_VALUE = r"""(?:'[^']*'|"[^"]*"|[^\s;|&]+)"""
_SECRET_OPT = re.compile(r"(?i)(--?(?:password|passwd|passphrase|pass|pwd|secret|token|key)(?:=|\s+))" + _VALUE)
_SECRET_ENV = re.compile(r"(?i)(\b\w*(?:password|passwd|passphrase|pass|pwd|secret|token|key)\w*\s*[=:]\s*)" + _VALUE)
_SHORT_P = re.compile(r"(?<=\s)-p(?=\S)" + _VALUE)


def redact_line(line: str) -> str:
    """Cron lines may carry `mysqldump -pSECRET` or `RESTIC_PASSWORD=...`: never let those through."""
    line = _SHORT_P.sub("-p<redacted>", line)
    line = _SECRET_OPT.sub(lambda m: f"{m.group(1)}<redacted>", line)
    return _SECRET_ENV.sub(lambda m: f"{m.group(1)}<redacted>", line)


_BACKUP_WORDS = re.compile(
    r"\b(backup|backups|restic|borg|borgmatic|rsnapshot|bacula|bareos|duplicity|duplicati|rdiff-backup|amanda|"
    r"pg_dump|pg_dumpall|pg_basebackup|mysqldump|mariadb-dump|xtrabackup|mariabackup|veeam|urbackup|tar\s+-?c\S*z)\b",
    re.IGNORECASE,
)
#: Debian/RHEL housekeeping scripts that mention /var/backups but are not backups of medical data.
_HOUSEKEEPING = frozenset({"dpkg", "passwd", "apt-compat", "aptitude", "man-db", "logrotate", "bsdmainutils", "0anacron"})


def backup_lines(text: str) -> list[str]:
    """Non-comment lines that look like a backup job, redacted. Pure and total."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if _BACKUP_WORDS.search(s):
            out.append(redact_line(s)[:240])
    return out


def parse_rsnapshot(text: str) -> tuple[str | None, dict[str, int]]:
    """rsnapshot.conf: `snapshot_root<TAB>/path/` and `retain|interval<TAB>level<TAB>count`."""
    root = None
    retain: dict[str, int] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        f = line.split()
        if len(f) >= 2 and f[0] == "snapshot_root" and f[1].startswith("/"):
            root = posixpath.normpath(f[1])
        elif len(f) >= 3 and f[0] in ("retain", "interval") and f[2].isdigit():
            retain[f[1]] = int(f[2])
    return root, retain


def _ts(st: FileStat) -> datetime:
    try:
        return datetime.fromtimestamp(st.mtime, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0, UTC)


# -- collection ---------------------------------------------------------------------------------------

class _Sizer:
    """Sums file sizes under a directory with a shared stat budget."""

    def __init__(self, p: Probe, budget: int) -> None:
        self.p = p
        self.budget = budget

    def size(self, path: str, depth: int = 0) -> int | None:
        if depth > 6:
            return None
        try:
            names = self.p.t.list_dir(path)
        except FATAL:
            raise
        except TransportError:
            return None
        total = 0
        for n in names:
            if self.budget <= 0:
                return None
            self.budget -= 1
            try:
                st = self.p.t.stat(f"{path}/{n}")
            except FATAL:
                raise
            except TransportError:
                continue
            if st.is_dir:
                sub = self.size(f"{path}/{n}", depth + 1)
                if sub is None:
                    return None
                total += sub
            elif st.is_file:
                total += st.size
        return total


def _list_generations(p: Probe, loc: BackupLocationFacts, path: str) -> None:
    names = p.listdir(path)
    if names is None:
        loc.state = "unreadable"
        loc.detail = p.sources[-1].error if p.sources and p.sources[-1].error else "could not list"
        return
    loc.state = "present"
    if "config" in names and "snapshots" in names and "data" in names:
        _restic(p, loc, path)
        return
    if "README" in names and "data" in names and _is_borg(p, path):
        _borg(p, loc, path, names)
        return
    loc.layout = "plain"
    entries = [n for n in names if n not in IGNORED_NAMES]
    stats: list[tuple[str, FileStat]] = []
    for n in entries:
        st = p.stat(f"{path}/{n}")
        if st is None:
            continue
        if n.startswith(".") or st.is_symlink or not (st.is_dir or st.is_file):
            loc.skipped.append(n)
            continue
        stats.append((n, st))
    # /backup/emr/<dated dirs>: one undated directory holding everything is a container, not a generation
    if len(stats) == 1 and stats[0][1].is_dir and name_date(stats[0][0]) is None and loc.container is None:
        sub = p.listdir(f"{path}/{stats[0][0]}")
        if sub and len([s for s in sub if not s.startswith(".")]) >= 2:
            loc.container = f"{path}/{stats[0][0]}"
            loc.skipped = []
            _list_generations(p, loc, loc.container)
            return
    sizer = _Sizer(p, SIZE_BUDGET)
    gens = []
    complete = True
    for n, st in stats:
        size: int | None = st.size if st.is_file else sizer.size(f"{path}/{n}")
        if size is None:
            complete = False
        gens.append(Generation(name=n, kind="dir" if st.is_dir else "file", mtime=_ts(st), size=size, name_date=name_date(n)))
    _summarise(loc, gens, complete)


def _summarise(loc: BackupLocationFacts, gens: list[Generation], complete: bool) -> None:
    gens.sort(key=lambda g: g.mtime, reverse=True)
    loc.count = len(gens)
    loc.generations = gens[:MAX_LISTED]
    loc.newest = gens[0].mtime if gens else None
    loc.oldest = gens[-1].mtime if gens else None
    sizes = [g.size for g in gens if g.size is not None]
    loc.total_size = sum(sizes) if sizes else (0 if not gens else None)
    loc.size_complete = complete and len(sizes) == len(gens)


def _restic(p: Probe, loc: BackupLocationFacts, path: str) -> None:
    """A restic repository: one file per snapshot under snapshots/, written when the snapshot was taken."""
    loc.layout = "restic"
    names = p.listdir(f"{path}/snapshots") or []
    gens = []
    for n in names:
        st = p.stat(f"{path}/snapshots/{n}")
        if st is not None and st.is_file:
            gens.append(Generation(name=n[:16], kind="restic-snapshot", mtime=_ts(st), size=None))
    total = _Sizer(p, SIZE_BUDGET).size(f"{path}/data")
    _summarise(loc, gens, False)
    loc.total_size = total
    loc.size_complete = total is not None


def _is_borg(p: Probe, path: str) -> bool:
    data = p.file(f"{path}/README", keep_raw=False)
    return data is not None and b"borg" in data.lower()


def _borg(p: Probe, loc: BackupLocationFacts, path: str, names: list[str]) -> None:
    """A borg repository: archives live in the encrypted manifest, so only the last write time is cheap.

    borg rewrites `index.N`/`hints.N`/`integrity.N` on every commit, so their mtime is the newest archive's.
    """
    loc.layout = "borg"
    loc.count = None
    times = []
    for n in names:
        if n.split(".", 1)[0] in ("index", "hints", "integrity"):
            st = p.stat(f"{path}/{n}")
            if st is not None:
                times.append(_ts(st))
    loc.newest = max(times) if times else None
    total = _Sizer(p, SIZE_BUDGET).size(f"{path}/data")
    loc.total_size = total
    loc.size_complete = total is not None


def _mount_tables(p: Probe) -> tuple[list[Mount] | None, str | None, list[Mount] | None]:
    """Live mounts (mountinfo, else /proc/mounts) and the fstab; raw kept only for the lines that matter."""
    live: list[Mount] | None = None
    table = None
    mi = p.file("/proc/self/mountinfo", keep_raw=False)
    if mi is not None:
        live, table = parse_mountinfo(mi.decode("utf-8", "replace")), "mountinfo"
    else:
        pm = p.file("/proc/mounts", keep_raw=False)
        if pm is not None:
            live, table = parse_mounts(pm.decode("utf-8", "replace")), "mounts"
    if live is not None and not live:
        live, table = None, None
    fs = p.file("/etc/fstab", fact="fstab")
    fstab = parse_fstab(fs.decode("utf-8", "replace"), p.malformed) if fs is not None else None
    return live, table, fstab


def _reach(p: Probe, loc: BackupLocationFacts, live: list[Mount] | None, table: str | None, fstab: list[Mount] | None) -> None:
    path = loc.resolved_path or loc.path
    if fstab is not None:
        entry = mount_for(path, fstab)
        loc.fstab_entry = entry if entry is not None and entry.mount_point != "/" else None
    if live is not None:
        m = mount_for(path, live)
        loc.mount, loc.mount_table = m, table
        r = root_mount(live)
        if m is not None and r is not None:
            loc.same_device_as_root = (m.device == r.device) if m.device and r.device else (m.source == r.source)
        if loc.fstab_entry is not None:
            loc.mounted = any(x.mount_point == loc.fstab_entry.mount_point for x in live)
    elif fstab is not None:
        m = mount_for(path, fstab)
        loc.mount, loc.mount_table = m, "fstab"
        r = root_mount(fstab)
        if m is not None and r is not None:
            loc.same_device_as_root = m.source == r.source


def _attrs(p: Probe, loc: BackupLocationFacts) -> None:
    if loc.state != "present" or not p.t.can_run:
        return
    path = loc.resolved_path or loc.path
    res = p.command(["lsattr", "-d", "--", path], fact=f"lsattr:{loc.path}", privileged=True)
    if res is None or not res.ok:
        return
    flags = parse_lsattr(res.text())
    f = flags.get(path) or next(iter(flags.values()), None)
    if f is not None:
        loc.attrs = f
        loc.immutable = "i" in f
        loc.append_only = "a" in f


def _tools(p: Probe, facts: BackupFacts) -> str | None:
    """Backup software configuration and scheduled jobs. Returns rsnapshot's snapshot_root, if any."""
    snapshot_root = None
    rs = p.file("/etc/rsnapshot.conf", keep_raw=False)
    if rs is not None:
        snapshot_root, retain = parse_rsnapshot(rs.decode("utf-8", "replace"))
        summary = f"snapshot_root={snapshot_root} retain={retain}"
        facts.tools.append(BackupTool(kind="rsnapshot", path="/etc/rsnapshot.conf", detail=summary))
        p.excerpt("/etc/rsnapshot.conf (summary)", summary)
    for kind, path in (("borgmatic", "/etc/borgmatic/config.yaml"), ("borgmatic", "/etc/borgmatic.d"),
                       ("restic", "/etc/restic"), ("bacula", "/etc/bacula/bacula-fd.conf"),
                       ("bareos", "/etc/bareos/bareos-fd.conf"), ("duplicity", "/etc/duply"),
                       ("urbackup", "/etc/default/urbackupclient")):
        if p.t.exists(path):
            facts.tools.append(BackupTool(kind=kind, path=path, detail="configuration present"))
    cron_files = ["/etc/crontab"]
    for d in ("/etc/cron.d", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly", "/etc/cron.hourly"):
        for n in p.listdir(d) or []:
            if not n.startswith(".") and n not in _HOUSEKEEPING and not n.endswith(("~", ".dpkg-dist", ".placeholder")):
                cron_files.append(f"{d}/{n}")
    for d in ("/var/spool/cron/crontabs", "/var/spool/cron"):
        for n in p.listdir(d) or []:
            if n != "crontabs" and not n.startswith("."):
                cron_files.append(f"{d}/{n}")
    for path in cron_files:
        data = p.file(path, keep_raw=False, privileged=path.startswith("/var/spool"))
        if data is None:
            continue
        lines = backup_lines(data.decode("utf-8", "replace"))
        name_hit = bool(_BACKUP_WORDS.search(posixpath.basename(path)))
        if lines or name_hit:
            facts.tools.append(BackupTool(kind="cron", path=path, detail=lines[0] if lines else "job named for backups"))
            p.excerpt(f"{path} (backup lines, redacted)", "\n".join(lines[:10]) or "(named for backups)")
    for n in p.listdir("/etc/systemd/system") or []:
        if n.endswith(".timer") and _BACKUP_WORDS.search(n.replace("-", " ").replace(".", " ").replace("@", " ")):
            facts.tools.append(BackupTool(kind="systemd-timer", path=f"/etc/systemd/system/{n}", detail=n))
    return snapshot_root


def _targets(p: Probe, snapshot_root: str | None) -> tuple[bool, list[BackupLocationFacts]]:
    configured: list[BackupLocation] = list(p.settings.backup_locations)
    if configured:
        return True, [BackupLocationFacts(path=posixpath.normpath(loc.path), label=loc.label, origin="configured",
                                          offline_expected=loc.offline, expected_generations=loc.expected_generations)
                      for loc in configured]
    out = [BackupLocationFacts(path=d, origin="default") for d in DEFAULT_BACKUP_LOCATIONS]
    if snapshot_root and snapshot_root not in DEFAULT_BACKUP_LOCATIONS:
        out.append(BackupLocationFacts(path=snapshot_root, origin="rsnapshot"))
    return False, out


@collector("linux.backups", facts=BackupFacts)
def collect_backups(p: Probe) -> BackupFacts:
    """Backup locations, generations and out-of-reach evidence (mount, device, attributes), plus tooling."""
    facts = BackupFacts()
    snapshot_root = _tools(p, facts)
    facts.locations_configured, locations = _targets(p, snapshot_root)
    live, table, fstab = _mount_tables(p)
    facts.mount_table = table or ("fstab" if fstab is not None else None)
    if facts.mount_table is None:
        p.note("mounts", Reason.ABSENT if not p.t.can_run else Reason.FAILED,
               "neither /proc/self/mountinfo, /proc/mounts nor /etc/fstab could be read")
    for loc in locations:
        st = p.stat(loc.path)
        if st is None:
            loc.state = "absent"
        elif st.is_symlink and p.t.can_run:
            res = p.command(["readlink", "-f", "--", loc.path])
            if res is not None and res.ok and res.text().strip():
                loc.resolved_path = res.text().strip()
        _reach(p, loc, live, table, fstab)
        if st is not None and (st.is_dir or st.is_symlink):
            _list_generations(p, loc, loc.path)
        elif st is not None:
            loc.state, loc.layout = "present", "plain"  # a single archive file configured as the location
            _summarise(loc, [Generation(name=posixpath.basename(loc.path), kind="file", mtime=_ts(st), size=st.size,
                                        name_date=name_date(loc.path))], True)
        if loc.state == "absent" and loc.fstab_entry is not None and loc.mounted is False:
            loc.state = "not_mounted"
        elif loc.state == "present" and loc.fstab_entry is not None and loc.mounted is False and loc.count == 0:
            loc.state = "not_mounted"  # the empty mount-point directory of an unmounted filesystem
        _attrs(p, loc)
        if loc.state != "absent" or loc.origin == "configured":
            p.excerpt(f"backup location {loc.path}", _describe(loc))
    facts.locations = locations
    return facts


def _describe(loc: BackupLocationFacts) -> str:
    lines = [f"state={loc.state} layout={loc.layout} count={loc.count} newest={loc.newest} size={loc.total_size}"]
    if loc.mount is not None:
        m = loc.mount
        lines.append(f"mount ({loc.mount_table}): {m.source} on {m.mount_point} type {m.fstype} ({','.join(m.options)})"
                     + (f" dev {m.device}" if m.device else "") + f" same_device_as_root={loc.same_device_as_root}")
    if loc.fstab_entry is not None:
        e = loc.fstab_entry
        lines.append(f"fstab: {e.source} {e.mount_point} {e.fstype} {','.join(e.options)} mounted={loc.mounted}")
    if loc.attrs is not None:
        lines.append(f"lsattr: {loc.attrs}")
    lines += [f"  {g.mtime.isoformat()}  {g.size if g.size is not None else '?':>12}  {g.name}" for g in loc.generations[:15]]
    if loc.count and loc.count > 15:
        lines.append(f"  … {loc.count - 15} more")
    return "\n".join(lines)
