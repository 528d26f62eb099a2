"""Findings partitioned by month (PostgreSQL) / the same keys on SQLite: a populated hub at revision 0003
upgrades, keeps every row, still verifies every envelope and answers the read API exactly as before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from hub_harness import Agent, make_agent, make_report, run_hub_cli, start_hub
from sqlalchemy import MetaData, func, select, text
from tenken.hub import migrations, partitions
from tenken.hub import tables as t
from tenken.hub.db import make_engine
from tenken.hub.schema import all_tables

DAYS_AGO = (0, 33, 66)  # three different months whatever today is


def _dump(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {tb.name: [dict(r) for r in conn.execute(select(tb).order_by(*tb.primary_key.columns)).mappings()] for tb in all_tables()}
    finally:
        engine.dispose()
    # a day whose changes cancel out is kept as a 0 by ingest and not written by a rebuild (the upgrade's
    # 0004 rebuilds the summaries): the same trend either way
    out["trend_deltas"] = [r for r in out.get("trend_deltas", []) if r["delta"] != 0]
    return out


def _api_answers(hub: Any, report_ids: list[str], since: datetime) -> dict[str, Any]:
    with hub.operator() as op:
        out: dict[str, Any] = {"hosts": op.get("/api/v1/hosts").raise_for_status().json()}
        for h in ("db1", "db2"):
            out[f"status/{h}"] = op.get(f"/api/v1/hosts/{h}/status").raise_for_status().json()
        for params in ({"clause": "SO-14-2"}, {"target": "db1", "status": "fail"}, {"host": "ssh:db2", "limit": 1000},
                       {"since": since.isoformat()}):
            out[f"findings/{sorted(params.items())}"] = op.get("/api/v1/findings", params=params).raise_for_status().json()
        for rid in report_ids:
            out[f"report/{rid}"] = op.get(f"/api/v1/reports/{rid}").raise_for_status().json()
            v = op.get(f"/api/v1/reports/{rid}/verify").raise_for_status().json()
            assert v["verified"] is True, v
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_populated_hub_upgrades_to_partitioned_findings_and_answers_the_same(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pg_url = None
    if backend == "postgresql":
        pg = request.getfixturevalue("postgres")
        pg_url = pg.create_database("part_" + uuid.uuid4().hex[:10])
    data = tmp_path / "data"
    hub = start_hub(data, pg_url, extra=("--window-days", "100"))
    ids: list[str] = []
    try:
        agent: Agent = make_agent(hub, tmp_path / "agent")
        now = datetime.now(UTC)
        for d in DAYS_AGO:
            for host in ("db1", "db2"):
                rep = make_report(target=host, n_findings=30, finished_at=now - timedelta(days=d, minutes=len(ids)),
                                  clauses=("SO-14-2", "SO-7-1", "SO-9-3"))
                r = agent.post(hub, agent.sign(rep))
                assert r.status_code == 201, r.text
                ids.append(rep.id)
        before_api = _api_answers(hub, ids, now - timedelta(days=40))
    finally:
        hub.stop()
    url = hub.database_url
    rows = _dump(url)
    assert len(rows["findings"]) == 6 * 30

    # Rebuild the same data in a database at revision 0003 (the shape before this change), then upgrade it.
    if backend == "postgresql":
        old_url = pg.create_database("part_old_" + uuid.uuid4().hex[:10])
        (data / "hub.json").write_text((data / "hub.json").read_text().replace(pg_url, old_url))
    else:
        (data / "hub.db").rename(tmp_path / "head.db")
        for extra in ("hub.db-wal", "hub.db-shm"):
            (data / extra).unlink(missing_ok=True)
        old_url = f"sqlite:///{data / 'hub.db'}"
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            cfg = migrations._config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            old = MetaData()
            old.reflect(conn)
            for tb in old.sorted_tables:  # the old order: finding_clauses referenced findings then
                if rows.get(tb.name):
                    conn.execute(tb.insert(), rows[tb.name])
            if backend == "postgresql":
                assert conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'findings'")).scalar() == "r"
    finally:
        engine.dispose()
    up = run_hub_cli("db", "upgrade", "--data", str(data))
    assert f"to {migrations.head()}" in up.stdout, up.stdout

    assert _dump(old_url) == rows  # every row kept, values unchanged
    engine = make_engine(old_url)
    try:
        with engine.connect() as conn:
            parts = partitions.list_partitions(conn, "findings")
            if backend == "postgresql":
                assert conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'findings'")).scalar() == "p"
                months = {partitions.month_of(r["finished_at"]) for r in rows["findings"]}
                assert len(months) == 3 and {(p.lower.year, p.lower.month) for p in parts} == months
                assert {(p.lower.year, p.lower.month) for p in partitions.list_partitions(conn, "finding_clauses")} >= months
                # rows really live in the month partitions
                total = sum(conn.execute(text(f'SELECT count(*) FROM "{p.name}"')).scalar() for p in parts)
                assert total == len(rows["findings"])
            else:
                assert parts == []
            assert conn.execute(select(func.count()).select_from(t.findings)).scalar() == len(rows["findings"])
    finally:
        engine.dispose()

    hub = start_hub(data, old_url if backend == "postgresql" else None, token=hub.token, extra=("--window-days", "100"))
    try:
        after_api = _api_answers(hub, ids, now - timedelta(days=40))
        assert after_api == before_api
        # and the upgraded hub keeps ingesting, into new months' partitions when needed
        r = agent.post(hub, agent.sign(make_report(target="db1", n_findings=5)))
        assert r.status_code == 201, r.text
    finally:
        hub.stop()
