"""The machine tenken runs on."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from tenken.collectors.transport.base import (
    AccessDenied,
    CommandNotFound,
    CommandResult,
    FileMissing,
    FileStat,
    NotRegularFile,
    OsFamily,
    TimedOut,
    Transport,
    TransportError,
)

# Commands are read by parsers written for the C locale; a Japanese locale would change their output.
_ENV = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _stat_of(path: str, st: os.stat_result) -> FileStat:
    import stat as s

    return FileStat(
        path=path,
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        size=st.st_size,
        mtime=st.st_mtime,
        is_dir=s.S_ISDIR(st.st_mode),
        is_file=s.S_ISREG(st.st_mode),
        is_symlink=s.S_ISLNK(st.st_mode),
    )


def open_file(path: str, shown: str | None = None) -> BinaryIO:
    """Open a file for reading without ever blocking on it: a FIFO (or socket, device) planted where a
    collector reads, e.g. in a user's home or a hostile image, would hang the scan on open() or read().
    Opened non-blocking, then refused unless it is a regular file; OSErrors (FileNotFoundError...) pass up."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENODEV):  # a UNIX socket, or a device without its driver
            raise NotRegularFile(f"{shown or path}: is a socket or device, not a regular file: not read (collectors read regular files only: check what put it there)") from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if not stat.S_ISREG(mode):
            what = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
                    stat.S_IFBLK: "a block device"}.get(stat.S_IFMT(mode), "not a regular file")
            raise NotRegularFile(f"{shown or path}: is {what}, not a regular file: not read (collectors read regular files only: check what put it there)")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _read_bounded(path: str, max_bytes: int) -> bytes:
    """One read for regular files (no second copy of a big apt list in memory); modest chunks for procfs and
    sysfs files, which report size 0 and refuse one huge read ("Cannot allocate memory")."""
    chunks: list[bytes] = []
    left = max_bytes
    with open_file(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > 0:
            data = fh.read(min(size, max_bytes))
            if len(data) >= max_bytes or len(data) < size:
                return data
            chunks.append(data)
            left -= len(data)
        while left > 0:
            chunk = fh.read(min(65536, left))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    return b"".join(chunks)


def run_subprocess(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> CommandResult:
    """Run with a hard deadline: the whole process group is killed, so a hung child cannot hold the scan."""
    if shutil.which(argv[0], path=_ENV["PATH"]) is None and not os.path.isabs(argv[0]):
        raise CommandNotFound(f"command not found: {argv[0]}")
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env or _ENV,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(f"command not found: {argv[0]}") from exc
    except PermissionError as exc:
        raise AccessDenied(f"cannot execute {argv[0]}: {exc.strerror}") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TimedOut(f"{argv[0]} did not finish within {timeout:g} s") from exc
    return CommandResult(argv=tuple(argv), exit_code=proc.returncode, stdout=out, stderr=err)


def open_chunks(fh: BinaryIO, max_bytes: int, chunk: int, path: str) -> Iterator[bytes]:
    """Pieces of an open file, at most max_bytes in all; the file is closed when the pieces end or are dropped."""
    with fh:
        left = max_bytes
        while left > 0:
            try:
                piece = fh.read(min(chunk, left))
            except OSError as exc:
                raise AccessDenied(f"{path}: read failed: {exc.strerror or exc}") from exc
            if not piece:
                return
            left -= len(piece)
            yield piece


def _open_error(path: str, exc: OSError) -> TransportError:
    """How an open/read failure of a local file reads in evidence."""
    if isinstance(exc, IsADirectoryError):
        return FileMissing(f"{path}: is a directory")
    if isinstance(exc, PermissionError):
        return AccessDenied(f"{path}: permission denied (needs root)")
    return FileMissing(f"{path}: not found")


class LocalTransport(Transport):
    target = "local"
    os = OsFamily.LINUX
    can_run = True
    is_local = True
    parallel_safe = True

    def __init__(self) -> None:
        self._is_root = os.geteuid() == 0

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        if privileged and not self._is_root:
            if shutil.which("sudo") is None:
                # Not "command not found" for the tool itself: that reads as "not installed" (not_applicable)
                raise AccessDenied(f"{argv[0]}: needs root, and sudo is not installed: run tenken as root, or install sudo and allow this user `sudo -n`")
            argv = ["sudo", "-n", "--", *argv]
        return run_subprocess(argv, timeout)

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        try:
            return _read_bounded(path, max_bytes)
        except PermissionError as exc:
            if privileged and not self._is_root and shutil.which("sudo") is not None:
                res = run_subprocess(["sudo", "-n", "--", "cat", "--", path], 10.0)
                if res.ok:
                    return res.stdout[:max_bytes]
            raise _open_error(path, exc) from exc
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise _open_error(path, exc) from exc

    def read_chunks(self, path: str, *, max_bytes: int = 8 * 1024 * 1024, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        try:
            fh = open_file(path)  # closed by open_chunks
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise _open_error(path, exc) from exc
        return open_chunks(fh, max_bytes, chunk, path)

    def stat(self, path: str) -> FileStat:
        try:
            return _stat_of(path, os.lstat(path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileMissing(f"{path}: not found") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{path}: permission denied") from exc

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileMissing(f"{path}: not found") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{path}: permission denied") from exc
