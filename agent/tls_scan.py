"""TLS endpoint scans -> TargetResults: the collector's facts become evidence, the TLS checks judge them.

Also used by the inventory's fleet scan, so the signature stays `scan_tls(endpoints, policy)`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tenken.agent.report import TargetInfo, TargetKind, TargetState
from tenken.agent.scan import TargetResult, target_error
from tenken.checks.policy import Policy
from tenken.checks.registry import run_checks
from tenken.checks.tls.common import TLS, TLS_OS
from tenken.collectors.evidence import build_evidence
from tenken.collectors.tls.spec import TlsEndpoint
from tenken.collectors.tls.sslyze_scan import EndpointScan, scan_endpoints

#: Clauses an endpoint that could not be audited leaves open.
TLS_ERROR_CLAUSES = ["SO-13-6", "SO-13-9", "SO-13-10"]


def scan_tls(endpoints: list[TlsEndpoint], policy: Policy, *, deadline_s: float | None = None) -> list[TargetResult]:
    """Scan every endpoint concurrently; one TargetResult per endpoint, in input order."""
    if not endpoints:
        return []
    wall_start = datetime.now(UTC)
    return [_result(s, policy, wall_start) for s in scan_endpoints(endpoints, deadline_s=deadline_s)]


def _result(scan: EndpointScan, policy: Policy, wall_start: datetime) -> TargetResult:
    target = scan.endpoint.target
    if scan.facts is None:
        return target_error(target, TargetKind.TLS, scan.error or "unknown error", clauses=TLS_ERROR_CLAUSES, check_id="tls.endpoint.reachable")
    started = wall_start
    finished = wall_start + timedelta(seconds=max(0.0, scan.finished - scan.started))
    evidence = build_evidence(collector=TLS, target=target, sources=scan.sources, raw=scan.raw, facts=scan.facts,
                              collected_at=finished)
    findings = run_checks(os=TLS_OS, target=target, facts={TLS: scan.facts}, evidence_ids={TLS: evidence.id},
                          evidence_errors={}, policy=policy, now=finished)
    info = TargetInfo(target=target, kind=TargetKind.TLS, state=TargetState.SCANNED, started_at=started, finished_at=finished)
    return TargetResult(info=info, findings=findings, evidence=[evidence], facts={TLS: scan.facts})
