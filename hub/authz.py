"""Which targets an agent may report on: the hub's rule, in one place and without I/O.

An enrolled agent proves who signed a report; this module decides whether what it says is about a target it
may speak for:

- a local scan (`kind: local`) is about the machine the agent runs on, so it must carry that machine's
  identity, and the identity must be the one the agent was enrolled with (from its CSR);
- every other target (SSH/WinRM hosts, TLS endpoints, offline roots) needs an operator's grant:
  `tenken-hub agent authorize AG-ID --targets PATTERN...` (or `agent enroll --targets`). Patterns are
  shell-style (`ehr-*`, `*.hospital.local:443`) and match the target name or, when the scan read one, the
  host id;
- every finding and every evidence item must be about a target the report declares (or the organisation-wide
  `site` items), so a permitted target cannot carry findings for another.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from tenken.agent.report import Report, TargetInfo, TargetKind
from tenken.checks.catalogue import SITE_TARGET


class NotAuthorised(Exception):
    """403: the agent may not report on this target. The message says why and what an operator can do."""


class Inconsistent(Exception):
    """422: the report contradicts itself (findings about undeclared targets, a target listed twice)."""


@dataclass(frozen=True)
class AgentGrant:
    agent_id: str
    host_id: str | None  # the machine it was enrolled on
    patterns: tuple[str, ...]  # remote targets an operator allowed


def pattern_matches(pattern: str, target: TargetInfo) -> bool:
    """Case-insensitive shell match on the name, or on the stable host id when the scan read one."""
    names = [target.target.lower()]
    if target.identity is not None:
        names.append(target.identity.host_id.lower())
    pat = pattern.lower()
    return any(fnmatch.fnmatchcase(n, pat) for n in names)


def declared_targets(report: Report) -> set[str]:
    """The names findings and evidence may speak about: the report's targets and the site-wide items."""
    return {t.target for t in report.targets} | {SITE_TARGET}


def check_consistency(report: Report) -> None:
    """Targets listed once; evidence (and any findings the model holds) only about declared targets.

    The hub validates findings chunk by chunk (tenken.hub.report_stream) and checks each chunk with
    `check_findings_declared`."""
    declared = [t.target for t in report.targets]
    dup = sorted({n for n in declared if declared.count(n) > 1})
    if dup:
        raise Inconsistent(f"target {dup[0]!r} is listed more than once in the report")
    known = declared_targets(report)
    stray = sorted({e.target for e in report.evidence} - known)
    if stray:
        raise Inconsistent(f"evidence names target {stray[0]!r}, which the report does not declare in `targets`")
    check_findings_declared((f.target for f in report.findings), known)


def check_findings_declared(finding_targets: Iterable[str], known: set[str]) -> None:
    stray = sorted(set(finding_targets) - known)
    if stray:
        raise Inconsistent(f"findings name target {stray[0]!r}, which the report does not declare in `targets`")


def authorise_targets(report: Report, grant: AgentGrant) -> None:
    """Raise NotAuthorised for the first target the agent may not report on."""
    for t in report.targets:
        authorise_target(t, grant)


def authorise_target(t: TargetInfo, grant: AgentGrant) -> None:
    if t.kind is TargetKind.LOCAL:
        if t.identity is None:
            raise NotAuthorised(
                f"local-scan target {t.target!r} carries no host identity; upgrade the agent (reports of local scans "
                "must name the machine by its machine-id / MachineGuid)"
            )
        if grant.host_id is None:
            raise NotAuthorised(
                f"agent {grant.agent_id} was enrolled without a host identity, so it may not send local scans; "
                "re-create its keys with `tenken agent init` on that machine and enroll them"
            )
        if t.identity.host_id != grant.host_id:
            raise NotAuthorised(
                f"agent {grant.agent_id} is enrolled for host {grant.host_id}, but this local scan is of host "
                f"{t.identity.host_id} ({t.target}): an agent may only report local scans of its own machine"
            )
        return
    if any(pattern_matches(p, t) for p in grant.patterns):
        return
    raise NotAuthorised(
        f"agent {grant.agent_id} is not authorised to report on {t.kind.value} target {t.target!r}; an operator can allow "
        f"it with `tenken-hub agent authorize {grant.agent_id} --targets PATTERN`"
    )


def validate_patterns(patterns: Iterable[str]) -> list[str]:
    """Patterns as stored: stripped, non-empty, bounded; ValueError naming the bad one."""
    out = []
    for p in patterns:
        q = p.strip()
        if not q or len(q) > 500 or any(ord(c) < 32 for c in q):
            raise ValueError(f"target pattern {p!r} must be 1..500 printable characters")
        out.append(q)
    return out
