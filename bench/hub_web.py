"""Server time of the hub's web pages on a large hub: SQLite and a PostgreSQL started by the bench.

Builds (once, cached) a hub database of HOSTS hosts x FINDINGS findings x DAYS daily reports, then asks the
real web app (`tenken.hub.web.app.create_web_app`, in-process through Starlette's TestClient, logged in as an
auditor through the real login form) for each page 1 + 7 times and prints the median of the 7 timed
requests. The time is the full request through the ASGI app (routing, session lookup, queries, Jinja
rendering) without TLS or a socket: the server's share of a page load.

Data: each host has FINDINGS checks over 60 of the guideline's clauses (some checks map to two clauses); on
day 0 a status is drawn per (host, check) (pass 70 %, fail 15 %, warn 7 %, not_applicable 5 %, error 3 %)
and each later day 3 % of them change to a fresh draw. Hosts: 80 % Linux over SSH, 15 % Windows over
WinRM, 5 % TLS endpoints; in one of 8 wards, 10 % of them in two. One signed-report-shaped row per host and
day (envelope bytes are a stand-in: nothing here verifies). The stored report tables are written with bulk
inserts (the hub's `bulk_insert_tuples` executemany on SQLite, COPY on PostgreSQL); the summary tables are
then filled by the hub's own `summaries.rebuild`, the aggregation ingest uses, not a second implementation.

The built database is kept under /tmp/tenken-bench-hub-web/<backend>-<hosts>x<findings>x<days>/ (SQLite
file, or a PostgreSQL data directory started again on the next run), so a rerun measures without
rebuilding. Full size needs ~12 GB on SQLite and about as much on PostgreSQL; remove the folder after.

    nice -n 10 .venv/bin/python bench/hub_web.py [--backend sqlite|postgresql|both] [--hosts 2000 --findings 120 --days 30]

Figures (2026-12-07, full size 2000 x 120 x 30 = 60,000 reports, 7.2 M findings; 2 cores shared with other
sessions, load average ~5; nice -n 10; median of 7 in-process requests, ms; target 300 ms on SQLite):

    page                      SQLite (run 1 / run 2)   PostgreSQL   met on SQLite
    overview                     106.9 / 100.2            67.1        yes
    overview, one group           29.8 /  27.6            41.5        yes
    overview, one section         15.1 /   7.4             8.7        yes
    trends by section            147.8 / 118.9           120.7        yes  (was 1,057 before the runs in host_clause_latest)
    trends by group              174.0 / 172.5           112.8        yes  (was 991)
    clause (2,000 hosts listed)  139.3 / 131.2           221.5        yes
    host (120 findings)           22.4 /   9.2            12.4        yes

Build: SQLite 382 s (report tables 313 s, summaries.rebuild 61 s), 8.8 GB; PostgreSQL 576 s (COPY 458 s,
rebuild 116 s), 12 GB. Run 1 was `--backend both`, run 2 `--backend sqlite` on the cached database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

CACHE = Path("/tmp/tenken-bench-hub-web")
TARGET_MS = 300.0
START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
AGENT = "agent-bench-web"
AUDITOR, AUDITOR_PW = "kansa-bench", "Kansa-Tantou-2026"
WARDS = ["病棟A", "病棟B", "外来", "検査", "放射線", "薬剤", "医事", "情報システム"]
STATUSES = ["pass"] * 70 + ["fail"] * 15 + ["warn"] * 7 + ["not_applicable"] * 5 + ["error"] * 3
CHANGE = 0.03
REPEATS = 7


@dataclass(frozen=True)
class Size:
    hosts: int
    findings: int
    days: int

    @property
    def tag(self) -> str:
        return f"{self.hosts}x{self.findings}x{self.days}"


# --- data -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostSpec:
    key: str
    name: str
    kind: str
    os: str | None
    groups: list[str]
    minute: int  # when in the night its daily scan finishes


def host_specs(n: int, rng: random.Random) -> list[HostSpec]:
    out = []
    for i in range(n):
        r = rng.random()
        kind, os_ = ("ssh", "Debian GNU/Linux 12") if r < 0.80 else (("winrm", "Windows Server 2022") if r < 0.95 else ("tls", None))
        name = f"tls:portal{i}:443" if kind == "tls" else f"host-{i:05d}"
        key = f"tls:{name}" if kind == "tls" else "machine-id:" + hashlib.md5(name.encode()).hexdigest()
        groups = sorted({rng.choice(WARDS)} | ({rng.choice(WARDS)} if rng.random() < 0.10 else set()))
        out.append(HostSpec(key, name, kind, os_, groups, rng.randrange(0, 180)))
    return out


def check_specs(n: int, rng: random.Random) -> list[tuple[str, list[str], dict[str, Any]]]:
    from tenken.checks.catalogue import load_catalogue

    clauses = [c.id for c in load_catalogue().clauses][:60]
    out = []
    for k in range(n):
        cl = [clauses[k % len(clauses)]] + ([rng.choice(clauses)] if rng.random() < 0.2 else [])
        cl = list(dict.fromkeys(cl))
        text = {
            "title": {"ja": f"検査 {k} の設定を確認する", "en": f"check {k}: the setting is as the guideline asks"},
            "detail": {"ja": f"設定値 {k} はガイドラインの求める値ではありません", "en": f"value {k} is not what the guideline asks"},
            "remediation": {"ja": f"設定 {k} を変更してください", "en": f"change setting {k}"},
        }
        out.append((f"bench.check.{k:03d}", cl, text))
    return out


def day_reports(size: Size, seed: int = 13) -> Iterator[tuple[int, list[HostSpec], list[list[str]]]]:
    """(day, hosts, statuses per host per check), day by day: the statuses drift by CHANGE a day."""
    rng = random.Random(seed)
    hosts = host_specs(size.hosts, rng)
    state = [[rng.choice(STATUSES) for _ in range(size.findings)] for _ in hosts]
    for day in range(size.days):
        if day:
            for row in state:
                for j in range(size.findings):
                    if rng.random() < CHANGE:
                        row[j] = rng.choice(STATUSES)
        yield day, hosts, state


def build(engine: Any, size: Size, log: Any) -> None:
    """Fill an empty hub database at head: stored report tables by bulk insert, then summaries.rebuild."""
    from sqlalchemy import text as sql_text
    from tenken.hub import summaries
    from tenken.hub import tables as t
    from tenken.hub.db import bulk_insert_tuples, is_sqlite, write_tx

    checks = check_specs(size.findings, random.Random(7))
    raw = "\n".join(f"line {k}: PASS_MAX_DAYS 90  # an excerpt of a configuration file" for k in range(8))
    sqlite = is_sqlite(engine)
    t0 = time.perf_counter()
    with write_tx(engine) as conn:
        conn.execute(t.agents.insert().values(id=AGENT, signing_key="-", key_id="k", cert_serial="1", enrolled_at=START - timedelta(days=1)))
    last: dict[str, tuple[HostSpec, datetime, str]] = {}
    first: dict[str, datetime] = {}
    for day, hosts, state in day_reports(size):
        rows: dict[str, list[tuple[Any, ...]]] = {"reports": [], "targets": [], "findings": [], "finding_clauses": [], "evidence": []}
        for h, statuses in zip(hosts, state, strict=True):
            at = START + timedelta(days=day, minutes=h.minute)
            rid = f"r-{day:03d}-{h.name}"
            rows["reports"].append((rid, AGENT, at + timedelta(minutes=1), at - timedelta(minutes=2), at, at, "tenken", "bench", "default",
                                    "0" * 64, b"{}", {"pass": statuses.count("pass")}))
            rows["targets"].append((rid, 0, h.name, h.key, h.kind, h.os, "scanned", None, at - timedelta(minutes=2), at, None, h.groups))
            eid = f"ev-{rid}"
            rows["evidence"].append((rid, 0, eid, "linux.accounts", h.name, at, "0" * 64, raw, [], {}, None))
            for seq, ((check_id, clauses, txt), st) in enumerate(zip(checks, statuses, strict=True)):
                rows["findings"].append((rid, seq, f"{check_id}@{h.name}", check_id, h.name, h.key, h.kind, st, "medium", "automated", None,
                                         clauses, txt, [eid], None, at))
                for c in clauses:
                    rows["finding_clauses"].append((rid, seq, c, h.name, h.key, st, at))
            last[h.key] = (h, at, rid)
            first.setdefault(h.key, at)
        with write_tx(engine) as conn:
            for name, cols in COLUMNS.items():
                if sqlite:
                    bulk_insert_tuples(conn, t.metadata.tables[name], cols, rows[name])
                else:
                    copy_rows(conn, name, cols, rows[name])
        log(f"  day {day + 1}/{size.days} stored ({time.perf_counter() - t0:.0f} s)")
    with write_tx(engine) as conn:
        bulk_insert_tuples(conn, t.hosts, ("key", "host_id", "name", "fqdn", "kind", "os", "state", "first_seen", "last_seen", "last_report_id", "last_agent_id"), [
            (hk, hk if hk.startswith("machine-id:") else None, h.name, None, h.kind, h.os, "scanned", first[hk], at, rid, AGENT)
            for hk, (h, at, rid) in last.items()
        ])
    log(f"  report tables stored in {time.perf_counter() - t0:.0f} s; summaries.rebuild ...")
    t1 = time.perf_counter()
    with write_tx(engine) as conn:
        summaries.rebuild(conn)
    log(f"  summaries rebuilt in {time.perf_counter() - t1:.0f} s")
    if not sqlite:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sql_text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")


COLUMNS: dict[str, tuple[str, ...]] = {
    "reports": ("id", "agent_id", "received_at", "started_at", "finished_at", "observed_at", "tool_name", "tool_version", "policy",
                "payload_sha256", "envelope", "summary"),
    "targets": ("report_id", "seq", "target", "host_key", "kind", "os", "state", "error", "started_at", "finished_at", "identity", "groups"),
    "evidence": ("report_id", "seq", "evidence_id", "collector", "target", "collected_at", "sha256", "raw", "sources", "facts", "error"),
    "findings": ("report_id", "seq", "finding_id", "check_id", "target", "host_key", "transport", "status", "severity", "kind", "subject",
                 "clauses", "text", "evidence", "waiver", "finished_at"),
    "finding_clauses": ("report_id", "seq", "clause", "target", "host_key", "status", "finished_at"),
}
JSON_COLS = {"summary", "identity", "groups", "sources", "facts", "clauses", "text", "evidence", "waiver"}


def copy_rows(conn: Any, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL COPY through psycopg (JSON columns as JSON text; a None stays NULL)."""
    js = [i for i, c in enumerate(cols) if c in JSON_COLS]
    cache: dict[int, str] = {}
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
        for r in rows:
            if js:
                r = list(r)
                for i in js:
                    v = r[i]
                    if v is not None:
                        s = cache.get(id(v))
                        if s is None:
                            s = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                            if len(cache) < 100_000:
                                cache[id(v)] = s
                        r[i] = s
            cp.write_row(r)


# --- databases --------------------------------------------------------------------------------------------


class CachedPostgres:
    """A PostgreSQL server whose data directory lives in the cache (the test fixture's binaries and options)."""

    def __init__(self, root: Path) -> None:
        from pg_fixture import find_pg_bin, free_port

        self.root, self.datadir, self.sock = root, root / "data", root / "sock"
        bindir = find_pg_bin()
        if bindir is None:
            raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bindir = bindir
        self.port = free_port()
        self.prefix: list[str] = []
        self.user = os.environ.get("USER", "postgres")
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            self.prefix, self.user = ["runuser", "-u", "postgres", "--"], "postgres"
            self._owner = (pw.pw_uid, pw.pw_gid)
        else:
            import pwd

            self.user = pwd.getpwuid(os.getuid()).pw_name
            self._owner = None

    def start(self) -> bool:
        """Start it; True when the data directory was made now (empty database)."""
        fresh = not (self.datadir / "PG_VERSION").exists()
        if fresh:
            shutil.rmtree(self.root, ignore_errors=True)
            self.sock.mkdir(parents=True)
            if self._owner:
                for p in (self.root, self.sock):
                    os.chown(p, *self._owner)
                os.chmod(self.root, 0o700)
            subprocess.run([*self.prefix, str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                            "--locale=C"], check=True, capture_output=True, timeout=300)
        opts = f"-k {self.sock} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_wal_size=4GB -c shared_buffers=512MB"
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.root / "server.log"), "-o", opts,
                        "-w", "-t", "120", "start"], check=True, capture_output=True, timeout=180)
        if fresh:
            subprocess.run([*self.prefix, str(self.bindir / "psql"), "-h", str(self.sock), "-p", str(self.port), "-U", "postgres", "-c",
                            "CREATE DATABASE hub"], check=True, capture_output=True, timeout=60)
        return fresh

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/hub?host={self.sock}&port={self.port}"

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)


# --- measuring --------------------------------------------------------------------------------------------


def measure(engine: Any, data_dir: Path, size: Size) -> dict[str, float]:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select
    from tenken.hub import summaries
    from tenken.hub.settings import HubSettings
    from tenken.hub.web import accounts as acc
    from tenken.hub.web import tables as wt
    from tenken.hub.web.app import create_web_app

    now = START + timedelta(days=size.days - 1, hours=6)
    with engine.connect() as conn:
        have = conn.execute(select(wt.web_users.c.name).where(wt.web_users.c.name == AUDITOR)).first()
        host_key = conn.execute(select(summaries.host_latest.c.host_key).order_by(summaries.host_latest.c.host_key).limit(1)).scalar_one()
        hcl = summaries.host_clause_latest
        clause = conn.execute(select(hcl.c.clause).group_by(hcl.c.clause).order_by(func.count().desc(), hcl.c.clause).limit(1)).scalar_one()
    if have is None:
        acc.add_user(engine, AUDITOR, acc.Role.AUDITOR, AUDITOR_PW, now=now)
    worse = (now - timedelta(days=7)).date().isoformat()
    pages = {
        "overview": "/",
        "overview, one group": f"/?group={WARDS[2]}",
        "overview, one section": "/?clause=SO-13",
        "trends by section": f"/trends?by=section&worse_since={worse}",
        "trends by group": f"/trends?by=group&worse_since={worse}",
        f"clause ({clause})": f"/clause/{clause}",
        "host": f"/host?key={host_key}",
    }
    out: dict[str, float] = {}
    settings = HubSettings(data_dir=data_dir)
    with TestClient(create_web_app(settings, engine, clock=lambda: now), base_url="https://testserver") as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        r = c.post("/login", data={"csrf": csrf, "username": AUDITOR, "password": AUDITOR_PW}, follow_redirects=False)
        assert r.status_code == 303, r.text[:300]
        for name, path in pages.items():
            times = []
            for i in range(REPEATS + 1):
                t0 = time.perf_counter()
                resp = c.get(path, follow_redirects=False)
                dt = (time.perf_counter() - t0) * 1000
                assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
                if i:
                    times.append(dt)
            out[name] = statistics.median(times)
    return out


def run_backend(backend: str, size: Size, log: Any) -> dict[str, float]:
    from tenken.hub.db import open_db

    folder = CACHE / f"{backend}-{size.tag}"
    folder.mkdir(parents=True, exist_ok=True)
    pg = None
    marker = folder / "built"
    if backend == "sqlite":
        db = folder / "hub.db"
        if not marker.exists():
            for p in folder.glob("hub.db*"):
                p.unlink()
        url = f"sqlite:///{db}"
    else:
        if not marker.exists():  # a half-built cluster from an interrupted run is started again from nothing
            shutil.rmtree(folder / "pg", ignore_errors=True)
        pg = CachedPostgres(folder / "pg")
        pg.start()
        url = pg.url
    try:
        engine = open_db(url)
        if not marker.exists():
            log(f"building the {backend} hub {size.tag} under {folder} (cached for the next run)")
            t0 = time.perf_counter()
            build(engine, size, log)
            marker.write_text(f"built in {time.perf_counter() - t0:.0f} s\n")
            log(f"  built in {time.perf_counter() - t0:.0f} s")
        res = measure(engine, folder, size)
        engine.dispose()
        return res
    finally:
        if pg is not None:
            pg.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--findings", type=int, default=120)
    ap.add_argument("--days", type=int, default=30)
    a = ap.parse_args()
    size = Size(a.hosts, a.findings, a.days)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    results = {b: run_backend(b, size, log) for b in backends}
    print(f"hub web pages, {size.hosts} hosts x {size.findings} findings x {size.days} days; median of {REPEATS} in-process requests (TestClient), ms")
    head = f"{'page':<24}" + "".join(f"{b:>12}" for b in backends) + f"   target {TARGET_MS:.0f} ms (SQLite)"
    print(head)
    for page in next(iter(results.values())):
        vals = "".join(f"{results[b][page]:>12.1f}" for b in backends)
        sq = results.get("sqlite", {}).get(page)
        verdict = "" if sq is None else ("met" if sq <= TARGET_MS else "NOT met")
        print(f"{page:<24}{vals}   {verdict}")
    if len(backends) == 2:
        print("ratio PostgreSQL / SQLite: " + ", ".join(f"{p} {results['postgresql'][p] / results['sqlite'][p]:.2f}" for p in results["sqlite"]))


if __name__ == "__main__":
    main()
