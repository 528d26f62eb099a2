"""Recording reviewed host keys in a known_hosts file (the write side of `tenken hosts trust`).

Lines are appended (hashed by default, like OpenSSH's HashKnownHosts) under an exclusive lock, so the
file's other lines, comments and markers are kept byte for byte; paramiko's HostKeys.save would rewrite
the whole file and drop what it cannot parse. A replaced key's old lines are removed by line number.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from tenken.collectors.transport.ssh_known_hosts import format_line


def _open_locked(path: Path, mode: str):
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fh = os.fdopen(fd, mode)
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    return fh


def record_host_key(path: str | Path, host: str, port: int, keytype: str, blob: bytes, *, hashed: bool = True,
                    remove_lines: list[int] | None = None) -> None:
    """Append one entry; with `remove_lines` (1-based), drop those lines first (a reviewed key change)."""
    p = Path(path).expanduser()
    line = format_line(host, port, keytype, blob, hashed=hashed)
    with _open_locked(p, "r+") as fh:
        text = fh.read()
        if remove_lines:
            drop = set(remove_lines)
            kept = [ln for i, ln in enumerate(text.splitlines(keepends=True), start=1) if i not in drop]
            text = "".join(kept)
        if text and not text.endswith("\n"):
            text += "\n"
        text += line + "\n"
        fh.seek(0)
        fh.write(text)
        fh.truncate()
        fh.flush()
        with contextlib.suppress(OSError):
            os.fsync(fh.fileno())
