"""The read API for people and tools (JSON; documented in the hub's OpenAPI at /openapi.json).

Every route needs an operator certificate and a bearer token (see `tenken.hub.auth`). Query parameters
are validated strictly (patterns, bounds) so odd input becomes a 422, never a database error.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, and_, func, or_, select, true
from tenken.agent import dsse
from tenken.agent.report import Report
from tenken.checks.finding import CLAUSE_ID, Severity, Status, Text
from tenken.hub import status_queries
from tenken.hub import tables as t
from tenken.hub.auth import bearer, require_operator
from tenken.hub.db import as_utc, list_agents
from tenken.hub.ingest import ENVELOPE_MEDIA_TYPE

NO_NUL = r"^[^\x00]+$"


def operator(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    return require_operator(request, credentials)


router = APIRouter(prefix="/api/v1", dependencies=[Depends(operator)], responses={401: {"description": "No or bad token"}, 403: {"description": "Certificate not allowed"}})


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _utc_bound(dt: datetime | None, name: str) -> datetime | None:
    if dt is None:
        return None
    try:
        return as_utc(dt)
    except (OverflowError, ValueError) as exc:
        raise HTTPException(422, f"`{name}` is out of range") from exc


# --- response models ----------------------------------------------------------------------------------


class Observer(BaseModel):
    """Who saw it and how: the agent that signed the report and the transport it used."""

    agent_id: str
    transport: str


class HostSummary(BaseModel):
    host_key: str
    host_id: str | None
    target: str  # the name of the latest observation
    fqdn: str | None
    kind: str
    os: str | None
    state: str
    first_seen: datetime
    last_report_id: str
    last_agent_id: str
    last_finished_at: datetime  # the latest report's observed time (never later than its receipt)
    observer: Observer
    summary: dict[str, int]


class ClauseStatus(BaseModel):
    clause: str
    status: Status
    report_id: str
    finished_at: datetime
    finding_ids: list[str]


class HostStatus(BaseModel):
    host_key: str
    target: str
    clauses: list[ClauseStatus]


class FindingOut(BaseModel):
    report_id: str
    agent_id: str
    finished_at: datetime
    id: str
    check_id: str
    target: str
    host_key: str
    observer: Observer
    status: Status
    severity: Severity
    kind: str
    subject: str | None
    clauses: list[str]
    title: Text
    detail: Text
    remediation: Text
    evidence: list[str]
    waiver: dict[str, Any] | None


class FindingsPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[FindingOut]


class ReportMeta(BaseModel):
    report_id: str
    agent_id: str
    received_at: datetime
    started_at: datetime
    finished_at: datetime
    observed_at: datetime
    tool: str
    policy: str
    payload_sha256: str
    summary: dict[str, int]


class StoredReport(ReportMeta):
    report: Report


class VerifyResult(BaseModel):
    report_id: str
    agent_id: str
    verified: bool
    reason: str | None
    key_id: str | None
    agent_revoked: bool
    payload_sha256: str


class AgentOut(BaseModel):
    agent_id: str
    key_id: str
    cert_serial: str
    enrolled_at: datetime
    revoked_at: datetime | None
    last_report_at: datetime | None
    host_id: str | None
    hostname: str | None
    targets: list[str]
    signing_key: str


# --- routes -------------------------------------------------------------------------------------------


@router.get("/hosts", response_model=list[HostSummary], summary="Every host and endpoint, by stable identity, with its latest scan")
def hosts(request: Request) -> list[HostSummary]:
    h = t.hosts
    out: list[HostSummary] = []
    with _engine(request).connect() as conn:
        rows = conn.execute(select(h).order_by(h.c.name, h.c.key)).mappings().all()
        counts = status_queries.latest_counts(conn) if rows else {}  # from the summaries, not a scan of findings
    for r in rows:
        c = counts.get((r["last_report_id"], r["key"]), {})
        out.append(HostSummary(
            host_key=r["key"], host_id=r["host_id"], target=r["name"], fqdn=r["fqdn"], kind=r["kind"], os=r["os"], state=r["state"],
            first_seen=as_utc(r["first_seen"]), last_report_id=r["last_report_id"], last_agent_id=r["last_agent_id"],
            last_finished_at=as_utc(r["last_seen"]), observer=Observer(agent_id=r["last_agent_id"], transport=r["kind"]),
            summary={s.value: c.get(s.value, 0) for s in Status},
        ))
    return out


def resolve_host(conn: Any, host: str) -> tuple[str, str] | None:
    """(host key, latest name) for a host key, or for the name a host was last seen under."""
    h = t.hosts
    row = conn.execute(select(h.c.key, h.c.name).where(h.c.key == host)).first()
    if row is None:
        row = conn.execute(select(h.c.key, h.c.name).where(h.c.name == host).order_by(h.c.last_seen.desc()).limit(1)).first()
    return (row.key, row.name) if row is not None else None


@router.get("/hosts/{host}/status", response_model=HostStatus, summary="Latest status per clause for one host (host key or name)")
def host_status(request: Request, host: Annotated[str, Path(max_length=520, pattern=NO_NUL)]) -> HostStatus:
    """For each clause, the most recent report that judged it on this host, and the worst status in it.

    Served from the per-(host, report) summaries ingest keeps (tenken.hub.status_queries), so the answer costs
    the host's number of scans, not its number of findings."""
    with _engine(request).connect() as conn:
        found = resolve_host(conn, host)
        if found is None:
            raise HTTPException(404, f"no host {host!r}")
        key, name = found
        answers = status_queries.host_clause_status(conn, key)
    if not answers:
        raise HTTPException(404, f"no findings for host {host!r}")
    clauses = [
        ClauseStatus(clause=a.clause, status=Status(a.status), report_id=a.report_id, finished_at=as_utc(a.observed_at), finding_ids=a.finding_ids)
        for a in sorted(answers, key=lambda a: (_clause_key(a.clause), a.clause))
    ]
    return HostStatus(host_key=key, target=name, clauses=clauses)


def _clause_key(clause: str) -> tuple[int, int]:
    m = CLAUSE_ID.match(clause)
    return (int(m.group(1)), int(m.group(2))) if m else (999, 999)


@router.get("/findings", response_model=FindingsPage, summary="Findings, newest first, filtered")
def findings(
    request: Request,
    clause: Annotated[str | None, Query(pattern=CLAUSE_ID.pattern, description="e.g. SO-14-2")] = None,
    status: Status | None = None,
    target: Annotated[str | None, Query(max_length=500, pattern=NO_NUL)] = None,
    host: Annotated[str | None, Query(max_length=520, pattern=NO_NUL, description="host key (e.g. machine-id:...)")] = None,
    since: Annotated[datetime | None, Query(description="report finished_at >= since (UTC if no offset)")] = None,
    until: Annotated[datetime | None, Query(description="report finished_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> FindingsPage:
    s, u = _utc_bound(since, "since"), _utc_bound(until, "until")
    with _engine(request).connect() as conn:
        if clause is None:
            base, count = _findings_queries(status, target, host, s, u)
        else:
            base, count = _clause_findings_queries(conn, clause, status, target, host, s, u)
        total = conn.execute(count).scalar_one()
        rows = base(conn, limit, offset) if callable(base) else conn.execute(base.limit(limit).offset(offset)).mappings().all()
    items = [
        FindingOut(
            report_id=r["report_id"], agent_id=r["agent_id"], finished_at=as_utc(r["finished_at"]), id=r["finding_id"], check_id=r["check_id"],
            target=r["target"], host_key=r["host_key"], observer=Observer(agent_id=r["agent_id"], transport=r["transport"]), status=r["status"], severity=r["severity"], kind=r["kind"], subject=r["subject"], clauses=r["clauses"],
            title=r["text"]["title"], detail=r["text"]["detail"], remediation=r["text"]["remediation"], evidence=r["evidence"], waiver=r["waiver"],
        )
        for r in rows
    ]
    return FindingsPage(total=total, limit=limit, offset=offset, items=items)


def _findings_queries(status: Status | None, target: str | None, host: str | None, since: datetime | None, until: datetime | None) -> tuple[Any, Any]:
    """Page (newest first) and count of findings filtered on their own columns (indexes on host/target + time)."""
    f, r = t.findings, t.reports
    conds = []
    if status is not None:
        conds.append(f.c.status == status.value)
    if target is not None:
        conds.append(f.c.target == target)
    if host is not None:
        conds.append(f.c.host_key == host)
    if since is not None:
        conds.append(f.c.finished_at >= since)
    if until is not None:
        conds.append(f.c.finished_at < until)
    base = select(f, r.c.agent_id).join(r, r.c.id == f.c.report_id).where(*conds).order_by(f.c.finished_at.desc(), f.c.report_id, f.c.seq)
    return base, select(func.count()).select_from(f).where(*conds)


def _clause_findings_queries(conn: Any, clause: str, status: Status | None, target: str | None, host: str | None,
                             since: datetime | None, until: datetime | None) -> tuple[Any, Any]:
    """The same page and count for one clause, shaped for 10M+ findings (bench/hub_scale.py).

    Facts ingest guarantees and these queries rely on: a finding_clauses row copies its finding's status,
    target and host key, and carries its report's observed_at; a finding carries its report's finished_at. So:
    - the count needs no findings at all: one finding_clauses row per (finding, clause), filtered on its own
      copies (an index-only scan of the clause index), joined to reports only for a time filter. The time
      filter is on the reports' finished_at; the clause rows carry observed_at <= finished_at, so `until`
      bounds them as it is, and the earliest observed_at among the reports finished in the period (one
      index range over reports) bounds them below: the clause index is read for that period only, and
      PostgreSQL prunes the other months' partitions;
    - the page walks reports newest first (finished_at, id: the findings' own order) and fetches each one's
      rows for the clause by primary key, with the report's two times so PostgreSQL touches only that month's
      partitions (LATERAL; a plain join made it sort every row of the clause: 6.1 s on 10M findings).
    """
    f, fc, r = t.findings, t.finding_clauses, t.reports
    own = [fc.c.clause == clause]
    if status is not None:
        own.append(fc.c.status == status.value)
    if target is not None:
        own.append(fc.c.target == target)
    if host is not None:
        own.append(fc.c.host_key == host)
    times = []
    if since is not None:
        times.append(r.c.finished_at >= since)
    if until is not None:
        times.append(r.c.finished_at < until)
    count = select(func.count()).select_from(fc).where(*own)
    if times:
        bounds = []
        if until is not None:
            bounds.append(fc.c.finished_at < until)
        if since is not None:
            first = conn.execute(select(func.min(r.c.observed_at)).where(*times)).scalar()
            bounds.append(fc.c.finished_at >= (as_utc(first) or since))  # no report in the period: nothing can match
        count = select(func.count()).select_from(fc.join(r, and_(r.c.id == fc.c.report_id, r.c.observed_at == fc.c.finished_at))).where(
            *own, *bounds, *times)
    if conn.dialect.name != "postgresql":  # SQLite has no LATERAL, and its planner sorts every clause row instead
        # `clause || ''`: keeps SQLite on the primary key (report_id IN batch) instead of the clause index's every row
        by_key = [fc.c.clause.concat("") == clause, *own[1:]]
        return (lambda c, limit, offset: _clause_page_by_reports(c, by_key, times, limit, offset)), count
    per_report = (
        select(f)
        .select_from(fc.join(f, and_(f.c.report_id == fc.c.report_id, f.c.seq == fc.c.seq, f.c.finished_at == r.c.finished_at)))
        .where(fc.c.report_id == r.c.id, fc.c.finished_at == r.c.observed_at, *own)
        .offset(0)  # keeps the planner from flattening it back into the plain join
        .lateral("per_report")
    )
    base = (select(*per_report.c, r.c.agent_id).select_from(r.join(per_report, true())).where(*times)
            .order_by(r.c.finished_at.desc(), r.c.id, per_report.c.seq))
    return base, count


def _clause_page_by_reports(conn: Any, own: list[Any], times: list[Any], limit: int, offset: int, batch: int = 32) -> list[Any]:
    """SQLite: the clause page by walking reports newest first (finished_at desc, id: the findings' order), in
    batches that double (from `batch` reports), keeping only the keys until the page is reached."""
    f, fc, r = t.findings, t.finding_clauses, t.reports
    keys: list[tuple[str, int]] = []
    agent: dict[str, str] = {}
    last: tuple[Any, str] | None = None
    need = offset + limit
    while len(keys) < need:
        q = select(r.c.id, r.c.finished_at, r.c.agent_id).where(*times)
        if last is not None:
            q = q.where(or_(r.c.finished_at < last[0], and_(r.c.finished_at == last[0], r.c.id > last[1])))
        reps = conn.execute(q.order_by(r.c.finished_at.desc(), r.c.id).limit(batch)).all()
        if not reps:
            break
        last = (reps[-1].finished_at, reps[-1].id)
        batch = min(batch * 2, 4096)
        order = {x.id: i for i, x in enumerate(reps)}
        agent.update((x.id, x.agent_id) for x in reps)
        got = conn.execute(select(fc.c.report_id, fc.c.seq).where(fc.c.report_id.in_(list(order)), *own)).all()
        keys.extend(sorted(((rid, seq) for rid, seq in got), key=lambda k: (order[k[0]], k[1])))
    page = keys[offset:need]
    if not page:
        return []
    rows = {(m["report_id"], m["seq"]): m for m in conn.execute(
        select(f).where(or_(*(and_(f.c.report_id == rid, f.c.seq == seq) for rid, seq in page)))).mappings()}
    return [{**rows[k], "agent_id": agent[k[0]]} for k in page if k in rows]


def _report_row(request: Request, report_id: str) -> Any:
    with _engine(request).connect() as conn:
        row = conn.execute(select(t.reports).where(t.reports.c.id == report_id)).mappings().first()
    if row is None:
        raise HTTPException(404, f"no report {report_id!r}")
    return row


def _meta(row: Any) -> dict[str, Any]:
    return {
        "report_id": row["id"], "agent_id": row["agent_id"], "received_at": as_utc(row["received_at"]), "started_at": as_utc(row["started_at"]),
        "finished_at": as_utc(row["finished_at"]), "observed_at": as_utc(row["observed_at"]), "tool": f"{row['tool_name']} {row['tool_version']}", "policy": row["policy"],
        "payload_sha256": row["payload_sha256"], "summary": row["summary"],
    }


ReportId = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/reports", response_model=list[ReportMeta], summary="Stored reports, newest first")
def list_reports(
    request: Request,
    agent: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[ReportMeta]:
    cols = [c for c in t.reports.c if c.name != "envelope"]
    q = select(*cols).order_by(t.reports.c.observed_at.desc(), t.reports.c.id).limit(limit).offset(offset)
    if agent is not None:
        q = q.where(t.reports.c.agent_id == agent)
    with _engine(request).connect() as conn:
        return [ReportMeta(**_meta(r)) for r in conn.execute(q).mappings()]


@router.get("/reports/{report_id}", response_model=StoredReport, summary="One scan with its findings and evidence")
def get_report(request: Request, report_id: ReportId) -> StoredReport:
    row = _report_row(request, report_id)
    _, payload, _ = dsse.parse_envelope(row["envelope"])
    return StoredReport(**_meta(row), report=Report.model_validate(json.loads(payload)))


@router.get(
    "/reports/{report_id}/envelope",
    summary="The original signed DSSE envelope, byte for byte (for auditors)",
    response_class=Response,
    responses={200: {"content": {ENVELOPE_MEDIA_TYPE: {"schema": {"type": "object"}}}}},
)
def get_envelope(request: Request, report_id: ReportId) -> Response:
    row = _report_row(request, report_id)
    return Response(content=bytes(row["envelope"]), media_type=ENVELOPE_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{report_id}.dsse.json"'})


@router.get("/reports/{report_id}/verify", response_model=VerifyResult, summary="Re-verify a stored report's signature now")
def verify_report(request: Request, report_id: ReportId) -> VerifyResult:
    """Checks the stored envelope against the agent's enrolled key and the digest recorded at ingest."""
    row = _report_row(request, report_id)
    with _engine(request).connect() as conn:
        agent = conn.execute(select(t.agents).where(t.agents.c.id == row["agent_id"])).mappings().first()
    reason = None
    key_id = None
    verified = False
    if agent is None:
        reason = "the agent that sent this report is no longer registered"
    else:
        key = dsse.load_public_key(agent["signing_key"].encode())
        key_id = dsse.key_id(key)
        try:
            payload = dsse.verify_with_key(bytes(row["envelope"]), key)  # the same rule as ingest: only the enrolled key's signature
        except (dsse.EnvelopeError, dsse.SignatureError) as exc:
            reason = str(exc)
        else:
            if hashlib.sha256(payload).hexdigest() != row["payload_sha256"]:
                reason = "payload digest differs from the one recorded at ingest"
            else:
                try:
                    Report.model_validate_json(payload)
                    verified = True
                except ValidationError as exc:
                    reason = f"payload no longer validates: {exc.error_count()} errors"
    return VerifyResult(
        report_id=report_id, agent_id=row["agent_id"], verified=verified, reason=reason, key_id=key_id,
        agent_revoked=bool(agent is not None and agent["revoked_at"] is not None), payload_sha256=row["payload_sha256"],
    )


@router.get("/agents", response_model=list[AgentOut], summary="Enrolled agents")
def agents(request: Request) -> list[AgentOut]:
    return [AgentOut(**a) for a in list_agents(_engine(request))]

