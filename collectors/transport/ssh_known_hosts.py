"""OpenSSH known_hosts: parse, match and verify, strictly (no trust on first use, ever).

paramiko's own HostKeys stops at the first line it cannot decode (an `@cert-authority` line, for one) and
knows no wildcard patterns, so this reads the file the way OpenSSH does: comments, `@revoked` and
`@cert-authority` markers, comma-separated patterns with `*`/`?` and `!negation`, hashed `|1|salt|hash`
names, and `[host]:port` for ports other than 22. Keys are compared by their wire blob, so an RSA key
negotiated as rsa-sha2-512 still matches its `ssh-rsa` line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from tenken.collectors.transport.base import HostKeyChanged, HostKeyUnknown


@dataclass(frozen=True)
class KnownHostLine:
    lineno: int
    marker: str | None  # None, "revoked" or "cert-authority"
    patterns: tuple[str, ...]
    keytype: str
    blob: bytes


def host_token(host: str, port: int) -> str:
    """The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise (lower-cased)."""
    host = host.lower().strip("[]")
    return host if port == 22 else f"[{host}]:{port}"


def parse_known_hosts(text: str) -> list[KnownHostLine]:
    """Pure and total: lines that do not parse are skipped (as OpenSSH does)."""
    out: list[KnownHostLine] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker = fields[0][1:]
            fields = fields[1:]
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        out.append(KnownHostLine(n, marker, tuple(fields[0].split(",")), fields[1], blob))
    return out


def _glob(pattern: str, name: str) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(rx, name) is not None


def _hashed_match(entry: str, token: str) -> bool:
    parts = entry.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2])
        want = base64.b64decode(parts[3])
    except (binascii.Error, ValueError):
        return False
    got = hmac.new(salt, token.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(got, want)


def patterns_match(patterns: tuple[str, ...], token: str) -> bool:
    """OpenSSH semantics: any positive match, and no negated (`!pattern`) match."""
    hit = False
    for p in patterns:
        if p.startswith("|"):
            hit = hit or _hashed_match(p, token)
        elif p.startswith("!"):
            if _glob(p[1:], token):
                return False
        elif _glob(p, token):
            hit = True
    return hit


def fingerprint(blob: bytes) -> str:
    """`SHA256:...` exactly as `ssh-keygen -lf` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def hashed_name(token: str) -> str:
    import os

    salt = os.urandom(20)
    digest = hmac.new(salt, token.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def format_line(host: str, port: int, keytype: str, blob: bytes, *, hashed: bool = True) -> str:
    token = host_token(host, port)
    return f"{hashed_name(token) if hashed else token} {keytype} {base64.b64encode(blob).decode()}"


class KnownHosts:
    """One known_hosts file, read once per connection."""

    def __init__(self, path: str | Path, lines: list[KnownHostLine]) -> None:
        self.path = str(path)
        self.lines = lines

    @classmethod
    def load(cls, path: str | Path) -> KnownHosts:
        p = Path(path).expanduser()
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        return cls(p, parse_known_hosts(text))

    def entries_for(self, host: str, port: int) -> list[KnownHostLine]:
        token = host_token(host, port)
        return [ln for ln in self.lines if ln.marker is None and patterns_match(ln.patterns, token)]

    def known_types(self, host: str, port: int) -> list[str]:
        return list(dict.fromkeys(ln.keytype for ln in self.entries_for(host, port)))

    def verify(self, host: str, port: int, keytype: str, blob: bytes) -> KnownHostLine:
        """Return the matching line, or raise HostKeyUnknown / HostKeyChanged with what to do next."""
        token = host_token(host, port)
        where = f"{host}:{port}"
        shown = f"{keytype} {fingerprint(blob)}"
        for ln in self.lines:
            if ln.marker == "revoked" and ln.blob == blob and patterns_match(ln.patterns, token):
                raise HostKeyChanged(f"host key for {where} ({shown}) is marked @revoked in {self.path}:{ln.lineno}")
        entries = self.entries_for(host, port)
        for ln in entries:
            if ln.blob == blob:
                return ln
        if entries:
            known = ", ".join(f"{ln.keytype} {fingerprint(ln.blob)} at {self.path}:{ln.lineno}" for ln in entries)
            raise HostKeyChanged(
                f"host key for {where} has CHANGED: it now presents {shown}, but {known}. "
                "This may be a man-in-the-middle attack. If the host was reinstalled, confirm the new fingerprint "
                f"out of band, remove the old line and run `tenken hosts trust {where}`"
            )
        raise HostKeyUnknown(
            f"unknown host key for {where} ({shown}); run `tenken hosts trust {where}` to review and record it"
            f" (known_hosts: {self.path})"
        )
