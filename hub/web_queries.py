"""Read queries behind the hub's web pages (issue 13): pure reads on a SQLAlchemy Connection, no HTTP.

The contract with the page code is in the models below. Semantics shared by every page:

- A host's status for a clause is the worst status (STATUS_PRECEDENCE) among its findings mapped to the
  clause in the LATEST report covering the host; the latest state comes from the summary tables that
  ingest keeps (`tenken.hub.summaries`, which says why they exist and how "latest" is ordered).
- Filters: every list means "any of"; an empty list does not filter. `groups` "" = ungrouped hosts;
  `clauses` takes clause ids ("SO-13-6") and sections ("SO-13"); `os` takes "linux", "windows", "other"
  ("network" is accepted for "other"); `statuses` selects the (host, clause) judgements with those
  statuses: counts, totals and shares are computed over what the filters selected.
- A host in several groups counts once in every one of its groups and once in the "*" (all groups) cell.
- Trend counts are (host, clause) judgements: for a single clause that is the number of hosts; for a
  section or a group, the judgements of its hosts over the selected clauses. A day without reports
  carries the previous day's state forward; the state of a day is the one at its end (UTC).
- Diffs pair findings by (check_id, subject). Better/worse compare the rank pass = not_applicable = manual
  < warn < error < fail: a change to or from fail/error/warn is better or worse by precedence, while a
  change among pass, not_applicable and manual is neither (counted in `unchanged`, which counts the pairs
  whose rank did not change).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, and_, func, select
from tenken.checks.catalogue import clause_sort_key, load_catalogue
from tenken.checks.finding import CLAUSE_ID
from tenken.hub import summaries as s
from tenken.hub import tables as t
from tenken.hub.db import as_utc

OS_FAMILIES = ("linux", "windows", "other")
EXCERPT = 600


class Filters(BaseModel):
    groups: list[str] = []
    statuses: list[str] = []
    clauses: list[str] = []
    os: list[str] = []


class Cell(BaseModel):
    counts: dict[str, int]
    hosts: int
    passing_share: float


class MatrixRow(BaseModel):
    clause: str
    section: str
    title_ja: str
    title_en: str
    cells: dict[str, Cell]


class Overview(BaseModel):
    groups: list[str]
    rows: list[MatrixRow]
    host_count: int
    latest_observed_at: datetime | None


class TrendPoint(BaseModel):
    day: date
    counts: dict[str, int]


class Trend(BaseModel):
    key: str
    points: list[TrendPoint]


class Worsened(BaseModel):
    host_key: str
    host_name: str
    clause: str
    before: str
    after: str
    changed_at: datetime
    report_id: str


class HostClauseStatus(BaseModel):
    host_key: str
    host_name: str
    groups: list[str]
    os: str | None
    status: str
    check_ids: list[str]
    observed_at: datetime
    report_id: str


class FindingView(BaseModel):
    report_id: str
    seq: int
    finding_id: str
    check_id: str
    status: str
    severity: str
    subject: str | None
    clauses: list[str]
    title_ja: str
    title_en: str
    detail_ja: str
    detail_en: str
    remediation_ja: str
    remediation_en: str
    evidence_excerpt: str
    waiver: dict[str, Any] | None


class ScanRef(BaseModel):
    report_id: str
    agent_id: str
    transport: str
    observed_at: datetime
    received_at: datetime
    counts: dict[str, int]


class HostDetail(BaseModel):
    host_key: str
    host_id: str | None
    name: str
    fqdn: str | None
    kind: str
    os: str | None
    groups: list[str]
    last_agent_id: str
    last_seen: datetime
    first_seen: datetime
    findings_by_section: dict[str, list[FindingView]]
    scans: list[ScanRef]


class DiffItem(BaseModel):
    check_id: str
    subject: str | None
    clauses: list[str]
    title_ja: str
    title_en: str
    before: str | None
    after: str | None


class ScanDiff(BaseModel):
    host_key: str
    older: ScanRef
    newer: ScanRef
    better: list[DiffItem]
    worse: list[DiffItem]
    new: list[DiffItem]
    gone: list[DiffItem]
    unchanged: int


# --- helpers ------------------------------------------------------------------------------------------


def _sort_clause(clause: str) -> tuple[int, int, str]:
    if CLAUSE_ID.match(clause):
        a, b = clause_sort_key(clause)
        return a, b, clause
    return 999, 999, clause


def _sort_section(section: str) -> tuple[int, str]:
    head, _, num = section.partition("-")
    return (int(num), section) if head == "SO" and num.isdigit() else (999, section)


def group_order(groups: list[str]) -> list[str]:
    """Sorted, with "" (ungrouped) last."""
    return sorted(set(groups), key=lambda g: (g == "", g))


def _titles() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    cat = load_catalogue()
    clauses = {c.id: (c.text_ja, c.gloss_en) for c in cat.clauses}
    sections = {f"SO-{sec.number}": (sec.title_ja, sec.title_en) for sec in cat.sections}
    return clauses, sections


def section_titles() -> dict[str, tuple[str, str]]:
    """Section id -> (title_ja, title_en), for pages that label sections."""
    return _titles()[1]


def _group_sets(conn: Connection) -> dict[str, list[str]]:
    return {gk: list(g) for gk, g in conn.execute(select(s.group_sets.c.gk, s.group_sets.c.groups))}


def _shown_groups(groups: list[str]) -> list[str]:
    return groups or [""]


def _gks_for(sets: dict[str, list[str]], wanted: list[str]) -> list[str] | None:
    """Digests of the group sets having any of `wanted` (None = no group filter)."""
    if not wanted:
        return None
    w = set(wanted)
    return [gk for gk, g in sets.items() if w & set(_shown_groups(g))]


def _os_values(f: Filters) -> list[str] | None:
    if not f.os:
        return None
    return sorted({"other" if o == "network" else o for o in f.os})


def _clause_conds(col_clause: Any, col_section: Any, f: Filters) -> list[Any]:
    if not f.clauses:
        return []
    sections = [c for c in f.clauses if c.count("-") == 1]
    clauses = [c for c in f.clauses if c.count("-") != 1]
    parts = []
    if sections:
        parts.append(col_section.in_(sections))
    if clauses:
        parts.append(col_clause.in_(clauses))
    from sqlalchemy import or_

    return [or_(*parts)]


def _clause_selected(clause: str, f: Filters) -> bool:
    return not f.clauses or clause in f.clauses or s.section_of(clause) in f.clauses


def _common_conds(table: Any, f: Filters, sets: dict[str, list[str]]) -> list[Any] | None:
    """WHERE parts for tables with gk/os_family/status/clause/section columns; None = nothing can match."""
    conds = _clause_conds(table.c.clause, table.c.section, f)
    gks = _gks_for(sets, f.groups)
    if gks is not None:
        if not gks:
            return None
        conds.append(table.c.gk.in_(gks))
    oss = _os_values(f)
    if oss is not None:
        conds.append(table.c.os_family.in_(oss))
    if f.statuses:
        conds.append(table.c.status.in_(f.statuses))
    return conds


def _cell_groups(sets: dict[str, list[str]], gk: str, f: Filters) -> list[str]:
    gs = _shown_groups(sets.get(gk, []))
    return [g for g in gs if g in f.groups] if f.groups else gs


def _cell(counts: dict[str, int]) -> Cell:
    hosts = sum(counts.values())
    return Cell(counts=dict(sorted(counts.items())), hosts=hosts, passing_share=(counts.get("pass", 0) / hosts) if hosts else 0.0)


# --- overview -----------------------------------------------------------------------------------------


def group_names(conn: Connection) -> list[str]:
    """Every group of a host's latest report ("" when some host is ungrouped), "" last."""
    sets = _group_sets(conn)
    used = conn.execute(select(s.host_latest.c.gk).distinct()).scalars()
    return group_order([g for gk in used for g in _shown_groups(sets.get(gk, []))])


def overview(conn: Connection, filters: Filters) -> Overview:
    sets = _group_sets(conn)
    hcl, hl = s.host_clause_latest, s.host_latest
    conds = _common_conds(hcl, filters, sets)
    per: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    if conds is not None:
        q = select(hcl.c.clause, hcl.c.gk, hcl.c.status, func.count()).where(*conds).group_by(hcl.c.clause, hcl.c.gk, hcl.c.status)
        for clause, gk, status, n in conn.execute(q):
            per[clause]["*"][status] += n
            for g in _cell_groups(sets, gk, filters):
                per[clause][g][status] += n
    # hosts and groups of the selection (group/OS filters; clause/status filters select judgements, not hosts)
    hconds = []
    gks = _gks_for(sets, filters.groups)
    if gks is not None:
        hconds.append(hl.c.gk.in_(gks or ["-"]))
    if (oss := _os_values(filters)) is not None:
        hconds.append(hl.c.os_family.in_(oss))
    groups: set[str] = set()
    host_count = 0
    latest: datetime | None = None
    for gk, n, last in conn.execute(select(hl.c.gk, func.count(), func.max(hl.c.observed_at)).where(*hconds).group_by(hl.c.gk)):
        host_count += n
        groups.update(_cell_groups(sets, gk, filters))
        last = as_utc(last)
        latest = last if latest is None or (last is not None and last > latest) else latest
    clause_titles, _ = _titles()
    wanted = set(per)
    if not filters.statuses:  # the whole volume, so a clause no host speaks to is visible as such
        wanted |= {c for c in clause_titles if _clause_selected(c, filters)}
    rows = []
    for clause in sorted(wanted, key=_sort_clause):
        ja, en = clause_titles.get(clause, (clause, clause))
        cells = {g: _cell(dict(c)) for g, c in per.get(clause, {}).items()}
        rows.append(MatrixRow(clause=clause, section=s.section_of(clause), title_ja=ja, title_en=en, cells=cells))
    return Overview(groups=group_order(list(groups)), rows=rows, host_count=host_count, latest_observed_at=latest)


# --- trends -------------------------------------------------------------------------------------------


def trends(conn: Connection, filters: Filters, since: date, until: date, by: Literal["section", "group"]) -> list[Trend]:
    if until < since:
        return []
    sets = _group_sets(conn)
    td = s.trend_deltas
    conds = _common_conds(td, filters, sets)
    if conds is None:
        return []
    key_col = td.c.section if by == "section" else td.c.gk
    base: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    daily: dict[date, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))

    def keys_of(k: str) -> list[str]:
        return [k] if by == "section" else _cell_groups(sets, k, filters)

    q0 = select(key_col, td.c.status, func.sum(td.c.delta)).where(*conds, td.c.day < since).group_by(key_col, td.c.status)
    for k, status, n in conn.execute(q0):
        for kk in keys_of(k):
            base[kk][status] += int(n)
    q1 = select(td.c.day, key_col, td.c.status, func.sum(td.c.delta)).where(*conds, td.c.day >= since, td.c.day <= until).group_by(td.c.day, key_col, td.c.status)
    for d, k, status, n in conn.execute(q1):
        d = d if isinstance(d, date) else date.fromisoformat(str(d))
        for kk in keys_of(k):
            daily[d][kk][status] += int(n)
    keys = set(base) | {k for per in daily.values() for k in per}
    out = []
    for key in (sorted(keys, key=_sort_section) if by == "section" else group_order(list(keys))):
        cur = dict(base.get(key, {}))
        points = []
        day = since
        while day <= until:
            for status, n in daily.get(day, {}).get(key, {}).items():
                cur[status] = cur.get(status, 0) + n
            points.append(TrendPoint(day=day, counts={st: n for st, n in sorted(cur.items()) if n}))
            day += timedelta(days=1)
        if any(p.counts for p in points):
            out.append(Trend(key=key, points=points))
    return out


# --- worsened -----------------------------------------------------------------------------------------


WORSE_STATUSES = ("warn", "error", "fail")  # the statuses a worsening can end in (rank > 0, see `_rank`)


def _rank_sql(col: Any) -> Any:
    from sqlalchemy import case

    return case((col == "warn", 1), (col == "error", 2), (col == "fail", 3), else_=0)


def worsened_since(conn: Connection, filters: Filters, since: datetime, limit: int = 200) -> list[Worsened]:
    """(host, clause) pairs whose latest status is worse than the host's status at `since`.

    The status at `since` is that of the host's latest report observed at or before it; "worse" is the
    diff's rank (a move to warn, error or fail from something milder); a clause absent then or now is not
    a worsening, nor is a host without a report at or before `since`. changed_at/report_id: the earliest
    report from which the clause has had its current status in every later report of the host (it is
    after `since`, since the status then was a different one). Newest changes first, then by host name and
    clause; at most `limit`.

    Read from the runs kept in host_clause_latest (summaries.Run): a pair can only be a worsening when its
    run began after `since` and its status is warn/error/fail. When the previous status began at or
    before `since`, it is the status at `since` (`prev_status`), and the comparison is made by the
    database; only clauses that changed more than once after `since` need the host's report at `since`,
    looked up in host_reports.
    """
    since = as_utc(since)  # type: ignore[assignment]
    sets = _group_sets(conn)
    hcl, hl = s.host_clause_latest, s.host_latest
    conds = _common_conds(hcl, filters, sets)
    if conds is None:
        return []
    cols = (hcl.c.host_key, hl.c.name, hcl.c.clause, hcl.c.status, hcl.c.since_at, hcl.c.since_report_id, hcl.c.prev_status)
    base = select(*cols).join(hl, hl.c.host_key == hcl.c.host_key).where(*conds, hcl.c.since_at > since, hcl.c.status.in_(WORSE_STATUSES))
    found: list[tuple[Any, str]] = []
    # the previous status held at `since`: compared in SQL, newest first, read only as far as `limit` needs
    q1 = base.where(hcl.c.prev_since_at <= since, hcl.c.prev_status.is_not(None), _rank_sql(hcl.c.status) > _rank_sql(hcl.c.prev_status))
    last = None
    for row in conn.execute(q1.order_by(hcl.c.since_at.desc())):
        if len(found) >= limit and row.since_at != last:
            break
        found.append((row, row.prev_status))
        last = row.since_at
    # changed more than once since then: the status at `since` is read from the host's report then
    unknown = list(conn.execute(base.where(hcl.c.prev_since_at > since)))
    if unknown:
        then = _clauses_at(conn, sorted({r.host_key for r in unknown}), since)
        for r in unknown:
            b = then.get(r.host_key, {}).get(r.clause)
            if b is not None and _rank(r.status) > _rank(b):
                found.append((r, b))
    out = [
        Worsened(host_key=r.host_key, host_name=r.name, clause=r.clause, before=b, after=r.status, changed_at=as_utc(r.since_at),  # type: ignore[arg-type]
                 report_id=r.since_report_id)
        for r, b in found
    ]
    out.sort(key=lambda w: (-w.changed_at.timestamp(), w.host_name, _sort_clause(w.clause)))
    return out[:limit]


def _clauses_at(conn: Connection, host_keys: list[str], at: datetime) -> dict[str, dict[str, str]]:
    """host -> its clause statuses in its latest report observed at or before `at` (hosts without one left out)."""
    hr = s.host_reports
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(host_keys), 400):
        chunk = host_keys[start:start + 400]
        last = (
            select(hr.c.host_key.label("hk"), func.max(hr.c.observed_at).label("obs"))
            .where(hr.c.host_key.in_(chunk), hr.c.observed_at <= at).group_by(hr.c.host_key).subquery()
        )
        q = select(hr.c.host_key, hr.c.report_id, hr.c.received_at, hr.c.clauses).join(last, and_(hr.c.host_key == last.c.hk, hr.c.observed_at == last.c.obs))
        best: dict[str, tuple[Any, str]] = {}
        for hk, rid, rec, clauses in conn.execute(q):  # ties on observed_at: the latest order's tie-break
            k = (as_utc(rec), rid)
            if hk not in best or k > best[hk][0]:  # type: ignore[operator]
                best[hk] = (k, clauses)
        out.update({hk: dict(c) for hk, (_, c) in best.items()})
    return out


def clause_check_ids(conn: Connection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """The checks behind each (host, clause) now (host_clause_latest.check_ids): what a one-check waiver is matched against."""
    from sqlalchemy import tuple_

    hcl = s.host_clause_latest
    out: dict[tuple[str, str], list[str]] = {}
    wanted = list(dict.fromkeys(pairs))
    for start in range(0, len(wanted), 400):
        chunk = wanted[start:start + 400]
        q = select(hcl.c.host_key, hcl.c.clause, hcl.c.check_ids).where(tuple_(hcl.c.host_key, hcl.c.clause).in_(chunk))
        for hk, clause, ids in conn.execute(q):
            out[(hk, clause)] = list(ids or [])
    return out


# --- clause and host pages ----------------------------------------------------------------------------


def clause_hosts(conn: Connection, clause: str, filters: Filters) -> list[HostClauseStatus]:
    """Every host's latest status for one clause, worst first, then by name."""
    sets = _group_sets(conn)
    hcl, hl = s.host_clause_latest, s.host_latest
    conds = _common_conds(hcl, filters.model_copy(update={"clauses": []}), sets)
    if conds is None:
        return []
    q = (
        select(hcl.c.host_key, hl.c.name, hcl.c.gk, hl.c.os, hcl.c.status, hcl.c.check_ids, hcl.c.observed_at, hcl.c.report_id)
        .join(hl, hl.c.host_key == hcl.c.host_key)
        .where(hcl.c.clause == clause, *conds)
    )
    out = [
        HostClauseStatus(
            host_key=r.host_key, host_name=r.name, groups=sets.get(r.gk, []), os=r.os, status=r.status, check_ids=list(r.check_ids),
            observed_at=as_utc(r.observed_at), report_id=r.report_id,  # type: ignore[arg-type]
        )
        for r in conn.execute(q)
    ]
    out.sort(key=lambda h: (-s.RANK.get(h.status, 0), h.host_name, h.host_key))
    return out


def _scan_ref(row: Any) -> ScanRef:
    return ScanRef(
        report_id=row.report_id, agent_id=row.agent_id, transport=row.transport, observed_at=as_utc(row.observed_at),  # type: ignore[arg-type]
        received_at=as_utc(row.received_at), counts=dict(row.counts),  # type: ignore[arg-type]
    )


_SCAN_COLS = (s.host_reports.c.report_id, s.host_reports.c.agent_id, s.host_reports.c.transport, s.host_reports.c.observed_at,
              s.host_reports.c.received_at, s.host_reports.c.counts)


def host_scans(conn: Connection, host_key: str, limit: int = 50) -> list[ScanRef]:
    """The host's reports, newest first."""
    hr = s.host_reports
    q = select(*_SCAN_COLS).where(hr.c.host_key == host_key).order_by(hr.c.observed_at.desc(), hr.c.received_at.desc(), hr.c.report_id.desc()).limit(limit)
    return [_scan_ref(r) for r in conn.execute(q)]


def _finding_rows(conn: Connection, report_id: str, host_key: str) -> list[Any]:
    f = t.findings
    q = select(f.c.seq, f.c.finding_id, f.c.check_id, f.c.status, f.c.severity, f.c.subject, f.c.clauses, f.c.text, f.c.evidence, f.c.waiver)
    return list(conn.execute(q.where(f.c.report_id == report_id, f.c.host_key == host_key).order_by(f.c.seq)))


def _excerpts(conn: Connection, report_id: str, evidence_ids: set[str]) -> dict[str, str]:
    if not evidence_ids:
        return {}
    e = t.evidence
    q = select(e.c.evidence_id, func.substr(e.c.raw, 1, EXCERPT)).where(e.c.report_id == report_id, e.c.evidence_id.in_(sorted(evidence_ids)))
    return {eid: raw or "" for eid, raw in conn.execute(q)}


def scan_findings(conn: Connection, report_id: str, host_key: str) -> list[FindingView]:
    """The host's findings in one report, in report order, with an excerpt of the evidence behind each."""
    rows = _finding_rows(conn, report_id, host_key)
    ex = _excerpts(conn, report_id, {eid for r in rows for eid in (r.evidence or [])})
    out = []
    for r in rows:
        txt = r.text
        parts = [ex[eid] for eid in (r.evidence or []) if ex.get(eid)]
        out.append(FindingView(
            report_id=report_id, seq=r.seq, finding_id=r.finding_id, check_id=r.check_id, status=r.status, severity=r.severity, subject=r.subject,
            clauses=list(r.clauses), title_ja=txt["title"]["ja"], title_en=txt["title"]["en"], detail_ja=txt["detail"]["ja"],
            detail_en=txt["detail"]["en"], remediation_ja=txt["remediation"]["ja"], remediation_en=txt["remediation"]["en"],
            evidence_excerpt="\n".join(parts)[:EXCERPT], waiver=r.waiver,
        ))
    return out


def host_detail(conn: Connection, host_key: str, scans_limit: int = 50) -> HostDetail | None:
    h = t.hosts
    row = conn.execute(select(h).where(h.c.key == host_key)).first()
    if row is None:
        return None
    latest = conn.execute(select(s.host_latest.c.report_id, s.host_latest.c.gk).where(s.host_latest.c.host_key == host_key)).first()
    report_id = latest.report_id if latest is not None else row.last_report_id
    groups = _group_sets(conn).get(latest.gk, []) if latest is not None else []
    by_section: dict[str, list[FindingView]] = defaultdict(list)
    for fv in scan_findings(conn, report_id, host_key):
        for sec in dict.fromkeys(s.section_of(c) for c in sorted(fv.clauses, key=_sort_clause)):
            by_section[sec].append(fv)
    return HostDetail(
        host_key=row.key, host_id=row.host_id, name=row.name, fqdn=row.fqdn, kind=row.kind, os=row.os, groups=groups,
        last_agent_id=row.last_agent_id, last_seen=as_utc(row.last_seen), first_seen=as_utc(row.first_seen),  # type: ignore[arg-type]
        findings_by_section={k: by_section[k] for k in sorted(by_section, key=_sort_section)},
        scans=host_scans(conn, host_key, scans_limit),
    )


# --- diff ---------------------------------------------------------------------------------------------


def _rank(status: str | None) -> int:
    return {"warn": 1, "error": 2, "fail": 3}.get(status or "", 0)


def scan_diff(conn: Connection, host_key: str, older_report_id: str, newer_report_id: str) -> ScanDiff | None:
    hr = s.host_reports
    refs = {r.report_id: _scan_ref(r) for r in conn.execute(select(*_SCAN_COLS).where(hr.c.host_key == host_key, hr.c.report_id.in_([older_report_id, newer_report_id])))}
    if older_report_id not in refs or newer_report_id not in refs:
        return None

    def keyed(report_id: str) -> dict[tuple[str, str | None], Any]:
        out: dict[tuple[str, str | None], Any] = {}
        for r in _finding_rows(conn, report_id, host_key):
            k = (r.check_id, r.subject)
            if k not in out or s.RANK.get(r.status, 0) > s.RANK.get(out[k].status, 0):
                out[k] = r
        return out

    old, new = keyed(older_report_id), keyed(newer_report_id)
    better: list[DiffItem] = []
    worse: list[DiffItem] = []
    added: list[DiffItem] = []
    gone: list[DiffItem] = []
    unchanged = 0

    def item(r: Any, before: str | None, after: str | None) -> DiffItem:
        return DiffItem(check_id=r.check_id, subject=r.subject, clauses=list(r.clauses), title_ja=r.text["title"]["ja"], title_en=r.text["title"]["en"], before=before, after=after)

    for k in sorted(set(old) | set(new), key=lambda k: (k[0], k[1] or "")):
        o, n = old.get(k), new.get(k)
        if o is None:
            added.append(item(n, None, n.status))
        elif n is None:
            gone.append(item(o, o.status, None))
        elif _rank(n.status) > _rank(o.status):
            worse.append(item(n, o.status, n.status))
        elif _rank(n.status) < _rank(o.status):
            better.append(item(n, o.status, n.status))
        else:
            unchanged += 1
    return ScanDiff(host_key=host_key, older=refs[older_report_id], newer=refs[newer_report_id], better=better, worse=worse, new=added, gone=gone, unchanged=unchanged)
