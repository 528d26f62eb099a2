"""OSCAL view: findings per (host, clause), status mapping, evidence hrefs and hashes, determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from contexts import two_host_context
from tenken.agent.bundle.model import evidence_member
from tenken.agent.bundle.oscal import MissingMemberHash, render_oscal


def _hashes(ctx) -> dict[str, str]:
    return {evidence_member(h.source.report.id, eid): hashlib.sha256(ev.model_dump_json().encode()).hexdigest()
            for h in ctx.hosts for eid, ev in h.evidence.items()}


def test_content_matches_the_bundle() -> None:
    ctx = two_host_context()
    hashes = _hashes(ctx)
    doc = json.loads(render_oscal(ctx, hashes))["assessment-results"]
    assert doc["metadata"]["oscal-version"] == "1.0.6"
    assert doc["metadata"]["last-modified"] == "2026-12-01T09:00:00Z"
    (res,) = doc["results"]
    pairs = {(h.key, c) for h in ctx.hosts for f in h.findings for c in f.clauses}
    assert len(res["findings"]) == len(pairs) == 5  # weak: 3 clauses, good: 2
    assert len(res["observations"]) == sum(len(h.findings) for h in ctx.hosts)
    states = {(f["title"].split(" — ")[1], f["target"]["target-id"]): f["target"]["status"] for f in res["findings"]}
    # weak-host: finding i has STATUSES[i % 6] and clause i % 3, so SO-13-6 = pass+error, SO-14-2 = fail+n/a,
    # SO-7-1 = warn+manual: the worst status decides and none of them reads as satisfied
    assert states[("weak-host", "so-13-6")] == {"state": "not-satisfied", "reason": "error"}
    assert states[("weak-host", "so-14-2")] == {"state": "not-satisfied", "reason": "fail"}
    assert states[("weak-host", "so-7-1")] == {"state": "not-satisfied", "reason": "warn"}
    assert all(s["state"] == "satisfied" for (h, _), s in states.items() if h == "good-host")
    assert all(f["target"]["type"] == "objective-id" for f in res["findings"])
    # evidence: href = member path, linked resource carries that member's sha256
    resources = {r["uuid"]: r for r in doc["back-matter"]["resources"]}
    seen = set()
    for obs in res["observations"]:
        for ev in obs.get("relevant-evidence", []):
            r = resources[ev["links"][0]["href"][1:]]
            assert r["rlinks"][0]["href"] == ev["href"]
            assert r["rlinks"][0]["hashes"][0] == {"algorithm": "SHA-256", "value": hashes[ev["href"]]}
            seen.add(ev["href"])
    assert seen == set(hashes)
    assert doc["import-ap"]["href"][1:] in resources
    assert "検査" in json.dumps(doc, ensure_ascii=False)


def test_same_bundle_renders_identically() -> None:
    ctx = two_host_context()
    assert render_oscal(ctx, _hashes(ctx)) == render_oscal(two_host_context(), _hashes(ctx))


def test_missing_member_hash_is_an_error() -> None:
    ctx = two_host_context()
    hashes = _hashes(ctx)
    hashes.pop(next(iter(hashes)))
    with pytest.raises(MissingMemberHash, match="evidence/"):
        render_oscal(ctx, hashes)


SCHEMA = Path(__file__).resolve().parents[1] / "data" / "oscal" / "oscal_assessment-results_schema-1.0.6.json"


def _validator():
    # jsonschema_rs (Rust, comes with schemathesis; now an explicit test extra) compiles the schema's \p{..}
    # patterns, which Python's `re`-based jsonschema cannot.
    import jsonschema_rs

    return jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))


def test_validates_against_nist_schema_and_a_mutation_does_not() -> None:
    ctx = two_host_context()
    doc = json.loads(render_oscal(ctx, _hashes(ctx)))
    v = _validator()
    errors = [e.message for e in v.iter_errors(doc)]
    assert errors == []
    bad = json.loads(json.dumps(doc))
    bad["assessment-results"]["results"][0]["findings"][0]["uuid"] = "not-a-uuid"
    assert not v.is_valid(bad)
    bad2 = json.loads(json.dumps(doc))
    bad2["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "pass"
    assert not v.is_valid(bad2)
