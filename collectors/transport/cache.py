"""A per-scan read cache in front of a transport: each file is read once per scan, whoever asks for it.

Several collectors read the same files (dpkg status, os-release, fstab, mountinfo): without the cache a
local scan reads /var/lib/dpkg/status (~700 KB) three times. The cache lives as long as the scan's
transport, holds at most MAX_TOTAL bytes (files beyond that are read through, uncached) and also
remembers a missing file. A denied read is never cached, so a later privileged read still happens. Commands, stat and list_dir are passed through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from tenken.collectors.transport.base import CommandResult, FileMissing, FileStat, Transport

MAX_TOTAL = 32 * 1024 * 1024


class CachingTransport(Transport):
    def __init__(self, inner: Transport, *, max_total: int = MAX_TOTAL) -> None:
        self.inner = inner
        self.max_total = max_total
        self._data: dict[str, tuple[int, bytes | FileMissing]] = {}
        self._size = 0
        self._lock = threading.Lock()
        self._path_locks: dict[str, threading.Lock] = {}
        self.os, self.can_run, self.is_local, self.parallel_safe = inner.os, inner.can_run, inner.is_local, inner.parallel_safe

    @property  # type: ignore[override]
    def target(self) -> str:
        return self.inner.target

    @target.setter
    def target(self, value: str) -> None:
        self.inner.target = value

    def __getattr__(self, name: str) -> object:  # e.g. a transport's `planning` hook
        return getattr(self.inner, name)

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        key = path  # bytes read with or without privilege are the same bytes; a denial is never cached
        with self._lock:
            plock = self._path_locks.setdefault(key, threading.Lock())
        with plock:  # two collectors asking at once still cause one read
            got = self._data.get(key)
            if got is not None:
                limit, value = got
                if isinstance(value, FileMissing):
                    raise value
                if max_bytes <= limit or len(value) < limit:  # the cached read holds what is asked
                    return value[:max_bytes]
            try:
                data = self.inner.read_file(path, privileged=privileged, max_bytes=max_bytes)
            except FileMissing as exc:
                self._data[key] = (max_bytes, exc)
                raise
            with self._lock:
                if self._size + len(data) <= self.max_total:
                    old = self._data.get(key)
                    if old is not None and isinstance(old[1], bytes):
                        self._size -= len(old[1])
                    self._data[key] = (max_bytes, data)
                    self._size += len(data)
            return data

    def read_chunks(self, path: str, *, max_bytes: int = 8 * 1024 * 1024, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        """Read through, never cached: a file read in pieces is one too big to keep (an apt list)."""
        got = self._data.get(path)
        if got is not None and isinstance(got[1], bytes) and (max_bytes <= got[0] or len(got[1]) < got[0]):
            return iter([got[1][:max_bytes]])
        return self.inner.read_chunks(path, max_bytes=max_bytes, chunk=chunk)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        return self.inner.run(argv, timeout=timeout, privileged=privileged)

    def run_powershell(self, script: str, *, timeout: float = 30.0) -> CommandResult:
        return self.inner.run_powershell(script, timeout=timeout)

    def stat(self, path: str) -> FileStat:
        return self.inner.stat(path)

    def list_dir(self, path: str) -> list[str]:
        return self.inner.list_dir(path)

    def close(self) -> None:
        self._data.clear()
        self.inner.close()
