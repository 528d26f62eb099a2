"""rpm's version ordering (rpmvercmp), for kernels of every family and for rpm package versions.

One implementation, checked against rpm itself in the tests (tests/linux/test_rpm_pending.py): the kernel
check and the dnf pending-updates computation must order versions exactly as rpm does.
"""

from __future__ import annotations

_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def vercmp(a: str, b: str) -> int:
    """rpmvercmp(3): -1, 0 or 1. Alternating digit/letter segments, digits newer than letters, `~` oldest.

    Good enough to order kernel release strings of every distribution (6.1.0-18-amd64 < 6.1.0-21-amd64,
    5.14.0-362.el9 < 5.14.0-362.24.1.el9_3); pure and total.
    """
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and a[i] not in _ALNUM and a[i] not in "~^":
            i += 1
        while j < lb and b[j] not in _ALNUM and b[j] not in "~^":
            j += 1
        if (i < la and a[i] == "~") or (j < lb and b[j] == "~"):
            if not (i < la and a[i] == "~"):
                return 1
            if not (j < lb and b[j] == "~"):
                return -1
            i += 1
            j += 1
            continue
        if (i < la and a[i] == "^") or (j < lb and b[j] == "^"):
            if i >= la:
                return -1
            if j >= lb:
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if i >= la or j >= lb:
            break
        isnum = a[i] in _DIGITS
        cls = _DIGITS if isnum else _ALNUM - _DIGITS
        si = i
        while i < la and a[i] in cls:
            i += 1
        sj = j
        while j < lb and b[j] in cls:
            j += 1
        s1, s2 = a[si:i], b[sj:j]
        if not s2:
            return 1 if isnum else -1
        if isnum:
            s1, s2 = s1.lstrip("0"), s2.lstrip("0")
            if len(s1) != len(s2):
                return 1 if len(s1) > len(s2) else -1
        if s1 != s2:
            return 1 if s1 > s2 else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def evr_cmp(a: tuple[int, str, str], b: tuple[int, str, str]) -> int:
    """(epoch, version, release) ordered as rpm does: epoch first, then rpmvercmp of version, then release."""
    if a[0] != b[0]:
        return 1 if a[0] > b[0] else -1
    return vercmp(a[1], b[1]) or vercmp(a[2], b[2])
