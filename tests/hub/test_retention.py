"""Retention on SQLite and PostgreSQL: data past the limit is exported to evidence bundles that verify, then
removed (whole partitions dropped on PostgreSQL); a failed export removes nothing; every run is audited."""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hub_harness import make_agent, make_report, run_hub_cli, start_hub
from sqlalchemy import select, text, update
from tenken.agent import dsse
from tenken.agent.bundle.verify import verify_bundle
from tenken.hub import partitions, summaries
from tenken.hub import tables as t
from tenken.hub.db import make_engine, row_counts
from tenken.hub.retention import cutoff
from tenken.hub.web.tables import web_audit

AGES = (900, 880, 500, 3)  # days; with 2 years' retention the first two are past the limit


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_retention_exports_verifies_then_drops_and_never_drops_a_failed_export(backend: str, tmp_path: Path,
                                                                                request: pytest.FixtureRequest) -> None:
    db_url = request.getfixturevalue("postgres").create_database("ret_" + uuid.uuid4().hex[:10]) if backend == "postgresql" else None
    data = tmp_path / "data"
    hub = start_hub(data, db_url, extra=("--window-days", "1200"))
    now = datetime.now(UTC)
    limit = cutoff(now, 2)
    ids: dict[str, datetime] = {}
    try:
        agent = make_agent(hub, tmp_path / "agent")
        for age in AGES:
            for host in ("db1", "db2"):
                rep = make_report(target=host, n_findings=12, finished_at=now - timedelta(days=age, minutes=len(ids)), n_evidence=2)
                assert agent.post(hub, agent.sign(rep)).status_code == 201
                ids[rep.id] = rep.finished_at
        old = sorted((i for i, at in ids.items() if at < limit), key=ids.__getitem__)  # oldest first
        assert len(old) == 4
        engine = make_engine(hub.database_url)
        before = row_counts(engine)

        assert "retention is off" in run_hub_cli("retention", "apply", "--data", str(data), check=False).stderr
        out = run_hub_cli("retention", "set", "--years", "2", "--data", str(data)).stdout
        assert "2 years" in out
        # The 1,200-day upload window (to backdate these reports) reaches past 2 years: refused until lowered.
        refused = run_hub_cli("retention", "apply", "--dry-run", "--data", str(data), check=False)
        assert refused.returncode == 2 and "window_days" in refused.stderr, refused.stderr
        cfg = json.loads((data / "hub.json").read_text())
        (data / "hub.json").write_text(json.dumps({**cfg, "window_days": 7}))
        dry = run_hub_cli("retention", "apply", "--dry-run", "--data", str(data)).stdout
        assert "would export" in dry and "nothing changed" in dry
        assert row_counts(engine) == before and not (data / "retention").exists()

        # An old envelope that no longer verifies: its export fails, so nothing at all is removed.
        with engine.begin() as conn:
            good = conn.execute(select(t.reports.c.envelope).where(t.reports.c.id == old[0])).scalar_one()
            env = json.loads(good)
            env["payload"] = env["payload"][:-8] + ("A" * 8 if not env["payload"].endswith("A" * 8) else "B" * 8)
            conn.execute(update(t.reports).where(t.reports.c.id == old[0]).values(envelope=json.dumps(env).encode()))
        failed = run_hub_cli("retention", "apply", "--data", str(data), check=False)
        assert failed.returncode == 1 and "nothing of that month was removed" in failed.stderr, failed.stderr
        assert row_counts(engine) == before
        with engine.begin() as conn:
            conn.execute(update(t.reports).where(t.reports.c.id == old[0]).values(envelope=good))
            parts_before = [p.name for p in partitions.list_partitions(conn, "findings")]

        done = run_hub_cli("retention", "apply", "--data", str(data))
        assert "exported and removed" in done.stdout, done.stdout
        after = row_counts(engine)
        assert after["reports"] == before["reports"] - 4 and after["findings"] == before["findings"] - 4 * 12
        assert after["evidence"] == before["evidence"] - 4 * 2 and after["finding_clauses"] < before["finding_clauses"]
        with engine.connect() as conn:
            left = set(conn.execute(select(t.reports.c.id)).scalars())
            assert left == set(ids) - set(old)
            assert not conn.execute(select(t.findings.c.report_id).where(t.findings.c.report_id.in_(old))).first()
            assert not conn.execute(select(summaries.host_reports.c.report_id).where(summaries.host_reports.c.report_id.in_(old))).first()
            parts_after = [p.name for p in partitions.list_partitions(conn, "findings")]
            if backend == "postgresql":
                gone = set(parts_before) - set(parts_after)
                assert gone and all(p < f"findings_p{limit:%Y%m}" for p in gone)  # whole old months dropped
                assert all(partitions.PARTITION_NAME.match(p) for p in parts_after)
            audits = conn.execute(select(web_audit.c.outcome, web_audit.c.detail).where(web_audit.c.action == "retention.apply")).all()
        assert [a.outcome for a in audits].count("failed") == 1 and [a.outcome for a in audits].count("ok") >= 1
        ok_rows = [a.detail for a in audits if a.outcome == "ok"]
        assert sum(d["reports"] for d in ok_rows) == 4

        # The bundles hold exactly the removed reports and verify, pinned to the hub's bundle key and the agent's key.
        pem = run_hub_cli("bundle-key", "--data", str(data)).stdout.encode()
        key = dsse.load_public_key(pem)
        bundles = sorted((data / "retention").glob("*.zip"))
        assert [b.name for b in bundles] == sorted(n for d in ok_rows for n in d["bundles"])
        in_bundles: set[str] = set()
        for b in bundles:
            check = verify_bundle(b, [key, agent.key.public_key()])
            assert check.ok, check.problems
            with zipfile.ZipFile(b) as zf:
                names = [n for n in zf.namelist() if n.startswith("reports/") and n.endswith(".dsse.json")]
            in_bundles.update(n.removeprefix("reports/").removesuffix(".dsse.json") for n in names)
        assert len(in_bundles) == 4 and all(any(o in n for n in in_bundles) for o in old), in_bundles

        # Nothing left past the limit; the hub still serves and ingests.
        assert "nothing is past" in run_hub_cli("retention", "apply", "--data", str(data)).stdout
        with hub.operator() as op:
            assert op.get("/api/v1/hosts/db1/status").status_code == 200
        assert agent.post(hub, agent.sign(make_report(target="db1"))).status_code == 201
        if backend == "postgresql":
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM findings WHERE finished_at < :c"), {"c": limit}).scalar() == 0
        engine.dispose()
    finally:
        hub.stop()


def test_cutoff_is_the_start_of_the_month_past_the_limit() -> None:
    assert cutoff(datetime(2026, 12, 7, 1, 0, tzinfo=UTC), 2) == datetime(2024, 12, 1, tzinfo=UTC)
    assert cutoff(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), 1) == datetime(2025, 1, 1, tzinfo=UTC)
    assert cutoff(datetime(2026, 3, 15, tzinfo=UTC), 0.5) == datetime(2025, 9, 1, tzinfo=UTC)


def test_a_bundle_that_does_not_verify_removes_nothing_and_is_not_left_as_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, SQLite: export succeeds but the read-back verification fails (as a damaged disk would make it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from tenken.agent.bundle import verify as bundle_verify
    from tenken.hub import retention
    from tenken.hub.db import open_db, write_tx
    from tenken.hub.ingest import store, streamed
    from tenken.hub.settings import HubSettings

    sk = Ed25519PrivateKey.generate()
    pem = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    aid = dsse.agent_id(sk.public_key())
    settings = HubSettings(data_dir=tmp_path, retention_years=1)
    engine = open_db(settings.database_url)
    now = datetime.now(UTC)
    try:
        with write_tx(engine) as conn:
            conn.execute(t.agents.insert().values(id=aid, signing_key=pem, key_id="k", cert_serial="1", enrolled_at=now - timedelta(days=900)))
        for age in (500, 480, 2):
            rep = make_report(target="db1", n_findings=4, finished_at=now - timedelta(days=age))
            payload = dsse.canonical(rep.model_dump(mode="json", by_alias=True))
            env = json.dumps(dsse.sign_payload(payload, sk)).encode()
            store(engine, streamed(rep), agent_id=aid, envelope=env, payload=payload)
        before = row_counts(engine)
        assert [len(m.report_ids) for m in retention.plan(engine, settings)] and sum(len(m.report_ids) for m in retention.plan(engine, settings)) == 2

        real = bundle_verify.verify_bundle

        def damaged(path: Path, pinned: object = ()) -> object:
            check = real(path, pinned)  # type: ignore[arg-type]
            check.fail("manifest.json", "simulated: the file read back differs from what was written")
            return check

        monkeypatch.setattr(bundle_verify, "verify_bundle", damaged)
        res = retention.apply(engine, settings)
        assert res.failed and "does not verify" in res.failed and not res.months
        assert row_counts(engine) == before
        left = sorted(p.name for p in settings.retention_export_dir.iterdir())
        assert left and all(n.endswith(".zip.unverified") for n in left)

        monkeypatch.setattr(bundle_verify, "verify_bundle", real)
        res = retention.apply(engine, settings)
        assert res.failed is None and sum(len(m.report_ids) for m in res.months) == 2
        assert row_counts(engine)["reports"] == before["reports"] - 2
        with engine.connect() as conn:
            outcomes = [r.outcome for r in conn.execute(select(web_audit.c.outcome).where(web_audit.c.action == "retention.apply").order_by(web_audit.c.id))]
        assert outcomes[0] == "failed" and "ok" in outcomes[1:]
    finally:
        engine.dispose()
