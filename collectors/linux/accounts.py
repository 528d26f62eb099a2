"""Local accounts: /etc/passwd, /etc/shadow, /etc/group, /etc/login.defs, sudoers, last logins.

Password hashes never leave this module: each is reduced to its scheme and cost (osquery's rule), and the
shadow excerpt kept as evidence has every hash replaced by that reduction.
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import BadRecord, Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

LOGIN_SHELL_EXCLUDE = ("nologin", "false", "sync", "halt", "shutdown")


class HashInfo(BaseModel):
    """What is safe to say about a stored password: its scheme and cost, never its value."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    state: str  # hashed | locked | empty | disabled | plaintext | unknown
    scheme: str | None = None  # yescrypt, sha512, sha256, md5, bcrypt, des, ...
    rounds: int | None = None


# crypt(5) prefixes -> scheme names
_PREFIX = {
    "y": "yescrypt",
    "gy": "gost-yescrypt",
    "7": "scrypt",
    "6": "sha512",
    "5": "sha256",
    "1": "md5",
    "2a": "bcrypt",
    "2b": "bcrypt",
    "2y": "bcrypt",
    "2x": "bcrypt",
    "md5": "sunmd5",
    "3": "nthash",
    "sha1": "sha1crypt",
}
_DES = re.compile(r"^[./0-9A-Za-z]{13}$")
_BSDI = re.compile(r"^_[./0-9A-Za-z]{19}$")


def classify_hash(field: str) -> HashInfo:
    """Reduce a shadow password field to scheme and cost. Pure, total: any string gives a HashInfo."""
    if field == "":
        return HashInfo(state="empty")
    locked = field.startswith("!")
    body = field.lstrip("!")
    if body in ("", "*", "x") or field in ("*", "!!"):
        return HashInfo(state="locked" if locked or field == "!!" else "disabled")
    if body.startswith("*"):
        return HashInfo(state="disabled")
    if body.startswith("$"):
        parts = body.split("$")
        prefix = parts[1] if len(parts) > 1 else ""
        scheme = _PREFIX.get(prefix, f"unknown:{prefix[:8]}")
        rounds = None
        if scheme in ("sha512", "sha256") and len(parts) > 2 and parts[2].startswith("rounds="):
            try:
                rounds = int(parts[2][len("rounds="):])
            except ValueError:
                rounds = None
            if rounds is None:
                pass
        elif scheme in ("sha512", "sha256"):
            rounds = 5000  # crypt(3) default when no rounds= parameter
        elif scheme == "bcrypt" and len(parts) > 2 and parts[2].isdigit():
            rounds = 2 ** int(parts[2]) if int(parts[2]) < 64 else None
        return HashInfo(state="locked" if locked else "hashed", scheme=scheme, rounds=rounds)
    if _DES.match(body):
        return HashInfo(state="locked" if locked else "hashed", scheme="des")
    if _BSDI.match(body):
        return HashInfo(state="locked" if locked else "hashed", scheme="bsdi")
    # anything else in the hash field is a password stored as typed, or garbage: never shown
    return HashInfo(state="locked" if locked else "plaintext", scheme="plaintext")


class Account(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    login_shell: bool
    password: HashInfo | None = None  # None when shadow was unreadable
    passwd_field_hash: HashInfo | None = None  # a hash (or plaintext) kept in /etc/passwd itself
    last_change_days: int | None = None  # days since epoch
    max_days: int | None = None
    expire_days: int | None = None
    last_login: datetime | None = None


class AccountsFacts(Facts):
    accounts: list[Account] = Field(default_factory=list)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    admin_members: list[str] = Field(default_factory=list)  # sudo / wheel / admin groups and sudoers users
    login_defs: dict[str, str] = Field(default_factory=dict)
    lastlog_available: bool = False


def parse_passwd(text: str, bad: list[BadRecord] | None = None, path: str = "/etc/passwd") -> list[tuple[str, str, int, int, str, str]]:
    """passwd(5): exactly 7 fields, numeric uid and gid. Anything else is recorded in `bad`, never guessed."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#") or line.startswith(("+", "-")):
            continue
        f = line.split(":")
        if len(f) != 7 or not f[0]:
            _bad(bad, path, n, f"{len(f)} fields, passwd(5) has 7")
            continue
        try:
            uid, gid = int(f[2]), int(f[3])
        except ValueError:
            _bad(bad, path, n, "uid or gid is not a number")
            continue
        out.append((f[0], f[1], uid, gid, f[5], f[6]))
    return out


def _bad(bad: list[BadRecord] | None, path: str, line: int, reason: str) -> None:
    if bad is not None:
        bad.append(BadRecord(path=path, line=line, reason=reason))


# crypt(5) digest lengths (base64 characters after the last '$'): a shorter or longer one is a truncated or
# damaged hash, not a hash of that scheme.
_DIGEST_LEN = {"sha512": 86, "sha256": 43, "md5": 22, "yescrypt": 43, "gost-yescrypt": 43, "scrypt": 43}


def hash_damage(field: str) -> str | None:
    """Why a shadow password field that claims a crypt(5) scheme is not a well-formed hash, or None."""
    body = field.lstrip("!")
    if not body.startswith("$"):
        return None
    info = classify_hash(field)
    parts = body.split("$")
    if info.scheme == "bcrypt":
        return None if len(body) == 60 and len(parts) == 4 else f"bcrypt hash of {len(body)} characters (60 expected)"
    want = _DIGEST_LEN.get(info.scheme or "")
    if want is None:
        return None
    digest = parts[-1]
    if len(parts) < 4 or len(digest) != want or not re.fullmatch(r"[./0-9A-Za-z]+", digest):
        return f"{info.scheme} hash with a digest of {len(digest)} characters ({want} expected): truncated or damaged"
    return None


def _int_or_none(s: str) -> int | None:
    try:
        return int(s) if s.strip() != "" else None
    except ValueError:
        return None


def parse_shadow(text: str, bad: list[BadRecord] | None = None, path: str = "/etc/shadow") -> dict[str, tuple[HashInfo, int | None, int | None, int | None]]:
    """shadow(5): exactly 9 fields. A line with another field count, or a truncated hash, gives its account an
    `unknown` password and a BadRecord, never a hash that looks valid."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) != 9 or not f[0]:
            _bad(bad, path, n, f"{len(f)} fields, shadow(5) has 9")
            if f[0]:
                out[f[0]] = (HashInfo(state="unknown"), None, None, None)
            continue
        if (why := hash_damage(f[1])) is not None:
            _bad(bad, path, n, why)
            out[f[0]] = (HashInfo(state="unknown", scheme=classify_hash(f[1]).scheme), None, None, None)
            continue
        last = _int_or_none(f[2]) if len(f) > 2 else None
        mx = _int_or_none(f[4]) if len(f) > 4 else None
        exp = _int_or_none(f[7]) if len(f) > 7 else None
        out[f[0]] = (classify_hash(f[1]), last, mx, exp)
    return out


def redact_shadow(text: str) -> str:
    """The excerpt an auditor may see: hash fields replaced by their scheme."""
    lines = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 2 and not line.startswith("#"):
            h = classify_hash(f[1])
            f[1] = f"<{h.state}{':' + h.scheme if h.scheme else ''}>"
        lines.append(":".join(f))
    return "\n".join(lines)


def redact_passwd(text: str) -> str:
    lines = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 2 and f[1] not in ("x", "*", "", "!"):
            f[1] = "<redacted>"
        lines.append(":".join(f))
    return "\n".join(lines)


def parse_group(text: str, bad: list[BadRecord] | None = None, path: str = "/etc/group") -> dict[str, list[str]]:
    """group(5): exactly 4 fields with a numeric gid."""
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#") or line.startswith(("+", "-")):
            continue
        f = line.split(":")
        if len(f) != 4 or not f[0] or not f[2].isdigit():
            _bad(bad, path, n, f"{len(f)} fields, group(5) has 4 with a numeric gid" if len(f) != 4 else "gid is not a number")
            continue
        out[f[0]] = [m for m in f[3].split(",") if m]
    return out


def parse_login_defs(text: str, bad: list[BadRecord] | None = None, path: str = "/etc/login.defs") -> dict[str, str]:
    """login.defs(5): `NAME value` lines; a name without a value is recorded as bad."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[A-Z][A-Z0-9_]*", parts[0]):
            out[parts[0]] = parts[1].strip()
        else:
            _bad(bad, path, n, "not a `NAME value` line")
    return out


def parse_sudoers_users(text: str) -> tuple[list[str], list[str]]:
    """Users and %groups granted ALL in sudoers: returns (users, groups)."""
    users, groups = [], []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.strip().startswith("#include") else ""
        if not line or line.startswith(("Defaults", "Cmnd_Alias", "User_Alias", "Host_Alias", "Runas_Alias", "@include")):
            continue
        m = re.match(r"^(\S+)\s+\S+\s*=\s*(\(.*?\)\s*)?(NOPASSWD:\s*|PASSWD:\s*)?ALL\b", line)
        if m:
            who = m.group(1)
            (groups if who.startswith("%") else users).append(who.lstrip("%"))
    return users, groups


_LASTLOG_REC = struct.Struct("=l32s256s")  # time_t (32-bit in lastlog), line, host


def parse_lastlog(data: bytes, uids: list[int]) -> dict[int, datetime]:
    """/var/log/lastlog is a sparse array indexed by uid of (int32 time, char[32] line, char[256] host)."""
    out: dict[int, datetime] = {}
    size = _LASTLOG_REC.size
    for uid in uids:
        off = uid * size
        if uid < 0 or off + size > len(data):
            continue
        t, _, _ = _LASTLOG_REC.unpack_from(data, off)
        if t > 0:
            out[uid] = datetime.fromtimestamp(t, UTC)
    return out


# glibc's struct utmp on Linux (x86_64 and aarch64 alike): 384 bytes, 32-bit seconds in ut_tv
_UTMP_REC = struct.Struct("<h2xi32s4s32s256shhiii4i20s")
_USER_PROCESS = 7
#: wtmp grows with every login; the newest part is what "last login" needs
WTMP_TAIL_BYTES = 4 * 1024 * 1024


def parse_wtmp(data: bytes) -> dict[str, datetime]:
    """Last login per user name from wtmp records (USER_PROCESS entries); total on arbitrary bytes."""
    out: dict[str, datetime] = {}
    size = _UTMP_REC.size
    start = len(data) % size  # a tail read may begin mid-record: align on the end, which is whole
    for off in range(start, len(data) - size + 1, size):
        rec = _UTMP_REC.unpack_from(data, off)
        if rec[0] != _USER_PROCESS:
            continue
        user = rec[4].split(b"\0", 1)[0].decode("utf-8", "replace")
        secs = rec[9]
        if not user or secs <= 0:
            continue
        when = datetime.fromtimestamp(secs, UTC)
        if user not in out or when > out[user]:
            out[user] = when
    return out


ADMIN_GROUPS = ("sudo", "wheel", "admin")


def _read_wtmp(p: Probe) -> bytes | None:
    st = p.stat("/var/log/wtmp")
    if st is None:
        return None
    data = p.file("/var/log/wtmp", keep_raw=False)
    if data is None:
        return None
    return data[-WTMP_TAIL_BYTES:]


@collector("linux.accounts", facts=AccountsFacts)
def collect_accounts(p: Probe) -> AccountsFacts:
    """Accounts, their password storage, admin rights and last logins."""
    passwd = p.file("/etc/passwd", fact="passwd", redact=redact_passwd)
    shadow = p.file("/etc/shadow", fact="shadow", privileged=True, sensitive=True, redact=redact_shadow)
    group = p.file("/etc/group", fact="group", redact=redact_passwd)  # same field holds a group password hash
    login_defs = p.file("/etc/login.defs", fact="login_defs")
    sudoers_texts = []
    s = p.file("/etc/sudoers", fact="sudoers", privileged=True)
    if s is not None:
        sudoers_texts.append(s.decode("utf-8", "replace"))
    for name in p.listdir("/etc/sudoers.d") or []:
        if name.startswith(".") or name.endswith("~"):
            continue
        d = p.file(f"/etc/sudoers.d/{name}", privileged=True)
        if d is not None:
            sudoers_texts.append(d.decode("utf-8", "replace"))

    facts = AccountsFacts()
    if passwd is None:
        return facts
    bad = facts.malformed
    rows = parse_passwd(passwd.decode("utf-8", "replace"), bad)
    shadow_map = parse_shadow(shadow.decode("utf-8", "replace"), bad) if shadow is not None else None
    groups = parse_group(group.decode("utf-8", "replace"), bad) if group is not None else {}
    lastlog: dict[int, datetime] = {}
    wtmp: dict[str, datetime] = {}
    # lastlog is gone on newer distributions (lastlog2/wtmpdb); wtmp still records logins on most
    ll = p.file("/var/log/lastlog", keep_raw=False)
    if ll is not None:
        lastlog = parse_lastlog(ll, [r[2] for r in rows])
    wt = _read_wtmp(p)
    if wt is not None:
        wtmp = parse_wtmp(wt)
    if ll is not None or wt is not None:
        facts.lastlog_available = True
    else:
        p.note("lastlog", Reason.ABSENT, "neither /var/log/lastlog nor /var/log/wtmp exists")

    accounts = []
    for name, pwfield, uid, gid, home, shell in rows:
        sh = shadow_map.get(name) if shadow_map is not None else None
        passwd_hash = None if pwfield in ("x", "*", "!", "") else classify_hash(pwfield)
        if pwfield == "":
            passwd_hash = HashInfo(state="empty")
        accounts.append(
            Account(
                name=name,
                uid=uid,
                gid=gid,
                home=home,
                shell=shell,
                login_shell=bool(shell) and not any(shell.endswith(x) for x in LOGIN_SHELL_EXCLUDE),
                password=sh[0] if sh else None,
                passwd_field_hash=passwd_hash,
                last_change_days=sh[1] if sh else None,
                max_days=sh[2] if sh else None,
                expire_days=sh[3] if sh else None,
                last_login=max((t for t in (lastlog.get(uid), wtmp.get(name)) if t is not None), default=None),
            )
        )
    admins: set[str] = set()
    sudo_users: list[str] = []
    sudo_groups: list[str] = []
    for t in sudoers_texts:
        u, g = parse_sudoers_users(t)
        sudo_users += u
        sudo_groups += g
    for g in set(ADMIN_GROUPS) | set(sudo_groups):
        admins.update(groups.get(g, []))
    admins.update(u for u in sudo_users if u != "root")
    facts.accounts = accounts
    facts.groups = groups
    facts.admin_members = sorted(admins)
    facts.login_defs = parse_login_defs(login_defs.decode("utf-8", "replace"), bad) if login_defs is not None else {}
    if shadow is None and "shadow" not in p.unavailable:
        p.note("shadow", Reason.FAILED, "/etc/shadow could not be read")
    return facts
