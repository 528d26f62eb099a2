"""What every part of a bundle is built from: the verified reports, and the latest result per host.

Renderers (HTML, CSV, checklist, OSCAL, JUnit) take a `BundleContext` and never read files or the network:
the builder verifies every envelope first, so a view can never show a report that does not verify.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from tenken.agent.report import Report, TargetInfo
from tenken.checks.finding import Finding
from tenken.collectors.evidence import Evidence

# Member paths inside the zip. Views link to evidence by these paths, so they are fixed here once.
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.dsse.json"
TIMESTAMP = "manifest.tsr"


def envelope_member(report_id: str) -> str:
    return f"reports/{report_id}.dsse.json"


def evidence_member(report_id: str, evidence_id: str) -> str:
    return f"evidence/{report_id}/{evidence_id}.json"


def key_member(keyid: str) -> str:
    return f"keys/{keyid}.pub.pem"


@dataclass(frozen=True)
class BundleReport:
    """One signed report as received, with what it was verified against."""

    envelope: bytes  # the DSSE envelope byte for byte
    report: Report
    keyid: str  # the key id of the signature that verified
    agent_id: str  # dsse.agent_id of that key
    public_key_pem: bytes
    received_at: datetime | None = None  # when the hub stored it (hub bundles only)

    @property
    def member(self) -> str:
        return envelope_member(self.report.id)

    @property
    def observed_at(self) -> datetime:
        """The hub's ordering rule: a report can never be later than when it was received."""
        if self.received_at is not None and self.received_at < self.report.finished_at:
            return self.received_at
        return self.report.finished_at


def target_key(t: TargetInfo) -> str:
    """The host a target describes: its stable id when the scan read one, else `<kind>:<name>` (as the hub)."""
    return t.identity.host_id if t.identity is not None else f"{t.kind.value}:{t.target}"


@dataclass(frozen=True)
class HostResult:
    """The latest scan of one host in the bundle: what the views show per host."""

    key: str
    target: TargetInfo
    source: BundleReport
    findings: list[Finding]
    evidence: dict[str, Evidence]

    @property
    def name(self) -> str:
        return self.target.target


@dataclass(frozen=True)
class BundleScope:
    """What the bundle was asked to contain, printed on every view so an auditor knows what is not in it."""

    source: str = "local"  # "local" (report files) or "hub"
    hub_url: str | None = None
    group: str | None = None
    clause: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class BundleContext:
    bundle_id: str
    created_at: datetime
    reports: list[BundleReport]
    scope: BundleScope = field(default_factory=BundleScope)

    @cached_property
    def hosts(self) -> list[HostResult]:
        """Latest result per host (by observed time), sorted by name; a `--clause` scope keeps only its findings.

        Findings whose `target` is `site` (inventory-wide checks) belong to no host and are in `site_findings`.
        """
        latest: dict[str, tuple[BundleReport, TargetInfo]] = {}
        for br in self.reports:
            for t in br.report.targets:
                if self.scope.group and self.scope.group not in t.groups:
                    continue
                k = target_key(t)
                cur = latest.get(k)
                if cur is None or br.observed_at > cur[0].observed_at:
                    latest[k] = (br, t)
        out = []
        for k, (br, t) in latest.items():
            fs = [f for f in br.report.findings if f.target == t.target and self._in_scope(f)]
            ev = {e.id: e for e in br.report.evidence if e.target == t.target}
            out.append(HostResult(k, t, br, fs, ev))
        return sorted(out, key=lambda h: (h.name, h.key))

    @cached_property
    def site_findings(self) -> list[tuple[BundleReport, Finding]]:
        names = {t.target for br in self.reports for t in br.report.targets}
        return [(br, f) for br in self.reports for f in br.report.findings if f.target not in names and self._in_scope(f)]

    def _in_scope(self, f: Finding) -> bool:
        return self.scope.clause is None or self.scope.clause in f.clauses
