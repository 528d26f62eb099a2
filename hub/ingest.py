"""Ingest one signed report: verify, validate, check for replay, store — all or nothing.

Order matters: the cheapest rejections come first and nothing touches the database until the signature
verified with the enrolled key of the agent whose client certificate carried the upload. The whole report
is written in one transaction with one executemany per table; the unique report id makes a resend
idempotent even when two hub processes receive it at the same moment.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from tenken.agent import dsse
from tenken.agent.report import Report, TargetInfo, TargetKind
from tenken.checks.catalogue import SITE_TARGET
from tenken.checks.finding import Finding
from tenken.hub import partitions, summaries
from tenken.hub import tables as t
from tenken.hub.authz import (
    AgentGrant,
    Inconsistent,
    NotAuthorised,
    authorise_targets,
    check_consistency,
    check_findings_declared,
    declared_targets,
)
from tenken.hub.db import as_utc, bulk_insert, bulk_insert_tuples, is_sqlite, json_text, upsert_hosts, utcnow, write_tx
from tenken.hub.report_stream import CHUNK, PayloadInvalid, StreamedReport, split_payload

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


DEFAULT_SKEW = timedelta(minutes=5)


def verify_and_parse(
    envelope: bytes, agent: EnrolledAgent, *, window: timedelta, skew: timedelta = DEFAULT_SKEW, now: datetime | None = None,
    chunk: int = CHUNK,
) -> tuple[StreamedReport, bytes]:
    """Signature (with THIS agent's key only), schema, time, and what the agent may report on. No I/O.

    The header and the first chunk of findings are validated here; a larger report's other chunks are
    validated by `store` inside its transaction (see tenken.hub.report_stream). Raises IngestError: 400
    malformed, 422 signature/schema/time/inconsistency, 403 a target the agent may not speak for.
    """
    try:
        payload = dsse.verify_with_key(envelope, agent.key)
    except dsse.EnvelopeError as exc:
        raise IngestError(400, f"malformed envelope: {exc}") from exc
    except dsse.SignatureError as exc:
        raise IngestError(422, f"signature does not verify with the enrolled key of {agent.agent_id}: {exc}") from exc
    try:
        # Duplicate keys are refused in the envelope (cheap: a handful of members); inside the payload the
        # last one wins, as in every parser the agent and an auditor would use.
        report = split_payload(payload)
    except PayloadInvalid as exc:
        raise IngestError(422, f"payload is not a valid tenken.report/v1 report: {exc}") from exc
    header = report.header
    _check_header_limits(header)
    check_time(header, now=now or utcnow(), window=window, skew=skew)
    try:
        check_consistency(header)
    except Inconsistent as exc:
        raise IngestError(422, str(exc)) from exc
    try:
        authorise_targets(header, agent.grant)
    except NotAuthorised as exc:
        raise IngestError(403, str(exc)) from exc
    _start_chunks(report, chunk)
    return report, payload


def _start_chunks(report: StreamedReport, size: int) -> None:
    """Validate the first chunk now (before any database work); the rest follow inside store's transaction."""
    report.rest = _checked_chunks(report, size)
    report.first = next(report.rest, None)


def _checked_chunks(report: StreamedReport, size: int) -> Iterator[tuple[int, list[Finding]]]:
    """The report's finding chunks, each validated and checked like the header (422 on the first problem)."""
    known = declared_targets(report.header)
    try:
        for offset, chunk in report.chunks(size):
            _check_finding_limits(chunk)
            check_findings_declared((f.target for f in chunk), known)
            yield offset, chunk
    except PayloadInvalid as exc:
        raise IngestError(422, f"payload is not a valid tenken.report/v1 report: {exc}") from exc
    except Inconsistent as exc:
        raise IngestError(422, str(exc)) from exc


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


def _check_header_limits(report: Report) -> None:
    if not REPORT_ID.fullmatch(report.id):
        raise IngestError(422, f"report id must be 1..{MAX_ID} characters from A-Z a-z 0-9 . _ : - (it is used in URLs and file names)")
    targets = [ti.target for ti in report.targets] + [e.target for e in report.evidence]
    if any(len(x) > MAX_TARGET for x in targets):
        raise IngestError(422, f"a target name is longer than {MAX_TARGET} characters")
    stamps = [report.started_at, report.finished_at, *(e.collected_at for e in report.evidence)]
    stamps += [x for ti in report.targets for x in (ti.started_at, ti.finished_at)]
    try:
        for ts in stamps:
            as_utc(ts)
    except (OverflowError, ValueError) as exc:
        raise IngestError(422, "a timestamp cannot be expressed in UTC (out of range)") from exc


def _check_finding_limits(findings: list[Finding]) -> None:
    if any(len(f.target) > MAX_TARGET for f in findings):
        raise IngestError(422, f"a target name is longer than {MAX_TARGET} characters")
    if any(len(f.check_id) > MAX_CHECK_ID or len(f.id) > MAX_CHECK_ID for f in findings):
        raise IngestError(422, f"a finding id or check_id is longer than {MAX_CHECK_ID} characters")


def _s(v: str | None) -> str | None:
    """Text columns are a searchable copy (the envelope is the record): NUL, which PostgreSQL text cannot hold, becomes U+FFFD."""
    return v.replace("\x00", "\ufffd") if v and "\x00" in v else v


def host_key_of(ti: TargetInfo) -> str:
    """The stable key of a target's host row: its identity when the scan read one, else `<kind>:<name>`."""
    if ti.identity is not None:
        return ti.identity.host_id
    name = ti.target
    return name if name.startswith(f"{ti.kind.value}:") else f"{ti.kind.value}:{name}"


_LAST_HOST_BY_NAME = (
    select(t.hosts.c.key).where(t.hosts.c.name == bindparam("name"), t.hosts.c.kind.in_(["ssh", "winrm"]), t.hosts.c.host_id.is_not(None))
    .order_by(t.hosts.c.last_seen.desc()).limit(1)
)


def _resolve_keys(conn: Connection, report: Report) -> dict[str, str]:
    """Target name -> host key. A target the scan could not identify (unreachable, no machine-id) joins the
    row of the host last seen under that name over a host transport, so its errors stay in that host's history."""
    keys: dict[str, str] = {}
    for ti in report.targets:
        key = host_key_of(ti)
        if ti.identity is None and ti.kind in (TargetKind.SSH, TargetKind.WINRM):
            row = conn.execute(_LAST_HOST_BY_NAME, {"name": ti.target}).first()
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
        "summary": {},  # filled in once every finding was validated (see store)
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


FINDING_COLS = (
    "report_id", "seq", "finding_id", "check_id", "target", "host_key", "transport", "status", "severity", "kind", "subject",
    "clauses", "text", "evidence", "waiver", "finished_at",
)
CLAUSE_COLS = ("report_id", "seq", "clause", "target", "host_key", "status", "finished_at")


@dataclass
class _ChunkRows:
    findings: list[tuple[Any, ...]]
    clauses: list[tuple[Any, ...]]


#: The findings columns `finding_rows(..., json_as_text=True)` hands over already encoded.
FINDING_JSON_COLS = frozenset({"clauses", "text", "evidence", "waiver"})


def finding_rows(header: Report, offset: int, findings: list[Finding], keys: dict[str, str], kinds: dict[str, str], observed: datetime,
                 *, json_as_text: bool = False) -> _ChunkRows:
    """Row tuples (in FINDING_COLS / CLAUSE_COLS order) for one validated chunk of findings.

    json_as_text (SQLite): the JSON columns come as the text the column's processor would make, encoded here in
    the same pass instead of by a second loop over every row in bulk_insert_tuples."""
    finished = as_utc(header.finished_at)
    rid = header.id
    site = TargetKind.SITE.value
    out = _ChunkRows([], [])
    add_f, add_c = out.findings.append, out.clauses.append
    enc = json_text if json_as_text else _same
    for seq, f in enumerate(findings, start=offset):
        status = f.status.value
        target = _s(f.target)
        key = keys[f.target]
        title, detail, rem = f.title, f.detail, f.remediation
        add_f((
            rid, seq, _s(f.id), _s(f.check_id), target, key, kinds.get(f.target, site), status, f.severity.value, f.kind.value,
            _s(f.subject), enc(list(f.clauses)),
            enc({"title": {"ja": title.ja, "en": title.en}, "detail": {"ja": detail.ja, "en": detail.en}, "remediation": {"ja": rem.ja, "en": rem.en}}),
            enc(list(f.evidence)), enc(f.waiver.model_dump(mode="json")) if f.waiver else None, finished,
        ))
        for clause in dict.fromkeys(f.clauses):  # a clause listed twice is indexed once
            add_c((rid, seq, clause, target, key, status, observed))
    return out


def _same(v: Any) -> Any:
    return v


_EXISTING = select(t.reports.c.agent_id, t.reports.c.payload_sha256).where(t.reports.c.id == bindparam("rid"))


def _existing(conn: Connection, report_id: str, agent_id: str, payload_sha: str) -> Accepted | None:
    row = conn.execute(_EXISTING, {"rid": report_id}).first()
    if row is None:
        return None
    if row.agent_id == agent_id and row.payload_sha256 == payload_sha:
        return Accepted(report_id, "duplicate")
    raise IngestError(409, f"report id {report_id} was already stored with different content (replayed or reused id)")


def store(engine: Engine, report: StreamedReport, *, agent_id: str, envelope: bytes, payload: bytes, now: datetime | None = None) -> Accepted:
    """Store the verified report in one transaction, or answer duplicate/409 if its id is taken.

    Everything that needs no lock (host keys, rows of the first chunk) is built before the write
    transaction, so on SQLite, where writers queue, one upload's Python work overlaps another's writes.
    Later chunks of a large report are validated inside the transaction: an invalid finding there rolls
    back every row already written."""
    header = report.header
    payload_sha = hashlib.sha256(payload).hexdigest()
    with engine.connect() as conn:
        seen = _existing(conn, header.id, agent_id, payload_sha)
        if seen is not None:
            return seen
        keys = _resolve_keys(conn, header)
    rows = _rows(header, agent_id=agent_id, envelope=envelope, payload_sha=payload_sha, now=now or utcnow(), keys=keys)
    observed = rows["report"]["observed_at"]
    kinds = {ti.target: ti.kind.value for ti in header.targets}
    hosts = summaries.HostReportBuilder({header.id: (observed, rows["report"]["received_at"], agent_id)})
    for tr in rows["targets"]:
        hosts.add_target(tr["report_id"], tr["host_key"], tr["target"], tr["kind"], tr["os"], tr["groups"])
    text_json = engine.dialect.name == "sqlite"
    first = finding_rows(header, *report.first, keys, kinds, observed, json_as_text=text_json) if report.first else None
    report.first = None
    single = not report.raw_findings  # every finding is validated: the summary is known now
    if single:
        rows["report"]["summary"] = _summary(report)
    partitions.ensure_partitions(engine, (rows["report"]["finished_at"], observed))  # PostgreSQL: this month's partitions
    try:
        with write_tx(engine) as conn:
            conn.execute(t.reports.insert(), [rows["report"]])
            upsert_hosts(conn, rows["hosts"])
            bulk_insert(conn, t.targets, rows["targets"])
            bulk_insert(conn, t.evidence, rows.pop("evidence"))
            if first is not None:
                _insert_chunk(conn, first, hosts)
                del first
            for offset, chunk in report.rest or ():
                _insert_chunk(conn, finding_rows(header, offset, chunk, keys, kinds, observed, json_as_text=text_json), hosts)
                del chunk
            if not single:
                conn.execute(t.reports.update().where(t.reports.c.id == header.id).values(summary=_summary(report)))
            summaries.update_after_ingest(conn, header.id, hosts.parts())  # the web view's latest-status and trend tables
    except IntegrityError:
        # Another request (or hub process) stored this id between our check and our insert.
        with engine.connect() as conn:
            seen = _existing(conn, header.id, agent_id, payload_sha)
        if seen is None:
            raise
        return seen
    return Accepted(header.id, "stored")


def _summary(report: StreamedReport) -> dict[str, int]:
    h = report.header
    return {"findings": sum(report.counts.values()), "evidence": len(h.evidence), "targets": len(h.targets), **report.summary()}


def _insert_chunk(conn: Connection, rows: _ChunkRows, hosts: summaries.HostReportBuilder) -> None:
    """Write one chunk's rows, and fold them into the report's per-host summary parts as they go by."""
    bulk_insert_tuples(conn, t.findings, FINDING_COLS, rows.findings, encoded=FINDING_JSON_COLS if is_sqlite(conn) else frozenset())
    bulk_insert_tuples(conn, t.finding_clauses, CLAUSE_COLS, rows.clauses)
    check_of = {f[1]: f[3] for f in rows.findings}  # seq -> check_id
    for rid, seq, clause, _target, key, status, _at in rows.clauses:
        hosts.add_clause(rid, key, clause, status, check_of[seq])
    for (rid, key, status), n in Counter((f[0], f[5], f[7]) for f in rows.findings).items():
        hosts.add_count(rid, key, status, n)


def streamed(report: Report, *, chunk: int = CHUNK) -> StreamedReport:
    """A Report built in-process (tests, benchmarks, migrations) in the form `store` takes, with the same checks."""
    parsed = split_payload(report.to_json(indent=None).encode())
    _start_chunks(parsed, chunk)
    return parsed
