"""An offline root filesystem (mounted disk image, container rootfs, golden image) under `--root DIR`.

Files are read from under DIR with symlinks resolved *inside* DIR (an absolute link in the image points
into the image, never at the scanning host). Commands cannot run against an image: `run` raises
Unsupported and collectors mark those facts `offline`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Sequence
from pathlib import Path

from tenken.collectors.transport.base import (
    AccessDenied,
    CommandResult,
    FileMissing,
    FileStat,
    OsFamily,
    Transport,
    Unsupported,
)
from tenken.collectors.transport.local import _stat_of, open_chunks, open_file

_MAX_LINKS = 40


class RootTransport(Transport):
    os = OsFamily.LINUX
    can_run = False
    is_local = False
    parallel_safe = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileMissing(f"--root {root}: not a directory")
        self.target = f"root:{self.root}"

    def _resolve(self, path: str, *, follow_last: bool = True) -> str:
        """Map an in-image absolute path to a host path, following links within the image."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, name)
            if os.path.islink(candidate) and (parts or follow_last):
                hops += 1
                if hops > _MAX_LINKS:
                    raise FileMissing(f"{path}: too many levels of symbolic links")
                link = os.readlink(candidate)
                if link.startswith("/"):
                    resolved = []
                parts = [p for p in link.split("/") if p and p != "."] + parts
                continue
            resolved.append(name)
        return os.path.join(self.root, *resolved)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        raise Unsupported(f"{self.target}: commands cannot run against an offline root ({argv[0]})")

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        real = self._resolve(path)
        try:
            with open_file(real, f"{path} under {self.root}") as fh:
                return fh.read(max_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise FileMissing(f"{path}: not found under {self.root}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{path}: permission denied under {self.root}") from exc

    def read_chunks(self, path: str, *, max_bytes: int = 8 * 1024 * 1024, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        real = self._resolve(path)
        try:
            fh = open_file(real, f"{path} under {self.root}")  # closed by open_chunks
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise FileMissing(f"{path}: not found under {self.root}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{path}: permission denied under {self.root}") from exc
        return open_chunks(fh, max_bytes, chunk, path)

    def stat(self, path: str) -> FileStat:
        real = self._resolve(path, follow_last=False)
        try:
            return _stat_of(path, os.lstat(real))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileMissing(f"{path}: not found under {self.root}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{path}: permission denied under {self.root}") from exc

    def list_dir(self, path: str) -> list[str]:
        real = self._resolve(path)
        try:
            return sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise FileMissing(f"{path}: not found under {self.root}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{path}: permission denied under {self.root}") from exc
