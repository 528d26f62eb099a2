"""A hub as deployed on 2026-11-25 (schema of commit ab3d7bf), with real signed reports in it.

The data directory (CA, TLS certificate, operator credentials) and the agent are made by the real CLI of
today; the database is then replaced by one created from the frozen 2026-11-25 tables
(`schema_2026_11_25.py`, no `alembic_version` table, as such a hub left it) holding the same agent, certificates
and token, and reports signed by the agent and stored as that day's ingest stored them (`old_rows` is its
`_rows`, kept verbatim apart from the signature).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import schema_2026_11_25 as old
from hub_harness import Agent, Hub, make_agent, make_report, start_hub
from sqlalchemy import select, text
from tenken.agent import dsse
from tenken.agent.report import Report
from tenken.checks.finding import Finding, Text, finding_id
from tenken.hub import tables as t
from tenken.hub.db import as_utc, make_engine
from tenken.hub.schema import all_metadata


def _s(v: str | None) -> str | None:
    return v.replace("\x00", "\ufffd") if v and "\x00" in v else v


def old_rows(report: Report, *, agent_id: str, envelope: bytes, payload_sha: str, now: datetime) -> dict[str, Any]:
    """tenken.hub.ingest._rows as of commit ab3d7bf (2026-11-25)."""
    finished = as_utc(report.finished_at)
    report_row = {
        "id": report.id, "agent_id": agent_id, "received_at": now, "started_at": as_utc(report.started_at), "finished_at": finished,
        "tool_name": _s(report.tool.name), "tool_version": _s(report.tool.version), "policy": _s(report.policy),
        "payload_sha256": payload_sha, "envelope": envelope,
        "summary": {"findings": len(report.findings), "evidence": len(report.evidence), "targets": len(report.targets), **report.summary()},
    }
    target_rows = [
        {
            "report_id": report.id, "seq": i, "target": _s(ti.target), "kind": ti.kind.value, "os": _s(ti.os), "state": ti.state.value,
            "error": _s(ti.error), "started_at": as_utc(ti.started_at), "finished_at": as_utc(ti.finished_at),
        }
        for i, ti in enumerate(report.targets)
    ]
    finding_rows = []
    clause_rows = []
    for i, f in enumerate(report.findings):
        status = f.status.value
        finding_rows.append({
            "report_id": report.id, "seq": i, "finding_id": _s(f.id), "check_id": _s(f.check_id), "target": _s(f.target),
            "status": status, "severity": f.severity.value, "kind": f.kind.value, "subject": _s(f.subject), "clauses": list(f.clauses),
            "text": {
                "title": {"ja": f.title.ja, "en": f.title.en}, "detail": {"ja": f.detail.ja, "en": f.detail.en},
                "remediation": {"ja": f.remediation.ja, "en": f.remediation.en},
            },
            "evidence": list(f.evidence), "waiver": f.waiver.model_dump(mode="json") if f.waiver else None, "finished_at": finished,
        })
        for clause in dict.fromkeys(f.clauses):
            clause_rows.append({"report_id": report.id, "seq": i, "clause": clause, "target": _s(f.target), "status": status, "finished_at": finished})
    evidence_rows = [
        {
            "report_id": report.id, "seq": i, "evidence_id": _s(e.id), "collector": _s(e.collector), "target": _s(e.target),
            "collected_at": as_utc(e.collected_at), "sha256": _s(e.sha256), "raw": _s(e.raw),
            "sources": [s.model_dump(mode="json") for s in e.sources], "facts": e.facts, "error": _s(e.error),
        }
        for i, e in enumerate(report.evidence)
    ]
    return {"report": report_row, "targets": target_rows, "findings": finding_rows, "clauses": clause_rows, "evidence": evidence_rows}


def with_site_finding(report: Report) -> Report:
    f = Finding(
        id=finding_id("org.policy", "site", "policy"), check_id="org.policy", target="site", status="manual", clauses=["SO-1-1"],
        severity="medium", title=Text(ja="規程", en="Policy"), detail=Text(ja="詳細", en="detail"), remediation=Text(ja="対処", en="fix"),
        evidence=[], subject="policy",
    )
    return report.model_copy(update={"findings": [*report.findings, f]})


@dataclass
class LegacyHub:
    data: Path
    db_url: str
    agent: Agent
    token: str
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"finished", "received", "target", "kind"}


def _reset_to_old_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            keep = {
                "agents": [dict(r) for r in conn.execute(select(*[c for c in t.agents.c if c.name in old.agents.c])).mappings()],
                "certs": [dict(r) for r in conn.execute(select(t.certs)).mappings()],
                "tokens": [dict(r) for r in conn.execute(select(*[c for c in t.tokens.c if c.name in old.tokens.c])).mappings()],
            }
            all_metadata().drop_all(conn)  # every table-defining module's tables, not only those imported here
            conn.execute(text("DROP TABLE alembic_version"))
            old.metadata.create_all(conn)
            for name in ("agents", "certs", "tokens"):
                conn.execute(old.metadata.tables[name].insert(), keep[name])
    finally:
        engine.dispose()


def make_legacy_hub(base: Path, db_url: str | None = None) -> LegacyHub:
    """A data directory whose database is a 2026-11-25 hub's, holding four reports (see the test for what each shows)."""
    data = base / "data"
    hub: Hub = start_hub(data, db_url)
    try:
        agent = make_agent(hub, base / "agent")
    finally:
        hub.stop()
    url = hub.database_url
    _reset_to_old_schema(url)
    now = datetime.now(UTC).replace(microsecond=0)
    specs = [
        # (report id, target, kind, finished, received)
        ("r1-db1-old", "db1", "ssh", now - timedelta(days=3), now - timedelta(days=3) + timedelta(seconds=30)),
        ("r2-db1-new", "db1", "ssh", now - timedelta(hours=2), now - timedelta(hours=2) - timedelta(seconds=90)),  # clock ahead
        ("r3-ward", "ward-pc", "local", now - timedelta(hours=5), now - timedelta(hours=5) + timedelta(seconds=5)),
        ("r4-web", "web[1]*", "tls", now - timedelta(hours=1), now - timedelta(hours=1) + timedelta(seconds=2)),
    ]
    legacy = LegacyHub(data=data, db_url=url, agent=agent, token=hub.token)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for rid, target, kind, finished, received in specs:
                report = make_report(target=target, kind=kind, finished_at=finished, report_id=rid, n_findings=4)
                if rid == "r2-db1-new":
                    report = with_site_finding(report)
                envelope = agent.sign(report)
                payload = dsse.verify_with_key(envelope, agent.key.public_key())
                rows = old_rows(report, agent_id=agent.agent_id, envelope=envelope, payload_sha=hashlib.sha256(payload).hexdigest(), now=received)
                conn.execute(old.reports.insert(), [rows["report"]])
                conn.execute(old.targets.insert(), rows["targets"])
                conn.execute(old.evidence.insert(), rows["evidence"])
                conn.execute(old.findings.insert(), rows["findings"])
                conn.execute(old.finding_clauses.insert(), rows["clauses"])
                legacy.reports[rid] = {"finished": finished, "received": received, "target": target, "kind": kind, "findings": len(rows["findings"])}
    finally:
        engine.dispose()
    return legacy
