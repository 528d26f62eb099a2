"""Scan orchestration: transport -> collectors -> evidence -> checks -> findings -> report.

The only place the layers meet. A lost connection (unreachable, auth, host key) ends that host's scan
with one `error` finding; anything else a collector or a check trips on is kept inside its own evidence or
finding, and the rest of the scan goes on.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from tenken.agent.report import HostIdentity, Report, TargetInfo, TargetKind, TargetState
from tenken.checks.catalogue import Catalogue, clause_sort_key, coverage_findings, load_catalogue
from tenken.checks.finding import Finding, Severity, Status, Text, finding_id
from tenken.checks.policy import Policy
from tenken.checks.registry import run_checks
from tenken.checks.waivers import Waiver, apply_waivers
from tenken.collectors.evidence import Evidence, Facts, utcnow
from tenken.collectors.identity import read_identity
from tenken.collectors.probe import FATAL, Probe
from tenken.collectors.registry import Collected, CollectorSpec, collectors_for, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.base import Transport, TransportError

log = logging.getLogger(__name__)

#: Clauses a host-level connection error speaks for: the host could not be audited at all.
HOST_ERROR_CLAUSES = ["SO-8-3", "SO-14-6"]


@dataclass
class TargetResult:
    info: TargetInfo
    findings: list[Finding] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    facts: dict[str, Facts | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.info.state is TargetState.SCANNED


def target_error(
    target: str, kind: TargetKind, message: str, *, clauses: list[str] | None = None, check_id: str = "target.reachable",
    identity: HostIdentity | None = None,
) -> TargetResult:
    """One `error` finding for a target that could not be scanned, with the reason in both languages."""
    now = utcnow()
    f = Finding(
        id=finding_id(check_id, target),
        check_id=check_id,
        target=target,
        status=Status.ERROR,
        clauses=clauses or HOST_ERROR_CLAUSES,
        severity=Severity.HIGH,
        title=Text(ja="対象をスキャンできませんでした", en="Target could not be scanned"),
        detail=Text(ja=f"スキャン不完全: {message}", en=f"Scan incomplete: {message}"),
        remediation=Text(
            ja="接続先・認証情報・ホスト鍵・ネットワーク経路を確認して再実行してください。",
            en="Check the address, credentials, host key and network path, then re-run.",
        ),
    )
    info = TargetInfo(target=target, kind=kind, identity=identity, state=TargetState.ERROR, error=message, started_at=now, finished_at=now)
    return TargetResult(info=info, findings=[f])


#: Collectors mostly wait on commands and files; a few threads hide that latency on a local host.
COLLECTOR_THREADS = 4


def _collect_all(specs: list[CollectorSpec], transport: Transport, settings: CollectSettings) -> list[Collected]:
    """Run collectors, concurrently where the transport allows it; results keep the collectors' order."""
    if not transport.parallel_safe or len(specs) < 2:
        return [run_collector(s, transport, settings) for s in specs]
    with ThreadPoolExecutor(max_workers=COLLECTOR_THREADS, thread_name_prefix="collect") as pool:
        futures = [pool.submit(run_collector, s, transport, settings) for s in specs]
        return [f.result() for f in futures]  # re-raises a lost connection from the first collector that saw it


def _prefetch(transport: Transport, specs: list[CollectorSpec], settings: CollectSettings) -> None:
    """Let a transport that can fetch a whole scan at once (WinRM's batch) learn what the scan will ask.

    A dry pass of identity and the collectors against the transport in planning mode: every request is
    recorded and refused, nothing is sent and the results are thrown away; then the transport runs the
    recorded requests in one round trip. What the dry pass cannot foresee (a request that depends on an
    answer) is simply asked on demand in the real pass.
    """
    planning = getattr(transport, "planning", None)
    if planning is None:
        return
    # SSH runs a second dry pass: it learns what depends on the first batch's answers (Include targets...)
    for _ in range(getattr(transport, "planning_rounds", 1)):
        with planning():
            read_identity(transport)
            for spec in specs:
                if mark := getattr(transport, "plan_collector", None):
                    mark(spec.name)
                try:
                    spec.func(Probe(transport, settings, dry=True))
                except Exception as exc:  # a collector stumbling on the refusals must not stop the plan
                    log.debug("planning pass of %s on %s: %s", spec.name, transport.target, exc)
        if not transport.prefetch():  # type: ignore[attr-defined]
            break


def scan_host(
    transport: Transport,
    policy: Policy,
    *,
    kind: TargetKind,
    settings: CollectSettings | None = None,
    only_collectors: set[str] | None = None,
) -> TargetResult:
    started = utcnow()
    settings = settings or policy.collect_settings()
    specs = [s for s in collectors_for(transport.os) if only_collectors is None or s.name in only_collectors]
    _prefetch(transport, specs, settings)
    identity = read_identity(transport)
    if kind is TargetKind.LOCAL and identity is not None:
        # A local scan is named after the machine, never `local`: several agents must not collapse into one host.
        transport.target = identity.fqdn or identity.hostname
    facts: dict[str, Facts | None] = {}
    evidence: list[Evidence] = []
    errors: dict[str, str] = {}
    try:
        for spec, got in zip(specs, _collect_all(specs, transport, settings), strict=True):
            evidence.append(got.evidence)
            facts[spec.name] = got.facts
            if got.facts is None and got.evidence.error:
                errors[spec.name] = got.evidence.error
    except FATAL as exc:
        return target_error(transport.target, kind, str(exc), identity=identity)
    except TransportError as exc:  # defensive: a transport raising outside a probe
        return target_error(transport.target, kind, str(exc), identity=identity)
    findings = run_checks(
        os=transport.os,
        target=transport.target,
        facts=facts,
        evidence_ids={e.collector: e.id for e in evidence},
        evidence_errors=errors,
        policy=policy,
        now=started,
    )
    info = TargetInfo(
        target=transport.target,
        kind=kind,
        identity=identity,
        os=transport.os.value,
        state=TargetState.SCANNED,
        started_at=started,
        finished_at=utcnow(),
        collection=getattr(transport, "collection", None),
        round_trips=getattr(transport, "round_trips", None),
    )
    return TargetResult(info=info, findings=findings, evidence=evidence, facts=facts)


def assemble_report(
    results: list[TargetResult],
    *,
    policy: Policy,
    waivers: list[Waiver] | None = None,
    catalogue: Catalogue | None = None,
    started_at: datetime | None = None,
    scanned_kinds: set[str] | None = None,
    today: date | None = None,
) -> Report:
    catalogue = catalogue or load_catalogue()
    findings = [f for r in results for f in r.findings]
    findings += coverage_findings(catalogue, findings, scanned_kinds=scanned_kinds or set())
    findings = apply_waivers(findings, waivers or [], today or date.today())
    findings.sort(key=lambda f: (min(clause_sort_key(c) for c in f.clauses), f.target, f.check_id, f.subject or ""))
    now = utcnow()
    return Report(
        started_at=started_at or min((r.info.started_at for r in results if r.info.started_at), default=now),
        finished_at=now,
        policy=policy.name,
        targets=[r.info for r in results],
        findings=findings,
        evidence=[e for r in results for e in r.evidence],
    )


def scan_this_host(policy: Policy, root: str | Path | None = None) -> TargetResult:
    """This machine, or an offline root filesystem; raises TransportError when `root` is not a directory."""
    from tenken.collectors.transport.cache import CachingTransport
    from tenken.collectors.transport.local import LocalTransport
    from tenken.collectors.transport.root import RootTransport

    transport: Transport = CachingTransport(RootTransport(root) if root else LocalTransport())  # each file once per scan
    with transport:
        return scan_host(transport, policy, kind=TargetKind.ROOT if root else TargetKind.LOCAL)

