"""`tenken-hub backup` / `restore` and `db migrate-to`, on real hubs with real signed reports.

What must hold after a restore or a move: the hub serves the same hosts and reports, every stored envelope
re-verifies with its agent's enrolled key, the agent (whose certificate chains to the restored CA) can
upload again, and row counts are equal. Damaged backups and occupied targets are refused, and nothing is
overwritten by a refusal.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import stat
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hub_harness import Agent, Hub, make_agent, make_report, run_hub_cli, start_hub
from tenken.hub import migrations
from tenken.hub.dbcopy import counts
from tenken.hub.schema import all_tables


def row_counts(engine: Any) -> dict[str, int]:
    """Rows in every hub table (agents, certificates, tokens and grants as well as reports)."""
    with engine.connect() as conn:
        return counts(conn, all_tables())


@dataclass
class Source:
    hub: Hub
    agent: Agent
    hosts: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    counts: dict[str, int]


def _snapshot(hub: Hub) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with hub.operator() as op:
        hosts = op.get("/api/v1/hosts").raise_for_status().json()
        reports = op.get("/api/v1/reports").raise_for_status().json()
    return hosts, reports


def _populate(hub: Hub, where: Path) -> Source:
    agent = make_agent(hub, where / "agent")
    now = datetime.now(UTC)
    for i, target in enumerate(("db1", "db2", "db1", "ehr-web")):
        r = agent.post(hub, agent.sign(make_report(target=target, finished_at=now - timedelta(hours=4 - i), n_findings=5)))
        assert r.status_code == 201, r.text
    hub.cli("token", "create", "--name", "auditor")
    hosts, reports = _snapshot(hub)
    assert len(hosts) == 3 and len(reports) == 4
    return Source(hub=hub, agent=agent, hosts=hosts, reports=reports, counts=row_counts(hub.engine()))


def _assert_serves_the_same(hub: Hub, src: Source) -> None:
    hosts, reports = _snapshot(hub)
    assert hosts == src.hosts
    assert reports == src.reports
    with hub.operator() as op:
        for rep in reports:
            v = op.get(f"/api/v1/reports/{rep['report_id']}/verify").raise_for_status().json()
            assert v["verified"] is True and v["agent_id"] == src.agent.agent_id, v
    assert row_counts(hub.engine()) == src.counts
    r = src.agent.post(hub, src.agent.sign(make_report(target="db2")))  # its certificate chains to the restored CA
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    base = tmp_path_factory.mktemp("src-sqlite")
    hub = start_hub(base / "data")
    try:
        yield _populate(hub, base)
    finally:
        hub.stop()


def _digest_tree(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file() and not p.name.startswith("hub.db-")}


def test_sqlite_backup_online_restore_elsewhere(sqlite_source: Source, tmp_path: Path) -> None:
    src = sqlite_source
    out = tmp_path / "hub-backup.tar.gz"
    proc = src.hub.cli("backup", "--output", str(out))  # while the hub runs
    assert "CONTAINS SECRETS" in proc.stderr and "private/ca.key" in proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
    assert names[0] == "MANIFEST.json" and "db/hub.db" in names and "data/private/ca.key" in names
    assert manifest["database"]["counts"] == src.counts and manifest["schema_revision"] == migrations.head()
    assert "data/private/ca.key" in manifest["contains_secrets"] and "CA private key" in manifest["note"]
    assert not any(n.endswith((".log", "hub.db-wal")) for n in names)
    # a backup never overwrites a file
    again = src.hub.cli("backup", "--output", str(out), check=False)
    assert again.returncode == 2 and "exists" in again.stderr

    dest = tmp_path / "restored" / "data"
    res = run_hub_cli("restore", str(out), "--data", str(dest))
    assert "restored" in res.stdout
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700 and stat.S_IMODE((dest / "private" / "ca.key").stat().st_mode) == 0o600
    assert (dest / "ca.pem").read_bytes() == (src.hub.data / "ca.pem").read_bytes()
    hub = start_hub(dest, token=src.hub.token)
    try:
        _assert_serves_the_same(hub, src)
    finally:
        hub.stop()

    # Restoring over a live hub is refused without --force, and leaves it untouched.
    before = _digest_tree(src.hub.data)
    refused = run_hub_cli("restore", str(out), "--data", str(src.hub.data), check=False)
    assert refused.returncode == 2 and "already holds a hub" in refused.stderr and "--force" in refused.stderr
    assert _digest_tree(src.hub.data) == before


def test_damaged_backups_are_refused_and_overwrite_nothing(sqlite_source: Source, tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    sqlite_source.hub.cli("backup", "--output", str(out))
    blob = out.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(blob[: len(blob) // 2])
    flipped = tmp_path / "flipped.tar.gz"
    mid = bytearray(blob)
    mid[len(mid) // 2] ^= 0xFF
    flipped.write_bytes(bytes(mid))
    # a well-formed archive whose database member differs from its manifest's digest
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(out) as tin, tarfile.open(tampered, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "data/ca.pem":
                data = data.replace(b"A", b"B", 1)
            tout.addfile(m, io.BytesIO(data))
    existing = tmp_path / "existing"
    shutil.copytree(sqlite_source.hub.data, existing, ignore=shutil.ignore_patterns("hub.db-*"))
    before = _digest_tree(existing)
    for bad, why in ((truncated, "truncated or damaged"), (flipped, "damaged"), (tampered, "data/ca.pem is damaged")):
        fresh = tmp_path / f"new-{bad.stem}"
        proc = run_hub_cli("restore", str(bad), "--data", str(fresh), check=False)
        assert proc.returncode == 2 and why in proc.stderr, proc.stderr
        assert not fresh.exists()
        forced = run_hub_cli("restore", str(bad), "--data", str(existing), "--force", check=False)
        assert forced.returncode == 2 and why in forced.stderr
        assert _digest_tree(existing) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left behind


def test_backup_without_secrets(sqlite_source: Source, tmp_path: Path) -> None:
    out = tmp_path / "public.tar.gz"
    proc = sqlite_source.hub.cli("backup", "--output", str(out), "--no-secrets")
    assert "without secrets" in proc.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
    assert manifest["contains_secrets"] == []
    assert not any(n.startswith(("data/private/", "data/clients/")) or n.endswith(".key") for n in names)
    assert "data/ca.pem" in names and "db/hub.db" in names


def test_postgres_backup_and_restore(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = postgres.create_database("bk_" + uuid.uuid4().hex[:10])
    hub = start_hub(tmp_path / "src" / "data", url)
    try:
        src = _populate(hub, tmp_path / "src")
        out = tmp_path / "pg-backup.tar.gz"
        hub.cli("backup", "--output", str(out))
    finally:
        hub.stop()
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "data/hub.json" in names and "db/rows/reports.jsonl.gz" in names and "db/hub.db" not in names
    # into the live database: refused
    refused = run_hub_cli("restore", str(out), "--data", str(tmp_path / "other"), check=False)
    assert refused.returncode == 2 and "not empty" in refused.stderr
    assert not (tmp_path / "other").exists()
    # into a new database
    url2 = postgres.create_database("rs_" + uuid.uuid4().hex[:10])
    dest = tmp_path / "dst" / "data"
    run_hub_cli("restore", str(out), "--data", str(dest), "--db", url2)
    assert json.loads((dest / "hub.json").read_text())["db_url"] == url2
    hub2 = start_hub(dest, url2, token=src.hub.token)
    try:
        _assert_serves_the_same(hub2, src)
        with psycopg.connect(url2.replace("postgresql+psycopg", "postgresql")) as conn:
            # the token sequence continues after the restored ids
            assert conn.execute("SELECT last_value FROM tokens_id_seq").fetchone()[0] >= 2
        hub2.cli("token", "create", "--name", "after-restore", "--no-cert")
    finally:
        hub2.stop()


def test_migrate_sqlite_to_postgres(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "mig"
    hub = start_hub(base / "data")
    try:
        src = _populate(hub, base)
    finally:
        hub.stop()
    name = "mv_" + uuid.uuid4().hex[:10]
    url = postgres.create_database(name)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        # a Japanese hospital's server: naive SQLite timestamps written as local time would be 9 h off
        conn.execute(f'ALTER DATABASE "{name}" SET timezone TO \'Asia/Tokyo\'')
    proc = run_hub_cli("db", "migrate-to", url, "--data", str(base / "data"), "--switch")
    assert "counts equal" in proc.stdout and f"reports {src.counts['reports']}" in proc.stdout
    again = run_hub_cli("db", "migrate-to", url, "--data", str(base / "data"), check=False)
    assert again.returncode == 2 and "not empty" in again.stderr
    assert json.loads((base / "data" / "hub.json").read_text())["db_url"] == url
    hub2 = start_hub(base / "data", url, token=src.hub.token)
    try:
        _assert_serves_the_same(hub2, src)
        hub2.cli("token", "create", "--name", "after-move", "--no-cert")  # the id sequence was moved past the copied ids
    finally:
        hub2.stop()
