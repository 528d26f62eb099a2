"""The data pages: overview matrix, trends, host, clause, scan, diff of two scans, and the evidence-bundle export.

Every read goes through `tenken.hub.web_queries` (the contract in briefs/s3/web-contract.md); this module only
turns query parameters into `Filters`, calls it and renders. Filters are GET query parameters (repeatable:
`?group=A&group=B&status=fail`), so every state of the page is a link one can share.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from tenken.checks.catalogue import load_catalogue
from tenken.checks.finding import CLAUSE_ID
from tenken.hub import waivers as wv
from tenken.hub.db import write_tx
from tenken.hub.web import accounts as acc
from tenken.hub.web.charts import trend_svg
from tenken.hub.web.queries import wq
from tenken.hub.web.render import STATUS_LABELS, page
from tenken.hub.web.security import client_ip, read_form, require_csrf

router = APIRouter()

SECTION_OR_CLAUSE = re.compile(r"^SO-\d{1,2}(-\d{1,2})?$")
OS_VALUES = ("linux", "windows", "other")
MAX_TREND_DAYS = 366


def _user(request: Request) -> acc.Session:
    from tenken.hub.web.app import need_user

    return need_user(request)


UserSession = Annotated[acc.Session, Depends(_user)]


def _filters(request: Request) -> Any:
    q = request.query_params
    groups = [g for g in q.getlist("group") if len(g) <= 200 and "\x00" not in g]
    statuses = [s for s in q.getlist("status") if s]
    clauses = [c.strip().upper() for c in q.getlist("clause") if c.strip()]
    oses = [o for o in q.getlist("os") if o]
    bad = [s for s in statuses if s not in STATUS_LABELS] + [c for c in clauses if not SECTION_OR_CLAUSE.match(c)] + [o for o in oses if o not in OS_VALUES]
    if bad:
        raise HTTPException(422, f"フィルタの値が不正です / bad filter value: {bad[0][:80]!r}")
    return wq.Filters(groups=groups, statuses=statuses, clauses=clauses, os=oses)


def _filter_params(f: Any) -> dict[str, list[str]]:
    return {"group": list(f.groups), "status": list(f.statuses), "clause": list(f.clauses), "os": list(f.os)}


def _conn(request: Request) -> Any:
    return request.app.state.engine.connect()


@router.get("/")
def overview(request: Request, session: UserSession) -> Response:
    f = _filters(request)
    show_empty = request.query_params.get("empty") == "1"
    with _conn(request) as conn:
        ov = wq.overview(conn, f)
        all_groups = wq.group_names(conn)
        active_waivers = wv.active_count(conn, wv.today_of(request.app.state.clock()))
    rows = ov.rows if show_empty else [r for r in ov.rows if (c := r.cells.get("*")) is not None and c.hosts > 0]
    return page(request, "web_overview.html", ov=ov, rows=rows, hidden=len(ov.rows) - len(rows), show_empty=show_empty, f=f,
                params=_filter_params(f), all_groups=all_groups, os_values=OS_VALUES, sections=wq.section_titles(),
                active_waivers=active_waivers)


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise HTTPException(422, f"日付は YYYY-MM-DD で / dates are YYYY-MM-DD: {value[:20]!r}") from exc


@router.get("/trends")
def trends(request: Request, session: UserSession, by: Annotated[str, Query(pattern="^(section|group)$")] = "section",
           since: str | None = None, until: str | None = None, worse_since: str | None = None) -> Response:
    f = _filters(request)
    today = request.app.state.clock().astimezone(UTC).date()
    until_d = _day(until, today)
    since_d = _day(since, until_d - timedelta(days=29))
    if since_d > until_d or (until_d - since_d).days > MAX_TREND_DAYS:
        raise HTTPException(422, f"期間は 1〜{MAX_TREND_DAYS} 日 / the period is 1 to {MAX_TREND_DAYS} days")
    worse_d = _day(worse_since, until_d - timedelta(days=7))
    with _conn(request) as conn:
        series = wq.trends(conn, f, since_d, until_d, by)  # type: ignore[arg-type]
        worsened = wq.worsened_since(conn, f, datetime.combine(worse_d, time.min, tzinfo=UTC))
        waivers = wv.list_waivers(conn) if worsened else []
        checks = wq.clause_check_ids(conn, [(w.host_key, w.clause) for w in worsened]) if waivers else {}
    charts = [(t, trend_svg(t)) for t in series]
    # a worsening that an admin has accepted is still listed (it did get worse), with the waiver beside it
    waived = {(w.host_key, w.clause): m for w in worsened
              if (m := wv.matching(waivers, w.host_key, [w.clause], checks.get((w.host_key, w.clause), []), today)) is not None}
    return page(request, "web_trends.html", charts=charts, worsened=worsened, by=by, since=since_d, until=until_d, worse_since=worse_d,
                f=f, params=_filter_params(f), waived=waived)


@router.get("/host")
def host(request: Request, session: UserSession, key: Annotated[str, Query(min_length=1, max_length=520)]) -> Response:
    today = wv.today_of(request.app.state.clock())
    with _conn(request) as conn:
        detail = wq.host_detail(conn, key)
        waivers = wv.list_waivers(conn, host_key=key)
    if detail is None:
        raise HTTPException(404, f"ホストがありません / no host {key[:100]!r}")
    waived = {fv.seq: w for items in detail.findings_by_section.values() for fv in items
              if (w := wv.matching(waivers, key, fv.clauses, [fv.check_id], today, fv.subject)) is not None}
    return page(request, "web_host.html", h=detail, sections=wq.section_titles(), waivers=waivers, waived=waived, today=today)


@router.get("/clause/{clause}")
def clause(request: Request, session: UserSession, clause: str) -> Response:
    if not CLAUSE_ID.match(clause):
        raise HTTPException(404, "条項 ID は SO-13-6 の形 / clause ids look like SO-13-6")
    entry = load_catalogue().by_id().get(clause)
    if entry is None:
        raise HTTPException(404, f"ガイドラインに {clause} はありません / no clause {clause} in the guideline")
    f = _filters(request)
    today = wv.today_of(request.app.state.clock())
    with _conn(request) as conn:
        hosts = wq.clause_hosts(conn, clause, f)
        waivers = wv.list_waivers(conn, clause=clause)
    checks = sorted({c for h in hosts for c in h.check_ids})
    section = load_catalogue().section(entry.section)
    waived = {h.host_key: w for h in hosts if (w := wv.matching(waivers, h.host_key, [clause], h.check_ids, today)) is not None}
    return page(request, "web_clause.html", c=entry, section=section, hosts=hosts, checks=checks, params=_filter_params(f), waivers=waivers,
                waived=waived, today=today)


@router.get("/scan")
def scan(request: Request, session: UserSession, host: Annotated[str, Query(min_length=1, max_length=520)],
         report: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
    with _conn(request) as conn:
        findings = wq.scan_findings(conn, report, host)
        scans = wq.host_scans(conn, host, limit=500)
    ref = next((s for s in scans if s.report_id == report), None)
    if ref is None:
        raise HTTPException(404, "この報告書はこのホストのものではありません / no such scan of this host")
    return page(request, "web_scan.html", host_key=host, ref=ref, findings=findings, scans=scans)


@router.get("/diff")
def diff(request: Request, session: UserSession, host: Annotated[str, Query(min_length=1, max_length=520)],
         older: Annotated[str | None, Query(max_length=200)] = None, newer: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    with _conn(request) as conn:
        scans = wq.host_scans(conn, host, limit=200)
        if not scans:
            raise HTTPException(404, "このホストの点検がありません / no scans of this host")
        result = None
        if older and newer:
            result = wq.scan_diff(conn, host, older, newer)
            if result is None:
                raise HTTPException(404, "この 2 件はこのホストの点検ではありません / those two are not scans of this host")
    return page(request, "web_diff.html", host_key=host, scans=scans, d=result, older=older or (scans[1].report_id if len(scans) > 1 else ""),
                newer=newer or scans[0].report_id)


# --- export --------------------------------------------------------------------------------------------


@router.get("/export")
def export_form(request: Request, session: UserSession) -> Response:
    f = _filters(request)
    with _conn(request) as conn:
        groups = wq.group_names(conn)
    group = f.groups[0] if len(f.groups) == 1 else ""
    clause = f.clauses[0] if len(f.clauses) == 1 and CLAUSE_ID.match(f.clauses[0]) else ""
    return page(request, "web_export.html", groups=groups, group=group, clause=clause, message="")


@router.post("/export")
async def export(request: Request, session: UserSession) -> Response:
    from tenken.agent.bundle.sources import BundleFilter
    from tenken.hub.bundle_export import ExportError, export_bundle

    form = await read_form(request)
    require_csrf(form, session.csrf)
    group = form.get("group") or None
    clause = (form.get("clause") or "").strip().upper() or None
    if clause is not None and not CLAUSE_ID.match(clause):
        raise HTTPException(422, "条項 ID は SO-13-6 の形 / clause ids look like SO-13-6")
    since = _day(form.get("since"), date.min) if form.get("since") else None
    until = _day(form.get("until"), date.min) if form.get("until") else None
    bf = BundleFilter(group=group, clause=clause, since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
                      until=datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC) if until else None)
    engine, settings = request.app.state.engine, request.app.state.settings
    assert session.user is not None
    try:
        built = await run_in_threadpool(export_bundle, engine, settings, bf)
    except ExportError as exc:
        with _conn(request) as conn:
            groups = wq.group_names(conn)
        return page(request, "web_export.html", status_code=422, groups=groups, group=group or "", clause=clause or "", message=str(exc))
    now = request.app.state.clock()
    with write_tx(engine) as conn:
        acc.audit(conn, now, "export", user=session.user.name, ip=client_ip(request), bundle_id=built.bundle_id, **bf.params(),
                  bytes=len(built.data))
    return Response(built.data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{built.bundle_id}.zip"'})
