"""Explicit collector registry and the runner that turns any failure into evidence with an error.

A collector that raises never sinks the host's scan (sslyze's per-command attempts): the runner catches
it and the evidence carries the error, so every check that needs it reports `error`, not `pass`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tenken.collectors.evidence import Evidence, Facts, build_evidence
from tenken.collectors.probe import FATAL, Probe
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.base import OsFamily, Transport

log = logging.getLogger(__name__)

CollectorFunc = Callable[[Probe], Facts]


@dataclass(frozen=True)
class CollectorSpec:
    name: str
    os: OsFamily
    func: CollectorFunc
    facts_type: type[Facts]
    description: str


COLLECTORS: dict[str, CollectorSpec] = {}


def collector(name: str, *, facts: type[Facts], os: OsFamily = OsFamily.LINUX) -> Callable[[CollectorFunc], CollectorFunc]:
    def register(func: CollectorFunc) -> CollectorFunc:
        if name in COLLECTORS:
            raise RuntimeError(f"collector {name} registered twice")
        COLLECTORS[name] = CollectorSpec(name, os, func, facts, (func.__doc__ or "").strip().split("\n")[0])
        return func

    return register


@dataclass
class Collected:
    evidence: Evidence
    facts: Facts | None  # None when the collector itself failed


def run_collector(spec: CollectorSpec, transport: Transport, settings: CollectSettings) -> Collected:
    probe = Probe(transport, settings)
    try:
        facts = spec.func(probe)
    except FATAL:
        raise
    except Exception as exc:  # a parser bug must become an `error` finding, not a crashed scan
        log.exception("collector %s failed on %s", spec.name, transport.target)
        ev = build_evidence(
            collector=spec.name,
            target=transport.target,
            sources=probe.sources,
            raw=probe.raw,
            facts=None,
            error=f"collector failed: {type(exc).__name__}: {exc}",
        )
        return Collected(ev, None)
    merged = dict(probe.unavailable)
    merged.update(facts.unavailable)
    bad = list(dict.fromkeys([*facts.malformed, *probe.malformed]))
    facts = facts.model_copy(update={"unavailable": merged, "malformed": bad})
    ev = build_evidence(collector=spec.name, target=transport.target, sources=probe.sources, raw=probe.raw, facts=facts)
    return Collected(ev, facts)


def collectors_for(os: OsFamily) -> list[CollectorSpec]:
    load_all(os)
    return [c for c in COLLECTORS.values() if c.os == os]


def load_all(os: OsFamily | None = None) -> None:
    """Import the OS packages (all, or one OS's), whose modules register themselves here (explicit imports, no
    plugin magic). A Linux scan does not load the Windows collectors."""
    if os in (None, OsFamily.LINUX):
        import tenken.collectors.linux
    if os in (None, OsFamily.WINDOWS):
        import tenken.collectors.windows  # noqa: F401
