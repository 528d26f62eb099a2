"""OSCAL 1.0.6 assessment-results view of a bundle, for GRC tools that import NIST OSCAL.

Shape: one result per bundle; one observation per tenken finding (its evidence linked by bundle member path,
each evidence member a back-matter resource whose rlink carries the member's SHA-256, the place the schema gives
hashes); one OSCAL finding per (host, clause), targeting the clause as an `objective-id` (`so-13-6`).

Status mapping (per host and clause, the worst tenken status by STATUS_PRECEDENCE decides; the OSCAL state has
only two values, so everything that is not positively shown to hold is `not-satisfied`):
- pass            -> satisfied      (reason "pass")
- not_applicable  -> satisfied      (reason "not-applicable": nothing to fix on this host)
- fail            -> not-satisfied  (reason "fail")
- warn            -> not-satisfied  (reason "warn": advisory, but not shown to hold)
- error           -> not-satisfied  (reason "error": an incomplete scan never reads as compliant)
- manual          -> not-satisfied  (reason "manual": a person must still confirm it)

UUIDs are uuid5 of the bundle id and tenken ids, so the same bundle renders byte-identically. Pure function.
"""

from __future__ import annotations

import uuid
from typing import Any

import pydantic_core
from tenken.agent.bundle.model import BundleContext, HostResult, evidence_member
from tenken.checks.finding import Finding, Status, worst

OSCAL_VERSION = "1.0.6"  # the schema version the tests validate against (tests/data/oscal)
_NS = uuid.UUID("6f1d1c0e-7a53-5d52-9d0b-74656e6b656e")  # fixed namespace for tenken OSCAL uuids
SATISFIED = {Status.PASS, Status.NOT_APPLICABLE}


class MissingMemberHash(ValueError):
    """An evidence member has no hash: the OSCAL document would point at unverifiable evidence."""


def _uuid(ctx: BundleContext, *parts: str) -> str:
    return str(uuid.uuid5(_NS, "\x00".join((ctx.bundle_id, *parts))))


def _ts(dt: Any) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def objective_id(clause: str) -> str:
    return clause.lower()


def _observation(ctx: BundleContext, host: HostResult, f: Finding, item_uuid: str, res_uuids: dict[str, str]) -> dict[str, Any]:
    rid = host.source.report.id
    obs: dict[str, Any] = {
        "uuid": _uuid(ctx, "observation", rid, f.id),
        "title": f"{f.title.ja} / {f.title.en}",
        "description": f"{f.detail.ja}\n\n{f.detail.en}",
        "props": [
            {"name": "tenken-check-id", "ns": "https://tenken.invalid/ns/oscal", "value": f.check_id},
            {"name": "tenken-status", "ns": "https://tenken.invalid/ns/oscal", "value": f.status.value.replace("_", "-")},
        ],
        "methods": ["TEST" if f.evidence else "EXAMINE"],
        "subjects": [{"subject-uuid": item_uuid, "type": "inventory-item", "title": host.name}],
        "collected": _ts(host.source.report.finished_at),
    }
    ev = []
    for eid in f.evidence:
        member = evidence_member(rid, eid)
        ev.append({"href": member, "description": f"evidence {eid}", "links": [{"href": f"#{res_uuids[member]}", "rel": "reference"}]})
    if ev:
        obs["relevant-evidence"] = ev
    return obs


def render_oscal(ctx: BundleContext, member_hashes: dict[str, str]) -> bytes:
    """The assessment-results document as UTF-8 JSON (Japanese kept as is)."""
    items, observations, findings, resources = [], [], [], []
    res_uuids: dict[str, str] = {}
    for host in ctx.hosts:
        rid = host.source.report.id
        for eid in sorted({e for f in host.findings for e in f.evidence}):
            member = evidence_member(rid, eid)
            if member not in member_hashes:
                raise MissingMemberHash(f"oscal: no sha256 for bundle member {member} (host {host.name})")
            ru = _uuid(ctx, "resource", member)
            res_uuids[member] = ru
            resources.append({
                "uuid": ru, "title": member,
                "rlinks": [{"href": member, "media-type": "application/json",
                            "hashes": [{"algorithm": "SHA-256", "value": member_hashes[member]}]}],
            })
    for host in ctx.hosts:
        item_uuid = _uuid(ctx, "host", host.key)
        items.append({
            "uuid": item_uuid, "description": f"{host.name} ({host.target.kind.value})",
            "props": [{"name": "asset-id", "value": host.key}],
        })
        by_clause: dict[str, list[tuple[Finding, str]]] = {}
        for f in sorted(host.findings, key=lambda f: f.id):
            obs = _observation(ctx, host, f, item_uuid, res_uuids)
            observations.append(obs)
            for c in f.clauses:
                by_clause.setdefault(c, []).append((f, obs["uuid"]))
        for clause in sorted(by_clause):
            fs = by_clause[clause]
            st = worst([f.status for f, _ in fs])
            assert st is not None  # by_clause entries are never empty
            findings.append({
                "uuid": _uuid(ctx, "finding", host.key, clause),
                "title": f"{clause} — {host.name}",
                "description": f"{clause}: {len(fs)} tenken finding(s) on {host.name}; worst status {st.value}",
                "target": {
                    "type": "objective-id", "target-id": objective_id(clause),
                    "status": {"state": "satisfied" if st in SATISFIED else "not-satisfied", "reason": st.value.replace("_", "-")},
                },
                "related-observations": [{"observation-uuid": u} for _, u in fs],
            })
    starts = [br.report.started_at for br in ctx.reports] or [ctx.created_at]
    ends = [br.report.finished_at for br in ctx.reports] or [ctx.created_at]
    result: dict[str, Any] = {
        "uuid": _uuid(ctx, "result"),
        "title": "tenken 点検結果 / tenken assessment result",
        "description": "医療情報システムの安全管理に関するガイドライン 第6.0版 システム運用編 に対する技術的点検 / "
                       "Technical controls assessment against the MHLW guideline v6.0 (operations).",
        "start": _ts(min(starts)), "end": _ts(max(ends)),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    }
    if items:
        result["local-definitions"] = {"inventory-items": items}
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    plan_uuid = _uuid(ctx, "assessment-plan")
    doc: dict[str, Any] = {
        "uuid": _uuid(ctx, "assessment-results"),
        "metadata": {
            "title": "tenken 監査バンドル / tenken audit bundle " + ctx.bundle_id,
            "last-modified": _ts(ctx.created_at), "version": ctx.bundle_id, "oscal-version": OSCAL_VERSION,
        },
        "import-ap": {"href": f"#{plan_uuid}"},
        "results": [result],
    }
    plan = {"uuid": plan_uuid, "title": "tenken assessment plan",
            "description": "No separate OSCAL assessment plan exists: the plan is tenken's check catalogue for the guideline."}
    doc["back-matter"] = {"resources": [plan, *resources]}
    # pydantic-core writes UTF-8 bytes straight from the dict (Japanese kept, no ASCII escapes): about half the peak
    # memory of json.dumps(indent=2) + encode for a 200-host bundle
    return pydantic_core.to_json({"assessment-results": doc}, indent=2) + b"\n"
