"""Transports: local, offline root, SSH, WinRM — one interface (see base.py)."""

from tenken.collectors.transport.base import (
    AccessDenied,
    AuthFailed,
    CommandNotFound,
    CommandResult,
    FileMissing,
    FileStat,
    HostKeyChanged,
    HostKeyUnknown,
    OsFamily,
    TimedOut,
    Transport,
    TransportError,
    Unreachable,
    Unsupported,
)

__all__ = [
    "AccessDenied",
    "AuthFailed",
    "CommandNotFound",
    "CommandResult",
    "FileMissing",
    "FileStat",
    "HostKeyChanged",
    "HostKeyUnknown",
    "OsFamily",
    "TimedOut",
    "Transport",
    "TransportError",
    "Unreachable",
    "Unsupported",
]
