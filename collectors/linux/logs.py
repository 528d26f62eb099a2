"""Access logs: auditd, journald, rsyslog/syslog-ng, logrotate retention, and log file permissions.

SO-17-1 asks that user access be recorded in access logs; SO-17-2 that those logs be access-restricted and
protected from deletion, alteration and insertion. This collector gathers what a check needs to judge both
(named `logs`, not `logging`, so it never shadows the standard library):

* auditd: installed, running, `auditd.conf`, the rules (watches, `-e 2` immutable);
* journald: merged `journald.conf` + drop-ins, effective persistence, `MaxRetentionSec`;
* rsyslog / syslog-ng: where auth/authpriv goes, and remote forwarding;
* logrotate: rotate × period (capped by maxage) per auth/system log -> retention in days;
* mode, owner and append-only attribute of the auth, system, audit and login-record files.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.linux._mounts import parse_lsattr
from tenken.collectors.linux.procs import process_names
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

#: The logs whose mode, owner and retention are judged: login/auth records first.
AUTH_LOGS = ("/var/log/auth.log", "/var/log/secure")
SYSTEM_LOGS = ("/var/log/syslog", "/var/log/messages")
AUDIT_LOG = "/var/log/audit/audit.log"
LOGIN_RECORDS = ("/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog")
LOG_FILES = (*AUTH_LOGS, *SYSTEM_LOGS, AUDIT_LOG, *LOGIN_RECORDS)
#: Logs whose retention is computed from logrotate.
ROTATED_LOGS = (*AUTH_LOGS, *SYSTEM_LOGS, "/var/log/wtmp", "/var/log/btmp")


# -- typed facts ----------------------------------------------------------------------------------------

class AuditRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rules: list[str] = Field(default_factory=list)
    watched: list[str] = Field(default_factory=list)  # paths from -w and -F path=/dir=
    immutable: bool = False  # -e 2: rules locked until reboot
    disabled: bool = False  # -e 0


class AuditdFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    installed: bool = False
    running: bool | None = None
    enabled: bool = False  # systemd unit enabled at boot (a wants/ link), the offline-root evidence
    config: dict[str, str] = Field(default_factory=dict)
    rule_files: list[str] = Field(default_factory=list)
    rules: AuditRules = Field(default_factory=AuditRules)
    runtime_enabled: int | None = None  # `auditctl -s`: 0 off, 1 on, 2 on and locked


class JournaldFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    installed: bool = False
    running: bool | None = None
    config_files: list[str] = Field(default_factory=list)
    settings: dict[str, str] = Field(default_factory=dict)
    storage: str = "auto"  # journald's default when unset
    var_log_journal: bool | None = None
    persistent: bool | None = None  # persistent, or auto with /var/log/journal present
    max_retention_seconds: int | None = None
    system_max_use: str | None = None


class SyslogFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daemons: list[str] = Field(default_factory=list)  # installed: rsyslog, syslog-ng
    running: list[str] = Field(default_factory=list)
    config_files: list[str] = Field(default_factory=list)
    auth_destinations: list[str] = Field(default_factory=list)  # files auth/authpriv messages go to
    remote_targets: list[str] = Field(default_factory=list)  # hosts logs are forwarded to


class Rotation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    source: str  # the logrotate file holding the matching block
    rotate: int | None = None
    period: str | None = None  # hourly | daily | weekly | monthly | yearly
    maxage: int | None = None
    size_based: bool = False  # `size`: rotated on volume only
    size_mode: str = "time"  # time | size | maxsize (sooner when large) | minsize (never before the period)
    unlimited: bool = False  # rotate -1 without maxage: rotated files are never removed
    retention_days: float | None = None  # (rotate + 1) × period, capped by maxage; None when unknown


class LogFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    mode: int
    uid: int
    gid: int
    owner: str | None = None
    group: str | None = None
    size: int = 0
    attrs: str | None = None
    append_only: bool | None = None


class LogsFacts(Facts):
    auditd: AuditdFacts = Field(default_factory=AuditdFacts)
    journald: JournaldFacts = Field(default_factory=JournaldFacts)
    syslog: SyslogFacts = Field(default_factory=SyslogFacts)
    rotation: dict[str, Rotation] = Field(default_factory=dict)
    logrotate_present: bool = False
    files: list[LogFile] = Field(default_factory=list)
    processes_known: bool = False


# -- pure parsers -------------------------------------------------------------------------------------

def parse_keyvalue(text: str, sep: str = "=") -> dict[str, str]:
    """`key = value` lines (auditd.conf, ufw.conf). Keys lower-cased; comments and junk skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or sep not in s:
            continue
        k, v = s.split(sep, 1)
        k = k.strip().lower()
        if k:
            out[k] = v.strip().strip('"').strip("'")
    return out


def parse_audit_rules(text: str) -> AuditRules:
    """auditctl(8) rule lines: `-w PATH ...`, `-a ... -F path=|dir=PATH`, `-e 0|1|2`."""
    rules: list[str] = []
    watched: list[str] = []
    immutable = disabled = False
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        rules.append(s[:300])
        tok = s.split()
        for i, t in enumerate(tok):
            if t == "-w" and i + 1 < len(tok):
                watched.append(tok[i + 1])
            elif t == "-F" and i + 1 < len(tok) and tok[i + 1].startswith(("path=", "dir=")):
                watched.append(tok[i + 1].split("=", 1)[1])
            elif t.startswith(("-Fpath=", "-Fdir=")):
                watched.append(t.split("=", 1)[1])
        if len(tok) >= 2 and tok[0] == "-e":
            immutable = tok[1] == "2"
            disabled = tok[1] == "0"
    return AuditRules(rules=rules, watched=sorted(set(watched)), immutable=immutable, disabled=disabled)


def parse_auditctl_status(text: str) -> int | None:
    m = re.search(r"^enabled\s+(\d+)", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def parse_ini_section(text: str, section: str) -> dict[str, str]:
    """systemd unit-file syntax (journald.conf): `Key=Value` under `[Section]`; later keys win."""
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("[") and s.endswith("]"):
            current = s[1:-1].strip()
            continue
        if current == section and "=" in s:
            k, v = s.split("=", 1)
            out[k.strip()] = v.strip()
    return out


_SPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    "M": 2629800, "month": 2629800, "months": 2629800,
    "y": 31557600, "year": 31557600, "years": 31557600,
}


def parse_timespan(value: str) -> int | None:
    """systemd.time(7) spans ("1year", "6month 2w", "3600"): seconds, or None if unparseable. 0 = unlimited."""
    s = value.strip()
    if not s:
        return None
    if re.fullmatch(r"\d{1,15}", s):
        return int(s)
    total = 0.0
    pos = 0
    for m in re.finditer(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", s):
        if m.start() != pos:
            return None
        unit = m.group(2)
        factor = _SPAN_UNITS.get(unit) or _SPAN_UNITS.get(unit.lower()) if unit != "M" else _SPAN_UNITS["M"]
        if factor is None:
            return None
        total += float(m.group(1)) * factor
        pos = m.end()
    if pos != len(s) or total > 1e15:
        return None
    return int(total)


def _selector_hits_auth(selector: str) -> bool:
    """Does a syslog selector send authpriv/auth messages? Later `facility.none` parts exclude earlier ones."""
    hit = False
    for part in selector.split(";"):
        if "." not in part:
            continue
        facs, prio = part.rsplit(".", 1)
        if not {f.strip() for f in facs.split(",")} & {"auth", "authpriv", "*"}:
            continue
        hit = prio.strip() not in ("none", "!*")
    return hit


def parse_rsyslog(text: str) -> tuple[list[str], list[str]]:
    """rsyslog.conf: (files auth/authpriv is written to, remote forwarding targets).

    Legacy `selector action` lines (`auth,authpriv.* /var/log/auth.log`, `*.* @@loghost:514`) and
    RainerScript `action(type="omfwd" target="...")` / `omrelp` / `omfile file="..."` are understood.
    """
    auth: list[str] = []
    remote: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("#", "$", "module(", "input(", "global(", "template(", "include(")):
            continue
        m = re.match(r"^([A-Za-z0-9_*.,;!=\s-]+?)\s+(-?/\S+|@@?\S+|:om(?:fwd|relp):\S+)\s*$", s)
        if m and "." in m.group(1):
            sel, act = m.group(1).replace(" ", ""), m.group(2)
            if act.startswith("@"):
                remote.append(re.sub(r"^\(\w+\)", "", act.lstrip("@")))
            elif act.startswith(":om"):
                remote.append(act.split(":", 2)[2])
            elif _selector_hits_auth(sel):
                auth.append(act.lstrip("-"))
    for m in re.finditer(r"action\s*\(([^)]*)\)", text, re.DOTALL):
        body = m.group(1)
        typ = re.search(r'type\s*=\s*"(\w+)"', body)
        if typ and typ.group(1) in ("omfwd", "omrelp"):
            tgt = re.search(r'target\s*=\s*"([^"]+)"', body)
            remote.append(tgt.group(1) if tgt else typ.group(1))
        elif typ and typ.group(1) == "omfile":
            f = re.search(r'file\s*=\s*"([^"]+)"', body)
            if f and ("auth" in f.group(1) or "secure" in f.group(1)):
                auth.append(f.group(1))
    return sorted(set(auth)), sorted(set(remote))


def parse_syslog_ng(text: str) -> tuple[list[str], list[str]]:
    """syslog-ng.conf: (auth-like file destinations, remote hosts of network/tcp/udp/syslog destinations)."""
    auth: list[str] = []
    remote: list[str] = []
    for m in re.finditer(r"destination\s+[\w.-]+\s*\{(.*?)\}\s*;", text, re.DOTALL):
        body = m.group(1)
        for f in re.finditer(r'file\s*\(\s*"([^"]+)"', body):
            if "auth" in f.group(1) or "secure" in f.group(1):
                auth.append(f.group(1))
        for r in re.finditer(r'\b(?:network|tcp6?|udp6?|syslog)\s*\(\s*"?([^"\s)]+)"?', body):
            remote.append(r.group(1))
    return sorted(set(auth)), sorted(set(remote))


_PERIODS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}
_SCRIPT_START = ("postrotate", "prerotate", "firstaction", "lastaction", "preremove")
#: logrotate's default taboo extensions: files in an included directory ending so are skipped.
TABOO_SUFFIXES = ("~", ".dpkg-dist", ".dpkg-old", ".dpkg-new", ".ucf-dist", ".ucf-new", ".ucf-old", ".rpmnew", ".rpmorig",
                  ".rpmsave", ".disabled", ".bak", ".swp", ".cfsaved", ".rhn-cfg-tmp-*")


class RotateBlock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    patterns: list[str]
    settings: dict[str, str]
    #: the file's top-level directives in force where the block starts (a later `rotate 9` does not reach back)
    defaults: dict[str, str] = Field(default_factory=dict)


def parse_logrotate(text: str) -> tuple[dict[str, str], list[RotateBlock]]:
    """logrotate.conf(5): (top-level directives, blocks of `patterns { directives }`). Scripts are skipped.

    size/maxsize/minsize are kept apart: `size` rotates on size alone, `maxsize` sooner than the period
    when large, `minsize` never before the period (logrotate(8))."""
    glob: dict[str, str] = {}
    blocks: list[RotateBlock] = []
    pending: list[str] = []
    current: dict[str, str] | None = None
    current_patterns: list[str] = []
    at_start: dict[str, str] = {}
    in_script = False

    def directive(target: dict[str, str], words: list[str]) -> None:
        key = words[0].lower()
        if key in _PERIODS:
            target["period"] = key
        elif key in ("rotate", "maxage"):
            if len(words) > 1 and re.fullmatch(r"-?\d{1,9}", words[1]):
                target[key] = words[1]
        elif key in ("size", "maxsize", "minsize"):
            target[key] = words[1] if len(words) > 1 else ""
        elif key not in ("include", "tabooext", "taboopat"):
            target[key] = " ".join(words[1:])

    for raw in text.splitlines():
        s = raw.strip()
        if in_script:
            if s == "endscript":
                in_script = False
            continue
        if not s or s.startswith("#"):
            continue
        if s.split()[0] in _SCRIPT_START:
            in_script = True
            continue
        if current is None:
            if "{" in s:
                head, _, rest = s.partition("{")
                current_patterns = pending + [w.strip('"') for w in head.split()]
                pending = []
                current = {}
                at_start = dict(glob)
                rest = rest.strip()
                if rest.endswith("}"):
                    body = rest[:-1].strip()
                    if body:
                        directive(current, body.split())
                    blocks.append(RotateBlock(patterns=current_patterns, settings=current, defaults=at_start))
                    current = None
                elif rest:
                    directive(current, rest.split())
                continue
            if s.startswith("/") or s.startswith('"/'):
                pending.extend(w.strip('"') for w in s.split())
                continue
            pending = []
            directive(glob, s.split())
            continue
        if s.endswith("}"):
            body = s[:-1].strip()
            if body:
                directive(current, body.split())
            blocks.append(RotateBlock(patterns=current_patterns, settings=current, defaults=at_start))
            current = None
            continue
        directive(current, s.split())
    return glob, blocks


def split_includes(text: str) -> list[str | tuple[str]]:
    """logrotate.conf cut at its top-level `include` lines: text segments and (include argument,) markers, in order.

    logrotate reads an included file where the `include` stands, so the directives above it are the
    included files' defaults and those below it are not."""
    out: list[str | tuple[str]] = []
    seg: list[str] = []
    depth = 0
    in_script = False
    for raw in text.splitlines():
        s = raw.strip()
        word = s.split()[0] if s else ""
        if in_script:
            in_script = s != "endscript"
        elif word in _SCRIPT_START:
            in_script = True
        elif depth == 0 and word == "include" and len(s.split()) > 1:
            out.append("\n".join(seg))
            seg = []
            out.append((s.split(None, 1)[1].strip().strip('"'),))
            continue
        elif not s.startswith("#"):
            depth = max(0, depth + s.count("{") - s.count("}"))
        seg.append(raw)
    out.append("\n".join(seg))
    return out


def expand_includes(name: str, text: str, read: Callable[[str], list[tuple[str, str]]], depth: int = 0) -> list[tuple[str, str]]:
    """(name, text) pieces in the order logrotate reads them: `read(arg)` gives an include's files (a
    directory's files sorted, taboo extensions skipped). Nested includes are followed three levels deep."""
    out: list[tuple[str, str]] = []
    for part in split_includes(text):
        if isinstance(part, tuple):
            if depth < 3:
                for sub_name, sub_text in read(part[0]):
                    out.extend(expand_includes(sub_name, sub_text, read, depth + 1))
        elif part.strip():
            out.append((name, part))
    return out


def _retention(rotate: int, period: str | None, maxage: int | None, mode: str) -> tuple[float | None, bool]:
    """(days, unlimited). rotate N keeps N rotated files plus the current one: N+1 periods of records.
    maxage deletes rotated files older than maxage days: at most maxage days plus the current period."""
    if rotate < 0:  # rotate -1: old logs are never removed (logrotate >= 3.8.5), unless maxage
        if maxage is not None and maxage > 0 and period is not None:
            return float(maxage) + _PERIODS[period], False
        return None, True
    if period is None or mode == "size":
        return None, False
    days = (rotate + 1) * _PERIODS[period]
    if maxage is not None and maxage > 0:
        days = min(days, float(maxage) + _PERIODS[period])
    return days, False


def rotation_for(path: str, files: Iterable[tuple[str, str]]) -> Rotation | None:
    """The retention logrotate gives `path`: the first matching block, with the top-level directives read before it.

    `files` are (name, text) pieces in logrotate's reading order (expand_includes): top-level directives
    carry forward from piece to piece as logrotate's defaults do; a block's own directives override them.
    Retention = (rotate + 1) × period days (the current file plus the rotated ones), capped by maxage;
    `size` alone rotates on volume, so it has no time retention.
    """
    defaults: dict[str, str] = {}
    for name, text in files:
        glob, blocks = parse_logrotate(text)
        for b in blocks:
            if any(fnmatch.fnmatchcase(path, pat) for pat in b.patterns):
                eff = {**defaults, **b.defaults, **b.settings}
                rotate = int(eff["rotate"]) if "rotate" in eff else 0  # logrotate's default: rotate 0
                period = eff.get("period")
                maxage = int(eff["maxage"]) if "maxage" in eff else None
                mode = "size" if "size" in eff else "maxsize" if "maxsize" in eff else "minsize" if "minsize" in eff else "time"
                retention, unlimited = _retention(rotate, period, maxage, mode)
                return Rotation(path=path, source=name, rotate=rotate, period=period, maxage=maxage,
                                size_based=mode == "size", size_mode=mode, unlimited=unlimited, retention_days=retention)
        defaults.update(glob)
    return None


def parse_id_names(text: str) -> dict[int, str]:
    """/etc/passwd or /etc/group -> {id: name} (third field)."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 3 and f[2].isdigit():
            out.setdefault(int(f[2]), f[0])
    return out


# -- collection ---------------------------------------------------------------------------------------



def _any_exists(p: Probe, paths: Iterable[str]) -> bool:
    return any(p.t.exists(x) for x in paths)


def _dir_files(p: Probe, d: str, suffix: str) -> list[str]:
    return [f"{d}/{n}" for n in (p.listdir(d) or []) if n.endswith(suffix) and not n.startswith(".")]


def _auditd(p: Probe, procs: set[str] | None) -> AuditdFacts:
    a = AuditdFacts(installed=_any_exists(p, ("/usr/sbin/auditd", "/sbin/auditd")))
    a.running = None if procs is None else "auditd" in procs
    a.enabled = _any_exists(p, ("/etc/systemd/system/multi-user.target.wants/auditd.service",
                                "/etc/systemd/system/sysinit.target.wants/auditd.service", "/etc/rc3.d/S01auditd",
                                "/etc/rc2.d/S01auditd"))
    conf = p.file("/etc/audit/auditd.conf", fact="auditd_conf", privileged=True)
    if conf is not None:
        a.config = parse_keyvalue(conf.decode("utf-8", "replace"))
    texts = []
    for path in [*sorted(_dir_files(p, "/etc/audit/rules.d", ".rules")), "/etc/audit/audit.rules"]:
        data = p.file(path, privileged=True, fact="audit_rules" if path.endswith("audit.rules") else None)
        if data is not None:
            a.rule_files.append(path)
            texts.append(data.decode("utf-8", "replace"))
    # audit.rules is generated from rules.d by augenrules: prefer the generated file when both exist
    gen = "/etc/audit/audit.rules" in a.rule_files
    a.rules = parse_audit_rules(texts[-1] if gen else "\n".join(texts))
    if a.running and p.t.can_run:
        res = p.command(["auditctl", "-s"], privileged=True, fact="auditctl")
        if res is not None and res.ok:
            a.runtime_enabled = parse_auditctl_status(res.text())
    return a


def _journald(p: Probe, procs: set[str] | None) -> JournaldFacts:
    j = JournaldFacts(installed=_any_exists(p, ("/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald")))
    j.running = None if procs is None else "systemd-journald" in procs
    files = ["/etc/systemd/journald.conf"]
    # systemd's drop-in order: /usr/lib, /run, /etc, sorted by file name across directories
    drop = []
    for d in ("/usr/lib/systemd/journald.conf.d", "/run/systemd/journald.conf.d", "/etc/systemd/journald.conf.d"):
        drop.extend(_dir_files(p, d, ".conf"))
    files += sorted(drop, key=lambda x: x.rsplit("/", 1)[1])
    for path in files:
        data = p.file(path, fact="journald_conf" if path == "/etc/systemd/journald.conf" else None)
        if data is not None:
            j.config_files.append(path)
            j.settings.update(parse_ini_section(data.decode("utf-8", "replace"), "Journal"))
    j.storage = j.settings.get("Storage", "auto").strip().lower() or "auto"
    st = p.stat("/var/log/journal")
    j.var_log_journal = st is not None and (st.is_dir or st.is_symlink)
    if j.storage == "persistent":
        j.persistent = True
    elif j.storage == "auto":
        j.persistent = j.var_log_journal
    else:
        j.persistent = False  # volatile or none
    if "MaxRetentionSec" in j.settings:
        j.max_retention_seconds = parse_timespan(j.settings["MaxRetentionSec"])
    j.system_max_use = j.settings.get("SystemMaxUse")
    return j


def _syslog(p: Probe, procs: set[str] | None) -> SyslogFacts:
    s = SyslogFacts()
    if _any_exists(p, ("/usr/sbin/rsyslogd", "/sbin/rsyslogd")):
        s.daemons.append("rsyslog")
    if _any_exists(p, ("/usr/sbin/syslog-ng", "/sbin/syslog-ng")):
        s.daemons.append("syslog-ng")
    if procs is not None:
        s.running = sorted({"rsyslog" for n in procs if n.startswith("rsyslogd")} | {"syslog-ng" for n in procs if n.startswith("syslog-ng")})
    auth: set[str] = set()
    remote: set[str] = set()
    for path in ["/etc/rsyslog.conf", *sorted(_dir_files(p, "/etc/rsyslog.d", ".conf"))]:
        data = p.file(path)
        if data is not None:
            s.config_files.append(path)
            a, r = parse_rsyslog(data.decode("utf-8", "replace"))
            auth.update(a)
            remote.update(r)
    ng = ["/etc/syslog-ng/syslog-ng.conf", *sorted(_dir_files(p, "/etc/syslog-ng/conf.d", ".conf"))]
    for path in ng:
        data = p.file(path)
        if data is not None:
            s.config_files.append(path)
            a, r = parse_syslog_ng(data.decode("utf-8", "replace"))
            auth.update(a)
            remote.update(r)
    s.auth_destinations = sorted(auth)
    s.remote_targets = sorted(remote)
    return s


def _logrotate(p: Probe, facts: LogsFacts) -> None:
    main = p.file("/etc/logrotate.conf", fact="logrotate")
    if main is None:
        return
    facts.logrotate_present = True

    def read(arg: str) -> list[tuple[str, str]]:
        st = p.stat(arg)
        if st is None:
            return []
        names = p.listdir(arg) if st.is_dir else None
        paths = [arg] if names is None else sorted(
            f"{arg.rstrip('/')}/{n}" for n in names
            if not n.startswith(".") and not any(fnmatch.fnmatchcase(n, "*" + t) for t in TABOO_SUFFIXES))
        out = []
        for path in paths:
            data = p.file(path)
            if data is not None:
                out.append((path, data.decode("utf-8", "replace")))
        return out

    texts = expand_includes("/etc/logrotate.conf", main.decode("utf-8", "replace"), read)
    for log in ROTATED_LOGS:
        r = rotation_for(log, texts)
        if r is not None:
            facts.rotation[log] = r


def _files(p: Probe, facts: LogsFacts) -> None:
    users = p.file("/etc/passwd", keep_raw=False)
    groups = p.file("/etc/group", keep_raw=False)
    unames = parse_id_names(users.decode("utf-8", "replace")) if users is not None else {}
    gnames = parse_id_names(groups.decode("utf-8", "replace")) if groups is not None else {}
    found = []
    for path in LOG_FILES:
        st = p.stat(path)
        if st is None or not st.is_file:
            continue
        found.append((path, st))
    attrs: dict[str, str] = {}
    if found and p.t.can_run:
        res = p.command(["lsattr", "--", *[x for x, _ in found]], privileged=True, fact="lsattr")
        if res is not None:
            attrs = parse_lsattr(res.text())
    lines = []
    for path, st in found:
        a = attrs.get(path)
        facts.files.append(LogFile(path=path, mode=st.perms, uid=st.uid, gid=st.gid, owner=unames.get(st.uid),
                                   group=gnames.get(st.gid), size=st.size, attrs=a, append_only=("a" in a) if a else None))
        lines.append(f"{st.perms:04o} {unames.get(st.uid, st.uid)}:{gnames.get(st.gid, st.gid)} {st.size:>10} {a or '-'} {path}")
    p.excerpt("log files (mode owner:group size attrs path)", "\n".join(lines) or "(none of the listed log files exist)")


@collector("linux.logs", facts=LogsFacts)
def collect_logs(p: Probe) -> LogsFacts:
    """auditd, journald, syslog daemons, logrotate retention and log file permissions."""
    facts = LogsFacts()
    procs = process_names(p) if p.t.can_run else None
    if not p.t.can_run:
        p.note("processes", Reason.OFFLINE, "running daemons cannot be seen in an offline root")
    facts.processes_known = procs is not None
    facts.auditd = _auditd(p, procs)
    facts.journald = _journald(p, procs)
    facts.syslog = _syslog(p, procs)
    _logrotate(p, facts)
    _files(p, facts)
    a, j, s = facts.auditd, facts.journald, facts.syslog
    p.excerpt("summary", "\n".join([
        f"auditd installed={a.installed} running={a.running} enabled={a.enabled} rules={len(a.rules.rules)} immutable={a.rules.immutable} enabled={a.runtime_enabled}",
        f"journald installed={j.installed} running={j.running} Storage={j.storage} /var/log/journal={j.var_log_journal} "
        f"MaxRetentionSec={j.settings.get('MaxRetentionSec')} SystemMaxUse={j.system_max_use}",
        f"syslog daemons={s.daemons} running={s.running} auth={s.auth_destinations} remote={s.remote_targets}",
        *[f"logrotate {r.path}: rotate {r.rotate} {r.period} maxage={r.maxage} -> {r.retention_days} days ({r.source})"
          for r in facts.rotation.values()],
    ]))
    return facts
