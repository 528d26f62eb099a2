"""A system C library through ctypes, or None: the decoders of lz4 (apt lists) and zstd (apt lists, dnf
repodata) the Python standard library lacks, taken from the scanning machine's own libraries."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def load_library(name: str, soname: str, bind: Callable[[ctypes.CDLL], T]) -> T | None:
    """`bind(library)` for the first of ctypes' own find and `soname` that loads and has the symbols `bind`
    declares (a missing symbol is an AttributeError: an old build, tried no further)."""
    for candidate in (ctypes.util.find_library(name), soname):
        if not candidate:
            continue
        try:
            return bind(ctypes.CDLL(candidate))
        except (OSError, AttributeError):
            continue
    return None
