"""Schema migrations: a 2026-11-25 hub with signed reports upgrades (SQLite and PostgreSQL), its data gets the
values today's ingest would give, the upgraded hub serves and re-verifies it, and every upgraded or new
database equals the code (Alembic's autogenerate compare)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import schema_2026_11_25 as old
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hub_harness import make_report, run_hub_cli, start_hub
from legacy_hub import LegacyHub, make_legacy_hub
from sqlalchemy import func, select
from tenken.hub import migrations, summaries
from tenken.hub import tables as t
from tenken.hub.db import as_utc, make_engine, open_db
from tenken.hub.partitions import include_name
from tenken.hub.schema import all_metadata


def schema_diff(url: str, metadata=None) -> list:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name}), metadata or all_metadata())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> LegacyHub:
    db_url = None
    if request.param == "postgresql":
        db_url = request.getfixturevalue("postgres").create_database("legacy_" + uuid.uuid4().hex[:10])
    return make_legacy_hub(tmp_path, db_url)


def test_old_hub_is_refused_then_upgraded_and_serves_its_data(legacy: LegacyHub, tmp_path: Path) -> None:
    data = str(legacy.data)
    assert schema_diff(legacy.db_url, old.metadata) == []  # it really is the 2026-11-25 schema
    # Refused until upgraded, with the command to run; nothing is changed by the refusal.
    proc = run_hub_cli("serve", "--data", data, "--port", "1", check=False)
    assert proc.returncode == 2 and "tenken-hub db upgrade" in proc.stderr and "0001" in proc.stderr
    assert run_hub_cli("agent", "list", "--data", data, check=False).returncode == 2
    cur = run_hub_cli("db", "current", "--data", data, check=False)
    assert cur.returncode == 1 and "database: 0001 (not stamped" in cur.stdout and f"this tenken-hub: {migrations.head()}" in cur.stdout

    up = run_hub_cli("db", "upgrade", "--data", data)
    assert f"from revision 0001 to {migrations.head()}" in up.stdout
    assert "nothing to do" in run_hub_cli("db", "upgrade", "--data", data).stdout
    assert run_hub_cli("db", "current", "--data", data).returncode == 0
    assert schema_diff(legacy.db_url) == []

    engine = make_engine(legacy.db_url)
    try:
        with engine.connect() as conn:
            reps = {r.id: r for r in conn.execute(select(t.reports))}
            for rid, spec in legacy.reports.items():
                assert as_utc(reps[rid].observed_at) == min(spec["finished"], spec["received"])
            assert as_utc(reps["r2-db1-new"].observed_at) == legacy.reports["r2-db1-new"]["received"]  # ahead of the clock
            tg = {(r.report_id, r.target): r for r in conn.execute(select(t.targets))}
            assert tg[("r1-db1-old", "db1")].host_key == "ssh:db1"
            assert tg[("r3-ward", "ward-pc")].host_key == "local:ward-pc"
            assert tg[("r4-web", "web[1]*")].host_key == "tls:web[1]*"
            assert all(r.groups == [] and r.identity is None for r in tg.values())
            fnd = conn.execute(select(t.findings.c.report_id, t.findings.c.target, t.findings.c.host_key, t.findings.c.transport)).all()
            for f in fnd:
                if f.target == "site":
                    assert (f.host_key, f.transport) == ("site", "site")
                else:
                    spec = legacy.reports[f.report_id]
                    assert (f.host_key, f.transport) == (f"{spec['kind']}:{spec['target']}", spec["kind"])
            assert sum(1 for f in fnd if f.target == "site") == 1
            fk = {(f.report_id, f.target): f.host_key for f in fnd}
            for c in conn.execute(select(t.finding_clauses)):
                assert c.host_key == fk[(c.report_id, c.target)]
                assert as_utc(c.finished_at) == as_utc(reps[c.report_id].observed_at)
            hosts = {h.key: h for h in conn.execute(select(t.hosts))}
            assert set(hosts) == {"ssh:db1", "local:ward-pc", "tls:web[1]*"}
            db1 = hosts["ssh:db1"]
            assert (db1.last_report_id, db1.name, db1.kind, db1.last_agent_id) == ("r2-db1-new", "db1", "ssh", legacy.agent.agent_id)
            assert as_utc(db1.first_seen) == as_utc(reps["r1-db1-old"].observed_at)
            assert as_utc(db1.last_seen) == as_utc(reps["r2-db1-new"].observed_at)
            grants = set(conn.execute(select(t.agent_targets.c.agent_id, t.agent_targets.c.pattern)).all())
            assert grants == {(legacy.agent.agent_id, "db1"), (legacy.agent.agent_id, "web[[]1][*]")}  # no local name, globs escaped
            # 0003: the web view's summaries are filled from the reports stored before the upgrade.
            latest = {r.host_key: r.report_id for r in conn.execute(select(summaries.host_latest))}
            assert latest == {"ssh:db1": "r2-db1-new", "local:ward-pc": "r3-ward", "tls:web[1]*": "r4-web"}
            per_host = conn.execute(select(summaries.host_reports.c.host_key, summaries.host_reports.c.report_id)).all()
            assert sorted(per_host) == sorted((f"{s['kind']}:{s['target']}", rid) for rid, s in legacy.reports.items())
            assert conn.execute(select(func.count()).select_from(summaries.host_clause_latest)).scalar() > 0
            # 0004: every (host, clause) has the run of its current status, filled by the code's rebuild
            hcl = summaries.host_clause_latest
            runs = conn.execute(select(hcl.c.host_key, hcl.c.report_id, hcl.c.since_report_id, hcl.c.since_at, hcl.c.observed_at)).all()
            assert runs and all(r.since_report_id is not None and r.since_at is not None for r in runs)
            db1 = {r.since_report_id for r in runs if r.host_key == "ssh:db1"}
            assert db1 <= {"r1-db1-old", "r2-db1-new"}
            assert conn.execute(select(func.count()).select_from(t.metadata.tables["hub_waivers"])).scalar() == 0
    finally:
        engine.dispose()

    hub = start_hub(legacy.data, legacy.db_url if legacy.db_url.startswith("postgresql") else None, token=legacy.token)
    try:
        with hub.operator() as op:
            listed = {h["host_key"]: h for h in op.get("/api/v1/hosts").raise_for_status().json()}
            assert set(listed) == {"ssh:db1", "local:ward-pc", "tls:web[1]*"}
            assert listed["ssh:db1"]["last_report_id"] == "r2-db1-new"
            assert sum(listed["ssh:db1"]["summary"].values()) == 4  # the site finding is not db1's
            for rid in legacy.reports:
                v = op.get(f"/api/v1/reports/{rid}/verify").raise_for_status().json()
                assert v["verified"] is True, v
            status = op.get("/api/v1/hosts/ssh:db1/status").raise_for_status().json()
            assert status
        # The agent keeps exactly its old reach: db1 and the literal "web[1]*", nothing wider.
        agent = legacy.agent
        ok = agent.post(hub, agent.sign(make_report(target="db1")))
        assert ok.status_code == 201, ok.text
        assert agent.post(hub, agent.sign(make_report(target="web[1]*", kind="tls"))).status_code == 201
        for target, kind in (("db2", "ssh"), ("web1x", "tls")):
            r = agent.post(hub, agent.sign(make_report(target=target, kind=kind)))
            assert r.status_code == 403 and "authorize" in r.json()["detail"], r.text
    finally:
        hub.stop()


def test_fresh_database_is_created_at_head_and_equals_the_code(tmp_path: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    for url in (f"sqlite:///{tmp_path / 'new.db'}", postgres.create_database("fresh_" + uuid.uuid4().hex[:10])):
        engine = open_db(url)
        try:
            with engine.connect() as conn:
                rev = migrations.revision(conn)
        finally:
            engine.dispose()
        assert rev.stamped and rev.current == rev.head == migrations.head()
        assert schema_diff(url) == []
        open_db(url).dispose()  # a second start accepts it as it is


def test_baseline_migration_creates_the_2026_11_25_schema(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'chain.db'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = migrations._config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
    finally:
        engine.dispose()
    assert schema_diff(url, old.metadata) == []
    res = migrations.upgrade(url)  # and the chain from nothing ends at the code's schema
    assert (res.before, res.after) == ("0001", migrations.head())
    assert schema_diff(url) == []


def test_web_view_migration_creates_only_the_missing_tables(tmp_path: Path) -> None:
    """0003 on a database at 0002 that already has one of its tables (made by create_all before migrations)."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'partial.db'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = migrations._config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            all_metadata().tables["web_users"].create(conn)
    finally:
        engine.dispose()
    res = migrations.upgrade(url)
    assert (res.before, res.after) == ("0002", migrations.head())
    assert schema_diff(url) == []


def test_unstamped_hub_with_the_web_tables_is_recognised_as_0003(tmp_path: Path) -> None:
    """A hub made on 2026-12-03 evening (web view, before migrations): no upgrade needed, only a stamp."""
    url = f"sqlite:///{tmp_path / 'evening.db'}"
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            all_metadata().create_all(conn)
        with engine.connect() as conn:
            rev = migrations.revision(conn)
        assert (rev.current, rev.stamped) == ("0003", False)
    finally:
        engine.dispose()
    res = migrations.upgrade(url)
    assert (res.before, res.after) == ("0003", migrations.head())
    assert schema_diff(url) == []


def test_runs_migration_fills_a_hub_at_0003_with_reports(tmp_path: Path) -> None:
    """0004 on a stamped 0003 hub holding reports: the run columns come back exactly as ingest writes them."""
    import test_web_queries as wqt
    from alembic import command
    from sqlalchemy import text
    from tenken.hub.db import write_tx

    url = f"sqlite:///{tmp_path / 'at3.db'}"
    engine = open_db(url)  # made at head, filled by real ingest, then taken back to the 0003 shape
    with write_tx(engine) as conn:
        conn.execute(t.agents.insert().values(id=wqt.AGENT, signing_key="-", key_id="k", cert_serial="1", enrolled_at=wqt.BASE))
    pc = wqt.target("ward-pc-3", groups=["病棟"])
    for i, st in enumerate(["pass", "fail", "fail", "warn"]):
        wqt.ingest(engine, wqt.report(wqt.BASE + wqt.timedelta(days=i), [pc], [("ward-pc-3", "pw", st, ["SO-14-2"]), ("ward-pc-3", "log", "pass", ["SO-13-6"])]))
    with engine.connect() as conn:
        want = sorted(tuple(r) for r in conn.execute(select(summaries.host_clause_latest)))
    engine.dispose()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_hcl_since"))
        for col in ("since_at", "since_report_id", "prev_status", "prev_since_at"):
            conn.execute(text(f"ALTER TABLE host_clause_latest DROP COLUMN {col}"))
        conn.execute(text("DROP TABLE hub_waivers"))
        cfg = migrations._config()
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "0003")
    engine.dispose()
    assert schema_diff(url) != []
    res = migrations.upgrade(url)
    assert (res.before, res.after) == ("0003", migrations.head())
    assert schema_diff(url) == []
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            got = sorted(tuple(r) for r in conn.execute(select(summaries.host_clause_latest)))
    finally:
        engine.dispose()
    assert got == want
    pw = [r for r in got if r[1] == "SO-14-2"]
    assert len(pw) == 1 and pw[0][-2] == "fail"  # warn since the 4th report; before it, fail


def test_unknown_newer_revision_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    open_db(url).dispose()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    engine.dispose()
    with pytest.raises(migrations.SchemaOutdated, match="newer tenken-hub"):
        open_db(url)
    with pytest.raises(migrations.SchemaOutdated, match="newer tenken-hub"):
        migrations.upgrade(url)


def test_every_table_module_is_in_the_compared_metadata() -> None:
    """The compare above sees every table the hub defines: the tables module's and any optional module's."""
    md = all_metadata()
    assert set(t.metadata.tables) <= set(md.tables)
    assert {"hosts", "agent_targets", "reports"} <= set(md.tables)


def test_glob_escape_matches_only_the_name() -> None:
    import fnmatch
    import importlib.util

    spec = importlib.util.spec_from_file_location("m0002", migrations.HERE / "versions" / "0002_hosts_identity.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("web[1]*", "a?b", "x[!y]", "plain.host:443"):
        pat = mod.glob_escape(name)
        assert fnmatch.fnmatchcase(name, pat)
        assert not fnmatch.fnmatchcase(name + "x", pat)
    assert not fnmatch.fnmatchcase("web1", mod.glob_escape("web[1]*"))


def test_the_revisions_form_one_line() -> None:
    """Every migration follows the one before it (two branches merged with the same down_revision would
    leave two heads, and `db upgrade` would refuse)."""
    from alembic.script import ScriptDirectory

    script = migrations._script()
    chain = [s.revision for s in script.walk_revisions()][::-1]
    assert chain == ["0001", "0002", "0003", "0004", "0005"] and migrations.head() == "0005"
    assert all(script.get_revision(r).down_revision == (chain[i - 1] if i else None) for i, r in enumerate(chain))
    assert isinstance(script, ScriptDirectory)
