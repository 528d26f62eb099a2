"""One transport interface for every way tenken reaches a host.

Local, offline root (`--root DIR`), SSH and WinRM all implement this, so each collector is written once
per OS, not once per transport. A non-zero exit code is data (CommandResult); failing to run at all is a
TransportError subclass, mapped at the edge of each transport (train's rule).
"""

from __future__ import annotations

import stat as stat_mod
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tenken.collectors.evidence import OsFamily


class TransportError(Exception):
    """Base of everything that stops a read or a command from happening."""


class Unreachable(TransportError):
    pass


class AuthFailed(TransportError):
    pass


class HostKeyUnknown(TransportError):
    pass


class HostKeyChanged(TransportError):
    pass


class TimedOut(TransportError):
    pass


class AccessDenied(TransportError):
    pass


class FileMissing(TransportError):
    pass


class NotRegularFile(TransportError):
    """A FIFO, socket or device where a file was expected: never read (it could block or never end)."""


class CommandNotFound(TransportError):
    pass


class Unsupported(TransportError):
    """The transport cannot do this at all (e.g. run a command against an offline image)."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class FileStat:
    path: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: float
    is_dir: bool = field(default=False)
    is_file: bool = field(default=False)
    is_symlink: bool = field(default=False)

    @property
    def perms(self) -> int:
        return stat_mod.S_IMODE(self.mode)



class Transport(ABC):
    """A connection to one target. `target` is the string findings carry (`local`, `root:/mnt/img`, ...)."""

    target: str
    os: OsFamily = OsFamily.LINUX
    #: False for offline roots: collectors then mark command-based facts `offline` instead of running.
    can_run: bool = True
    #: True when the process runs on the target itself, so psutil sees the target's processes and sockets.
    is_local: bool = False
    #: True when collectors may use this transport from several threads at once (local files and processes).
    parallel_safe: bool = False

    @abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        """Run a command. `privileged` asks for root (`sudo -n` where not already root)."""

    @abstractmethod
    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        """Read a file; raises FileMissing/AccessDenied, never returns b"" for a failure."""

    @abstractmethod
    def stat(self, path: str) -> FileStat:
        """lstat-like: raises FileMissing/AccessDenied."""

    @abstractmethod
    def list_dir(self, path: str) -> list[str]:
        """Names in a directory (sorted); raises FileMissing/AccessDenied."""

    def read_chunks(self, path: str, *, max_bytes: int = 8 * 1024 * 1024, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        """A file in pieces (of at most `chunk` bytes where the transport reads it in pieces), for files too
        big to hold whole (a 19 MB apt list); consumers take pieces of any size.

        Opening errors (FileMissing/AccessDenied) are raised by this call, not by the first piece; a read
        error later is a TransportError from the iteration. Remote transports fetch the file whole and hand
        it over as one piece (the default here): a local or offline-root transport reads it piece by piece.
        """
        return iter([self.read_file(path, max_bytes=max_bytes)])

    def read_many(self, paths: Sequence[str], *, privileged: bool = False) -> dict[str, bytes | TransportError]:
        """Read several files; remote transports override this to use one round trip."""
        out: dict[str, bytes | TransportError] = {}
        for p in paths:
            try:
                out[p] = self.read_file(p, privileged=privileged)
            except TransportError as exc:
                out[p] = exc
        return out

    def run_powershell(self, script: str, *, timeout: float = 30.0) -> CommandResult:
        raise Unsupported(f"{self.target}: PowerShell is not available over this transport")

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except TransportError:
            return False
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
