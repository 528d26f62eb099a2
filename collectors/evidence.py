"""Evidence: what was read or run on a target, the (redacted) raw output, its digest and the parsed facts.

A leaf module (pydantic only). Collectors produce it, checks read it, reports and the hub carry it. Raw
excerpts are redacted before they get here: reports travel to hubs and auditors, secrets never do.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.scrub import scrub_text, scrub_value

# Raw excerpts are for a human auditor, not a data dump: bound them so a report stays printable.
MAX_RAW_CHARS = 64_000


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


class OsFamily(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"
    UNKNOWN = "unknown"


class SourceKind(StrEnum):
    FILE = "file"
    COMMAND = "command"
    API = "api"  # psutil, sslyze, WinRM PowerShell object


class Source(BaseModel):
    """One thing a collector read or ran. `sha256` is of the bytes as obtained, unless `sensitive`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: SourceKind
    ref: str  # a path, or the command line
    sha256: str | None = None
    exit_code: int | None = None
    error: str | None = None
    sensitive: bool = False  # the bytes held secrets: no digest of them is published


class Reason(StrEnum):
    """Why a fact could not be collected. Each maps to `error` or `not_applicable`, never to `pass`."""

    ABSENT = "absent"  # file or command not present: often not_applicable
    DENIED = "denied"  # permission: needs root
    OFFLINE = "offline"  # --root scan: commands cannot run against an image
    TIMEOUT = "timeout"
    FAILED = "failed"  # command ran and failed, or output unparseable
    UNREACHABLE = "unreachable"
    UNSUPPORTED = "unsupported"
    NEEDS_CLIENT_CERT = "needs_client_certificate"  # a TLS server (rightly) refuses to go on without one: not_applicable


class Unavailable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reason: Reason
    detail: str


class BadRecord(BaseModel):
    """A record of a line-oriented file that could not be parsed (wrong field count, truncated hash...).

    Damaged input is never silently a pass: a check whose facts carry bad records cannot pass (the check
    runner turns its passes into warnings that name each file and line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    line: int
    reason: str

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class Facts(BaseModel):
    """Base of every collector's typed facts.

    `unavailable` names sub-facts that could not be collected and why, so a check can tell "no MD5
    hashes" from "could not read /etc/shadow". `malformed` lists records that could not be parsed.
    """

    model_config = ConfigDict(extra="forbid")
    unavailable: dict[str, Unavailable] = Field(default_factory=dict)
    malformed: list[BadRecord] = Field(default_factory=list)

    def missing(self, name: str) -> Unavailable | None:
        return self.unavailable.get(name)


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    collector: str
    target: str
    collected_at: datetime
    sources: list[Source] = Field(default_factory=list)
    raw: str = Field(default="", description="Redacted excerpt of what was read; never a secret")
    sha256: str = Field(description="sha256 of `raw` as stored, so an auditor can check the excerpt")
    facts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


def evidence_id(collector: str, target: str) -> str:
    return "e-" + hashlib.sha256(f"{collector}\x00{target}".encode()).hexdigest()[:16]


def _scrub_source(s: Source) -> Source:
    ref, err = scrub_text(s.ref), scrub_text(s.error) if s.error else s.error
    return s if (ref, err) == (s.ref, s.error) else s.model_copy(update={"ref": ref, "error": err})


def build_evidence(
    *,
    collector: str,
    target: str,
    sources: list[Source],
    raw: str,
    facts: Facts | None,
    error: str | None = None,
    collected_at: datetime | None = None,
) -> Evidence:
    """The one door every evidence goes through: raw text, facts, source references and errors are scrubbed
    of password hashes, private keys and well-known tokens here, whichever collector read them (a file read
    for its settings may be a symlink to /etc/shadow or a copy of a key)."""
    raw = scrub_text(raw)
    if len(raw) > MAX_RAW_CHARS:
        raw = raw[:MAX_RAW_CHARS] + f"\n… [truncated, {len(raw) - MAX_RAW_CHARS} more characters]"
    return Evidence(
        id=evidence_id(collector, target),
        collector=collector,
        target=target,
        collected_at=collected_at or utcnow(),
        sources=[_scrub_source(s) for s in sources],
        raw=raw,
        sha256=sha256_hex(raw),
        facts=scrub_value(facts.model_dump(mode="json")) if facts is not None else {},
        error=scrub_text(error) if error else error,
    )


class HostIdentity(BaseModel):
    """Who a host is, independent of the name it was reached by: what lets the hub keep two machines apart
    and keep one machine's history through a rename.

    `host_id` is stable for the life of an installation: `machine-id:<32 hex>` (/etc/machine-id) on Linux,
    `machine-guid:<GUID>` (HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid) on Windows.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    host_id: str = Field(pattern=r"^(machine-id|machine-guid):[0-9A-Za-z-]{8,64}$")
    hostname: str = Field(min_length=1, max_length=253)
    fqdn: str | None = Field(None, max_length=253)
