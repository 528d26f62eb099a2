"""The read API over real HTTPS: who may read, and what the queries return (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hub_harness import Agent, Hub, make_agent, make_report, start_hub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Agent:
    return make_agent(hub, tmp_path_factory.mktemp("reader-agent") / "a")


def test_reading_needs_operator_cert_and_token(hub: Hub, agent: Agent) -> None:
    with hub.operator() as op:
        assert op.get("/api/v1/hosts").status_code == 200
        r = op.get("/api/v1/hosts", headers={"Authorization": ""})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert op.get("/api/v1/hosts", headers={"Authorization": "Bearer thub_wrong"}).status_code == 401
    # An agent certificate with a perfectly good token still may not read.
    c = agent.client(hub)
    r = c.get("/api/v1/findings", headers={"Authorization": f"Bearer {hub.token}"})
    assert r.status_code == 403 and "only upload" in r.json()["detail"]


def test_revoking_an_operator_kills_token_and_certificate(hub: Hub) -> None:
    out = hub.cli("token", "create", "--name", "temp-auditor")
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("thub_")
    with hub.operator(token=token, name="temp-auditor") as op:
        assert op.get("/api/v1/agents").status_code == 200
    # The token is stored hashed: its value is nowhere in the database.
    with hub.engine().connect() as conn:
        from sqlalchemy import select
        from tenken.hub import tables as t

        stored = conn.execute(select(t.tokens.c.token_sha256)).scalars().all()
    assert token not in stored and all(len(s) == 64 for s in stored)
    hub.cli("token", "revoke", "temp-auditor")
    with hub.operator(token=token, name="temp-auditor") as op:
        assert op.get("/api/v1/agents").status_code == 403  # revoked certificate: refused first
    with hub.operator(token=token) as op:  # admin's certificate, revoked token
        assert op.get("/api/v1/agents").status_code == 401


def test_host_status_is_latest_per_clause_and_worst_within_a_scan(hub: Hub, agent: Agent) -> None:
    now = datetime.now(UTC)
    old = make_report(target="ward-pc-1", n_findings=2, clauses=("SO-14-2", "SO-7-1"), statuses=["fail", "fail"], finished_at=now - timedelta(hours=5))
    new = make_report(target="ward-pc-1", n_findings=3, clauses=("SO-14-2", "SO-14-2", "SO-9-3"), statuses=["pass", "warn", "pass"], finished_at=now - timedelta(hours=1))
    for rep in (new, old):  # arrival order must not matter, scan time does
        assert agent.post(hub, agent.sign(rep)).status_code == 201
    with hub.operator() as op:
        st = op.get("/api/v1/hosts/ward-pc-1/status").json()
        by = {c["clause"]: c for c in st["clauses"]}
        assert by["SO-14-2"]["status"] == "warn" and by["SO-14-2"]["report_id"] == new.id  # worst of pass+warn, newest scan
        assert by["SO-7-1"]["status"] == "fail" and by["SO-7-1"]["report_id"] == old.id  # only the old scan judged it
        assert by["SO-9-3"]["status"] == "pass"
        assert [c["clause"] for c in st["clauses"]] == ["SO-7-1", "SO-9-3", "SO-14-2"]
        assert op.get("/api/v1/hosts/nobody/status").status_code == 404
        hosts = {h["target"]: h for h in op.get("/api/v1/hosts").json()}
        assert hosts["ward-pc-1"]["last_report_id"] == new.id
        assert hosts["ward-pc-1"]["summary"]["pass"] == 2 and hosts["ward-pc-1"]["summary"]["warn"] == 1


def test_findings_filters(hub: Hub, agent: Agent) -> None:
    now = datetime.now(UTC)
    rep = make_report(target="lab-srv", n_findings=12, clauses=("SO-10-1", "SO-11-4"), finished_at=now - timedelta(minutes=30))
    assert agent.post(hub, agent.sign(rep)).status_code == 201
    with hub.operator() as op:
        page = op.get("/api/v1/findings", params={"target": "lab-srv"}).json()
        assert page["total"] == 12 and len(page["items"]) == 12
        page = op.get("/api/v1/findings", params={"target": "lab-srv", "clause": "SO-10-1"}).json()
        assert page["total"] == 6 and all("SO-10-1" in f["clauses"] for f in page["items"])
        page = op.get("/api/v1/findings", params={"target": "lab-srv", "status": "fail"}).json()
        assert page["total"] == 2 and {f["status"] for f in page["items"]} == {"fail"}
        page = op.get("/api/v1/findings", params={"target": "lab-srv", "limit": 5, "offset": 10}).json()
        assert page["total"] == 12 and len(page["items"]) == 2
        since = (now - timedelta(minutes=31)).isoformat()
        until = (now - timedelta(minutes=29)).isoformat()
        assert op.get("/api/v1/findings", params={"target": "lab-srv", "since": since, "until": until}).json()["total"] == 12
        assert op.get("/api/v1/findings", params={"target": "lab-srv", "since": until}).json()["total"] == 0
        first = op.get("/api/v1/findings", params={"target": "lab-srv", "clause": "SO-11-4", "status": "fail"}).json()["items"][0]
        assert first["title"] == {"ja": "検査 1", "en": "Check 1"} and first["agent_id"] == agent.agent_id and first["report_id"] == rep.id
        assert op.get("/api/v1/findings", params={"clause": "14-2"}).status_code == 422
        assert op.get("/api/v1/findings", params={"status": "great"}).status_code == 422
        assert op.get("/api/v1/reports/does-not-exist").status_code == 404
        agents = op.get("/api/v1/agents").json()
        assert any(a["agent_id"] == agent.agent_id and a["last_report_at"] for a in agents)


def test_two_hub_processes_on_one_database_store_a_report_once(hub: Hub, agent: Agent, tmp_path: Path) -> None:
    """A second `serve` on the same data directory and database: racing resends across both, one row."""
    second = start_hub(hub.data, hub.db_url, token=hub.token, extra=("--max-body", str(1024 * 1024)))
    try:
        report = make_report(target="two-procs", n_findings=30)
        body = agent.sign(report)
        before = hub.counts()
        codes: list[int] = []
        lock = threading.Lock()

        def send(h: Hub) -> None:
            with httpx.Client(verify=h.ssl_context(agent.cert, agent.tls_key), timeout=60) as c:
                r = c.post(h.url + "/api/v1/reports", content=body, headers={"Content-Type": "application/vnd.dsse.envelope.v1+json"})
            with lock:
                codes.append(r.status_code)

        threads = [threading.Thread(target=send, args=(h,)) for h in (hub, second) * 5]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(codes) == [200] * 9 + [201]
        after = hub.counts()
        assert after["reports"] == before["reports"] + 1 and after["findings"] == before["findings"] + 30
    finally:
        second.stop()
