"""Plaintext secrets in configuration files: passwords, pre-shared keys, bind passwords, private keys.

SO-14-6 says operators must not be able to learn users' passwords ("設定ファイルにパスワードが平文で記載
される等があってはならない"). This collector finds where such values are written and reports the path, the
line and the key name, and who may read the file. It never keeps a value: each file is read as sensitive
(no digest published, no text kept), and the evidence excerpt holds only the hit lines with every value
replaced by `<redacted>` by the same span finder that found them.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.linux.pathglob import expand, has_magic
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector

REDACTED = "<redacted>"

# Files where secrets are commonly written on Linux servers (Debian and RHEL paths). Globs are expanded
# through the transport, so this works under --root and remotely.
DEFAULT_PATHS = (
    "/etc/fstab",
    "/etc/wpa_supplicant.conf",
    "/etc/wpa_supplicant/*.conf",
    "/etc/NetworkManager/system-connections/*",
    "/etc/my.cnf",
    "/etc/my.cnf.d/*.cnf",
    "/etc/mysql/*.cnf",
    "/etc/mysql/**/*.cnf",
    "/etc/openldap/ldap.conf",
    "/etc/ldap/ldap.conf",
    "/etc/ldap.conf",
    "/etc/nslcd.conf",
    "/etc/pam_ldap.conf",
    "/etc/libnss-ldap.conf",
    "/etc/ldap.secret",
    "/etc/pam_ldap.secret",
    "/etc/libnss-ldap.secret",
    "/etc/sssd/sssd.conf",
    "/etc/sssd/conf.d/*.conf",
    "/etc/samba/smb.conf",
    "/etc/ppp/chap-secrets",
    "/etc/ppp/pap-secrets",
    "/etc/ppp/peers/*",
    "/etc/postfix/sasl_passwd",
    "/etc/davfs2/secrets",
    "/root/.my.cnf",
    "/root/.netrc",
    "/root/.pgpass",
    "/home/*/.my.cnf",
    "/home/*/.netrc",
    "/home/*/.pgpass",
)
MAX_FILES = 400
MAX_BYTES = 1024 * 1024


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretHit(_M):
    """Where a secret is written. Never the value."""

    path: str
    line: int
    key: str  # the key name (password, psk, bindpw, ...) or "(file content)" / "PRIVATE KEY"
    kind: str  # password | private_key | file
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    root_only: bool | None = None  # None: permissions could not be determined (e.g. a symlink)


class SecretsFacts(Facts):
    hits: list[SecretHit] = Field(default_factory=list)
    scanned: list[str] = Field(default_factory=list)
    unreadable: dict[str, str] = Field(default_factory=dict)  # path -> why (denied, failed)
    hashed_values: int = 0  # values that were hashes ({SSHA}, $6$...): not plaintext, not reported


# ---------------------------------------------------------------------------------------------------
# finding values (pure, total): every parser returns spans, and the same spans drive the redaction


@dataclass(frozen=True)
class Span:
    line: int  # 1-based
    start: int  # character offsets within the line
    end: int
    key: str
    kind: str = "password"
    hashed: bool = False
    placeholder: bool = False

    @property
    def plaintext(self) -> bool:
        return not self.hashed and not self.placeholder


_LONG = ("password", "passwd", "passphrase", "bindpw", "authtok")
_SHORT = ("pwd", "psk", "secret", "pass", "rootpw", "pw")
_LEAD_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.-]*)\s*[=:]\s*")
_EMBED_RE = re.compile(r"(?:(?<=[\s,;&?-])|^)([A-Za-z][A-Za-z0-9_.-]*)=\s*")
_HASHED = re.compile(r"^(\{[A-Za-z0-9-]+\}|\$(1|2[abxy]?|5|6|y|gy|7|argon2(id|i|d)?|scrypt|pbkdf2[-a-z0-9]*)\$)")
_WEP = re.compile(r"^wep[_-]key[0-3]$")


def is_secret_key(key: str) -> bool:
    k = key.lower()
    if k.endswith(_LONG) or _WEP.match(k):
        return True
    last = re.split(r"[_.-]", k)[-1]
    return last in _SHORT


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def _empty(v: str) -> bool:
    """No value at all: nothing to report and nothing to hide."""
    return _unquote(v).strip() in ("", "*")


def _placeholder(v: str) -> bool:
    """Not a secret itself (a variable reference, a template, an already redacted value): not reported,
    still redacted wherever text is shown, since a password may look like one."""
    u = _unquote(v).strip()
    return u in ("x", REDACTED) or u.startswith(("${", "$(", "%(", "<", "{{"))


def _is_comment(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(("#", ";"))


def spans_kv(text: str) -> list[Span]:
    """Ini/YAML style `key = value` / `key: value` at the start of a line, `bindpw value` / `password value`
    as its first words (ldap.conf, nslcd.conf, ppp peers), and `key=value` pairs embedded in a line
    (`--password=x`, `...;password=x`). The value runs to the end of the line, so nothing after the key
    survives redaction. Commented lines are skipped: shipped examples (`#bindpw secret`) are not settings."""
    out: list[Span] = []
    for n, line in enumerate(text.split("\n"), 1):
        if _is_comment(line):
            continue
        found = None
        m = _LEAD_RE.match(line)
        if m and is_secret_key(m.group(1)):
            found = (m.group(1), m.end())
        if found is None and "=" not in line:
            m2 = re.match(r"^\s*(bindpw|rootbindpw|password|passwd|rootpw)[ \t]+(?=\S)", line, re.IGNORECASE)
            if m2:
                found = (m2.group(1), m2.end())
        if found is None:
            for m3 in _EMBED_RE.finditer(line):
                if is_secret_key(m3.group(1)):
                    found = (m3.group(1), m3.end())
                    break
        if found is None:
            continue
        key, start = found
        value = line[start:].rstrip()
        if _empty(value):
            continue
        out.append(Span(n, start, len(line.rstrip()), key, hashed=bool(_HASHED.match(_unquote(value))),
                        placeholder=_placeholder(value)))
    return out


def spans_fstab(text: str) -> list[Span]:
    """fstab options (4th field, comma separated): `password=` / `pass=` (cifs, davfs, sshfs...)."""
    out: list[Span] = []
    for n, line in enumerate(text.split("\n"), 1):
        if _is_comment(line):
            continue
        for m in re.finditer(r"(?:(?<=[\s,])|^)((?:[A-Za-z_-]*)(?:password|pass|passwd|pwd))=([^,\s]*)", line):
            if m.group(2) and is_secret_key(m.group(1)):
                out.append(Span(n, m.start(2), m.end(2), m.group(1)))
    return out


def spans_chap(text: str) -> list[Span]:
    """chap-secrets / pap-secrets / davfs2 secrets: `client server secret [addresses]`: the third field
    (quoted or not) is the secret."""
    out: list[Span] = []
    for n, line in enumerate(text.split("\n"), 1):
        if _is_comment(line):
            continue
        fields = [(m.start(), m.end()) for m in re.finditer(r'"(?:[^"\\]|\\.)*"?|\S+', line)]
        if len(fields) >= 3:
            s, e = fields[2]
            if not _empty(line[s:e]):
                out.append(Span(n, s, e, "secret", placeholder=_placeholder(line[s:e])))
    return out


def spans_pgpass(text: str) -> list[Span]:
    """~/.pgpass `host:port:db:user:password`: everything after the fourth unescaped ':'."""
    out: list[Span] = []
    for n, line in enumerate(text.split("\n"), 1):
        if _is_comment(line) or not line.strip():
            continue
        seps = 0
        i = 0
        while i < len(line) and seps < 4:
            if line[i] == "\\" and i + 1 < len(line):
                i += 2
                continue
            if line[i] == ":":
                seps += 1
            i += 1
        if seps == 4 and not _empty(line[i:]):
            out.append(Span(n, i, len(line), "password", placeholder=_placeholder(line[i:])))
    return out


def spans_sasl_passwd(text: str) -> list[Span]:
    """postfix sasl_passwd `[host]:port user:password`: after the first ':' of the second field."""
    out: list[Span] = []
    for n, line in enumerate(text.split("\n"), 1):
        if _is_comment(line):
            continue
        m = re.match(r"^\s*\S+\s+[^:\s]*:", line)
        if m and not _empty(line[m.end():]):
            out.append(Span(n, m.end(), len(line.rstrip()), "password", placeholder=_placeholder(line[m.end():])))
    return out


def spans_netrc(text: str) -> list[Span]:
    """.netrc tokens `password VALUE` (also `account VALUE`), the value possibly on the next line."""
    out: list[Span] = []
    pending: str | None = None
    for n, line in enumerate(text.split("\n"), 1):
        for m in re.finditer(r"\S+", line):
            tok = m.group(0)
            if pending is not None:
                out.append(Span(n, m.start(), m.end(), pending))
                pending = None
            elif tok in ("password", "passwd", "account"):
                pending = tok
    return out


def spans_whole(text: str) -> list[Span]:
    """Files whose whole content is a secret (/etc/ldap.secret): every non-empty line."""
    return [Span(n, 0, len(line), "(file content)", kind="file") for n, line in enumerate(text.split("\n"), 1) if line.strip()]


_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END ([A-Z0-9 ]*)PRIVATE KEY-----")


def spans_pem(text: str) -> list[Span]:
    """PEM private-key bodies. Encrypted keys (PKCS#8 ENCRYPTED, Proc-Type ENCRYPTED, OpenSSH with a
    cipher) are marked `hashed` (protected by a passphrase) and not reported as plaintext."""
    out: list[Span] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _PEM_BEGIN.search(lines[i])
        if m is None:
            i += 1
            continue
        label = m.group(1).strip()
        j = i + 1
        body: list[int] = []
        while j < len(lines) and _PEM_END.search(lines[j]) is None:
            body.append(j)
            j += 1
        encrypted = "ENCRYPTED" in label or any("ENCRYPTED" in lines[k] for k in body[:3])
        if label == "OPENSSH" and not encrypted:
            encrypted = _openssh_encrypted("".join(lines[k].strip() for k in body))
        for k in body:
            out.append(Span(k + 1, 0, len(lines[k]), f"{label + ' ' if label else ''}PRIVATE KEY", kind="private_key",
                            hashed=encrypted))
        if not body:
            out.append(Span(i + 1, m.end(), len(lines[i]), "PRIVATE KEY", kind="private_key", hashed=encrypted))
        i = j + 1
    return out


def _openssh_encrypted(b64: str) -> bool:
    """openssh-key-v1: magic, then a string ciphername; "none" means no passphrase."""
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=False)
    except (binascii.Error, ValueError):
        return False
    magic = b"openssh-key-v1\x00"
    if not raw.startswith(magic) or len(raw) < len(magic) + 4:
        return False
    n = int.from_bytes(raw[len(magic):len(magic) + 4], "big")
    return raw[len(magic) + 4:len(magic) + 4 + n] != b"none"


def format_of(path: str) -> str:
    base = posixpath.basename(path)
    if path == "/etc/fstab":
        return "fstab"
    if base in ("chap-secrets", "pap-secrets"):
        return "chap"
    if base == ".pgpass":
        return "pgpass"
    if base == ".netrc":
        return "netrc"
    if base == "sasl_passwd":
        return "sasl_passwd"
    if base.endswith(".secret") or path == "/etc/davfs2/secrets":
        return "whole" if base.endswith(".secret") else "chap"
    return "kv"


FORMATS = {
    "kv": spans_kv,
    "fstab": spans_fstab,
    "chap": spans_chap,
    "pgpass": spans_pgpass,
    "netrc": spans_netrc,
    "sasl_passwd": spans_sasl_passwd,
    "whole": spans_whole,
}


def find_spans(text: str, fmt: str) -> list[Span]:
    """All secret spans in `text` for format `fmt`, PEM private keys included in every format."""
    spans = FORMATS.get(fmt, spans_kv)(text) + spans_pem(text)
    pem_lines = {s.line for s in spans if s.kind == "private_key"}
    return [s for s in spans if s.kind == "private_key" or s.line not in pem_lines]


def redact_lines(text: str, spans: list[Span]) -> dict[int, str]:
    """The hit lines only, with every span replaced by <redacted> (right to left, so offsets hold)."""
    lines = text.split("\n")
    by_line: dict[int, list[Span]] = {}
    for s in spans:
        by_line.setdefault(s.line, []).append(s)
    out: dict[int, str] = {}
    for n, ss in by_line.items():
        if not 1 <= n <= len(lines):
            continue
        line = lines[n - 1]
        for s in sorted(ss, key=lambda s: s.start, reverse=True):
            line = line[: s.start] + REDACTED + line[s.end:]
        out[n] = line
    return out


def excerpt_for(text: str, fmt: str = "kv") -> str:
    """What evidence may show of a file: its plaintext-hit lines only, numbered, every value replaced."""
    spans = find_spans(text, fmt)
    hit_lines = {s.line for s in spans if s.plaintext}
    red = redact_lines(text, [s for s in spans if s.line in hit_lines])
    return "\n".join(f"{n}: {line}" for n, line in sorted(red.items()))


def _uncomment(line: str) -> str:
    """Blank out a leading comment marker (same length, so offsets still hold)."""
    m = re.match(r"^(\s*)([#;]+)", line)
    return line if m is None else m.group(1) + " " * len(m.group(2)) + line[m.end():]


def redact_config(text: str, path: str = "") -> str:
    """The whole file with every secret value replaced, commented-out ones too: for any collector that
    must keep a configuration file (e.g. /etc/fstab) as an excerpt. Same span finder as the scan."""
    lines = text.split("\n")
    spans = find_spans("\n".join(_uncomment(ln) for ln in lines), format_of(path) if path else "kv")
    red = redact_lines(text, spans)
    return "\n".join(red.get(n, ln) for n, ln in enumerate(lines, 1))


def fstab_credential_files(text: str) -> list[str]:
    """`credentials=/path` (cifs) and `cred=` options name files holding username/password lines."""
    out: list[str] = []
    for line in text.split("\n"):
        if _is_comment(line):
            continue
        for m in re.finditer(r"(?:(?<=[\s,])|^)(?:credentials|cred)=([^,\s]+)", line):
            if m.group(1).startswith("/"):
                out.append(m.group(1))
    return out


def root_only(mode: int, uid: int, gid: int) -> bool:
    """Only root can read it: owned by root, nothing for others, group bits only for group root."""
    return uid == 0 and not mode & 0o007 and (not mode & 0o070 or gid == 0)


# ---------------------------------------------------------------------------------------------------
# collector


def candidate_paths(p: Probe, extra: list[str]) -> list[str]:
    out: list[str] = []
    for pat in (*DEFAULT_PATHS, *extra):
        if not pat.startswith("/"):
            continue
        out.extend(expand(p, pat) if has_magic(pat) else [pat])
    return list(dict.fromkeys(out))[:MAX_FILES]


def _scan_file(p: Probe, path: str, facts: SecretsFacts, excerpts: list[str]) -> str | None:
    key = f"file:{path}"
    data = p.file(path, fact=key, privileged=True, sensitive=True, keep_raw=False)
    if data is None:
        why = p.unavailable.pop(key, None)
        if why is not None and why.reason is not Reason.ABSENT:
            facts.unreadable[path] = f"{why.reason.value}: {why.detail}"
        return None
    facts.scanned.append(path)
    text = data[:MAX_BYTES].decode("utf-8", "replace")
    if "\x00" in text[:4096]:
        return text  # binary: not a configuration file
    spans = find_spans(text, format_of(path))
    plain = [s for s in spans if s.plaintext]
    facts.hashed_values += len({s.line for s in spans if s.hashed})
    if not plain:
        return text
    st = p.stat(path)
    mode = uid = gid = None
    ro: bool | None = None
    if st is not None and not st.is_symlink:
        mode, uid, gid = st.perms, st.uid, st.gid
        ro = root_only(st.perms, st.uid, st.gid)
    seen: set[tuple[int, str]] = set()
    key_lines = {s.line for s in plain if s.kind == "private_key"}
    for s in plain:
        line = s.line
        if s.kind == "private_key":
            if line - 1 in key_lines:
                continue  # one hit per key block, reported at its BEGIN line
            line = line - 1 if s.start == 0 else line
        if (line, s.key) in seen:
            continue
        seen.add((line, s.key))
        facts.hits.append(SecretHit(path=path, line=line, key=s.key, kind=s.kind, mode=mode, uid=uid, gid=gid, root_only=ro))
    hit_lines = {s.line for s in plain}
    red = redact_lines(text, [s for s in spans if s.line in hit_lines])
    perm = f"mode {mode:04o} uid {uid} gid {gid}" if mode is not None else "permissions unknown"
    excerpts.append(f"{path} ({perm})\n" + "\n".join(f"{n}: {line}" for n, line in sorted(red.items())))
    return text


@collector("linux.secrets", facts=SecretsFacts)
def collect_secrets(p: Probe) -> SecretsFacts:
    """Plaintext passwords, keys and private keys in configuration files (locations only, never values)."""
    facts = SecretsFacts()
    excerpts: list[str] = []
    paths = candidate_paths(p, list(p.settings.secret_scan_paths))
    done: set[str] = set()
    queue = list(paths)
    while queue and len(done) < MAX_FILES:
        path = queue.pop(0)
        if path in done:
            continue
        done.add(path)
        text = _scan_file(p, path, facts, excerpts)
        if path == "/etc/fstab" and text is not None:
            queue.extend(f for f in fstab_credential_files(text) if f not in done)
    p.excerpt("plaintext secrets found (values redacted)", "\n\n".join(excerpts) or "(none)")
    p.excerpt("files scanned", "\n".join(facts.scanned) or "(none)")
    return facts
