"""The collector's view of a transport: every read is recorded as a Source, every failure as a reason.

Collectors never judge, and they never lose the *why* of a missing fact: a file that could not be read
lands in `Facts.unavailable` with a Reason, so checks can say `error` ("needs root") or `not_applicable`
("not installed") instead of mistaking silence for compliance.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from tenken.collectors.evidence import BadRecord, Reason, Source, SourceKind, Unavailable, sha256_hex
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.base import (
    AccessDenied,
    AuthFailed,
    CommandNotFound,
    CommandResult,
    FileMissing,
    FileStat,
    HostKeyChanged,
    HostKeyUnknown,
    TimedOut,
    Transport,
    TransportError,
    Unreachable,
    Unsupported,
)

# Losing the connection is not a missing fact: it ends the host's scan (one `error` finding for the host).
FATAL = (Unreachable, AuthFailed, HostKeyUnknown, HostKeyChanged)


def reason_of(exc: TransportError, transport: Transport) -> Reason:
    if isinstance(exc, FileMissing | CommandNotFound):
        return Reason.ABSENT
    if isinstance(exc, AccessDenied):
        return Reason.DENIED
    if isinstance(exc, Unsupported):
        return Reason.OFFLINE if not transport.can_run else Reason.UNSUPPORTED
    if isinstance(exc, TimedOut):
        return Reason.TIMEOUT
    return Reason.FAILED


Redactor = Callable[[str], str]


def scrub(text: str, path: str) -> str:
    """Last line of defence for every excerpt: secret-looking values (password=, PSKs, private keys) are
    replaced whatever the collector did, so no collector can forget to redact a file it keeps
    (reports travel to hubs and auditors)."""
    from tenken.collectors.linux.secrets import redact_config
    from tenken.collectors.scrub import scrub_text

    try:
        return scrub_text(_URL_USERINFO.sub(r"\1<redacted>@", redact_config(text, path)))
    except Exception:  # a redactor bug must not leak the text: withhold it instead
        return "[content withheld: could not be redacted]"


# `scheme://user:password@host` (apt proxies, repository URLs, database DSNs): keep the user, drop the password
_URL_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@\"']+:)[^\s@/\"']+@")


class _CpuGate:
    """At most `slots` threads of the process inside collectors' pure CPU work at once; re-entrant per thread.

    A fleet scan runs a hundred hosts on threads under one GIL. When their answers arrive together, every
    thread parses at once (the interpreter switches threads every 5 ms), so a hundred copies of dpkg's status
    and its parse were alive at the same moment: 128 MB of decoded text at the peak of a 150-host simulated
    run. Through the gate a few parse at a time and the rest wait before allocating; with one GIL no
    throughput is lost. Only pure work goes through it (never a transport call, which would hold a slot
    for a network round trip)."""

    def __init__(self, slots: int) -> None:
        self._sem = threading.BoundedSemaphore(slots)
        self._depth = threading.local()

    def run(self, fn: Callable[..., R], *args: object) -> R:
        depth = getattr(self._depth, "n", 0)
        if depth:
            return fn(*args)
        with self._sem:
            self._depth.n = 1
            try:
                return fn(*args)
            finally:
                self._depth.n = 0


CPU_GATE = _CpuGate(2)

D = TypeVar("D", bytes, str)
R = TypeVar("R")


class Probe:
    def __init__(self, transport: Transport, settings: CollectSettings | None = None, *, dry: bool = False) -> None:
        self.t = transport
        self.settings = settings or CollectSettings()
        # a planning pass (agent.scan._prefetch): only the requests matter, its results are thrown away, so
        # excerpts are not scrubbed and kept (scrubbing was a fifth of a remote host's CPU, paid twice)
        self.dry = dry
        self.sources: list[Source] = []
        self.unavailable: dict[str, Unavailable] = {}
        self.malformed: list[BadRecord] = []  # records no parser could read: merged into the facts' `malformed`
        self._raw: list[str] = []

    # -- bookkeeping ---------------------------------------------------------------------------
    def note(self, fact: str, reason: Reason, detail: str) -> None:
        """Record that `fact` could not be established; the first reason recorded wins."""
        self.unavailable.setdefault(fact, Unavailable(reason=reason, detail=detail))

    def excerpt(self, header: str, text: str, *, path: str = "") -> None:
        """Keep a piece of evidence for the auditor; every excerpt, however a collector got it, is scrubbed."""
        if self.dry:
            return
        self._raw.append(f"== {header} ==\n{scrub(text, path).rstrip()}\n")

    def parsed(self, parser: Callable[[D], R], data: D) -> R:
        """`parser(data)` computed once per host scan, whichever collector asks (callers must not mutate the
        result). Pure parsers of the same file run in several collectors: dpkg's 0.7 MB status was parsed
        three times per host, a tenth of a remote scan's CPU. The memo lives on the transport, which lives for
        one host's scan; keyed by the parser and the data's digest, so different content is parsed anew."""
        memo: dict[tuple[str, str, int, bytes], object] = self.t.__dict__.setdefault("_parse_memo", {})
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        # a digest, not the data: a fleet scan holds one memo per concurrent host, and the text is big
        key = (parser.__module__, parser.__qualname__, len(raw), hashlib.blake2b(raw, digest_size=20).digest())
        if key in memo:
            return memo[key]  # type: ignore[return-value]
        result = CPU_GATE.run(parser, data)
        memo[key] = result
        return result

    def compute(self, fn: Callable[..., R], *args: object) -> R:
        """Pure CPU work of a collector (a parse, a computation over fetched data) through the process's CPU
        gate (see _CpuGate); `fn` must not call the transport."""
        return CPU_GATE.run(fn, *args)

    @property
    def raw(self) -> str:
        return "\n".join(self._raw)

    def _fail(self, kind: SourceKind, ref: str, exc: TransportError, fact: str | None) -> None:
        if isinstance(exc, FATAL):
            raise exc
        self.sources.append(Source(kind=kind, ref=ref, error=str(exc)))
        if fact:
            self.note(fact, reason_of(exc, self.t), str(exc))

    # -- reads -------------------------------------------------------------------------------
    def file(
        self,
        path: str,
        *,
        fact: str | None = None,
        privileged: bool = False,
        sensitive: bool = False,
        redact: Redactor | None = None,
        keep_raw: bool = True,
    ) -> bytes | None:
        """Read a file. With `sensitive`, no digest is published and only `redact(text)` is kept."""
        try:
            data = self.t.read_file(path, privileged=privileged)
        except TransportError as exc:
            self._fail(SourceKind.FILE, path, exc, fact)
            return None
        self.sources.append(
            Source(kind=SourceKind.FILE, ref=path, sha256=None if sensitive else sha256_hex(data), sensitive=sensitive)
        )
        if keep_raw and not self.dry:
            text = data.decode("utf-8", "replace")
            if redact is not None:
                text = redact(text)
            elif sensitive:
                text = "[content withheld: holds secrets]"
            self.excerpt(path, text, path=path)
        return data

    def files(self, paths: Sequence[str], **kw: object) -> dict[str, bytes]:
        """Read what exists of several optional files (missing ones are recorded, not errors)."""
        out: dict[str, bytes] = {}
        for p in paths:
            data = self.file(p, **kw)  # type: ignore[arg-type]
            if data is not None:
                out[p] = data
        return out

    def command(
        self,
        argv: Sequence[str],
        *,
        fact: str | None = None,
        timeout: float | None = None,
        privileged: bool = False,
        redact: Redactor | None = None,
        keep_raw: bool = True,
    ) -> CommandResult | None:
        """Run a command; a non-zero exit is returned (it is data), a failure to run is recorded."""
        ref = " ".join(argv)
        if not self.t.can_run:
            self.sources.append(Source(kind=SourceKind.COMMAND, ref=ref, error="offline root: not run"))
            if fact:
                self.note(fact, Reason.OFFLINE, f"`{ref}` cannot run against an offline root")
            return None
        try:
            res = self.t.run(argv, timeout=timeout or self.settings.command_timeout, privileged=privileged)
        except TransportError as exc:
            self._fail(SourceKind.COMMAND, ref, exc, fact)
            return None
        self.sources.append(
            Source(kind=SourceKind.COMMAND, ref=ref, sha256=sha256_hex(res.stdout), exit_code=res.exit_code)
        )
        if keep_raw and not self.dry:
            text = res.stdout.decode("utf-8", "replace")
            if res.stderr:
                text += "\n[stderr]\n" + res.stderr.decode("utf-8", "replace")
            self.excerpt(f"$ {ref} (exit {res.exit_code})", redact(text) if redact else text)
        return res

    def listdir(self, path: str, *, fact: str | None = None) -> list[str] | None:
        try:
            names = self.t.list_dir(path)
        except TransportError as exc:
            self._fail(SourceKind.FILE, path + "/", exc, fact)
            return None
        self.sources.append(Source(kind=SourceKind.FILE, ref=path + "/", sha256=sha256_hex("\n".join(names))))
        return names

    def stat(self, path: str, *, fact: str | None = None) -> FileStat | None:
        try:
            return self.t.stat(path)
        except TransportError as exc:
            self._fail(SourceKind.FILE, path, exc, fact)
            return None

    def api(self, ref: str, text: str) -> None:
        """Record facts obtained through an API (psutil) rather than a file or command."""
        self.sources.append(Source(kind=SourceKind.API, ref=ref, sha256=sha256_hex(text)))
        self.excerpt(ref, text)
