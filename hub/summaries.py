"""Summary tables for the web view: every host's latest status per clause, and per-day changes for trends.

Why these tables exist: the web pages ask "where does every host stand now, clause by clause" and "how did
that change over 30 days". Answered from `findings`/`finding_clauses` alone, each page would have to find the
latest report of every host (and of every host on every day) among millions of rows. So ingest keeps, in
the same transaction as the report itself (`update_after_ingest`):

- `group_sets`: a host's groups as one canonical set, keyed by a short digest (`gk`). Summary rows carry the
  digest instead of one row per group, so a host in two groups is never counted twice in an "all groups"
  total, and a group filter is `gk IN (the digests whose set contains it)`.
- `host_reports`: one row per (host, report covering it): when it was observed, by which agent and
  transport, the host's groups/OS in that report, its status counts and its per-clause status (the worst
  status among its findings mapped to the clause, checks/finding.py STATUS_PRECEDENCE). A host's history
  (scan list, diffs, "worsened since", out-of-order arrivals, `rebuild`) reads these small rows instead of
  re-aggregating findings.
- `host_latest` and `host_clause_latest`: the host's latest report and its status per clause in it. "Latest"
  is ordered by (observed_at, received_at, report_id): observed_at as in the read API, then the receipt time
  and the id only so that ties have one answer, the same for incremental updates and for `rebuild`. A
  report older than the stored latest (late spool upload) never replaces it; a clause the latest report no
  longer mentions is gone from `host_clause_latest` (the host drops out of that clause).
- `host_clause_latest` also keeps, per (host, clause), when its current status began (`Run`): `since_at` and
  `since_report_id`, the earliest report of the host from which the clause has had its current status in
  every later report (ordered as "latest" is, every report counts, not only a day's last); and the
  status before it, `prev_status` (the clause's status in the report just before the run; NULL when that
  report did not mention it) with `prev_since_at`, when that previous status began (its own run's since_at;
  for a clause the previous report did not mention, that report's observed_at: absence is not tracked
  further back; NULL when the run starts at the host's first report). With both, "what was the status at
  time T" is answered without the history whenever the clause changed at most once after T. This is
  what "worsened since a date" reads (web_queries.worsened_since) instead of decoding the history. Ingest
  extends or restarts the run from the stored latest rows (`advance`); a late report can cut or extend a
  run anywhere in the history, so the host's runs are then folded again over its whole history with the
  same `advance`, which is also what `rebuild` does.
- `trend_deltas`: for each UTC day, the net change in the number of (host, clause) judgements per (clause,
  groups, OS family, status). A host's state on a day is that of its latest report observed by the end of
  that day (carried forward over days without a report). The count on day D is the sum of deltas of all
  days <= D, so a trend over any filter (clauses, sections, groups, OS, statuses) is one aggregate over
  small rows, exact for every filter combination, and a late report only adjusts two days (its own and the
  next day on which the host has a report), never every later day.

Targets without a `targets` row (the organisation-wide `site` items of every report) are not hosts and are
left out of these tables: they are shown by the report/bundle views, not in per-host matrices.

OS family (the web filter): "windows" for WinRM targets or an OS text naming Windows; "linux" for local,
--root image and SSH targets otherwise (tenken's SSH collectors are POSIX ones); "other" for TLS endpoints
and anything else (network devices). See `os_family`.

`rebuild` recomputes all of it from the stored reports (used for hubs created before these tables and by
tests, which check that it gives exactly what incremental updates gave).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    inspect,
    select,
    text,
)
from tenken.checks.finding import STATUS_PRECEDENCE
from tenken.hub import tables as t
from tenken.hub.db import as_utc, bulk_insert, is_sqlite

metadata = t.metadata
TZ = t.TZ

group_sets = Table(
    "group_sets",
    metadata,
    Column("gk", String(32), primary_key=True),  # sha256 of the canonical JSON list, first 32 hex digits
    Column("groups", JSON, nullable=False),  # sorted, unique; [] = ungrouped
)

host_reports = Table(
    "host_reports",
    metadata,
    Column("host_key", String(520), primary_key=True),
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("observed_at", TZ, nullable=False),
    Column("received_at", TZ, nullable=False),
    Column("day", Date, nullable=False),  # observed_at's UTC date
    Column("agent_id", String(64), nullable=False),
    Column("transport", String(16), nullable=False),  # the target kind: local, root, ssh, winrm, tls
    Column("name", String(500), nullable=False),  # the target name in that report
    Column("os", Text),
    Column("os_family", String(16), nullable=False),
    Column("gk", String(32), nullable=False),
    Column("counts", JSON, nullable=False),  # status -> findings of this host in the report (present statuses only)
    Column("clauses", JSON, nullable=False),  # clause -> worst status
    Index("ix_host_reports_host_observed", "host_key", "observed_at"),
    Index("ix_host_reports_observed", "observed_at"),
    Index("ix_host_reports_report", "report_id"),  # deleting a report (retention) finds its rows without a scan
)

host_latest = Table(
    "host_latest",
    metadata,
    Column("host_key", String(520), primary_key=True),
    Column("report_id", String(200), nullable=False),
    Column("observed_at", TZ, nullable=False),
    Column("received_at", TZ, nullable=False),
    Column("name", String(500), nullable=False),
    Column("os", Text),
    Column("os_family", String(16), nullable=False),
    Column("gk", String(32), nullable=False),
    Index("ix_host_latest_gk", "gk", "os_family"),
)

host_clause_latest = Table(
    "host_clause_latest",
    metadata,
    Column("host_key", String(520), primary_key=True),
    Column("clause", String(16), primary_key=True),
    Column("section", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("report_id", String(200), nullable=False),
    Column("observed_at", TZ, nullable=False),
    Column("gk", String(32), nullable=False),
    Column("os_family", String(16), nullable=False),
    Column("check_ids", JSON, nullable=False),  # the checks behind the clause on this host, sorted
    # The run of the current status (see `Run`); nullable only because migration 0004 added them to
    # existing rows (it fills them, and ingest always writes them).
    Column("since_at", TZ),
    Column("since_report_id", String(200)),
    Column("prev_status", String(16)),
    Column("prev_since_at", TZ),
    Index("ix_hcl_clause", "clause", "gk", "os_family", "status"),
    Index("ix_hcl_section", "section", "gk", "os_family", "status"),
    Index("ix_hcl_since", "since_at", "status"),
)

trend_deltas = Table(
    "trend_deltas",
    metadata,
    Column("day", Date, primary_key=True),
    Column("clause", String(16), primary_key=True),
    Column("gk", String(32), primary_key=True),
    Column("os_family", String(16), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("section", String(8), nullable=False),
    Column("delta", Integer, nullable=False),
    Index("ix_trend_section", "section", "day"),
)

SUMMARY_TABLES = (group_sets, host_reports, host_latest, host_clause_latest, trend_deltas)

RANK: dict[str, int] = {s.value: p for s, p in STATUS_PRECEDENCE.items()}


def section_of(clause: str) -> str:
    """"SO-13-6" -> "SO-13" (the guideline's chapter); anything else is its own section."""
    head, sep, _ = clause.rpartition("-")
    return head if sep and head.count("-") == 1 else clause


def os_family(kind: str, os_text: str | None) -> str:
    if kind == "winrm" or (os_text and "windows" in os_text.lower()):
        return "windows"
    if kind in ("local", "root", "ssh"):
        return "linux"
    return "other"


def canonical_groups(groups: Iterable[str]) -> list[str]:
    return sorted({g for g in groups if g})


def group_key(groups: list[str]) -> str:
    return hashlib.sha256(json.dumps(groups, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()[:32]


def worse_of(a: str | None, b: str) -> str:
    return b if a is None or RANK.get(b, 0) > RANK.get(a, 0) else a


OrderKey = tuple[datetime, datetime, str]


@dataclass
class HostReport:
    """One host's part of one report, as stored in `host_reports`."""

    host_key: str
    report_id: str
    observed_at: datetime
    received_at: datetime
    agent_id: str
    transport: str
    name: str
    os: str | None
    os_family: str
    groups: list[str]
    counts: dict[str, int]
    clauses: dict[str, str]
    check_ids: dict[str, list[str]]

    @property
    def key(self) -> OrderKey:
        return (self.observed_at, self.received_at, self.report_id)

    @property
    def day(self) -> date:
        return self.observed_at.astimezone(UTC).date()

    @property
    def gk(self) -> str:
        return group_key(self.groups)

    def row(self) -> dict[str, Any]:
        return {
            "host_key": self.host_key, "report_id": self.report_id, "observed_at": self.observed_at, "received_at": self.received_at,
            "day": self.day, "agent_id": self.agent_id, "transport": self.transport, "name": self.name, "os": self.os,
            "os_family": self.os_family, "gk": self.gk, "counts": self.counts, "clauses": self.clauses,
        }


@dataclass(frozen=True)
class State:
    """What a host contributes to the trend counts: (clause, status) judgements under one groups/OS."""

    gk: str
    os_family: str
    clauses: dict[str, str]

    def items(self) -> Iterator[tuple[str, str, str, str]]:
        for clause, status in self.clauses.items():
            yield clause, self.gk, self.os_family, status


@dataclass(frozen=True)
class Run:
    """When a (host, clause) got its current status: see the module docstring."""

    since_at: datetime
    since_report_id: str
    prev_status: str | None
    prev_since_at: datetime | None

    def columns(self) -> dict[str, Any]:
        return {"since_at": self.since_at, "since_report_id": self.since_report_id, "prev_status": self.prev_status, "prev_since_at": self.prev_since_at}


Runs = dict[str, Run]


def advance(runs: Runs, prev: tuple[datetime, dict[str, str]] | None, key: OrderKey, clauses: dict[str, str]) -> Runs:
    """The runs after a host's next report (`key`, `clauses`), given the runs and (observed_at, clauses) of
    the report before it (`prev`, None for the host's first report). A clause keeps its run when the
    previous report had it with the same status, else its run starts at this report and remembers the
    previous status and when that began (see the module docstring)."""
    out: Runs = {}
    for clause, status in clauses.items():
        run = runs.get(clause)
        if prev is None:
            out[clause] = Run(key[0], key[2], None, None)
        elif run is not None and prev[1].get(clause) == status:
            out[clause] = run
        else:
            before = prev[1].get(clause)
            began = run.since_at if (before is not None and run is not None) else prev[0]
            out[clause] = Run(key[0], key[2], before, began)
    return out


def runs_of(history: list[tuple[OrderKey, dict[str, str]]]) -> Runs:
    """The runs of the clauses of a host's latest report, folded over its whole history (any order)."""
    runs: Runs = {}
    prev: tuple[datetime, dict[str, str]] | None = None
    for key, clauses in sorted(history, key=lambda h: h[0]):
        runs = advance(runs, prev, key, clauses)
        prev = (key[0], clauses)
    return runs


def _state(hr: HostReport | None) -> State | None:
    return None if hr is None else State(hr.gk, hr.os_family, hr.clauses)


def _stored_state(row: Any) -> State:
    return State(row.gk, row.os_family, dict(row.clauses))


# --- reading a report's per-host parts ----------------------------------------------------------------


class HostReportBuilder:
    """Folds a report's target, clause and status rows into its per-host parts.

    One aggregation for both sources: ingest feeds it the rows it is writing (no read-back of what it just
    stored), and `host_reports_of` feeds it the stored rows (rebuild, late reports)."""

    def __init__(self, meta: dict[str, tuple[datetime, datetime, str]]) -> None:
        self._meta = meta  # report id -> (observed_at, received_at, agent_id)
        self._parts: dict[tuple[str, str], HostReport] = {}

    def add_target(self, report_id: str, host_key: str, target: str, kind: str, os: str | None, groups: Any) -> None:
        groups = groups if isinstance(groups, list) else []
        k = (host_key, report_id)
        cur = self._parts.get(k)
        if cur is None:  # several targets of one report on one machine: one host part, groups united
            observed, received, agent_id = self._meta[report_id]
            self._parts[k] = HostReport(
                host_key=host_key, report_id=report_id, observed_at=as_utc(observed), received_at=as_utc(received),  # type: ignore[arg-type]
                agent_id=agent_id, transport=kind, name=target, os=os, os_family=os_family(kind, os),
                groups=canonical_groups(groups), counts={}, clauses={}, check_ids={},
            )
        else:
            cur.groups = canonical_groups([*cur.groups, *groups])
            if cur.os is None and os is not None:
                cur.os, cur.os_family = os, os_family(kind, os)

    def add_clause(self, report_id: str, host_key: str, clause: str, status: str, check_id: str) -> None:
        hr = self._parts.get((host_key, report_id))
        if hr is None:
            return  # the site pseudo-target
        hr.clauses[clause] = worse_of(hr.clauses.get(clause), status)
        hr.check_ids.setdefault(clause, []).append(check_id)

    def add_count(self, report_id: str, host_key: str, status: str, n: int) -> None:
        hr = self._parts.get((host_key, report_id))
        if hr is not None:
            hr.counts[status] = hr.counts.get(status, 0) + int(n)

    def parts(self) -> list[HostReport]:
        for hr in self._parts.values():
            hr.check_ids = {c: sorted(set(ids)) for c, ids in hr.check_ids.items()}
        return list(self._parts.values())


def host_reports_of(conn: Connection, report_ids: list[str]) -> list[HostReport]:
    """The per-host parts of stored reports, computed from targets/findings/finding_clauses (one pass each)."""
    if not report_ids:
        return []
    r, tg, f, fc = t.reports, t.targets, t.findings, t.finding_clauses
    q0 = select(r.c.id, r.c.observed_at, r.c.received_at, r.c.agent_id).where(r.c.id.in_(report_ids))
    b = HostReportBuilder({rid: (obs, rec, agent) for rid, obs, rec, agent in conn.execute(q0)})
    q1 = select(tg.c.report_id, tg.c.host_key, tg.c.target, tg.c.kind, tg.c.os, tg.c.groups).where(tg.c.report_id.in_(report_ids)).order_by(tg.c.report_id, tg.c.seq)
    for row in conn.execute(q1):
        b.add_target(*row)
    q2 = (
        select(fc.c.report_id, fc.c.host_key, fc.c.clause, fc.c.status, f.c.check_id)
        .join(f, and_(f.c.report_id == fc.c.report_id, f.c.seq == fc.c.seq))
        .where(fc.c.report_id.in_(report_ids))
    )
    for row in conn.execute(q2):
        b.add_clause(*row)
    q3 = select(f.c.report_id, f.c.host_key, f.c.status, func.count()).where(f.c.report_id.in_(report_ids)).group_by(f.c.report_id, f.c.host_key, f.c.status)
    for row in conn.execute(q3):
        b.add_count(*row)
    return b.parts()


# --- writing ------------------------------------------------------------------------------------------


def _insert_fn(conn: Connection) -> Any:
    if is_sqlite(conn):
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


def _ensure_group_sets(conn: Connection, sets: Iterable[list[str]]) -> None:
    want = {group_key(g): g for g in sets}
    if not want:
        return
    have = set(conn.execute(select(group_sets.c.gk).where(group_sets.c.gk.in_(list(want)))).scalars())
    new = [{"gk": k, "groups": g} for k, g in want.items() if k not in have]
    if new:
        ins = _insert_fn(conn)(group_sets)
        conn.execute(ins.on_conflict_do_nothing(index_elements=["gk"]), new)


def _apply_deltas(conn: Connection, deltas: Counter[tuple[date, str, str, str, str]]) -> None:
    rows = [
        {"day": d, "clause": c, "gk": gk, "os_family": osf, "status": st, "section": section_of(c), "delta": n}
        for (d, c, gk, osf, st), n in sorted(deltas.items()) if n
    ]
    if not rows:
        return
    ins = _insert_fn(conn)(trend_deltas)
    stmt = ins.on_conflict_do_update(
        index_elements=["day", "clause", "gk", "os_family", "status"], set_={"delta": trend_deltas.c.delta + ins.excluded.delta}
    )
    conn.execute(stmt, rows)


def _add_transition(deltas: Counter[tuple[date, str, str, str, str]], day: date, before: State | None, after: State | None) -> None:
    if after is not None:
        for item in after.items():
            deltas[(day, *item)] += 1
    if before is not None:
        for item in before.items():
            deltas[(day, *item)] -= 1


def _replace_latest(conn: Connection, hr: HostReport, runs: Runs) -> None:
    conn.execute(delete(host_latest).where(host_latest.c.host_key == hr.host_key))
    conn.execute(delete(host_clause_latest).where(host_clause_latest.c.host_key == hr.host_key))
    _insert_latest(conn, [hr], {hr.host_key: runs})


def _stored_runs(conn: Connection, host_key: str) -> tuple[Runs, dict[str, str]]:
    """The host's stored runs and statuses per clause (its latest report's, from host_clause_latest)."""
    hcl = host_clause_latest
    runs: Runs = {}
    statuses: dict[str, str] = {}
    q = select(hcl.c.clause, hcl.c.status, hcl.c.since_at, hcl.c.since_report_id, hcl.c.prev_status, hcl.c.prev_since_at).where(hcl.c.host_key == host_key)
    for row in conn.execute(q):
        statuses[row.clause] = row.status
        if row.since_at is not None:
            runs[row.clause] = Run(as_utc(row.since_at), row.since_report_id, row.prev_status, as_utc(row.prev_since_at))  # type: ignore[arg-type]
    return runs, statuses


def _refold_runs(conn: Connection, host_key: str) -> None:
    """After a late report: the host's runs folded again over its whole stored history."""
    hr_t = host_reports
    q = select(hr_t.c.report_id, hr_t.c.observed_at, hr_t.c.received_at, hr_t.c.clauses).where(hr_t.c.host_key == host_key)
    runs = runs_of([((as_utc(r.observed_at), as_utc(r.received_at), r.report_id), dict(r.clauses)) for r in conn.execute(q)])  # type: ignore[misc]
    hcl = host_clause_latest
    for clause, run in runs.items():
        conn.execute(hcl.update().where(hcl.c.host_key == host_key, hcl.c.clause == clause).values(**run.columns()))


def _insert_latest(conn: Connection, hrs: list[HostReport], runs: dict[str, Runs] | None) -> None:
    """runs None: the table has no run columns yet (rebuild inside migration 0003, before 0004 adds them)."""
    no_runs: dict[str, Any] = {}
    bulk_insert(conn, host_latest, [
        {"host_key": hr.host_key, "report_id": hr.report_id, "observed_at": hr.observed_at, "received_at": hr.received_at,
         "name": hr.name, "os": hr.os, "os_family": hr.os_family, "gk": hr.gk}
        for hr in hrs
    ])
    bulk_insert(conn, host_clause_latest, [
        {"host_key": hr.host_key, "clause": c, "section": section_of(c), "status": st, "report_id": hr.report_id, "observed_at": hr.observed_at,
         "gk": hr.gk, "os_family": hr.os_family, "check_ids": hr.check_ids.get(c, []),
         **(runs[hr.host_key][c].columns() if runs is not None else no_runs)}
        for hr in hrs for c, st in hr.clauses.items()
    ])


def _lock_hosts(conn: Connection, host_keys: list[str]) -> None:
    """PostgreSQL: serialise summary updates of one host across hub processes (SQLite has one writer)."""
    if is_sqlite(conn):
        return
    for hk in sorted(set(host_keys)):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7613))"), {"k": hk})


def update_after_ingest(conn: Connection, report_id: str, parts: list[HostReport] | None = None) -> None:
    """Fold one just-stored report into the summaries, inside the ingest transaction.

    In-order arrival (the report is the host's newest, the usual case) needs the host's stored latest state
    only. A late report (observed before the host's latest) is added to the history and to the trend days it
    affects, and leaves the latest alone. `parts`: the report's host parts when the caller has them (ingest
    builds them from the rows it writes, see HostReportBuilder); otherwise they are read back.
    """
    if parts is None:
        parts = host_reports_of(conn, [report_id])
    if not parts:
        return
    _lock_hosts(conn, [hr.host_key for hr in parts])
    _ensure_group_sets(conn, [hr.groups for hr in parts])
    bulk_insert(conn, host_reports, [hr.row() for hr in parts])
    deltas: Counter[tuple[date, str, str, str, str]] = Counter()
    for hr in parts:
        cur = conn.execute(
            select(host_latest.c.report_id, host_latest.c.observed_at, host_latest.c.received_at).where(host_latest.c.host_key == hr.host_key)
        ).first()
        cur_key = None if cur is None else (as_utc(cur.observed_at), as_utc(cur.received_at), cur.report_id)
        if cur_key is None or hr.key > cur_key:  # type: ignore[operator]
            before = None
            if cur is not None:
                prev = conn.execute(
                    select(host_reports.c.gk, host_reports.c.os_family, host_reports.c.clauses)
                    .where(host_reports.c.host_key == hr.host_key, host_reports.c.report_id == cur.report_id)
                ).first()
                before = _stored_state(prev) if prev is not None else None
            _add_transition(deltas, hr.day, before, _state(hr))
            if cur_key is None:
                runs = advance({}, None, hr.key, hr.clauses)
            else:
                stored, statuses = _stored_runs(conn, hr.host_key)
                runs = advance(stored, (cur_key[0], statuses), hr.key, hr.clauses)  # type: ignore[arg-type]
            _replace_latest(conn, hr, runs)
            continue
        # late arrival: it can cut or extend a run anywhere, so the runs are folded again; then its trend days
        _refold_runs(conn, hr.host_key)
        day = hr.day
        hist = conn.execute(
            select(host_reports.c.report_id, host_reports.c.observed_at, host_reports.c.received_at, host_reports.c.day)
            .where(host_reports.c.host_key == hr.host_key, host_reports.c.report_id != hr.report_id)
        ).all()
        keys = [((as_utc(h.observed_at), as_utc(h.received_at), h.report_id), h.day) for h in hist]
        if any(d == day and k > hr.key for k, d in keys):  # type: ignore[operator]
            continue  # a later report of the same day decides that day's state
        earlier = [k for k, _ in keys if k < hr.key]  # type: ignore[operator]
        before = None
        if earlier:
            prev_id = max(earlier)[2]  # type: ignore[type-var]
            prev = conn.execute(
                select(host_reports.c.gk, host_reports.c.os_family, host_reports.c.clauses)
                .where(host_reports.c.host_key == hr.host_key, host_reports.c.report_id == prev_id)
            ).first()
            before = _stored_state(prev)
        later_days = [d for _, d in keys if d > day]
        _add_transition(deltas, day, before, _state(hr))
        if later_days:
            _add_transition(deltas, min(later_days), _state(hr), before)
    _apply_deltas(conn, deltas)


# --- rebuild ------------------------------------------------------------------------------------------


def day_states(history: list[tuple[OrderKey, State]]) -> list[tuple[date, State]]:
    """A host's state per day it has reports: that of the day's last report (history in any order)."""
    last: dict[date, tuple[OrderKey, State]] = {}
    for key, state in history:
        day = key[0].astimezone(UTC).date()
        cur = last.get(day)
        if cur is None or key > cur[0]:
            last[day] = (key, state)
    return [(d, st) for d, (_, st) in sorted(last.items())]


REBUILD_CHUNK = 500


def rebuild(conn: Connection, *, chunk: int = REBUILD_CHUNK) -> None:
    """Recompute every summary table from the stored reports (in the caller's transaction).

    Two passes so that memory stays flat on a large hub: the per-host parts of reports are written chunk by
    chunk, then `host_reports` is streamed host by host to derive the trend deltas and the latest reports.
    """
    for tbl in (trend_deltas, host_clause_latest, host_latest, host_reports, group_sets):
        conn.execute(delete(tbl))
    ids = list(conn.execute(select(t.reports.c.id).order_by(t.reports.c.id)).scalars())
    for start in range(0, len(ids), chunk):
        parts = host_reports_of(conn, ids[start:start + chunk])
        _ensure_group_sets(conn, [hr.groups for hr in parts])
        bulk_insert(conn, host_reports, [hr.row() for hr in parts])
        del parts
    with_runs = "since_at" in {c["name"] for c in inspect(conn).get_columns("host_clause_latest")}
    derive_from_history(conn, chunk=chunk, with_runs=with_runs)


def _history_rows(conn: Connection) -> Iterator[tuple[str, list[tuple[OrderKey, State]]]]:
    """host_reports streamed one host at a time (nothing is written while this runs)."""
    hr_t = host_reports
    q = select(
        hr_t.c.host_key, hr_t.c.report_id, hr_t.c.observed_at, hr_t.c.received_at, hr_t.c.gk, hr_t.c.os_family, hr_t.c.clauses,
    ).order_by(hr_t.c.host_key)
    cur_key: str | None = None
    batch: list[tuple[OrderKey, State]] = []
    for row in conn.execute(q.execution_options(yield_per=5000)):
        if row.host_key != cur_key:
            if batch:
                yield cur_key, batch  # type: ignore[misc]
            batch, cur_key = [], row.host_key
        batch.append(((as_utc(row.observed_at), as_utc(row.received_at), row.report_id), State(row.gk, row.os_family, row.clauses)))  # type: ignore[arg-type]
    if batch:
        yield cur_key, batch  # type: ignore[misc]


def derive_from_history(conn: Connection, *, chunk: int = REBUILD_CHUNK, with_runs: bool = True) -> None:
    """trend_deltas, host_latest and host_clause_latest from a complete `host_reports` (summaries empty).

    with_runs False: a database at revision 0003, whose host_clause_latest has no run columns yet."""
    deltas: Counter[tuple[date, str, str, str, str]] = Counter()
    by_report: dict[str, set[str]] = defaultdict(set)
    runs: dict[str, Runs] = {}
    for host_key, history in _history_rows(conn):
        before: State | None = None
        for day, after in day_states(history):
            _add_transition(deltas, day, before, after)
            before = after
        by_report[max(k for k, _ in history)[2]].add(host_key)
        runs[host_key] = runs_of([(k, st.clauses) for k, st in history])
    _apply_deltas(conn, deltas)
    deltas.clear()
    rids = sorted(by_report)
    for start in range(0, len(rids), chunk):
        parts = [hr for hr in host_reports_of(conn, rids[start:start + chunk]) if hr.host_key in by_report[hr.report_id]]
        _insert_latest(conn, parts, runs if with_runs else None)
