"""Glob expansion through a Probe, so `Include /etc/ssh/sshd_config.d/*.conf` and secret-scan patterns work
the same on a local host, an offline `--root` image and a remote transport (no shell globbing anywhere).

Only `*`, `?` and `[...]` inside one path component, plus `**` for "any depth" (bounded), like glob(3)
and sshd: results are sorted, names starting with "." only match a pattern that starts with ".".
"""

from __future__ import annotations

import fnmatch
import posixpath

from tenken.collectors.probe import FATAL, Probe
from tenken.collectors.transport.base import TransportError

_MAGIC = ("*", "?", "[")
MAX_MATCHES = 500
MAX_DEPTH = 6


def has_magic(s: str) -> bool:
    return any(c in s for c in _MAGIC)


def expand(p: Probe, pattern: str, *, limit: int = MAX_MATCHES) -> list[str]:
    """Absolute paths matching `pattern` (which must be absolute). A plain path is returned as is."""
    pattern = posixpath.normpath(pattern)
    if not pattern.startswith("/"):
        return []
    if not has_magic(pattern):
        return [pattern]
    parts = [x for x in pattern.split("/") if x]
    out: list[str] = []
    _walk(p, "/", parts, out, limit, 0)
    return sorted(set(out))


def _walk(p: Probe, base: str, parts: list[str], out: list[str], limit: int, depth: int) -> None:
    if len(out) >= limit or depth > 64:
        return
    if not parts:
        out.append(base)
        return
    head, rest = parts[0], parts[1:]
    if not has_magic(head):
        _walk(p, posixpath.join(base, head), rest, out, limit, depth + 1)
        return
    names = _listdir(p, base)
    if head == "**":
        # zero directories deep, then one more level each time (bounded by MAX_DEPTH)
        _walk(p, base, rest, out, limit, depth + 1)
        if depth < MAX_DEPTH:
            for name in names:
                if name.startswith("."):
                    continue
                child = posixpath.join(base, name)
                st = p.stat(child)
                if st is not None and st.is_dir:
                    _walk(p, child, parts, out, limit, depth + 1)
        return
    for name in names:
        if name.startswith(".") and not head.startswith("."):
            continue
        if fnmatch.fnmatchcase(name, head):
            _walk(p, posixpath.join(base, name), rest, out, limit, depth + 1)


def _listdir(p: Probe, path: str) -> list[str]:
    """List quietly: a directory that is not there is simply no match, not a missing fact."""
    try:
        return p.t.list_dir(path)
    except FATAL:
        raise
    except TransportError:
        return []
