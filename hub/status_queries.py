"""The read API's latest-status queries, answered from the summary tables ingest keeps (tenken.hub.summaries).

At hospital-group scale (hundreds of millions of finding rows) "where does this host stand, clause by clause"
must not search the host's whole finding history. Ingest already writes, in the report's own transaction,
one `host_reports` row per (host, report) with the worst status per clause and the status counts, and
`hosts.last_report_id`. So:

- `host_clause_status`: per clause, the most recent report that judged it on the host (a clause only an older
  scan judged keeps that scan's answer, as the API always did; `host_clause_latest` instead drops such a
  clause, which is right for the web matrix but not for this API), from the host's `host_reports` rows
  (one per scan); then the finding ids behind each answer from that one report's `finding_clauses` rows,
  with the report's time so PostgreSQL reads a single month's partition.
- `latest_counts`: each host's status counts in its latest report, from `host_reports.counts`.

Ordering and ties are the API's: observed_at descending, then report id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select
from tenken.hub import summaries
from tenken.hub import tables as t


@dataclass(frozen=True)
class ClauseAnswer:
    clause: str
    status: str  # the worst status among the host's findings for the clause in that report
    report_id: str
    observed_at: datetime
    finding_ids: list[str]


def host_clause_status(conn: Connection, host_key: str) -> list[ClauseAnswer]:
    """For each clause, the newest report that judged it on this host and the worst status in it ([] if none)."""
    hr = summaries.host_reports
    chosen: dict[str, tuple[str, datetime, str]] = {}
    q = select(hr.c.report_id, hr.c.observed_at, hr.c.clauses).where(hr.c.host_key == host_key).order_by(hr.c.observed_at.desc(), hr.c.report_id)
    for rid, observed, clauses in conn.execute(q):
        for clause, status in (clauses or {}).items():
            if clause not in chosen:
                chosen[clause] = (rid, observed, status)
    by_report: dict[str, list[str]] = defaultdict(list)
    for clause, (rid, _, _) in chosen.items():
        by_report[rid].append(clause)
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    fc, f, r = t.finding_clauses, t.findings, t.reports
    for rid, clauses in by_report.items():
        times = conn.execute(select(r.c.finished_at, r.c.observed_at).where(r.c.id == rid)).first()
        if times is None:
            continue
        q2 = (
            select(fc.c.clause, f.c.finding_id)
            .join(f, and_(f.c.report_id == fc.c.report_id, f.c.seq == fc.c.seq, f.c.finished_at == times.finished_at))
            .where(fc.c.report_id == rid, fc.c.finished_at == times.observed_at, fc.c.host_key == host_key, fc.c.clause.in_(clauses))
        )
        for clause, fid in conn.execute(q2):
            ids[(rid, clause)].add(fid)
    return [ClauseAnswer(clause, status, rid, observed, sorted(ids[(rid, clause)])) for clause, (rid, observed, status) in chosen.items()]


def latest_counts(conn: Connection) -> dict[tuple[str, str], dict[str, int]]:
    """(report id, host key) -> status counts of every host's latest report."""
    hr, h = summaries.host_reports, t.hosts
    q = select(hr.c.report_id, hr.c.host_key, hr.c.counts).join(h, and_(h.c.last_report_id == hr.c.report_id, h.c.key == hr.c.host_key))
    return {(rid, key): {s: int(n) for s, n in (counts or {}).items()} for rid, key, counts in conn.execute(q)}
