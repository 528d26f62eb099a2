"""Retention: reports observed longer ago than the hub's `retention_years` are exported, verified, then removed.

Why in this order: a hospital must be able to show what was checked years ago, for as long as its own rules
require, and a hub cannot grow forever. So nothing is removed before it is in an evidence bundle made by the
same code as `tenken bundle --hub` / the web export (tenken.hub.bundle_export: every envelope re-verified with
its agent's enrolled key, the manifest signed with the hub's bundle key), written to `retention_dir` and read
back with the bundle verifier (`tenken verify` code) pinned to that key. Any failure stops the run before
anything of that month is removed; months already done stay done.

Granularity is the month: the cut-off is the first instant of the month that contains (now - retention_years),
so a month is removed only once all of it is past the limit, and on PostgreSQL a month of `findings` and
`finding_clauses` is removed by dropping its partitions (tenken.hub.partitions): no row-by-row delete of
hundreds of millions of rows, no bloat. The month's reports are then deleted, which cascades to their
targets, evidence, per-host summaries, and the few finding rows of a report that finished just after the
month ended (observed_at <= finished_at <= observed_at + clock skew). On SQLite (unpartitioned) the same
delete by time removes everything. Hosts whose latest report is removed leave the latest-status summaries
(`host_latest`, `host_clause_latest`); the `hosts` registry and the day-by-day trend counts are kept.

Every applied month is one row in the audit log (`retention.apply`, with the bundles' names and SHA-256);
a failed export is one row with outcome "failed".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, func, select
from tenken.agent.bundle.model import BundleScope
from tenken.agent.bundle.views import default_views
from tenken.hub import partitions, summaries
from tenken.hub import tables as t
from tenken.hub.db import as_utc, utcnow, write_tx
from tenken.hub.settings import HubSettings

#: Reports per exported bundle: a bundle is built in memory (envelopes of up to the body limit each).
DEFAULT_BATCH = 500
DAYS_PER_YEAR = 365.2425


class RetentionError(Exception):
    """Retention cannot run (not configured), or an export failed: nothing of the month was removed."""


@dataclass
class MonthPlan:
    lower: datetime
    upper: datetime  # exclusive; every report observed before it (and not yet removed) goes
    report_ids: list[str]
    findings: int
    partitions: list[str]  # PostgreSQL partitions to drop (empty on SQLite)
    bundles: list[Path] = field(default_factory=list)
    bundle_sha256: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.lower:%Y-%m}"


def cutoff(now: datetime, years: float) -> datetime:
    """First instant (UTC) of the month containing now - years (whole years by the calendar, a fraction as
    days): everything observed before it is past the limit."""
    u = now.astimezone(UTC)
    whole = int(years)
    y = u.year - whole
    back = u.replace(year=y, day=min(u.day, 28)) if (u.month, u.day) == (2, 29) else u.replace(year=y)
    back -= timedelta(days=(years - whole) * DAYS_PER_YEAR)
    return partitions.month_start(*partitions.month_of(back))


def _months(first: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    y, m = partitions.month_of(first)
    while partitions.month_start(y, m) < end:
        ny, nm = partitions.next_month(y, m)
        yield partitions.month_start(y, m), partitions.month_start(ny, nm)
        y, m = ny, nm


def plan(engine: Engine, settings: HubSettings, now: datetime | None = None) -> list[MonthPlan]:
    """What `apply` would export and remove, month by month, oldest first."""
    if settings.retention_years is None:
        raise RetentionError("retention is off (keep forever): set it with `tenken-hub retention set --years N`")
    if settings.window_days >= settings.retention_years * DAYS_PER_YEAR - 31:
        raise RetentionError(f"the hub accepts reports up to {settings.window_days:g} days old (window_days), which reaches past the retention "
                             f"limit of {settings.retention_years:g} years: a report could arrive for a month already removed. "
                             "Lower window_days or raise the retention")
    end = cutoff(now or utcnow(), settings.retention_years)
    r, f = t.reports, t.findings
    out: list[MonthPlan] = []
    with engine.connect() as conn:
        first = conn.execute(select(func.min(r.c.observed_at))).scalar()
        pfirst = [p.lower for tb in partitions.PARTITIONED for p in partitions.list_partitions(conn, tb)]
        starts = [as_utc(x) for x in (first, *pfirst) if x is not None]
        if not starts:
            return []
        parts = {p.name: p for tb in partitions.PARTITIONED for p in partitions.list_partitions(conn, tb)}
        done: set[str] = set()
        for lo, hi in _months(min(starts), end):  # type: ignore[type-var]
            ids = [i for i in conn.execute(select(r.c.id).where(r.c.observed_at < hi).order_by(r.c.observed_at, r.c.id)).scalars() if i not in done]
            done.update(ids)
            names = [p.name for p in parts.values() if p.lower >= lo and p.upper <= hi]
            if not ids and not names:
                continue
            n = conn.execute(select(func.count()).select_from(f).where(f.c.finished_at >= lo, f.c.finished_at < hi)).scalar_one()
            out.append(MonthPlan(lo, hi, ids, int(n), sorted(names)))
    return out


def _write_bundle(path: Path, data: bytes) -> str:
    """Write once, whole (temporary name, fsync, rename): a half-written bundle never has the final name."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def export_month(engine: Engine, settings: HubSettings, mp: MonthPlan, *, batch: int = DEFAULT_BATCH) -> None:
    """Bundle the month's reports (`batch` per file) and verify every file; raises RetentionError on any problem."""
    from tenken.agent import dsse
    from tenken.agent.bundle.verify import verify_bundle
    from tenken.hub.bundle_export import bundle_signing_key, export_reports

    # Pinned as `tenken verify --key` would be by an auditor: the hub's bundle key and the agents' enrolled keys
    # (revoked agents included: what they signed before revocation stays theirs).
    with engine.connect() as conn:
        agent_keys = [dsse.load_public_key(pem.encode()) for pem in conn.execute(select(t.agents.c.signing_key)).scalars()]
    pinned = [bundle_signing_key(settings).public_key(), *agent_keys]
    scope = BundleScope(source="hub", until=mp.upper)
    views = default_views(pdf=False)  # archival: the signed envelopes are the record; HTML/CSV views need no browser
    for k in range(0, len(mp.report_ids), batch):
        ids = mp.report_ids[k:k + batch]
        try:
            built = export_reports(engine, settings, ids, scope, views=views)
        except Exception as exc:  # any failure of the export (an envelope that no longer verifies, a build error)
            raise RetentionError(f"{mp.label}: export of reports {k + 1}-{k + len(ids)} failed: {exc}") from exc
        path = settings.retention_export_dir / f"tenken-retention-{mp.lower:%Y%m}-{k // batch + 1:04d}-{built.bundle_id}.zip"
        sha = _write_bundle(path, built.data)
        check = verify_bundle(path, pinned)
        if not check.ok or check.reports_verified != len(ids):
            first = f"{check.problems[0].member}: {check.problems[0].what}" if check.problems else f"{check.reports_verified} of {len(ids)} reports verified"
            bad = path.with_name(path.name + ".unverified")
            os.replace(path, bad)  # never left under a name that looks like a good bundle
            raise RetentionError(f"{mp.label}: bundle {bad} does not verify: {first}")
        mp.bundles.append(path)
        mp.bundle_sha256.append(sha)
        del built


def remove_month(conn: Connection, mp: MonthPlan) -> None:
    """Drop the month's partitions (PostgreSQL), then delete its reports (cascades), inside the caller's transaction."""
    for name in mp.partitions:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')  # names from pg_catalog matching PARTITION_NAME
    for k in range(0, len(mp.report_ids), 1000):
        ids = mp.report_ids[k:k + 1000]
        conn.execute(delete(summaries.host_clause_latest).where(summaries.host_clause_latest.c.report_id.in_(ids)))
        conn.execute(delete(summaries.host_latest).where(summaries.host_latest.c.report_id.in_(ids)))
        conn.execute(delete(t.reports).where(t.reports.c.id.in_(ids)))  # cascades (each child has an index on report_id)


def _audit(conn: Connection, now: datetime, outcome: str, **detail: object) -> None:
    from tenken.hub.web.accounts import audit

    audit(conn, now, "retention.apply", user="cli", ip="cli", outcome=outcome, **detail)


@dataclass
class Applied:
    months: list[MonthPlan]
    failed: str | None = None


def apply(engine: Engine, settings: HubSettings, *, now: datetime | None = None, batch: int = DEFAULT_BATCH,
          say: Callable[[str], None] = lambda _m: None) -> Applied:
    """Export, verify, then remove each month past the limit, oldest first (see the module docstring)."""
    now = now or utcnow()
    done: list[MonthPlan] = []
    for mp in plan(engine, settings, now):
        try:
            if mp.report_ids:
                export_month(engine, settings, mp, batch=batch)
        except RetentionError as exc:
            with write_tx(engine) as conn:
                _audit(conn, now, "failed", month=mp.label, reports=len(mp.report_ids), error=str(exc)[:500])
            return Applied(done, failed=str(exc))
        with write_tx(engine) as conn:
            partitions_lock(conn)
            remove_month(conn, mp)
            _audit(conn, now, "ok", month=mp.label, before=mp.upper.isoformat(), reports=len(mp.report_ids), findings=mp.findings,
                   partitions_dropped=mp.partitions, bundles=[p.name for p in mp.bundles], bundle_sha256=mp.bundle_sha256,
                   retention_years=settings.retention_years)
        partitions.forget_cache()
        say(f"{mp.label}: exported {len(mp.report_ids)} reports to {len(mp.bundles)} verified bundle(s), removed "
            f"{mp.findings} findings" + (f", dropped {len(mp.partitions)} partitions" if mp.partitions else ""))
        done.append(mp)
    return Applied(done)


def partitions_lock(conn: Connection) -> None:
    """Dropping partitions is a schema change: serialise with upgrades and partition creation (PostgreSQL)."""
    from tenken.hub.migrations import lock_upgrades

    lock_upgrades(conn)
