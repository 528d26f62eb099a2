"""The agent's outbox: every signed report is on disk, complete, before anyone tries to send it.

Layout of the spool directory:

    <dir>/00000001764000000000000000-<report id>.dsse.json   complete entries, oldest first by name
    <dir>/.tmp-<pid>-<random>.part                          being written (ignored by the sender)
    <dir>/rejected/<entry>                                  refused by the hub (4xx), kept for a person
    <dir>/rejected/<entry>.reason.json                      why: HTTP status, the hub's detail, when

Writes are atomic: temp file in the same directory, write, fsync the file, rename, fsync the directory. A
crash at any point leaves either no entry or a complete one; a leftover temp file is incomplete by
definition and is deleted by `clean_temp()` (never sent).

Limits (`max_reports`, `max_bytes`) are alarm thresholds, not deletion rules. An audit trail that silently
drops reports is worse than a full disk alarm, so when the spool is over its limits new reports are STILL
written, every write logs an ERROR, and `tenken agent status` exits non-zero until the hub catches up or a
person acts. The one hard stop is `min_free_bytes`: below that much free space on the file system the agent
refuses to write (SpoolFull, logged as ERROR, the job counts as failed) rather than fill the disk the
hospital's own systems need. Nothing already spooled is ever deleted except after the hub acknowledged it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

SUFFIX = ".dsse.json"
TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".part"
REJECTED = "rejected"
REASON_SUFFIX = ".reason.json"
#: A temp file older than this cannot belong to a live write (they take milliseconds).
STALE_TEMP_SECONDS = 3600.0

_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")

#: Test seam: called with the temp path after half of the data has been written (and flushed, not synced).
#: Lets a test SIGKILL a real agent process in the middle of a spool write. None in production.
after_partial_write: Callable[[Path], None] | None = None


class SpoolError(Exception):
    """The spool cannot take a report (directory unusable, disk nearly full)."""


class SpoolFull(SpoolError):
    pass


def fsync_dir(path: Path) -> None:
    """Make a rename durable. Directories cannot be opened on Windows; NTFS journals the rename."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(directory: Path, name: str, data: bytes, *, mode: int = 0o600) -> Path:
    """Write `directory/name` so that it either does not exist or is complete, even across a power cut."""
    tmp = directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            half = len(data) // 2
            fh.write(data[:half])
            if after_partial_write is not None:
                fh.flush()
                after_partial_write(tmp)
            fh.write(data[half:])
            fh.flush()
            os.fsync(fh.fileno())
        final = directory / name
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)
    return final


@dataclass(frozen=True)
class Rejected:
    name: str
    status: int | None
    reason: str
    rejected_at: str


@dataclass
class SpoolStatus:
    directory: str
    pending: int
    bytes: int
    max_reports: int
    max_bytes: int
    oldest: str | None
    oldest_age_seconds: float | None
    temp_files: int
    rejected: list[Rejected] = field(default_factory=list)
    free_bytes: int | None = None

    @property
    def full(self) -> bool:
        return self.pending >= self.max_reports or self.bytes >= self.max_bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "pending": self.pending,
            "bytes": self.bytes,
            "max_reports": self.max_reports,
            "max_bytes": self.max_bytes,
            "full": self.full,
            "oldest": self.oldest,
            "oldest_age_seconds": self.oldest_age_seconds,
            "temp_files": self.temp_files,
            "free_bytes": self.free_bytes,
            "rejected": [r.__dict__ for r in self.rejected],
        }


class Spool:
    def __init__(self, directory: Path | str, *, max_reports: int = 1000, max_bytes: int = 512 * 2**20, min_free_bytes: int = 64 * 2**20) -> None:
        self.dir = Path(directory)
        self.rejected_dir = self.dir / REJECTED
        self.max_reports = max_reports
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self._lock = threading.Lock()
        self._last = 0

    # -- setup -----------------------------------------------------------------------------------------
    def ensure(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.rejected_dir.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SpoolError(f"spool directory {self.dir}: {exc.strerror or exc}") from exc

    # -- writing ---------------------------------------------------------------------------------------
    def _next_stamp(self) -> int:
        """Strictly increasing within this process so names sort in the order reports were made."""
        with self._lock:
            now = max(time.time_ns(), self._last + 1)
            self._last = now
            return now

    def put(self, report_id: str, data: bytes) -> Path:
        """Persist one signed report atomically. Raises SpoolFull only below the free-space floor."""
        self.ensure()
        free = shutil.disk_usage(self.dir).free
        if free - len(data) < self.min_free_bytes:
            msg = (f"spool {self.dir}: only {free} bytes free on the file system (floor {self.min_free_bytes}); "
                   f"report {report_id} NOT written — free disk space or lower spool.min_free_bytes")
            log.error(msg)
            raise SpoolFull(msg)
        name = f"{self._next_stamp():020d}-{_SAFE_ID.sub('_', report_id)}{SUFFIX}"
        try:
            path = atomic_write(self.dir, name, data)
        except OSError as exc:
            raise SpoolError(f"spool {self.dir}: cannot write report {report_id}: {exc.strerror or exc}") from exc
        count, size = self.usage()
        if count >= self.max_reports or size >= self.max_bytes:
            log.error(
                "spool %s is full (%d reports / %d bytes; limits %d / %d): the hub has not acknowledged "
                "reports for a while. New reports are still kept; nothing is deleted. Check `tenken agent status`.",
                self.dir, count, size, self.max_reports, self.max_bytes,
            )
        return path

    # -- reading ---------------------------------------------------------------------------------------
    def entries(self) -> list[Path]:
        """Complete entries, oldest first. Temp files and rejected/ are never listed."""
        try:
            names = [e.name for e in os.scandir(self.dir) if e.is_file() and e.name.endswith(SUFFIX) and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        return [self.dir / n for n in sorted(names)]

    def usage(self) -> tuple[int, int]:
        count = size = 0
        for p in self.entries():
            with contextlib.suppress(FileNotFoundError):
                size += p.stat().st_size
                count += 1
        return count, size

    def temp_files(self) -> list[Path]:
        try:
            return [self.dir / e.name for e in os.scandir(self.dir) if e.name.startswith(TEMP_PREFIX) and e.name.endswith(TEMP_SUFFIX)]
        except FileNotFoundError:
            return []

    # -- outcomes --------------------------------------------------------------------------------------
    def ack(self, entry: Path) -> None:
        """The hub has the report: now, and only now, it may leave the spool."""
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            fsync_dir(self.dir)

    def reject(self, entry: Path, status: int | None, reason: str) -> Path:
        """Move a refused entry to rejected/ with its reason beside it (reason first: never one without the other)."""
        self.ensure()
        info = {"entry": entry.name, "status": status, "reason": reason, "rejected_at": datetime.now(UTC).isoformat()}
        atomic_write(self.rejected_dir, entry.name + REASON_SUFFIX, json.dumps(info, ensure_ascii=False, indent=2).encode() + b"\n")
        dest = self.rejected_dir / entry.name
        try:
            os.replace(entry, dest)
        except FileNotFoundError:  # another agent process handled it meanwhile
            return dest
        fsync_dir(self.rejected_dir)
        fsync_dir(self.dir)
        log.error("report %s rejected by the hub (%s): %s — kept in %s", entry.name, status if status is not None else "local", reason, dest)
        return dest

    def rejected(self) -> list[Rejected]:
        out = []
        if not self.rejected_dir.is_dir():
            return out
        for p in sorted(self.rejected_dir.glob("*" + SUFFIX)):
            reason_file = p.with_name(p.name + REASON_SUFFIX)
            try:
                info = json.loads(reason_file.read_text(encoding="utf-8"))
                out.append(Rejected(p.name, info.get("status"), str(info.get("reason", "")), str(info.get("rejected_at", ""))))
            except (OSError, ValueError):
                out.append(Rejected(p.name, None, "(reason file missing or unreadable)", ""))
        return out

    # -- housekeeping ----------------------------------------------------------------------------------
    def clean_temp(self) -> int:
        """Delete temp files left by a crashed writer (dead pid, or too old to be a live write)."""
        removed = 0
        now = time.time()
        for p in self.temp_files():
            m = re.match(re.escape(TEMP_PREFIX) + r"(\d+)-", p.name)
            pid = int(m.group(1)) if m else -1
            try:
                age = now - p.stat().st_mtime
            except FileNotFoundError:
                continue
            alive = pid > 0 and pid != os.getpid() and psutil.pid_exists(pid)
            if alive and age < STALE_TEMP_SECONDS:
                continue
            if pid == os.getpid() and age < STALE_TEMP_SECONDS:
                continue  # possibly one of our own writes in another thread
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
                log.warning("removed incomplete spool file %s left by an interrupted write", p.name)
        return removed

    STATE_FILE = "delivery-state.json"

    def write_state(self, state: dict[str, object]) -> None:
        """Record the last delivery attempt (atomically; never a spool entry: it lacks the entry suffix)."""
        try:
            atomic_write(self.dir, self.STATE_FILE, json.dumps(state, ensure_ascii=False).encode())
        except OSError as exc:
            log.warning("could not record the delivery state in %s: %s", self.dir, exc)

    def read_state(self) -> dict[str, object] | None:
        try:
            data = json.loads((self.dir / self.STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def status(self) -> SpoolStatus:
        entries = self.entries()
        count, size = self.usage()
        oldest = entries[0].name if entries else None
        age = None
        if oldest:
            with contextlib.suppress(ValueError):
                age = max(0.0, time.time() - int(oldest.split("-", 1)[0]) / 1e9)
        free = None
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(self.dir).free
        return SpoolStatus(
            directory=str(self.dir),
            pending=count,
            bytes=size,
            max_reports=self.max_reports,
            max_bytes=self.max_bytes,
            oldest=oldest,
            oldest_age_seconds=age,
            temp_files=len(self.temp_files()),
            rejected=self.rejected(),
            free_bytes=free,
        )
