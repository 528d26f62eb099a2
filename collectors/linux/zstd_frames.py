"""Zstandard decompression through the system's libzstd (ctypes), streamed in pieces.

dnf caches repodata compressed as the repository publishes it, and createrepo_c 1.0+ writes zstd by default
(Fedora 39+, and newer RHEL-family repositories); apt may keep .zst lists. The Python standard library has no
zstd decoder before 3.14. libzstd itself is on every machine that has systemd or apt (both link it), so, as
apt_lists does for liblz4, tenken calls it through ctypes rather than adding a compiled dependency.

A hostile file cannot make the decoder reserve more than 2**WINDOW_LOG_MAX bytes of window (zstd's own
default allows 128 MiB); a frame that needs more is refused like a damaged one.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterable, Iterator

from tenken.collectors.linux.syslib import load_library

CHUNK = 256 * 1024
WINDOW_LOG_MAX = 26  # 64 MiB: createrepo_c's and zstd's default levels use at most 8 MiB
_D_WINDOW_LOG_MAX = 100  # ZSTD_d_windowLogMax (zstd.h, stable since libzstd 1.4.0)


class ZstdError(Exception):
    """Damaged, cut or refused zstd data, or no libzstd on this machine."""


class _Buffer(ctypes.Structure):  # ZSTD_inBuffer and ZSTD_outBuffer have the same layout
    _fields_ = [("ptr", ctypes.c_void_p), ("size", ctypes.c_size_t), ("pos", ctypes.c_size_t)]


class _Zstd:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.ZSTD_createDCtx.restype = ctypes.c_void_p
        lib.ZSTD_createDCtx.argtypes = []
        lib.ZSTD_freeDCtx.argtypes = [ctypes.c_void_p]
        lib.ZSTD_freeDCtx.restype = ctypes.c_size_t
        lib.ZSTD_DCtx_setParameter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.ZSTD_DCtx_setParameter.restype = ctypes.c_size_t
        lib.ZSTD_decompressStream.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Buffer), ctypes.POINTER(_Buffer)]
        lib.ZSTD_decompressStream.restype = ctypes.c_size_t
        lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_getErrorName.argtypes = [ctypes.c_size_t]
        lib.ZSTD_getErrorName.restype = ctypes.c_char_p

    def _check(self, code: int) -> int:
        if self.lib.ZSTD_isError(code):
            raise ZstdError(f"zstd: {(self.lib.ZSTD_getErrorName(code) or b'unknown error').decode('ascii', 'replace')}")
        return code

    def chunks(self, data: bytes | Iterable[bytes]) -> Iterator[bytes]:
        """Decompressed pieces (≤ CHUNK bytes) of one or more concatenated frames, fed whole or piece by piece;
        ZstdError when damaged, cut or over the window limit."""
        ctx = self.lib.ZSTD_createDCtx()
        if not ctx:
            raise ZstdError("zstd: out of memory")
        try:
            self._check(self.lib.ZSTD_DCtx_setParameter(ctx, _D_WINDOW_LOG_MAX, WINDOW_LOG_MAX))
            out = ctypes.create_string_buffer(CHUNK)
            hint = 1  # of the last call: 0 when a frame has just been completely decoded and flushed
            for buf in [data] if isinstance(data, bytes) else data:
                src = ctypes.c_char_p(buf)  # keeps `buf` alive and gives its address; libzstd only reads it
                inb = _Buffer(ctypes.cast(src, ctypes.c_void_p).value, len(buf), 0)
                while True:
                    outb = _Buffer(ctypes.cast(out, ctypes.c_void_p).value, CHUNK, 0)
                    hint = self._check(self.lib.ZSTD_decompressStream(ctx, ctypes.byref(outb), ctypes.byref(inb)))
                    if outb.pos:
                        yield ctypes.string_at(out, outb.pos)
                    if inb.pos == inb.size and (outb.pos < CHUNK or hint == 0):
                        break  # this piece is consumed and nothing is held back (a full buffer may hide more)
            if hint:
                raise ZstdError("zstd: truncated frame")
        finally:
            self.lib.ZSTD_freeDCtx(ctx)


@functools.cache
def _zstd() -> _Zstd | None:
    return load_library("zstd", "libzstd.so.1", _Zstd)


def zstd_available() -> bool:
    return _zstd() is not None


def zstd_chunks(data: bytes | Iterable[bytes]) -> Iterator[bytes]:
    z = _zstd()
    if z is None:
        raise ZstdError("no zstd decoder: libzstd is not installed on the scanning machine (install libzstd1 there)")
    return z.chunks(data)
