"""Password policy as configured: /etc/login.defs, the PAM stacks, pwquality/cracklib and lockout settings.

Facts only: what each module is told to do, with the software's documented defaults filled in where the
configuration is silent (so a check can judge "minlen unset" as "minlen 8", the value pwquality really
uses). Both layouts a hospital runs are followed: Debian/Ubuntu (`common-password`, `common-auth`,
`@include`) and RHEL-family (`system-auth`, `password-auth`, `include`/`substack`, authselect symlinks).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import BadRecord, Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

PAM_DIR = "/etc/pam.d"

# Entry services whose stacks decide how passwords are set (password) and checked (auth). Stacks are
# unioned: a weakness in any of them is a weakness of the host.
PASSWORD_ENTRIES = ("common-password", "system-auth", "password-auth", "passwd")
AUTH_ENTRIES = ("common-auth", "system-auth", "password-auth", "login", "sshd")

PAM_TYPES = ("auth", "account", "password", "session")
UNIX_HASH_OPTIONS = ("md5", "bigcrypt", "sha256", "sha512", "blowfish", "gost_yescrypt", "yescrypt")


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PamLine(_M):
    """One module line of a PAM stack, with where it was written."""

    file: str
    line: int
    type: str
    control: str
    module: str  # basename without .so, e.g. pam_unix
    args: list[str] = Field(default_factory=list)
    optional_module: bool = False  # "-type": silently skipped when the module is not installed

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def arg(self, name: str) -> str | None:
        """Value of `name=value` (last one wins, as in every PAM module's argv loop), else None."""
        val = None
        for a in self.args:
            if a.startswith(name + "="):
                val = a[len(name) + 1:]
        return val

    def flag(self, name: str) -> bool:
        return name in self.args


class PamInclude(_M):
    """An include directive (`@include x`, `auth include x`, `password substack x`)."""

    file: str
    line: int
    target: str
    type: str | None = None  # None for Debian's @include (all types)


class ParsedPam(_M):
    lines: list[PamLine] = Field(default_factory=list)
    includes: list[PamInclude] = Field(default_factory=list)
    items: list[PamLine | PamInclude] = Field(default_factory=list)  # in file order
    bad: list[BadRecord] = Field(default_factory=list)  # lines pam.d(5) cannot parse either


class LoginDefs(_M):
    """The /etc/login.defs keys that govern how shadow tools hash and age passwords."""

    encrypt_method: str | None = None
    md5_crypt_enab: bool | None = None
    sha_crypt_min_rounds: int | None = None
    sha_crypt_max_rounds: int | None = None
    yescrypt_cost_factor: int | None = None
    pass_max_days: int | None = None
    pass_min_days: int | None = None
    pass_min_len: int | None = None
    pass_warn_age: int | None = None


class UnixOptions(_M):
    """pam_unix in the password stack (how new passwords are hashed) and in the auth stack (nullok)."""

    hash_options: list[str] = Field(default_factory=list)  # md5/sha512/yescrypt... as written
    rounds: int | None = None
    remember: int | None = None
    minlen: int | None = None
    password_lines: list[str] = Field(default_factory=list)  # file:line
    nullok_auth: list[str] = Field(default_factory=list)  # file:line of auth lines with nullok / nullok_secure
    nullok_password: list[str] = Field(default_factory=list)


class PwQuality(_M):
    """Effective pam_pwquality / pam_cracklib settings: module defaults < conf files < module arguments."""

    module: str  # pam_pwquality | pam_cracklib
    where: str  # file:line of the module line
    control: str
    minlen: int
    minclass: int
    dcredit: int
    ucredit: int
    lcredit: int
    ocredit: int
    dictcheck: bool
    enforce_for_root: bool
    local_users_only: bool = False
    retry: int | None = None
    explicit: dict[str, str] = Field(default_factory=dict)  # what was written, and where it came from
    sources: list[str] = Field(default_factory=list)


class Lockout(_M):
    """Failed-login lockout: pam_faillock (+ faillock.conf) or the older pam_tally2 / pam_tally."""

    module: str
    where: list[str] = Field(default_factory=list)
    deny: int | None = None  # None: the module locks nobody out (pam_tally2 without deny=)
    unlock_time: int | None = None
    even_deny_root: bool = False
    sources: list[str] = Field(default_factory=list)


class PasswordPolicyFacts(Facts):
    layout: str = "unknown"  # debian | rhel | other | unknown
    login_defs: LoginDefs | None = None
    pam_files: list[str] = Field(default_factory=list)  # files the stacks were read from
    missing_includes: list[str] = Field(default_factory=list)  # include/substack/@include targets that are absent
    entries: list[str] = Field(default_factory=list)  # entry services found
    password_stack: list[PamLine] = Field(default_factory=list)
    auth_stack: list[PamLine] = Field(default_factory=list)
    unix: UnixOptions | None = None
    quality: PwQuality | None = None
    pwquality_conf: dict[str, str] = Field(default_factory=dict)  # merged conf files (before module args)
    lockout: Lockout | None = None
    history: int | None = None  # remember= from pam_pwhistory or pam_unix
    parse_warnings: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# parsers (pure, total)


def _int(s: str | None) -> int | None:
    if s is None:
        return None
    s = s.strip()
    try:
        return int(s, 10)
    except ValueError:
        return None


_LOGIN_DEFS_INTS = ("SHA_CRYPT_MIN_ROUNDS", "SHA_CRYPT_MAX_ROUNDS", "YESCRYPT_COST_FACTOR", "PASS_MAX_DAYS",
                    "PASS_MIN_DAYS", "PASS_MIN_LEN", "PASS_WARN_AGE")


def parse_login_defs(text: str, bad: list[BadRecord] | None = None, path: str = "/etc/login.defs") -> LoginDefs:
    """`KEY value` lines; the last occurrence wins (getdef reads the file top to bottom). A line without a
    value, or a non-numeric value for a numeric key, is recorded in `bad` (getdef would ignore it)."""
    kv: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) == 2:
            key, value = parts[0].upper(), parts[1].strip().strip('"')
            if key in _LOGIN_DEFS_INTS and _int(value) is None:
                if bad is not None:
                    bad.append(BadRecord(path=path, line=n, reason=f"{key} is not a number"))
                continue
            kv[key] = value
        elif bad is not None:
            bad.append(BadRecord(path=path, line=n, reason="not a `NAME value` line"))
    md5 = kv.get("MD5_CRYPT_ENAB")
    return LoginDefs(
        encrypt_method=kv["ENCRYPT_METHOD"].upper() if kv.get("ENCRYPT_METHOD") else None,
        md5_crypt_enab=None if md5 is None else md5.lower() == "yes",
        sha_crypt_min_rounds=_int(kv.get("SHA_CRYPT_MIN_ROUNDS")),
        sha_crypt_max_rounds=_int(kv.get("SHA_CRYPT_MAX_ROUNDS")),
        yescrypt_cost_factor=_int(kv.get("YESCRYPT_COST_FACTOR")),
        pass_max_days=_int(kv.get("PASS_MAX_DAYS")),
        pass_min_days=_int(kv.get("PASS_MIN_DAYS")),
        pass_min_len=_int(kv.get("PASS_MIN_LEN")),
        pass_warn_age=_int(kv.get("PASS_WARN_AGE")),
    )


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and drop comments ('#' to end of line, as libpam does)."""
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0]
        if not buf:
            start = n
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def _tokens(line: str) -> list[str]:
    """Split on whitespace, keeping `[ ... ]` groups (with `\\]` escapes) as one token, as libpam does."""
    toks: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] == "[":
            j = i + 1
            buf = []
            while j < n and line[j] != "]":
                if line[j] == "\\" and j + 1 < n and line[j + 1] == "]":
                    buf.append("]")
                    j += 2
                    continue
                buf.append(line[j])
                j += 1
            toks.append("[" + "".join(buf) + "]")
            i = j + 1
            continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        toks.append(line[i:j])
        i = j
    return toks


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return base[:-3] if base.endswith(".so") else base


def parse_pam_file(text: str, file: str) -> ParsedPam:
    """One /etc/pam.d service file -> its module lines and include directives, in order."""
    items: list[PamLine | PamInclude] = []
    bad: list[BadRecord] = []
    for n, line in _logical_lines(text):
        if line.startswith("@include"):
            parts = line.split()
            if len(parts) >= 2:
                items.append(PamInclude(file=file, line=n, target=parts[1]))
            else:
                bad.append(BadRecord(path=file, line=n, reason="@include without a file"))
            continue
        toks = _tokens(line)
        if len(toks) < 3:
            bad.append(BadRecord(path=file, line=n, reason=f"{len(toks)} fields, pam.d(5) needs type control module"))
            continue
        typ = toks[0].lower()
        optional = typ.startswith("-")
        typ = typ.lstrip("-")
        if typ not in PAM_TYPES:
            bad.append(BadRecord(path=file, line=n, reason=f"unknown PAM type {typ[:20]!r}"))
            continue
        control = toks[1]
        if control.lower() in ("include", "substack"):
            items.append(PamInclude(file=file, line=n, target=toks[2], type=typ))
            continue
        args = [a[1:-1] if a.startswith("[") and a.endswith("]") else a for a in toks[3:]]
        items.append(PamLine(file=file, line=n, type=typ, control=control, module=module_name(toks[2]),
                             args=args, optional_module=optional))
    return ParsedPam(
        lines=[i for i in items if isinstance(i, PamLine)],
        includes=[i for i in items if isinstance(i, PamInclude)],
        items=items,
        bad=bad,
    )


def flatten(files: dict[str, ParsedPam], entry: str, typ: str, *, _seen: tuple[str, ...] = ()) -> list[PamLine]:
    """The `typ` stack of service `entry`, following includes. Cycles and missing targets are skipped."""
    if entry in _seen or len(_seen) > 16 or entry not in files:
        return []
    out: list[PamLine] = []
    for item in files[entry].items:
        if isinstance(item, PamLine):
            if item.type == typ:
                out.append(item)
        elif item.type is None or item.type == typ:
            out.extend(flatten(files, item.target.rsplit("/", 1)[-1], typ, _seen=(*_seen, entry)))
    return out


def parse_kv_conf(text: str) -> dict[str, str]:
    """pwquality.conf / faillock.conf: `name = value` or a bare `flag`; '#' comments; last one wins."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            k = k.strip().lower()
            if k and " " not in k:
                out[k] = v.strip()
        elif " " not in line:
            out[line.lower()] = ""
    return out


# Documented defaults: pwquality.conf(5) (libpwquality 1.4) and pam_cracklib(8).
PWQUALITY_DEFAULTS = {"minlen": 8, "minclass": 0, "dcredit": 0, "ucredit": 0, "lcredit": 0, "ocredit": 0, "dictcheck": 1}
CRACKLIB_DEFAULTS = {"minlen": 9, "minclass": 0, "dcredit": 1, "ucredit": 1, "lcredit": 1, "ocredit": 1, "dictcheck": 1}
PWQUALITY_KEYS = ("minlen", "minclass", "dcredit", "ucredit", "lcredit", "ocredit", "dictcheck", "enforce_for_root",
                  "retry", "local_users_only", "difok", "maxrepeat", "maxclassrepeat", "usercheck", "dictpath")
PWQUALITY_MIN_MINLEN = 6  # "Cannot be set to lower value than 6"


def quality_from(line: PamLine, conf: dict[str, str], conf_sources: list[str]) -> PwQuality:
    """Effective settings of one pam_pwquality/pam_cracklib line. Module arguments override the conf files."""
    is_pwq = line.module == "pam_pwquality"
    defaults = PWQUALITY_DEFAULTS if is_pwq else CRACKLIB_DEFAULTS
    explicit: dict[str, str] = {}
    values: dict[str, str] = {}
    if is_pwq:  # pam_cracklib does not read pwquality.conf
        for k, v in conf.items():
            if k in PWQUALITY_KEYS:
                values[k] = v
                explicit[k] = f"{v} (conf)"
    for a in line.args:
        k, _, v = a.partition("=")
        k = k.lower()
        if k in PWQUALITY_KEYS:
            values[k] = v
            explicit[k] = f"{v} ({line.where})"

    def num(key: str) -> int:
        got = _int(values.get(key))
        return got if got is not None else defaults[key]

    minlen = num("minlen")
    if is_pwq:
        minlen = max(minlen, PWQUALITY_MIN_MINLEN)
    retry = _int(values.get("retry"))
    return PwQuality(
        module=line.module,
        where=line.where,
        control=line.control,
        minlen=minlen,
        minclass=max(0, min(num("minclass"), 4)),
        dcredit=num("dcredit"),
        ucredit=num("ucredit"),
        lcredit=num("lcredit"),
        ocredit=num("ocredit"),
        dictcheck=num("dictcheck") != 0,
        enforce_for_root="enforce_for_root" in values,
        local_users_only="local_users_only" in values,
        retry=retry,
        explicit=explicit,
        sources=[*conf_sources, line.where] if is_pwq else [line.where],
    )


# faillock.conf(5): deny default 3, unlock_time default 600 s.
FAILLOCK_DEFAULTS = {"deny": 3, "unlock_time": 600}


def lockout_from(stack: list[PamLine], faillock_conf: dict[str, str] | None, conf_path: str) -> Lockout | None:
    """Lockout as the auth stack sets it; None when no lockout module is in the stack."""
    fl = [ln for ln in stack if ln.module == "pam_faillock"]
    if fl:
        values: dict[str, str] = dict(faillock_conf or {})
        sources = [conf_path] if faillock_conf is not None else []
        for ln in fl:  # arguments on any faillock line override the file
            for a in ln.args:
                k, _, v = a.partition("=")
                if k in ("deny", "unlock_time", "even_deny_root"):
                    values[k] = v
        deny = _int(values.get("deny"))
        unlock = _int(values.get("unlock_time"))
        if values.get("unlock_time", "").lower() == "never":
            unlock = 0
        return Lockout(
            module="pam_faillock",
            where=[ln.where for ln in fl],
            deny=FAILLOCK_DEFAULTS["deny"] if deny is None else deny,
            unlock_time=FAILLOCK_DEFAULTS["unlock_time"] if unlock is None else unlock,
            even_deny_root="even_deny_root" in values,
            sources=sources + [ln.where for ln in fl],
        )
    for name in ("pam_tally2", "pam_tally"):
        tl = [ln for ln in stack if ln.module == name]
        if tl:
            deny = None
            unlock = None
            for ln in tl:
                deny = _int(ln.arg("deny")) if ln.arg("deny") is not None else deny
                unlock = _int(ln.arg("unlock_time")) if ln.arg("unlock_time") is not None else unlock
            return Lockout(module=name, where=[ln.where for ln in tl], deny=deny, unlock_time=unlock,
                           even_deny_root=any(ln.flag("even_deny_root") for ln in tl),
                           sources=[ln.where for ln in tl])
    return None


def unix_options(password_stack: list[PamLine], auth_stack: list[PamLine]) -> UnixOptions | None:
    pw = [ln for ln in password_stack if ln.module == "pam_unix"]
    au = [ln for ln in auth_stack if ln.module == "pam_unix"]
    if not pw and not au:
        return None
    hashes: list[str] = []
    rounds = remember = minlen = None
    for ln in pw:
        hashes += [a for a in ln.args if a in UNIX_HASH_OPTIONS and a not in hashes]
        rounds = _int(ln.arg("rounds")) if ln.arg("rounds") is not None else rounds
        remember = _int(ln.arg("remember")) if ln.arg("remember") is not None else remember
        minlen = _int(ln.arg("minlen")) if ln.arg("minlen") is not None else minlen
    return UnixOptions(
        hash_options=hashes,
        rounds=rounds,
        remember=remember,
        minlen=minlen,
        password_lines=[ln.where for ln in pw],
        nullok_auth=[ln.where for ln in au if ln.flag("nullok") or ln.flag("nullok_secure")],
        nullok_password=[ln.where for ln in pw if ln.flag("nullok")],
    )


def _dedup(lines: list[PamLine]) -> list[PamLine]:
    seen: set[tuple[str, int]] = set()
    out = []
    for ln in lines:
        if (ln.file, ln.line) not in seen:
            seen.add((ln.file, ln.line))
            out.append(ln)
    return out


def stacks(files: dict[str, ParsedPam]) -> tuple[list[str], list[PamLine], list[PamLine]]:
    entries = [e for e in dict.fromkeys(PASSWORD_ENTRIES + AUTH_ENTRIES) if e in files]
    pw = _dedup([ln for e in PASSWORD_ENTRIES for ln in flatten(files, e, "password")])
    au = _dedup([ln for e in AUTH_ENTRIES for ln in flatten(files, e, "auth")])
    return entries, pw, au


def layout_of(names: list[str]) -> str:
    if "common-password" in names or "common-auth" in names:
        return "debian"
    if "system-auth" in names or "password-auth" in names:
        return "rhel"
    return "other" if names else "unknown"


# ---------------------------------------------------------------------------------------------------
# collector


def _text(data: bytes | None) -> str | None:
    return data.decode("utf-8", "replace") if data is not None else None


@collector("linux.password_policy", facts=PasswordPolicyFacts)
def collect_password_policy(p: Probe) -> PasswordPolicyFacts:
    """Password hashing, complexity, history and lockout rules from login.defs and PAM."""
    facts = PasswordPolicyFacts()
    ld = _text(p.file("/etc/login.defs", fact="login_defs"))
    if ld is not None:
        facts.login_defs = parse_login_defs(ld, facts.malformed)

    names = p.listdir(PAM_DIR, fact="pam")
    if names is None:
        return facts
    files: dict[str, ParsedPam] = {}
    pending = [n for n in (*PASSWORD_ENTRIES, *AUTH_ENTRIES) if n in names]
    while pending:
        name = pending.pop(0)
        if name in files:
            continue
        text = _text(p.file(f"{PAM_DIR}/{name}"))
        if text is None:
            continue
        parsed = parse_pam_file(text, f"{PAM_DIR}/{name}")
        files[name] = parsed
        facts.malformed.extend(parsed.bad)
        for inc in parsed.includes:
            target = inc.target.rsplit("/", 1)[-1]
            if target not in names:
                facts.missing_includes.append(f"{PAM_DIR}/{target}")
            elif target not in files and target not in pending and len(files) < 64:
                pending.append(target)
    facts.missing_includes = list(dict.fromkeys(facts.missing_includes))
    facts.layout = layout_of(names)
    facts.pam_files = sorted(f"{PAM_DIR}/{n}" for n in files)
    facts.entries, facts.password_stack, facts.auth_stack = stacks(files)
    if not facts.entries:
        p.note("pam_stacks", Reason.ABSENT, f"none of {', '.join(dict.fromkeys(PASSWORD_ENTRIES + AUTH_ENTRIES))} in {PAM_DIR}")
    facts.unix = unix_options(facts.password_stack, facts.auth_stack)

    # pwquality.conf.d/*.conf first (ASCII order), then pwquality.conf overrides them (pwquality.conf(5))
    conf: dict[str, str] = {}
    conf_sources: list[str] = []
    for name in sorted(p.listdir("/etc/security/pwquality.conf.d") or []):
        if name.endswith(".conf"):
            path = f"/etc/security/pwquality.conf.d/{name}"
            t = _text(p.file(path))
            if t is not None:
                conf.update(parse_kv_conf(t))
                conf_sources.append(path)
    t = _text(p.file("/etc/security/pwquality.conf"))
    if t is not None:
        conf.update(parse_kv_conf(t))
        conf_sources.append("/etc/security/pwquality.conf")
    facts.pwquality_conf = conf
    qual = [ln for ln in facts.password_stack if ln.module in ("pam_pwquality", "pam_cracklib")]
    if qual:
        facts.quality = quality_from(qual[0], conf, conf_sources)

    needs_faillock_conf = any(ln.module == "pam_faillock" for ln in facts.auth_stack)
    fconf = None
    if needs_faillock_conf:
        ft = _text(p.file("/etc/security/faillock.conf"))
        fconf = parse_kv_conf(ft) if ft is not None else None
    facts.lockout = lockout_from(facts.auth_stack, fconf, "/etc/security/faillock.conf")

    history = None
    for ln in facts.password_stack:
        if ln.module in ("pam_pwhistory", "pam_unix") and ln.arg("remember") is not None:
            history = _int(ln.arg("remember"))
    if history is None and any(ln.module == "pam_pwhistory" for ln in facts.password_stack):
        t = _text(p.file("/etc/security/pwhistory.conf"))
        remember = parse_kv_conf(t).get("remember") if t is not None else None
        history = _int(remember) if remember is not None else 10  # pwhistory.conf(5) default
    facts.history = history
    return facts

