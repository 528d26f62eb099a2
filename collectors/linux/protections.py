"""Host protections: inbound firewall, disk encryption, USB mass-storage blocking, desktop screen lock.

Runtime state is preferred (`nft`, `iptables`, `ufw status`, `firewall-cmd --state`, `lsblk`, sysfs,
/proc/modules, running daemons); configuration files are always read too, so an offline `--root` image is
judged by what it would do at boot. Everything here is a fact: which backend filters input and how, which
mounts sit on dm-crypt, which modprobe lines block usb-storage, what dconf enforces. Checks judge.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import BadRecord, Facts, Reason
from tenken.collectors.linux._mounts import CrypttabEntry, parse_crypttab, parse_fstab, parse_mountinfo
from tenken.collectors.linux.logs import parse_ini_section, parse_keyvalue
from tenken.collectors.linux.lvm import LogicalVolume, LvmError, logical_volumes, parse_lvm_text
from tenken.collectors.linux.procs import process_names
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import CommandResult

# -- typed facts ----------------------------------------------------------------------------------------


class FilterState(BaseModel):
    """One firewall backend's inbound filtering, from its runtime state or its boot configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    backend: str  # nftables | iptables | ufw | firewalld
    source: str  # the command run or the file read
    runtime: bool  # True: live state; False: configuration applied at boot
    active: bool | None = None  # running / loaded (runtime) or enabled at boot (config)
    input_policy: str | None = None  # accept | drop | reject
    input_rules: int = 0
    blocking_rules: int = 0  # rules with a drop/reject verdict in tables that filter input


class FirewallFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runtime_checked: bool = False
    states: list[FilterState] = Field(default_factory=list)


class MountCrypt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mount_point: str
    source: str
    encrypted: bool | None = None
    via: str = ""  # how it was decided: sysfs dm uuid, lsblk, crypttab


class EncryptionFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str | None = None  # sysfs | lsblk | fstab+crypttab
    root_encrypted: bool | None = None
    mounts: list[MountCrypt] = Field(default_factory=list)
    crypt_devices: list[str] = Field(default_factory=list)  # dm-crypt mappings seen
    crypttab: list[CrypttabEntry] = Field(default_factory=list)
    chassis_type: int | None = None  # SMBIOS chassis type
    has_battery: bool | None = None


class UsbGuardFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    installed: bool = False
    running: bool | None = None
    implicit_policy: str | None = None  # ImplicitPolicyTarget: allow | block | reject
    rules: int = 0


class UsbFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directives: list[str] = Field(default_factory=list)  # "file: install usb_storage /bin/false"
    install_blocked: list[str] = Field(default_factory=list)  # modules whose install is a no-op
    blacklisted: list[str] = Field(default_factory=list)
    cmdline_blocked: list[str] = Field(default_factory=list)
    cmdline_nomodule: bool = False  # `nomodule` on the kernel command line: no module can load
    module_support: bool | None = None  # /proc/modules exists (False: kernel without loadable modules)
    loaded: list[str] | None = None  # None: /proc/modules not readable (offline)
    builtin: bool | None = None
    usbguard: UsbGuardFacts = Field(default_factory=UsbGuardFacts)


class LockSetting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    desktop: str  # gnome | cinnamon | mate | kde
    source: str
    lock_enabled: bool | None = None
    idle_seconds: int | None = None  # inactivity before the screen blanks/locks; 0 = never
    lock_delay_seconds: int | None = None
    locked: bool = False  # enforced: users cannot change it (dconf locks, KDE [$i])


class ScreenLockFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    desktop_present: bool = False
    display_managers: list[str] = Field(default_factory=list)
    display_manager_enabled: bool = False
    sessions: list[str] = Field(default_factory=list)
    dconf_profile_dbs: list[str] | None = None  # system-db names in /etc/dconf/profile/user
    settings: list[LockSetting] = Field(default_factory=list)


class ProtectionFacts(Facts):
    firewall: FirewallFacts = Field(default_factory=FirewallFacts)
    encryption: EncryptionFacts = Field(default_factory=EncryptionFacts)
    usb: UsbFacts = Field(default_factory=UsbFacts)
    screen: ScreenLockFacts = Field(default_factory=ScreenLockFacts)


# -- pure parsers: firewall -----------------------------------------------------------------------------

def parse_nft_json(text: str) -> FilterState | None:
    """`nft -j list ruleset`: input-hook chains' policy and rules; drop/reject verdicts in those tables."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    items = doc.get("nftables") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return None
    input_chains: set[tuple[str, str, str]] = set()
    policy: str | None = None
    for it in items:
        ch = it.get("chain") if isinstance(it, dict) else None
        if isinstance(ch, dict) and ch.get("hook") == "input" and ch.get("type", "filter") == "filter":
            input_chains.add((str(ch.get("family")), str(ch.get("table")), str(ch.get("name"))))
            p = ch.get("policy")
            if isinstance(p, str) and (policy is None or p == "drop"):
                policy = p
    tables = {(f, t) for f, t, _ in input_chains}
    rules = blocking = 0
    for it in items:
        r = it.get("rule") if isinstance(it, dict) else None
        if not isinstance(r, dict):
            continue
        key = (str(r.get("family")), str(r.get("table")), str(r.get("chain")))
        if key in input_chains:
            rules += 1
        if (key[0], key[1]) in tables and _json_has_verdict(r.get("expr"), ("drop", "reject")):
            blocking += 1
    return FilterState(backend="nftables", source="nft -j list ruleset", runtime=True, active=bool(input_chains),
                       input_policy=policy, input_rules=rules, blocking_rules=blocking)


def _json_has_verdict(node: Any, verdicts: tuple[str, ...], depth: int = 0) -> bool:
    if depth > 50:
        return False
    if isinstance(node, dict):
        return any(k in verdicts or _json_has_verdict(v, verdicts, depth + 1) for k, v in node.items())
    if isinstance(node, list):
        return any(_json_has_verdict(v, verdicts, depth + 1) for v in node)
    return False


def parse_nft_text(text: str, *, source: str = "nft list ruleset", runtime: bool = True) -> FilterState:
    """nft's native syntax (`nft list ruleset` output or /etc/nftables.conf): input-hook chains and verdicts."""
    depth = 0
    table: str | None = None
    chain: str | None = None
    chain_is_input = False
    table_has_input: dict[str, bool] = {}
    policy: str | None = None
    rules = 0
    blocking_by_table: dict[str, int] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        body_line = depth == 2 and chain is not None  # a line inside a chain, not its header
        m_table = re.match(r"^table\s+(?:(\w+)\s+)?([\w.-]+)\s*\{", line)
        m_chain = re.match(r"^chain\s+([\w.-]+)\s*\{", line)
        if m_table and depth == 0:
            table, chain = f"{m_table.group(1) or 'ip'} {m_table.group(2)}", None
        elif m_chain and depth == 1:
            chain, chain_is_input = m_chain.group(1), False
        if chain is not None and table is not None and re.search(r"\btype\s+filter\s+hook\s+input\b", line):
            chain_is_input = True
            table_has_input[table] = True
            policy = policy or "accept"  # nft's default chain policy
        pm = re.search(r"\bpolicy\s+(accept|drop)\b", line)
        if pm and chain_is_input and (policy in (None, "accept")):
            policy = pm.group(1)
        elif body_line and not re.match(r"^(type|policy)\b", line) and not line.startswith("}"):
            if chain_is_input:
                rules += 1
            if re.search(r"\b(drop|reject)\b", line) and table is not None:
                blocking_by_table[table] = blocking_by_table.get(table, 0) + 1
        depth = max(0, depth + line.count("{") - line.count("}"))
        if depth <= 1:
            chain, chain_is_input = None, False
        if depth == 0:
            table = None
    blocking = sum(n for t, n in blocking_by_table.items() if table_has_input.get(t))
    return FilterState(backend="nftables", source=source, runtime=runtime, active=bool(table_has_input) if runtime else None,
                       input_policy=policy, input_rules=rules, blocking_rules=blocking)


def parse_iptables(text: str, *, source: str = "iptables -S", runtime: bool = True) -> FilterState:
    """`iptables -S` (`-P INPUT DROP`) or iptables-save / rules.v4 (`:INPUT DROP [0:0]`), filter table only."""
    policy: str | None = None
    rules = blocking = 0
    table = "filter"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        if table != "filter":
            continue
        m = re.match(r"^(?:-P\s+INPUT|:INPUT)\s+(\w+)", line)
        if m:
            policy = m.group(1).lower()
            continue
        if line.startswith("-A "):
            if line.split()[1:2] == ["INPUT"]:
                rules += 1
            if re.search(r"-j\s+(DROP|REJECT)\b", line):
                blocking += 1
    return FilterState(backend="iptables", source=source, runtime=runtime, active=(policy is not None or rules > 0) if runtime else None,
                       input_policy=policy, input_rules=rules, blocking_rules=blocking)


# -- pure parsers: devices, modules, desktop -------------------------------------------------------------

def parse_lsblk(text: str) -> list[tuple[str, str, bool]] | None:
    """`lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT` -> [(mountpoint, name, sits on a crypt device)]."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    devs = doc.get("blockdevices") if isinstance(doc, dict) else None
    if not isinstance(devs, list):
        return None
    out: list[tuple[str, str, bool]] = []

    def walk(nodes: list[Any], crypt_above: bool, depth: int) -> None:
        if depth > 30:
            return
        for n in nodes:
            if not isinstance(n, dict):
                continue
            is_crypt = crypt_above or n.get("type") == "crypt"
            mps = n.get("mountpoints") if isinstance(n.get("mountpoints"), list) else [n.get("mountpoint")]
            for mp in mps:
                if isinstance(mp, str) and mp.startswith("/"):
                    out.append((mp, str(n.get("name")), is_crypt))
            kids = n.get("children")
            if isinstance(kids, list):
                walk(kids, is_crypt, depth + 1)

    walk(devs, False, 0)
    return out


_NOOP_INSTALL = re.compile(r"^(/usr)?/bin/(true|false)$|^/bin/sh\s+-c\s+['\"]?(exit\s+\d+|false|true)['\"]?$")


def norm_module(name: str) -> str:
    return name.replace("-", "_")


def parse_modprobe(text: str) -> list[tuple[str, str, str]]:
    """modprobe.d(5) lines -> [(command, module, rest)] for install/blacklist/options/alias/softdep."""
    out: list[tuple[str, str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        f = line.split(None, 2)
        if len(f) >= 2 and f[0] in ("install", "blacklist", "remove", "options", "softdep", "alias"):
            out.append((f[0], norm_module(f[1]), f[2].strip() if len(f) > 2 else ""))
    return out


def install_blocks(command: str) -> bool:
    """`install usb-storage /bin/false` (or true, or `/bin/sh -c 'exit 1'`) never loads the module."""
    return bool(_NOOP_INSTALL.match(command.strip())) and "modprobe" not in command


def parse_cmdline_blocks(cmdline: str) -> list[str]:
    """Modules the kernel command line forbids: `module_blacklist=a,b` and `modprobe.blacklist=a,b`."""
    out: list[str] = []
    for tok in cmdline.split():
        k, _, v = tok.partition("=")
        if k in ("module_blacklist", "modprobe.blacklist"):
            out.extend(norm_module(x) for x in v.split(",") if x)
    return out


def parse_proc_modules(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line.split()]


def parse_dconf_keyfile(text: str) -> dict[str, dict[str, str]]:
    """A dconf keyfile (/etc/dconf/db/local.d/*): {section path: {key: raw GVariant value}}."""
    out: dict[str, dict[str, str]] = {}
    section: str | None = None
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith(("#", ";")):
            continue
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1].strip().strip("/")
            out.setdefault(section, {})
        elif section is not None and "=" in s:
            k, v = s.split("=", 1)
            out[section][k.strip()] = v.strip()
    return out


def gvariant_int(value: str) -> int | None:
    """`uint32 300`, `300`, `int32 5` -> 300/5; anything else None."""
    m = re.fullmatch(r"(?:u?int(?:16|32|64)\s+)?(-?\d{1,12})", value.strip())
    return int(m.group(1)) if m else None


def gvariant_bool(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v == "true" else False if v == "false" else None


#: dconf schema paths per desktop: (lock-enabled section, idle-delay section, idle unit in seconds)
DCONF_DESKTOPS = {
    "gnome": ("org/gnome/desktop/screensaver", "org/gnome/desktop/session", 1),
    "cinnamon": ("org/cinnamon/desktop/screensaver", "org/cinnamon/desktop/session", 1),
    "mate": ("org/mate/screensaver", "org/mate/session", 60),
}


def lock_settings_from_dconf(files: dict[str, str], locks: list[str]) -> list[LockSetting]:
    """Merge dconf keyfiles (later file names win, as dconf compiles them) and match the locks list."""
    merged: dict[str, dict[str, str]] = {}
    src: dict[str, str] = {}
    for name in sorted(files):
        for sec, kv in parse_dconf_keyfile(files[name]).items():
            merged.setdefault(sec, {}).update(kv)
            src.setdefault(sec, name)
    lockset = {ln.strip().strip("/") for ln in locks if ln.strip() and not ln.strip().startswith("#")}
    out = []
    for desktop, (saver, session, unit) in DCONF_DESKTOPS.items():
        s_kv, sess_kv = merged.get(saver, {}), merged.get(session, {})
        if not s_kv and not sess_kv:
            continue
        le = gvariant_bool(s_kv["lock-enabled"]) if "lock-enabled" in s_kv else None
        idle = gvariant_int(sess_kv["idle-delay"]) if "idle-delay" in sess_kv else None
        delay = gvariant_int(s_kv["lock-delay"]) if "lock-delay" in s_kv else None
        keys = [f"{saver}/lock-enabled", f"{session}/idle-delay"]
        out.append(LockSetting(
            desktop=desktop, source=src.get(saver) or src.get(session) or "",
            lock_enabled=le, idle_seconds=idle * unit if idle is not None else None,
            lock_delay_seconds=delay, locked=all(k in lockset for k in keys),
        ))
    return out


def lock_setting_from_kde(text: str, source: str) -> LockSetting | None:
    """/etc/xdg/kscreenlockerrc: [Daemon] Autolock, Timeout (minutes); `[Daemon][$i]` makes it immutable."""
    sec = parse_ini_section(text, "Daemon")
    immutable = "[Daemon][$i]" in text.replace(" ", "")
    if not sec:
        sec = parse_ini_section(text, "Daemon][$i")
    if not sec:
        return None
    auto = sec.get("Autolock")
    timeout = gvariant_int(sec.get("Timeout", "")) if "Timeout" in sec else None
    return LockSetting(desktop="kde", source=source, lock_enabled=gvariant_bool(auto) if auto is not None else None,
                       idle_seconds=timeout * 60 if timeout is not None else None, locked=immutable)


def parse_dconf_profile(text: str) -> list[str]:
    return [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.strip().startswith("system-db:")]


#: SMBIOS chassis types of devices carried around (DMTF DSP0134 7.4.1): portable, laptop, notebook,
#: hand held, sub notebook, tablet, convertible, detachable.
PORTABLE_CHASSIS = frozenset({8, 9, 10, 11, 14, 30, 31, 32})


# -- collection ---------------------------------------------------------------------------------------

def _denied(res: CommandResult) -> bool:
    err = (res.stderr + res.stdout).decode("utf-8", "replace").lower()
    return "permission denied" in err or "operation not permitted" in err or "must be root" in err or "you need to be root" in err


def _run_ok(p: Probe, argv: list[str], fact: str) -> CommandResult | None:
    """Run a privileged query; a refusal for lack of root is recorded as `denied`, other failures as data."""
    res = p.command(argv, fact=fact, privileged=True)
    if res is not None and not res.ok and _denied(res):
        p.note(fact, Reason.DENIED, f"`{' '.join(argv)}` needs root")
        return None
    return res


def _enabled(p: Probe, unit: str) -> bool:
    return any(p.t.exists(f"/etc/systemd/system/{t}.target.wants/{unit}") for t in ("multi-user", "sysinit", "basic", "network-pre"))


def _firewall(p: Probe, procs: set[str] | None) -> FirewallFacts:
    fw = FirewallFacts(runtime_checked=p.t.can_run)
    if p.t.can_run:
        res = _run_ok(p, ["nft", "-j", "list", "ruleset"], "nft")
        state = parse_nft_json(res.text()) if res is not None and res.ok else None
        if state is None and res is not None:
            res = _run_ok(p, ["nft", "list", "ruleset"], "nft")
            if res is not None and res.ok:
                state = parse_nft_text(res.text())
        if state is not None:
            fw.states.append(state)
        res = _run_ok(p, ["iptables", "-S"], "iptables")
        if res is not None and res.ok:
            fw.states.append(parse_iptables(res.text()))
        if p.t.exists("/usr/sbin/ufw") or p.t.exists("/sbin/ufw"):
            res = _run_ok(p, ["ufw", "status", "verbose"], "ufw")
            if res is not None and res.ok:
                active = bool(re.search(r"^Status:\s*active", res.text(), re.MULTILINE))
                fw.states.append(FilterState(backend="ufw", source="ufw status verbose", runtime=True, active=active,
                                             input_policy=parse_ufw_incoming(res.text())))
        if p.t.exists("/usr/bin/firewall-cmd") or p.t.exists("/bin/firewall-cmd"):
            res = p.command(["firewall-cmd", "--state"], fact="firewalld", privileged=True)
            if res is not None:
                running = res.text().strip() == "running"
                fw.states.append(FilterState(backend="firewalld", source="firewall-cmd --state", runtime=True, active=running))
        elif procs is not None and "firewalld" in procs:
            fw.states.append(FilterState(backend="firewalld", source="process list", runtime=True, active=True))
    # boot configuration: the only evidence offline, supporting evidence live
    ufw = p.file("/etc/ufw/ufw.conf")
    if ufw is not None:
        enabled = parse_keyvalue(ufw.decode("utf-8", "replace")).get("enabled", "").lower() == "yes"
        default = p.file("/etc/default/ufw")
        pol = parse_keyvalue(default.decode("utf-8", "replace")).get("default_input_policy") if default is not None else None
        fw.states.append(FilterState(backend="ufw", source="/etc/ufw/ufw.conf", runtime=False, active=enabled,
                                     input_policy=pol.strip("\"'").lower() if pol else None))
    if p.t.exists("/etc/firewalld/firewalld.conf") or p.t.exists("/usr/lib/firewalld"):
        fw.states.append(FilterState(backend="firewalld", source="/etc/firewalld", runtime=False,
                                     active=_enabled(p, "firewalld.service"), input_policy="reject"))
    for path in ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf"):
        data = p.file(path)
        if data is not None:
            st = parse_nft_text(data.decode("utf-8", "replace"), source=path, runtime=False)
            fw.states.append(st.model_copy(update={"active": _enabled(p, "nftables.service")}))
    for path, unit in (("/etc/sysconfig/iptables", "iptables.service"), ("/etc/iptables/rules.v4", "netfilter-persistent.service")):
        data = p.file(path)
        if data is not None:
            st = parse_iptables(data.decode("utf-8", "replace"), source=path, runtime=False)
            enabled = _enabled(p, unit) or (unit == "netfilter-persistent.service" and _enabled(p, "iptables-persistent.service"))
            fw.states.append(st.model_copy(update={"active": enabled}))
    return fw


def parse_ufw_incoming(text: str) -> str | None:
    """`Default: deny (incoming), allow (outgoing), ...` from `ufw status verbose` -> "deny"; None if absent."""
    m = re.search(r"^Default:.*?\b(\w+) \(incoming\)", text, re.MULTILINE)
    return m.group(1).lower() if m else None


def _sysfs_crypt(p: Probe) -> dict[str, tuple[str, bool]] | None:
    """{major:minor: (dm name, on dm-crypt)} for device-mapper devices, from /sys/block via the transport."""
    names = p.listdir("/sys/block")
    if names is None:
        return None
    info: dict[str, tuple[str, str, list[str]]] = {}  # dm-N -> (dev, uuid, slaves)
    for n in names:
        if not n.startswith("dm-"):
            continue
        got = p.t.read_many([f"/sys/block/{n}/dev", f"/sys/block/{n}/dm/uuid", f"/sys/block/{n}/dm/name"])
        dev = got.get(f"/sys/block/{n}/dev")
        uuid = got.get(f"/sys/block/{n}/dm/uuid")
        name = got.get(f"/sys/block/{n}/dm/name")
        slaves = p.listdir(f"/sys/block/{n}/slaves") or []
        if not (isinstance(dev, bytes) and isinstance(uuid, bytes)):
            # an unreadable dm device must not read as "not encrypted": let lsblk/fstab decide instead
            p.excerpt(f"/sys/block/{n}", "dev or dm/uuid unreadable: sysfs is inconclusive")
            return None
        info[n] = (dev.decode().strip() if isinstance(dev, bytes) else "",
                   uuid.decode().strip() if isinstance(uuid, bytes) else "",
                   slaves)
        if isinstance(name, bytes):
            p.excerpt(f"/sys/block/{n}", f"dev={info[n][0]} name={name.decode().strip()} uuid={info[n][1][:12]}… slaves={slaves}")

    def crypt(n: str, seen: frozenset[str]) -> bool:
        if n in seen or n not in info:
            return False
        _, uuid, slaves = info[n]
        return uuid.startswith("CRYPT-") or any(crypt(s, seen | {n}) for s in slaves)

    return {dev: (n, crypt(n, frozenset())) for n, (dev, _, _) in info.items() if dev}


_REAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs", "vfat", "exfat", "ntfs", "ntfs3", "zfs", "bcachefs"})


#: archive files read at most (vgcfgbackup keeps one per change; the newest matter)
LVM_ARCHIVE_MAX = 20


def _lvm_volumes(p: Probe, crypt_names: set[str]) -> dict[str, LogicalVolume]:
    """{dm name and /dev/<vg>/<lv>: LV} from /etc/lvm/backup, else the newest /etc/lvm/archive copy per group."""
    best: dict[str, tuple[int, str, dict[str, Any]]] = {}
    for d, limit in (("/etc/lvm/backup", None), ("/etc/lvm/archive", LVM_ARCHIVE_MAX)):
        names = sorted((n for n in (p.listdir(d) or []) if not n.startswith(".")), reverse=True)[:limit]
        for n in names:
            data = p.file(f"{d}/{n}")
            if data is None:
                continue
            try:
                meta = parse_lvm_text(data.decode("utf-8", "replace"))
            except LvmError as exc:
                p.malformed.append(BadRecord(path=f"{d}/{n}", line=0, reason=f"not LVM text metadata: {exc}"))
                continue
            for vg, body in meta.items():
                if isinstance(body, dict) and "physical_volumes" in body:
                    seq = body.get("seqno") if isinstance(body.get("seqno"), int) else -1
                    rank = seq + (1 << 40 if d.endswith("backup") else 0)  # the current backup wins over archives
                    if vg not in best or rank > best[vg][0]:
                        best[vg] = (rank, f"{d}/{n}", {vg: body})
    out: dict[str, LogicalVolume] = {}
    for _rank, src, meta in best.values():
        for lv in logical_volumes(meta, crypt_names, src):
            out[lv.dm_name] = lv
            out[f"{lv.vg}/{lv.lv}"] = lv
    return out


def _lv_of(source: str, lvs: dict[str, LogicalVolume]) -> LogicalVolume | None:
    if source.startswith("/dev/mapper/"):
        return lvs.get(source.removeprefix("/dev/mapper/"))
    m = re.match(r"^/dev/([^/]+)/([^/]+)$", source)
    return lvs.get(f"{m.group(1)}/{m.group(2)}") if m else None


def _encryption(p: Probe, eff: EncryptionFacts) -> None:
    ct = p.file("/etc/crypttab")
    if ct is not None:
        eff.crypttab = parse_crypttab(ct.decode("utf-8", "replace"))
    mi = p.file("/proc/self/mountinfo", keep_raw=False)
    mounts = [m for m in parse_mountinfo(mi.decode("utf-8", "replace")) if m.fstype in _REAL_FS] if mi is not None else []
    dm = _sysfs_crypt(p) if mounts else None
    if mounts and dm is not None:
        eff.method = "sysfs"
        eff.crypt_devices = sorted(name for name, c in dm.values() if c)
        for m in mounts:
            hit = dm.get(m.device or "")
            eff.mounts.append(MountCrypt(mount_point=m.mount_point, source=m.source, encrypted=bool(hit and hit[1]),
                                         via=f"sysfs {hit[0]}" if hit else "not a device-mapper device"))
        if p.t.can_run:  # lsblk adds nothing sysfs does not know, but shows the tree to a human
            p.command(["lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"], fact="lsblk")
    elif p.t.can_run:
        res = p.command(["lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"], fact="lsblk")
        rows = parse_lsblk(res.text()) if res is not None and res.ok else None
        if rows is not None:
            eff.method = "lsblk"
            for mp, name, enc in rows:
                if mp != "/boot" and not mp.startswith(("/boot/", "/snap/")):
                    eff.mounts.append(MountCrypt(mount_point=mp, source=name, encrypted=enc, via="lsblk"))
    if eff.method is None:
        fs = p.file("/etc/fstab", fact="fstab")
        if fs is not None:
            eff.method = "fstab+crypttab"
            names = {e.name for e in eff.crypttab}
            lvs = _lvm_volumes(p, names)
            for m in parse_fstab(fs.decode("utf-8", "replace"), p.malformed):
                if m.fstype not in _REAL_FS or m.mount_point.startswith("/boot"):
                    continue
                mapper = m.source.removeprefix("/dev/mapper/") if m.source.startswith("/dev/mapper/") else None
                lv = _lv_of(m.source, lvs)
                if mapper is not None and mapper in names:
                    enc, via = True, f"crypttab {mapper}"
                elif lv is not None:
                    enc, via = lv.encrypted, lv.via
                elif mapper is not None and names:
                    enc, via = None, "device-mapper volume with crypttab entries (LVM on LUKS?) — not provable offline"
                elif not names:
                    enc, via = False, "no crypttab entry"
                else:
                    enc, via = None, f"{m.source} cannot be mapped to crypttab offline"
                eff.mounts.append(MountCrypt(mount_point=m.mount_point, source=m.source, encrypted=enc, via=via))
    root = next((m for m in reversed(eff.mounts) if m.mount_point == "/"), None)
    eff.root_encrypted = root.encrypted if root is not None else None
    ctype = p.file("/sys/class/dmi/id/chassis_type")
    if ctype is not None and ctype.strip().isdigit():
        eff.chassis_type = int(ctype.strip())
    ps = p.listdir("/sys/class/power_supply")
    if ps is not None:
        eff.has_battery = any(n.startswith("BAT") for n in ps)
    p.excerpt("encryption summary", "\n".join(
        [f"method={eff.method} root_encrypted={eff.root_encrypted} chassis_type={eff.chassis_type} battery={eff.has_battery}"]
        + [f"{m.mount_point} {m.source} encrypted={m.encrypted} ({m.via})" for m in eff.mounts]))


def _usb(p: Probe, usb: UsbFacts, procs: set[str] | None) -> None:
    files: list[str] = []
    for d in ("/usr/lib/modprobe.d", "/lib/modprobe.d", "/run/modprobe.d", "/etc/modprobe.d"):
        files += [f"{d}/{n}" for n in (p.listdir(d) or []) if n.endswith(".conf")]
    targets = {"usb_storage", "uas"}
    for path in files:
        data = p.file(path, keep_raw=False)
        if data is None:
            continue
        for cmd, mod, rest in parse_modprobe(data.decode("utf-8", "replace")):
            if mod not in targets or cmd not in ("install", "blacklist"):
                continue
            usb.directives.append(f"{path}: {cmd} {mod} {rest}".rstrip())
            if cmd == "install" and install_blocks(rest):
                usb.install_blocked.append(mod)
            elif cmd == "blacklist":
                usb.blacklisted.append(mod)
    usb.install_blocked = sorted(set(usb.install_blocked))
    usb.blacklisted = sorted(set(usb.blacklisted))
    cmdline = p.file("/proc/cmdline")
    if cmdline is not None:
        text = cmdline.decode("utf-8", "replace")
        usb.cmdline_blocked = sorted(set(parse_cmdline_blocks(text)) & targets)
        usb.cmdline_nomodule = "nomodule" in text.split("--", 1)[0].split()
    mods = p.file("/proc/modules", keep_raw=False)
    if mods is not None:
        usb.module_support = True
        usb.loaded = sorted(set(parse_proc_modules(mods.decode("utf-8", "replace"))) & targets)
    elif p.t.can_run and p.t.exists("/proc/self"):
        usb.module_support = False
    # the running kernel's release: `uname -r` (reading /proc/sys with the transport's large buffer fails)
    rel = p.command(["uname", "-r"], keep_raw=False) if p.t.can_run else None
    release = rel.text().strip() if rel is not None and rel.ok else ""
    if release and "/" not in release:
        bi = p.file(f"/lib/modules/{release}/modules.builtin", keep_raw=False)
        if bi is not None:
            usb.builtin = b"usb-storage.ko" in bi
    g = usb.usbguard
    g.installed = p.t.exists("/usr/sbin/usbguard-daemon") or p.t.exists("/usr/bin/usbguard-daemon")
    g.running = None if procs is None else "usbguard-daemon" in procs
    conf = p.file("/etc/usbguard/usbguard-daemon.conf")
    if conf is not None:
        kv = parse_keyvalue(conf.decode("utf-8", "replace"))
        g.implicit_policy = kv.get("implicitpolicytarget")
        rules_path = kv.get("rulefile") or "/etc/usbguard/rules.conf"
        rules = p.file(rules_path, keep_raw=False)
        if rules is not None:
            g.rules = sum(1 for ln in rules.decode("utf-8", "replace").splitlines() if ln.strip().startswith(("allow", "block", "reject")))
    p.excerpt("usb storage", "\n".join([*usb.directives, f"cmdline blocks={usb.cmdline_blocked} nomodule={usb.cmdline_nomodule} module_support={usb.module_support} "
                                        f"loaded={usb.loaded} builtin={usb.builtin}",
                                        f"usbguard installed={g.installed} running={g.running} implicit={g.implicit_policy} rules={g.rules}"]))


_DMS = {"gdm3": ("/usr/sbin/gdm3",), "gdm": ("/usr/sbin/gdm",), "lightdm": ("/usr/sbin/lightdm",), "sddm": ("/usr/bin/sddm",),
        "xdm": ("/usr/bin/xdm",), "lxdm": ("/usr/sbin/lxdm", "/usr/bin/lxdm"), "slim": ("/usr/bin/slim",)}


def _screen(p: Probe, sc: ScreenLockFacts) -> None:
    sc.display_managers = [dm for dm, paths in _DMS.items() if any(p.t.exists(x) for x in paths)]
    sc.display_manager_enabled = p.t.exists("/etc/systemd/system/display-manager.service")
    for d in ("/usr/share/xsessions", "/usr/share/wayland-sessions"):
        sc.sessions += [n.removesuffix(".desktop") for n in (p.listdir(d) or []) if n.endswith(".desktop")]
    sc.desktop_present = bool(sc.display_managers or sc.sessions)
    prof = p.file("/etc/dconf/profile/user")
    if prof is not None:
        sc.dconf_profile_dbs = parse_dconf_profile(prof.decode("utf-8", "replace"))
    for db in p.listdir("/etc/dconf/db") or []:
        if not db.endswith(".d"):
            continue
        base = f"/etc/dconf/db/{db}"
        texts: dict[str, str] = {}
        for n in p.listdir(base) or []:
            if n == "locks" or n.startswith("."):
                continue
            data = p.file(f"{base}/{n}")
            if data is not None:
                texts[f"{base}/{n}"] = data.decode("utf-8", "replace")
        locks: list[str] = []
        for n in p.listdir(f"{base}/locks") or []:
            data = p.file(f"{base}/locks/{n}")
            if data is not None:
                locks += data.decode("utf-8", "replace").splitlines()
        if sc.dconf_profile_dbs is not None and db.removesuffix(".d") not in sc.dconf_profile_dbs:
            continue  # a database no profile loads changes nothing
        sc.settings += lock_settings_from_dconf(texts, locks)
    kde = p.file("/etc/xdg/kscreenlockerrc")
    if kde is not None:
        s = lock_setting_from_kde(kde.decode("utf-8", "replace"), "/etc/xdg/kscreenlockerrc")
        if s is not None:
            sc.settings.append(s)


@collector("linux.protections", facts=ProtectionFacts)
def collect_protections(p: Probe) -> ProtectionFacts:
    """Inbound firewall, disk encryption, USB mass-storage blocking and desktop screen lock."""
    facts = ProtectionFacts()
    procs = process_names(p) if p.t.can_run else None
    facts.firewall = _firewall(p, procs)
    _encryption(p, facts.encryption)
    _usb(p, facts.usb, procs)
    _screen(p, facts.screen)
    return facts

