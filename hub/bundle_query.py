"""Which stored reports an evidence bundle taken from the hub contains, with what verifies them.

Shared by the API route `tenken bundle --hub` calls and by the web view's export, so both bundle the same
reports for the same filter. Without a period, a bundle holds the latest report of every host (what the
hospital's state is now); with `since`/`until`, every report observed in that period (what was checked then).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from tenken.agent.bundle.sources import BundleFilter
from tenken.hub import tables as t
from tenken.hub.db import as_utc


@dataclass(frozen=True)
class StoredEnvelope:
    report_id: str
    envelope: bytes
    agent_id: str
    signing_key: str  # the agent's enrolled Ed25519 key, PEM
    received_at: datetime
    observed_at: datetime


def matching_report_ids(engine: Engine, f: BundleFilter) -> list[str]:
    """Report ids for the filter, oldest first (observed_at, id), so paging is stable."""
    r = t.reports
    with engine.connect() as conn:
        if f.since is None and f.until is None:
            latest = select(t.hosts.c.last_report_id).distinct()
            q = select(r.c.id, r.c.observed_at).where(r.c.id.in_(latest))
        else:
            q = select(r.c.id, r.c.observed_at)
            if f.since is not None:
                q = q.where(r.c.observed_at >= f.since)
            if f.until is not None:
                q = q.where(r.c.observed_at < f.until)
        if f.clause is not None:
            q = q.where(r.c.id.in_(select(t.finding_clauses.c.report_id).where(t.finding_clauses.c.clause == f.clause)))
        rows = conn.execute(q.order_by(r.c.observed_at, r.c.id)).all()
        ids = [row[0] for row in rows]
        if f.group is not None and ids:
            with_group: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for rid, groups in conn.execute(select(t.targets.c.report_id, t.targets.c.groups).where(t.targets.c.report_id.in_(chunk))):
                    if isinstance(groups, list) and f.group in groups:
                        with_group.add(rid)
            ids = [i for i in ids if i in with_group]
    return ids


def load_envelopes(engine: Engine, report_ids: list[str]) -> Iterator[StoredEnvelope]:
    """One envelope at a time, in the given order: an envelope may be as large as the hub's body limit, so
    a page of them is never loaded at once."""
    r, a = t.reports, t.agents
    q = select(r.c.id, r.c.envelope, r.c.agent_id, a.c.signing_key, r.c.received_at, r.c.observed_at).join(a, a.c.id == r.c.agent_id)
    with engine.connect() as conn:
        for rid in report_ids:
            row = conn.execute(q.where(r.c.id == rid)).first()
            if row is not None:
                yield StoredEnvelope(rid, bytes(row.envelope), row.agent_id, row.signing_key, as_utc(row.received_at), as_utc(row.observed_at))
