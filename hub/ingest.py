"""Ingest one signed report: verify, validate, check for replay, store — all or nothing.

Order matters: the cheapest rejections come first and nothing touches the database until the signature
verified with the enrolled key of the agent whose client certificate carried the upload. The whole report
is written in one transaction with one executemany per table; the unique report id makes a resend
idempotent even when two hub processes receive it at the same moment.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError
from tenken.agent import dsse
from tenken.agent.report import Report, TargetInfo, TargetKind
from tenken.checks.catalogue import SITE_TARGET
from tenken.hub import summaries
from tenken.hub import tables as t
from tenken.hub.authz import AgentGrant, Inconsistent, NotAuthorised, authorise_targets, check_consistency
from tenken.hub.db import as_utc, bulk_insert, upsert_hosts, utcnow, write_tx

ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"


class IngestError(Exception):
    """A rejected upload: HTTP status and the reason given back to the agent as {"detail": ...}."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Accepted:
    report_id: str
    status: str  # "stored" | "duplicate"

    @property
    def http_status(self) -> int:
        return 201 if self.status == "stored" else 200


@dataclass(frozen=True)
class EnrolledAgent:
    agent_id: str
    key: Ed25519PublicKey
    host_id: str | None = None
    patterns: tuple[str, ...] = ()

    @property
    def grant(self) -> AgentGrant:
        return AgentGrant(agent_id=self.agent_id, host_id=self.host_id, patterns=self.patterns)


@lru_cache(maxsize=1024)
def _load_key(pem: str) -> Ed25519PublicKey:
    return dsse.load_public_key(pem.encode())


def enrolled_agent(conn: Connection, agent_id: str, cert_serial: str) -> EnrolledAgent:
    """The agent behind a client certificate, or 403: unknown, revoked, or a certificate not issued to it."""
    row = conn.execute(select(t.agents.c.signing_key, t.agents.c.revoked_at, t.agents.c.host_id).where(t.agents.c.id == agent_id)).first()
    if row is None:
        raise IngestError(403, f"agent {agent_id} is not enrolled at this hub: "
                                "enroll it with `tenken-hub agent enroll tls.csr --pub agent.pub`")
    if row.revoked_at is not None:
        raise IngestError(403, f"agent {agent_id} has been revoked: create new keys with "
                                "`tenken agent init` and enroll them")
    cert = conn.execute(select(t.certs.c.agent_id, t.certs.c.revoked_at).where(t.certs.c.serial == cert_serial)).first()
    if cert is None or cert.agent_id != agent_id or cert.revoked_at is not None:
        raise IngestError(403, f"client certificate {cert_serial} is not a valid certificate of agent {agent_id}")
    patterns = tuple(conn.execute(select(t.agent_targets.c.pattern).where(t.agent_targets.c.agent_id == agent_id)).scalars())
    return EnrolledAgent(agent_id, _load_key(row.signing_key), host_id=row.host_id, patterns=patterns)


def _validation_reason(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


DEFAULT_SKEW = timedelta(minutes=5)


def verify_and_parse(
    envelope: bytes, agent: EnrolledAgent, *, window: timedelta, skew: timedelta = DEFAULT_SKEW, now: datetime | None = None
) -> tuple[Report, bytes]:
    """Signature (with THIS agent's key only), schema, time, and what the agent may report on. No I/O.

    Raises IngestError: 400 malformed, 422 signature/schema/time/inconsistency, 403 a target the agent may
    not speak for.
    """
    try:
        payload = dsse.verify_with_key(envelope, agent.key)
    except dsse.EnvelopeError as exc:
        raise IngestError(400, f"malformed envelope: {exc}") from exc
    except dsse.SignatureError as exc:
        raise IngestError(422, f"signature does not verify with the enrolled key of {agent.agent_id}: {exc}") from exc
    try:
        # pydantic-core's parser: bounded nesting, no RecursionError. Duplicate keys are refused in the envelope
        # (cheap: a handful of members); inside the payload both this parser and the standard one keep the last,
        # so they agree, and a second full parse only to look for duplicates would double the cost of ingest.
        report = Report.model_validate_json(payload)
    except ValidationError as exc:
        raise IngestError(422, f"payload is not a valid tenken.report/v1 report: {_validation_reason(exc)}") from exc
    _check_limits(report)
    check_time(report, now=now or utcnow(), window=window, skew=skew)
    try:
        check_consistency(report)
    except Inconsistent as exc:
        raise IngestError(422, str(exc)) from exc
    try:
        authorise_targets(report, agent.grant)
    except NotAuthorised as exc:
        raise IngestError(403, str(exc)) from exc
    return report, payload


def check_time(report: Report, *, now: datetime, window: timedelta, skew: timedelta) -> None:
    """A report from the future beyond the clock-skew tolerance is refused, naming the skew; so is a stale one."""
    finished = as_utc(report.finished_at)
    started = as_utc(report.started_at)
    assert finished is not None and started is not None
    ahead = (finished - now).total_seconds()
    if ahead > skew.total_seconds():
        raise IngestError(
            422,
            f"report finished_at {finished.isoformat()} is {ahead:.0f} s ahead of the hub's clock ({now.isoformat()}); "
            f"the tolerance is {skew.total_seconds():.0f} s: check the agent's time synchronisation (NTP)",
        )
    if now - finished > window:
        raise IngestError(422, f"stale report: finished_at {finished.isoformat()} is older than {window.days} days by the hub's clock ({now.isoformat()})")
    if started > finished:
        raise IngestError(422, "started_at is after finished_at")


# Indexed columns have bounded length (a PostgreSQL btree entry must fit in a page); the schema allows
# any length, so the hub says which value is too long instead of failing in the database.
MAX_ID = 200
REPORT_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_ID}}}")
MAX_TARGET = 500
MAX_CHECK_ID = 200


def _check_limits(report: Report) -> None:
    if not REPORT_ID.fullmatch(report.id):
        raise IngestError(422, f"report id must be 1..{MAX_ID} characters from A-Z a-z 0-9 . _ : - (it is used in URLs and file names)")
    targets = [ti.target for ti in report.targets] + [f.target for f in report.findings] + [e.target for e in report.evidence]
    if any(len(x) > MAX_TARGET for x in targets):
        raise IngestError(422, f"a target name is longer than {MAX_TARGET} characters")
    if any(len(f.check_id) > MAX_CHECK_ID or len(f.id) > MAX_CHECK_ID for f in report.findings):
        raise IngestError(422, f"a finding id or check_id is longer than {MAX_CHECK_ID} characters")
    stamps = [report.started_at, report.finished_at, *(e.collected_at for e in report.evidence)]
    stamps += [x for ti in report.targets for x in (ti.started_at, ti.finished_at)]
    try:
        for ts in stamps:
            as_utc(ts)
    except (OverflowError, ValueError) as exc:
        raise IngestError(422, "a timestamp cannot be expressed in UTC (out of range)") from exc


def _s(v: str | None) -> str | None:
    """Text columns are a searchable copy (the envelope is the record): NUL, which PostgreSQL text cannot hold, becomes U+FFFD."""
    return v.replace("\x00", "\ufffd") if v and "\x00" in v else v


def host_key_of(ti: TargetInfo) -> str:
    """The stable key of a target's host row: its identity when the scan read one, else `<kind>:<name>`."""
    if ti.identity is not None:
        return ti.identity.host_id
    name = ti.target
    return name if name.startswith(f"{ti.kind.value}:") else f"{ti.kind.value}:{name}"


def _resolve_keys(conn: Connection, report: Report) -> dict[str, str]:
    """Target name -> host key. A target the scan could not identify (unreachable, no machine-id) joins the
    row of the host last seen under that name over a host transport, so its errors stay in that host's history."""
    keys: dict[str, str] = {}
    for ti in report.targets:
        key = host_key_of(ti)
        if ti.identity is None and ti.kind in (TargetKind.SSH, TargetKind.WINRM):
            row = conn.execute(
                select(t.hosts.c.key).where(t.hosts.c.name == ti.target, t.hosts.c.kind.in_(["ssh", "winrm"]), t.hosts.c.host_id.is_not(None))
                .order_by(t.hosts.c.last_seen.desc()).limit(1)
            ).first()
            if row is not None:
                key = row.key
        keys[ti.target] = key
    keys.setdefault(SITE_TARGET, SITE_TARGET)
    return keys


def _rows(report: Report, *, agent_id: str, envelope: bytes, payload_sha: str, now: datetime, keys: dict[str, str]) -> dict[str, Any]:
    finished = as_utc(report.finished_at)
    assert finished is not None
    observed = min(finished, now)
    report_row = {
        "id": report.id,
        "agent_id": agent_id,
        "received_at": now,
        "started_at": as_utc(report.started_at),
        "finished_at": finished,
        "observed_at": observed,
        "tool_name": _s(report.tool.name),
        "tool_version": _s(report.tool.version),
        "policy": _s(report.policy),
        "payload_sha256": payload_sha,
        "envelope": envelope,
        "summary": {"findings": len(report.findings), "evidence": len(report.evidence), "targets": len(report.targets), **report.summary()},
    }
    target_rows = [
        {
            "report_id": report.id, "seq": i, "target": _s(ti.target), "host_key": keys[ti.target], "kind": ti.kind.value, "os": _s(ti.os),
            "state": ti.state.value, "error": _s(ti.error), "started_at": as_utc(ti.started_at), "finished_at": as_utc(ti.finished_at),
            "identity": ti.identity.model_dump(mode="json") if ti.identity else None, "groups": [_s(g) for g in ti.groups],
        }
        for i, ti in enumerate(report.targets)
    ]
    host_rows = [
        {
            "key": keys[ti.target], "host_id": ti.identity.host_id if ti.identity else None, "name": _s(ti.target),
            "fqdn": _s(ti.identity.fqdn) if ti.identity else None, "kind": ti.kind.value, "os": _s(ti.os), "state": ti.state.value,
            "first_seen": observed, "last_seen": observed, "last_report_id": report.id, "last_agent_id": agent_id,
        }
        for ti in report.targets
    ]
    evidence_rows = [
        {
            "report_id": report.id, "seq": i, "evidence_id": _s(e.id), "collector": _s(e.collector), "target": _s(e.target),
            "collected_at": as_utc(e.collected_at), "sha256": _s(e.sha256), "raw": _s(e.raw),
            "sources": [s.model_dump(mode="json") for s in e.sources], "facts": e.facts, "error": _s(e.error),
        }
        for i, e in enumerate(report.evidence)
    ]
    return {"report": report_row, "targets": target_rows, "hosts": host_rows, "evidence": evidence_rows}


#: Findings go in per chunk: a near-maximum report has ~30,000; building every row at once held several
#: copies of all of them (model, row dicts, driver parameters) and set the hub's peak memory.
FINDING_CHUNK = 2000


def finding_chunks(report: Report, keys: dict[str, str], observed: datetime) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(finding rows, clause rows) per chunk. CONSUMES report.findings as it goes, so that the models of
    stored findings can be freed before the next chunk is built (the report is not used after storing)."""
    finished = as_utc(report.finished_at)
    kinds = {ti.target: ti.kind.value for ti in report.targets}
    seq = 0
    while report.findings:
        chunk = report.findings[:FINDING_CHUNK]
        finding_rows: list[dict[str, Any]] = []
        clause_rows: list[dict[str, Any]] = []
        for f in chunk:
            status = f.status.value
            key = keys[f.target]
            finding_rows.append({
                "report_id": report.id, "seq": seq, "finding_id": _s(f.id), "check_id": _s(f.check_id), "target": _s(f.target),
                "host_key": key, "transport": kinds.get(f.target, TargetKind.SITE.value),
                "status": status, "severity": f.severity.value, "kind": f.kind.value, "subject": _s(f.subject),
                "clauses": list(f.clauses),
                "text": {
                    "title": {"ja": f.title.ja, "en": f.title.en}, "detail": {"ja": f.detail.ja, "en": f.detail.en},
                    "remediation": {"ja": f.remediation.ja, "en": f.remediation.en},
                },
                "evidence": list(f.evidence), "waiver": f.waiver.model_dump(mode="json") if f.waiver else None, "finished_at": finished,
            })
            for clause in dict.fromkeys(f.clauses):  # a clause listed twice is indexed once
                clause_rows.append({
                    "report_id": report.id, "seq": seq, "clause": clause, "target": _s(f.target), "host_key": key, "status": status,
                    "finished_at": observed,
                })
            seq += 1
        del report.findings[: len(chunk)], chunk
        yield finding_rows, clause_rows


def _existing(conn: Connection, report_id: str, agent_id: str, payload_sha: str) -> Accepted | None:
    row = conn.execute(select(t.reports.c.agent_id, t.reports.c.payload_sha256).where(t.reports.c.id == report_id)).first()
    if row is None:
        return None
    if row.agent_id == agent_id and row.payload_sha256 == payload_sha:
        return Accepted(report_id, "duplicate")
    raise IngestError(409, f"report id {report_id} was already stored with different content (replayed or reused id)")


def store(engine: Engine, report: Report, *, agent_id: str, envelope: bytes, payload: bytes, now: datetime | None = None) -> Accepted:
    """Store the verified report in one transaction, or answer duplicate/409 if its id is taken."""
    payload_sha = hashlib.sha256(payload).hexdigest()
    with engine.connect() as conn:
        seen = _existing(conn, report.id, agent_id, payload_sha)
    if seen is not None:
        return seen
    try:
        with write_tx(engine) as conn:
            keys = _resolve_keys(conn, report)
            rows = _rows(report, agent_id=agent_id, envelope=envelope, payload_sha=payload_sha, now=now or utcnow(), keys=keys)
            conn.execute(t.reports.insert(), [rows["report"]])
            upsert_hosts(conn, rows["hosts"])
            bulk_insert(conn, t.targets, rows["targets"])
            bulk_insert(conn, t.evidence, rows.pop("evidence"))
            for finding_rows, clause_rows in finding_chunks(report, keys, rows["report"]["observed_at"]):
                bulk_insert(conn, t.findings, finding_rows)
                bulk_insert(conn, t.finding_clauses, clause_rows)
                del finding_rows, clause_rows
            summaries.update_after_ingest(conn, report.id)  # the web view's latest-status and trend tables
    except IntegrityError:
        # Another request (or hub process) stored this id between our check and our insert.
        with engine.connect() as conn:
            seen = _existing(conn, report.id, agent_id, payload_sha)
        if seen is None:
            raise
        return seen
    return Accepted(report.id, "stored")
