"""The read API's latest-status answers, now served from the summaries, equal the answer computed the old way
from every finding_clauses row of the host (random histories with ties, late arrivals, clauses only older
scans judged, multi-clause findings), on SQLite and PostgreSQL (months apart: several partitions)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, and_, func, select
from tenken.checks.finding import Status, worst
from tenken.hub import status_queries
from tenken.hub import tables as t
from test_web_queries import BASE, engine, ingest, random_history  # noqa: F401 - `engine` is the fixture


def naive_host_status(conn: Any, key: str) -> dict[str, tuple[str, str, list[str]]]:
    """The query the API used before (every clause row of the host, newest first)."""
    fc, f = t.finding_clauses, t.findings
    per: dict[str, dict[str, Any]] = {}
    q = (select(fc.c.clause, fc.c.status, fc.c.report_id, f.c.finding_id).join(f, and_(f.c.report_id == fc.c.report_id, f.c.seq == fc.c.seq))
         .where(fc.c.host_key == key).order_by(fc.c.clause, fc.c.finished_at.desc(), fc.c.report_id))
    for row in conn.execute(q):
        cur = per.get(row.clause)
        if cur is None:
            per[row.clause] = {"rid": row.report_id, "st": [Status(row.status)], "ids": [row.finding_id]}
        elif cur["rid"] == row.report_id:
            cur["st"].append(Status(row.status))
            cur["ids"].append(row.finding_id)
    return {c: (str(worst(v["st"])), v["rid"], sorted(set(v["ids"]))) for c, v in per.items()}


def naive_counts(conn: Any) -> dict[tuple[str, str], dict[str, int]]:
    h, f = t.hosts, t.findings
    q = (select(f.c.report_id, f.c.host_key, f.c.status, func.count()).join(h, and_(h.c.last_report_id == f.c.report_id, h.c.key == f.c.host_key))
         .group_by(f.c.report_id, f.c.host_key, f.c.status))
    out: dict[tuple[str, str], Counter[str]] = {}
    for rid, key, status, n in conn.execute(q):
        out.setdefault((rid, key), Counter())[status] = n
    return {k: dict(v) for k, v in out.items()}


@pytest.mark.parametrize(("seed", "n", "days"), [(3, 70, 80), (4, 50, 2)])
def test_summary_served_status_equals_the_findings_scan(engine: Engine, seed: int, n: int, days: int) -> None:  # noqa: F811
    rng = random.Random(seed)
    for rep, received in random_history(rng, n, days):
        ingest(engine, rep, received)
    with engine.connect() as conn:
        keys = list(conn.execute(select(t.hosts.c.key)).scalars())
        assert len(keys) >= 5
        dropped = 0
        for key in keys:
            got = {a.clause: (a.status, a.report_id, a.finding_ids) for a in status_queries.host_clause_status(conn, key)}
            want = naive_host_status(conn, key)
            assert got == want, key
            latest = conn.execute(select(t.hosts.c.last_report_id).where(t.hosts.c.key == key)).scalar()
            dropped += sum(1 for rid in {v[1] for v in want.values()} if rid != latest)
        assert dropped > 0  # some clause's answer comes from an older scan than the host's latest
        counts = status_queries.latest_counts(conn)
        assert {k: v for k, v in counts.items() if v} == naive_counts(conn)


def _old_findings_page(conn: Any, clause: str | None, status: str | None, host: str | None, since: Any, until: Any, limit: int, offset: int) -> tuple[int, list[tuple[str, str]]]:
    """GET /findings as it was written before the clause path was reshaped (a plain join)."""
    f, fc = t.findings, t.finding_clauses
    conds = []
    if status is not None:
        conds.append(f.c.status == status)
    if host is not None:
        conds.append(f.c.host_key == host)
    if since is not None:
        conds.append(f.c.finished_at >= since)
    if until is not None:
        conds.append(f.c.finished_at < until)
    base = select(f.c.report_id, f.c.finding_id).join(t.reports, t.reports.c.id == f.c.report_id)
    count = select(func.count()).select_from(f)
    if clause is not None:
        on = and_(fc.c.report_id == f.c.report_id, fc.c.seq == f.c.seq, fc.c.clause == clause)
        base, count = base.join(fc, on), count.join(fc, on)
    rows = conn.execute(base.where(*conds).order_by(f.c.finished_at.desc(), f.c.report_id, f.c.seq).limit(limit).offset(offset)).all()
    return conn.execute(count.where(*conds)).scalar_one(), [tuple(r) for r in rows]


@pytest.mark.parametrize("batch", [500, 1])  # SQLite walks reports in batches: one, and many with a page across them
def test_findings_api_answers_equal_the_plain_join(engine: Engine, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from functools import partial
    from types import SimpleNamespace

    from tenken.hub import api

    monkeypatch.setattr(api, "_clause_page_by_reports", partial(api._clause_page_by_reports, batch=batch))

    rng = random.Random(5)
    for rep, received in random_history(rng, 60, 70):
        ingest(engine, rep, received)
    req = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(engine=engine)))
    with engine.connect() as conn:
        hosts = list(conn.execute(select(t.hosts.c.key)).scalars())
    mid = BASE + timedelta(days=20)
    combos = [
        {"clause": c, "status": st, "host": h, "since": s, "until": u, "limit": lim, "offset": off}
        for c in ("SO-14-2", "SO-2-1", "SO-13-7")
        for st in (None, "fail")
        for h in (None, hosts[0])
        for s, u in ((None, None), (mid, None), (BASE, mid))
        for lim, off in ((100, 0), (3, 2), (4, 30))
    ]
    checked = 0
    for kw in combos:
        page = api.findings(req, target=None, status=Status(kw["status"]) if kw["status"] else None,  # type: ignore[arg-type]
                            clause=kw["clause"], host=kw["host"], since=kw["since"], until=kw["until"], limit=kw["limit"], offset=kw["offset"])
        with engine.connect() as conn:
            total, want = _old_findings_page(conn, **kw)
        assert page.total == total, kw
        assert [(i.report_id, i.id) for i in page.items] == want, kw
        checked += total > 0
    assert checked > len(combos) // 2  # most combinations match something
