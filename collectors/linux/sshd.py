"""The OpenSSH server's effective settings: `sshd -T` when it can run, else sshd_config parsed as sshd does.

`sshd -T` is the truth (it prints what sshd would use), but it needs root and readable host keys and fails
on hosts where /run/sshd is missing; it cannot run at all against an offline image. The fallback parses
/etc/ssh/sshd_config with sshd's own rules: `Include` globs (relative to /etc/ssh, sorted), first value
wins (except keywords that accumulate, like AllowUsers), `Keyword=value`, quotes, and `Match` blocks
recorded but not applied (they hold per-user or per-address exceptions an auditor should see). Unset
keywords take the compiled-in defaults of the OpenSSH version found (version-dependent: PermitRootLogin
was `yes` before 7.0, SHA-1 key exchange left the default list in 8.2).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import BadRecord, Facts, Reason, Unavailable
from tenken.collectors.linux.pathglob import expand
from tenken.collectors.linux.procs import process_names
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

SSHD_CONFIG = "/etc/ssh/sshd_config"
SSHD_BINARIES = ("/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd")

# Keywords whose every occurrence adds to the value instead of the first one winning (servconf.c).
ACCUMULATE = {"allowusers", "allowgroups", "denyusers", "denygroups", "hostkey", "listenaddress", "port",
              "acceptenv", "hostcertificate", "subsystem", "setenv", "include", "permitlisten", "permitopen"}
ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication",
           "skeyauthentication": "kbdinteractiveauthentication",
           "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms"}

MODERN_CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
                  "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
MODERN_MACS = ["umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
               "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com",
               "umac-128@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"]
_KEX_82 = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
           "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
           "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256"]


def default_settings(version: tuple[int, int] | None) -> dict[str, list[str]]:
    """sshd_config(5) compiled-in defaults; an unknown version is taken as current OpenSSH (9.x)."""
    v = version or (9, 9)
    kex = list(_KEX_82)
    if v >= (9, 0):
        kex = ["sntrup761x25519-sha512@openssh.com", *kex]
    elif v < (8, 2):
        kex = [*kex, "diffie-hellman-group14-sha1"]  # removed from the default proposal in 8.2
    ciphers = list(MODERN_CIPHERS)
    if v < (6, 7):  # CBC and arcfour left the server default in 6.7
        ciphers += ["aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc", "blowfish-cbc", "cast128-cbc", "arcfour"]
    macs = list(MODERN_MACS)
    if v < (6, 7):
        macs += ["hmac-md5", "hmac-md5-96", "hmac-sha1-96"]
    return {
        "permitrootlogin": ["prohibit-password" if v >= (7, 0) else "yes"],
        "passwordauthentication": ["yes"],
        "kbdinteractiveauthentication": ["yes"],
        "permitemptypasswords": ["no"],
        "pubkeyauthentication": ["yes"],
        "usepam": ["no"],
        "authenticationmethods": ["any"],
        "maxauthtries": ["6"],
        "port": ["22"],
        "ciphers": [",".join(ciphers)],
        "macs": [",".join(macs)],
        "kexalgorithms": [",".join(kex)],
    }


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MatchBlock(_M):
    criteria: str
    where: str
    settings: dict[str, str] = Field(default_factory=dict)


class SshdConfig(_M):
    """sshd_config as sshd reads it, before defaults: keyword (lowercase) -> arguments, and where."""

    values: dict[str, list[str]] = Field(default_factory=dict)
    origin: dict[str, str] = Field(default_factory=dict)
    matches: list[MatchBlock] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    bad: list[BadRecord] = Field(default_factory=list)  # lines sshd itself would reject


class SshdFacts(Facts):
    installed: bool = False
    running: bool | None = None
    source: str = "none"  # sshd -T | config | defaults | none
    sshd_t_error: str | None = None
    version: str | None = None
    config_files: list[str] = Field(default_factory=list)
    origin: dict[str, str] = Field(default_factory=dict)  # keyword -> "sshd -T" | file:line | "default"
    permit_root_login: str | None = None
    password_authentication: bool | None = None
    kbd_interactive_authentication: bool | None = None
    permit_empty_passwords: bool | None = None
    pubkey_authentication: bool | None = None
    use_pam: bool | None = None
    authentication_methods: list[str] = Field(default_factory=list)
    ciphers: list[str] = Field(default_factory=list)
    macs: list[str] = Field(default_factory=list)
    kex_algorithms: list[str] = Field(default_factory=list)
    allow_users: list[str] = Field(default_factory=list)
    allow_groups: list[str] = Field(default_factory=list)
    deny_users: list[str] = Field(default_factory=list)
    deny_groups: list[str] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    listen_addresses: list[str] = Field(default_factory=list)
    max_auth_tries: int | None = None
    match_blocks: list[MatchBlock] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# parsers (pure, total)


def split_args(line: str) -> list[str]:
    """sshd's argv_split: whitespace-separated, "double" and 'single' quotes group, backslash escapes,
    and a token starting with '#' ends the line."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t\r\n":
            i += 1
        if i >= n or line[i] == "#":
            break
        buf: list[str] = []
        quote = None
        while i < n:
            c = line[i]
            if quote is None and c in " \t\r\n":
                break
            if c == "\\" and i + 1 < n and line[i + 1] in "\\\"' ":
                buf.append(line[i + 1])
                i += 2
                continue
            if c in "\"'":
                if quote is None:
                    quote = c
                    i += 1
                    continue
                if quote == c:
                    quote = None
                    i += 1
                    continue
            buf.append(c)
            i += 1
        out.append("".join(buf))
    return out


def split_keyword(line: str) -> tuple[str, list[str]] | None:
    """`Keyword value...` or `Keyword=value`; returns (lowercase canonical keyword, args)."""
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    m = re.match(r"^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+|$)(.*)$", s)
    if m is None:
        return None
    kw = m.group(1).lower()
    return ALIASES.get(kw, kw), split_args(m.group(2))


Reader = Callable[[str], str | None]
Expander = Callable[[str], list[str]]


def parse_sshd_config(text: str, *, path: str = SSHD_CONFIG, read: Reader | None = None,
                      expand_glob: Expander | None = None, base_dir: str = "/etc/ssh") -> SshdConfig:
    """Parse sshd_config and its Includes. `read` and `expand_glob` reach the target's files (pure here)."""
    values: dict[str, list[str]] = {}
    origin: dict[str, str] = {}
    blocks: list[dict[str, object]] = []
    files: list[str] = []
    warnings: list[str] = []
    bad: list[BadRecord] = []

    def one(text: str, path: str, depth: int, inherited: dict[str, object] | None) -> None:
        # Lines of a file Included inside a Match block belong to that block; a Match started in a file
        # ends with that file.
        files.append(path)
        block = inherited
        for n, raw in enumerate(text.splitlines(), 1):
            parsed = split_keyword(raw)
            if parsed is None:
                if raw.strip() and not raw.strip().startswith("#"):
                    bad.append(BadRecord(path=path, line=n, reason="not a `Keyword value` line"))
                continue
            kw, args = parsed
            if not args:
                bad.append(BadRecord(path=path, line=n, reason=f"{kw} without a value (sshd: missing argument)"))
                continue
            where = f"{path}:{n}"
            if kw == "match":
                block = {"criteria": " ".join(args), "where": where, "settings": {}}
                blocks.append(block)
                continue
            if kw == "include":
                for pat in args:
                    full = pat if pat.startswith("/") else posixpath.join(base_dir, pat)
                    if depth >= 16:
                        warnings.append(f"{where}: Include nested too deeply")
                        break
                    for t in (expand_glob(full) if expand_glob else [full]):
                        sub = read(t) if read else None
                        if sub is None:
                            warnings.append(f"{where}: Include {t} could not be read")
                            continue
                        one(sub, t, depth + 1, block)
                continue
            if block is not None:
                settings = block["settings"]
                assert isinstance(settings, dict)
                settings.setdefault(kw, " ".join(args))
                continue
            if kw in ACCUMULATE:
                if kw in ("allowusers", "allowgroups", "denyusers", "denygroups"):
                    values.setdefault(kw, []).extend(args)
                else:
                    values.setdefault(kw, []).append(" ".join(args))
                origin.setdefault(kw, where)
            elif kw not in values:
                values[kw] = args
                origin[kw] = where

    one(text, path, 0, None)
    matches = [MatchBlock(criteria=str(b["criteria"]), where=str(b["where"]), settings=dict(b["settings"]))  # type: ignore[call-overload]
               for b in blocks]
    return SshdConfig(values=values, origin=origin, matches=matches, files=files, warnings=warnings, bad=bad)


def parse_sshd_t(text: str) -> dict[str, list[str]]:
    """`sshd -T` output: one `keyword value` per line, lowercase; repeated keywords accumulate."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if not parts or not re.fullmatch(r"[a-z0-9]+", parts[0]):
            continue
        kw = ALIASES.get(parts[0], parts[0])
        out.setdefault(kw, []).append(parts[1] if len(parts) > 1 else "")
    return out


def effective_list(spec: str | None, default: list[str]) -> list[str]:
    """Apply sshd's list syntax: `a,b` replaces, `+a` appends, `-a*` removes (patterns), `^a` prepends."""
    if spec is None or spec == "":
        return list(default)
    items = [x for x in spec[1:].split(",") if x] if spec[0] in "+-^" else []
    if spec[0] == "+":
        return list(default) + [x for x in items if x not in default]
    if spec[0] == "^":
        return items + [x for x in default if x not in items]
    if spec[0] == "-":
        return [x for x in default if not any(fnmatch.fnmatchcase(x, pat) for pat in items)]
    return [x for x in spec.split(",") if x]


def parse_version(text: str) -> tuple[int, int] | None:
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _bool(v: str | None) -> bool | None:
    if v is None:
        return None
    v = v.lower()
    if v in ("yes", "true"):
        return True
    if v in ("no", "false"):
        return False
    return None


def build_facts(values: dict[str, list[str]], origin: dict[str, str], *, from_sshd_t: bool,
                version: tuple[int, int] | None) -> dict[str, object]:
    """Typed effective settings from raw keyword values; unset keywords take the version's defaults."""
    defaults = default_settings(version)
    eff_origin: dict[str, str] = {}

    def get(kw: str) -> str | None:
        if values.get(kw):
            eff_origin[kw] = "sshd -T" if from_sshd_t else origin.get(kw, "config")
            raw = values[kw]
            return " ".join(raw) if not from_sshd_t else raw[0]
        d = defaults.get(kw)
        if d is not None:
            eff_origin[kw] = "default"
            return d[0]
        return None

    prl = (get("permitrootlogin") or "").lower() or None
    if prl == "without-password":  # the pre-7.0 spelling, still printed by sshd -T
        prl = "prohibit-password"
    crypto: dict[str, list[str]] = {}
    for kw in ("ciphers", "macs", "kexalgorithms"):
        spec = values.get(kw, [None])[0] if values.get(kw) else None
        if spec is not None:
            eff_origin[kw] = "sshd -T" if from_sshd_t else origin.get(kw, "config")
        else:
            eff_origin[kw] = "default"
        dflt = defaults[kw][0].split(",")
        crypto[kw] = [x.lower() for x in effective_list(spec, dflt)]
    am = values.get("authenticationmethods")
    methods = " ".join(am).split() if am else ["any"]
    eff_origin["authenticationmethods"] = ("sshd -T" if from_sshd_t else origin.get("authenticationmethods", "config")) if am else "default"
    mat = get("maxauthtries")

    def lst(kw: str) -> list[str]:
        got = values.get(kw, [])
        out: list[str] = []
        for g in got:
            out.extend(g.split() if from_sshd_t else [g])
        if got:
            eff_origin[kw] = "sshd -T" if from_sshd_t else origin.get(kw, "config")
        return out

    ports = lst("port") or defaults["port"]
    return {
        "permit_root_login": prl,
        "password_authentication": _bool(get("passwordauthentication")),
        "kbd_interactive_authentication": _bool(get("kbdinteractiveauthentication")),
        "permit_empty_passwords": _bool(get("permitemptypasswords")),
        "pubkey_authentication": _bool(get("pubkeyauthentication")),
        "use_pam": _bool(get("usepam")),
        "authentication_methods": methods,
        "ciphers": crypto["ciphers"],
        "macs": crypto["macs"],
        "kex_algorithms": crypto["kexalgorithms"],
        "allow_users": lst("allowusers"),
        "allow_groups": lst("allowgroups"),
        "deny_users": lst("denyusers"),
        "deny_groups": lst("denygroups"),
        "ports": ports,
        "listen_addresses": lst("listenaddress"),
        "max_auth_tries": int(mat) if mat and mat.isdigit() else None,
        "origin": eff_origin,
    }


# ---------------------------------------------------------------------------------------------------
# collector




@collector("linux.sshd", facts=SshdFacts)
def collect_sshd(p: Probe) -> SshdFacts:
    """OpenSSH server: installed, running, and its effective authentication and crypto settings."""
    facts = SshdFacts()
    binary = next((b for b in SSHD_BINARIES if p.stat(b) is not None), None)
    main = p.file(SSHD_CONFIG, fact="sshd_config", privileged=True)
    if binary is None and main is None:
        facts.unavailable["sshd"] = _absent("OpenSSH server (sshd) is not installed")
        return facts
    facts.installed = True

    names = process_names(p, "sshd_running")
    facts.running = None if names is None else bool(names & {"sshd", "sshd-session"})

    if p.t.can_run:
        res = p.command(["sshd", "-T"], privileged=True, keep_raw=True)
        if res is not None and res.ok and res.stdout.strip():
            values = parse_sshd_t(res.text())
            facts.source = "sshd -T"
            facts.version = None
            for k, v in build_facts(values, {}, from_sshd_t=True, version=None).items():
                setattr(facts, k, v)
            if main is not None:  # Match blocks are not applied by sshd -T without -C: list them from the file
                cfg = _parse_files(p, main)
                facts.match_blocks = cfg.matches
                facts.config_files = cfg.files
            return facts
        facts.sshd_t_error = (
            "sshd -T could not run" if res is None
            else f"sshd -T exited {res.exit_code}: {res.stderr.decode('utf-8', 'replace').strip()[:200]}"
        )
    else:
        facts.sshd_t_error = "offline root: sshd -T cannot run"

    version = None
    if p.t.can_run:
        vres = p.command(["sshd", "-V"], keep_raw=True)
        if vres is not None:
            version = parse_version(vres.stderr.decode("utf-8", "replace") + vres.text())
    if version is None and binary is not None:
        blob = p.file(binary, keep_raw=False)
        if blob is not None:
            version = parse_version(blob.decode("latin-1"))
    facts.version = f"{version[0]}.{version[1]}" if version else None
    if main is None:
        why = p.unavailable.get("sshd_config")
        if why is not None and why.reason is not Reason.ABSENT:
            return facts  # could not read it: the checks report why, never judge defaults instead
        p.unavailable.pop("sshd_config", None)  # no file: sshd runs on its compiled-in defaults
        facts.source = "defaults"
        values: dict[str, list[str]] = {}
        origin: dict[str, str] = {}
    else:
        cfg = _parse_files(p, main)
        facts.source = "config"
        facts.config_files = cfg.files
        facts.match_blocks = cfg.matches
        facts.warnings = cfg.warnings
        facts.malformed.extend(cfg.bad)
        values, origin = cfg.values, cfg.origin
    for k, v in build_facts(values, origin, from_sshd_t=False, version=version).items():
        setattr(facts, k, v)
    if version is None:
        facts.warnings.append("OpenSSH version unknown: unset keywords judged with current OpenSSH defaults")
    return facts


def _parse_files(p: Probe, main: bytes) -> SshdConfig:
    def read(path: str) -> str | None:
        data = p.file(path, privileged=True)
        return data.decode("utf-8", "replace") if data is not None else None

    return parse_sshd_config(main.decode("utf-8", "replace"), read=read, expand_glob=lambda pat: expand(p, pat))


def _absent(detail: str) -> Unavailable:
    return Unavailable(reason=Reason.ABSENT, detail=detail)
