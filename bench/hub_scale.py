"""The hub at hospital-group scale: 10M synthetic findings, and how long the read API's queries take on them.

Loads a year of scans (`--hosts` machines, 120 findings per scan, spread over 365 days so PostgreSQL holds 12-13
monthly partitions) into a hub database made by the hub's own code (open_db: tables.py, partitions created by
tenken.hub.partitions), with bulk COPY on PostgreSQL and executemany in large transactions on SQLite. The per-host
summaries (`host_reports`) are written with the rows, exactly as ingest would from these findings, and the
latest-status tables are derived from them by the hub's own `summaries.derive_from_history`. Then it times,
median of `--repeat` runs after one warm-up, the read API's route functions themselves (tenken.hub.api, called
with a stand-in request), so what is timed is what an operator's tool gets, serialisation to the response model
included:

- latest-status, one host:  GET /api/v1/hosts/{host}/status
- latest-status, fleet:     GET /api/v1/hosts (every host with its latest scan's counts)
- per-clause:               GET /api/v1/findings?clause=SO-x-y (newest 100 and the total)
- per-host:                 GET /api/v1/findings?host=KEY (newest 100 and the total)
- per-host, one month:      GET /api/v1/findings?host=KEY&since=..&until=.. (partition pruning on PostgreSQL)
- per-clause, one month:    GET /api/v1/findings?clause=SO-x-y&status=fail&since=..&until=..

Target: each <= 300 ms on 10M rows (issue 15). The database is cached under /tmp/tenken-bench-hub-scale/
(PostgreSQL cluster in pg/, SQLite file hub-<rows>.db) so reruns only query; --rebuild starts over.

    nice .venv/bin/python bench/hub_scale.py --backend postgresql            # 10M rows (first run loads them)
    nice .venv/bin/python bench/hub_scale.py --backend sqlite --rows 2000000 # SQLite: smaller default, --rows to change

Figures (2026-12-07, this 2-core machine shared with other sessions, load 2-5; PostgreSQL 15 with the options
in pg_server; median of 7 after one warm-up):

    PostgreSQL, 9,999,960 findings (2,000 hosts x 120 per scan, 365 days), 13 monthly partitions; load 744 s
    (COPY ~16,000 findings/s incl. the clause rows and summaries), 18 GB on disk:
      latest-status, one host  GET /hosts/{h}/status                          3.9 ms   met
      latest-status, fleet     GET /hosts                                    59.0 ms   met
      per-clause               GET /findings?clause=SO-14-2                  72.3 ms   met  (6,095.9 ms with the plain join)
      per-host                 GET /findings?host=KEY                         7.5 ms   met
      per-host, one month      GET /findings?host=KEY&since&until             3.7 ms   met
      per-clause, fail, month  GET /findings?clause&status=fail&since&until  65.4 ms   met  (1,598.6 ms unbounded)
    SQLite, 1,999,920 findings (same shape), load 84 s, 2.7 GB:
      host status 1.5 ms, /hosts 45.5 ms, per-clause 11.4 ms (333.9 ms with the plain join), per-host 2.3 ms,
      per-host month 0.4 ms, clause+fail+month 27.9 ms: all met.
    SQLite --rows 10000000 (9,999,960 findings), load 582 s, 13.4 GB:
      host status 1.6 ms, /hosts 88.9 ms, per-clause 16.9 ms, per-host 2.3 ms, per-host month 2.2 ms,
      clause+fail+month 42.8 ms: all met.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

CACHE = Path("/tmp/tenken-bench-hub-scale")
FINDINGS_PER_REPORT = 120
CLAUSES = [f"SO-{s}-{k}" for s in range(2, 16) for k in range(1, 4)][:40]
STATUSES = ["pass"] * 14 + ["fail", "fail", "warn", "manual", "not_applicable", "error"]
RANK = {"not_applicable": 1, "pass": 2, "manual": 3, "warn": 4, "error": 5, "fail": 6}
AGENT = "ag-bench-hub-scale"
START = datetime(2025, 12, 1, tzinfo=UTC)
TARGET_MS = 300.0


def host_key(h: int) -> str:
    return "machine-id:" + hashlib.sha256(f"bench-host-{h}".encode()).hexdigest()[:32]


def host_name(h: int) -> str:
    return f"ward-{h:05d}.hosp.example.jp"


def plan(rows: int, hosts: int) -> list[tuple[int, int, datetime]]:
    """(report number, host, observed time) for every synthetic scan, oldest first."""
    n_reports = rows // FINDINGS_PER_REPORT
    per_host = max(1, n_reports // hosts)
    step = timedelta(days=365) / per_host
    rng = random.Random(15)
    out = []
    for k in range(n_reports):
        h = k % hosts
        i = k // hosts
        at = START + step * i + timedelta(seconds=rng.randrange(0, max(1, int(step.total_seconds()) - 60)))
        out.append((k, h, at.replace(microsecond=0)))
    out.sort(key=lambda x: x[2])
    return out


def report_findings(k: int, h: int) -> Iterator[tuple[int, str, list[str]]]:
    """(seq, status, clauses) of scan k of host h: mostly stable per host, with some drift between scans."""
    rng = random.Random(k * 7919 + h)
    base = random.Random(h)
    for seq in range(FINDINGS_PER_REPORT):
        status = STATUSES[base.randrange(len(STATUSES))] if rng.random() < 0.9 else STATUSES[rng.randrange(len(STATUSES))]
        clauses = [CLAUSES[seq % len(CLAUSES)]]
        if seq % 5 == 0:
            clauses.append(CLAUSES[(seq * 7 + 3) % len(CLAUSES)])
        yield seq, status, list(dict.fromkeys(clauses))


TEXT = json.dumps({"title": {"ja": "パスワードの有効期限", "en": "Password expiry"}, "detail": {"ja": "PASS_MAX_DAYS は 90 日以下", "en": "PASS_MAX_DAYS <= 90"},
                   "remediation": {"ja": "/etc/login.defs を修正", "en": "set PASS_MAX_DAYS in /etc/login.defs"}}, ensure_ascii=False, separators=(",", ":"))


def generate(rows: int, hosts: int) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Row tuples, one batch of scans at a time, for reports, targets, findings, finding_clauses, host_reports."""
    batch: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("reports", "targets", "findings", "finding_clauses", "host_reports")}
    for n, (k, h, at) in enumerate(plan(rows, hosts)):
        rid = f"bench-{k:08d}"
        key, name = host_key(h), host_name(h)
        received = at + timedelta(seconds=30)
        batch["reports"].append((rid, AGENT, received, at - timedelta(seconds=20), at, at, "tenken", "0.1.0", "default", "0" * 64, b"{}",
                                 json.dumps({"findings": FINDINGS_PER_REPORT, "evidence": 0, "targets": 1})))
        batch["targets"].append((rid, 0, name, key, "ssh", "Debian GNU/Linux 12", "scanned", None, at - timedelta(seconds=20), at, None, "[]"))
        counts: Counter[str] = Counter()
        worst: dict[str, str] = {}
        for seq, status, clauses in report_findings(k, h):
            check = f"linux.check_{seq}"
            batch["findings"].append((rid, seq, f"{check}:{name}:{seq}", check, name, key, "ssh", status, "medium", "automated", f"s{seq}",
                                      json.dumps(clauses), TEXT, json.dumps([f"ev-{seq % 20}"]), None, at))
            counts[status] += 1
            for c in clauses:
                batch["finding_clauses"].append((rid, seq, c, name, key, status, at))
                if c not in worst or RANK[status] > RANK[worst[c]]:
                    worst[c] = status
        batch["host_reports"].append((key, rid, at, received, at.date(), AGENT, "ssh", name, "Debian GNU/Linux 12", "linux", GK,
                                      json.dumps(dict(counts)), json.dumps(worst)))
        if (n + 1) % 2000 == 0:
            yield batch
            batch = {k2: [] for k2 in batch}
    if batch["reports"]:
        yield batch


GK = hashlib.sha256(b"[]").hexdigest()[:32]  # summaries.group_key([]): the ungrouped set
COLS = {
    "reports": ("id", "agent_id", "received_at", "started_at", "finished_at", "observed_at", "tool_name", "tool_version", "policy",
                "payload_sha256", "envelope", "summary"),
    "targets": ("report_id", "seq", "target", "host_key", "kind", "os", "state", "error", "started_at", "finished_at", "identity", "groups"),
    "findings": ("report_id", "seq", "finding_id", "check_id", "target", "host_key", "transport", "status", "severity", "kind", "subject",
                 "clauses", "text", "evidence", "waiver", "finished_at"),
    "finding_clauses": ("report_id", "seq", "clause", "target", "host_key", "status", "finished_at"),
    "host_reports": ("host_key", "report_id", "observed_at", "received_at", "day", "agent_id", "transport", "name", "os", "os_family", "gk",
                     "counts", "clauses"),
}


def _copy_text(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _sqlite_value(v: Any) -> Any:
    """What SQLAlchemy's SQLite types store: naive UTC 'YYYY-MM-DD HH:MM:SS.ffffff', ISO dates."""
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _prepare(engine: Any, hosts: int) -> None:
    """Agent, hosts and the ungrouped group set: the rows ingest would have made before the first scan."""
    from tenken.hub import summaries
    from tenken.hub import tables as t
    from tenken.hub.db import write_tx

    with write_tx(engine) as conn:
        conn.execute(t.agents.insert().values(id=AGENT, signing_key="-", key_id="bench", cert_serial="1", enrolled_at=START))
        conn.execute(summaries.group_sets.insert().values(gk=GK, groups=[]))


def _finish_hosts(engine: Any, hosts: int, last: dict[int, tuple[str, datetime]]) -> None:
    from tenken.hub import tables as t
    from tenken.hub.db import write_tx

    with write_tx(engine) as conn:
        conn.execute(t.hosts.insert(), [
            {"key": host_key(h), "host_id": host_key(h), "name": host_name(h), "fqdn": host_name(h), "kind": "ssh", "os": "Debian GNU/Linux 12",
             "state": "scanned", "first_seen": START, "last_seen": at, "last_report_id": rid, "last_agent_id": AGENT}
            for h, (rid, at) in sorted(last.items())
        ])


def load(engine: Any, rows: int, hosts: int, say: Callable[[str], None]) -> None:
    from tenken.hub import partitions, summaries
    from tenken.hub.db import write_tx

    pg = engine.dialect.name == "postgresql"
    _prepare(engine, hosts)
    months = {partitions.month_of(at) for _, _, at in plan(rows, hosts)}
    with write_tx(engine) as conn:
        partitions.ensure_months(conn, months)
    by_host_last = {}
    for k, h, at in plan(rows, hosts):
        by_host_last[h] = (f"bench-{k:08d}", at)
    t0 = time.perf_counter()
    done = 0
    for batch in generate(rows, hosts):
        if pg:
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                for table in ("reports", "targets", "findings", "finding_clauses", "host_reports"):
                    buf = io.StringIO()
                    for r in batch[table]:
                        buf.write("\t".join(map(_copy_text, r)))
                        buf.write("\n")
                    with cur.copy(f"COPY {table} ({', '.join(COLS[table])}) FROM STDIN") as cp:
                        cp.write(buf.getvalue())
                raw.commit()
            finally:
                raw.close()
        else:
            with write_tx(engine) as conn:
                dbapi = conn.connection.driver_connection
                for table in ("reports", "targets", "findings", "finding_clauses", "host_reports"):
                    cols = COLS[table]
                    rows_ = [tuple(_sqlite_value(v) for v in r) for r in batch[table]]
                    dbapi.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows_)
        done += len(batch["findings"])
        el = time.perf_counter() - t0
        say(f"  loaded {done:,} findings ({done / el:,.0f}/s)")
    _finish_hosts(engine, hosts, by_host_last)
    with write_tx(engine) as conn:
        summaries.derive_from_history(conn)
    if pg:
        raw = engine.raw_connection()
        try:
            raw.driver_connection.autocommit = True
            raw.cursor().execute("VACUUM ANALYZE")
        finally:
            raw.close()
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    say(f"  load finished in {time.perf_counter() - t0:.0f} s")


# --- PostgreSQL cluster kept between runs --------------------------------------------------------------


def pg_server(rebuild: bool) -> Any:
    """A PostgreSQL cluster under CACHE/pg (made once with the tests' fixture code, then just started)."""
    import pg_fixture

    home = CACHE / "pg"
    if rebuild and home.exists():
        _pg_stop(home)
        shutil.rmtree(home)
    if not (home / "data" / "PG_VERSION").exists():
        srv = pg_fixture.start_postgres()
        srv.stop()
        home.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(srv.datadir.parent), str(home))
    bindir = pg_fixture.find_pg_bin()
    assert bindir is not None
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    port = pg_fixture.free_port()
    sock = home / "sock"
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(sock, "postgres", "postgres")
    opts = f"-k {sock} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=512MB -c work_mem=64MB -c max_wal_size=8GB"
    _pg_stop(home)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(home / "data"), "-l", str(home / "server.log"), "-o", opts, "-w", "-t", "120", "start"],
                   check=True, capture_output=True)
    return pg_fixture.PgServer(bindir=bindir, datadir=home / "data", sockdir=sock, port=port, user="postgres", _prefix=prefix)


def _pg_stop(home: Path) -> None:
    import pg_fixture

    bindir = pg_fixture.find_pg_bin()
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if bindir and (home / "data" / "postmaster.pid").exists():
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(home / "data"), "-m", "fast", "-w", "stop"], capture_output=True)


# --- the queries -----------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    out = fn()  # warm-up (and the answer, to print its size)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def queries(engine: Any, rows: int, hosts: int, repeat: int) -> list[tuple[str, float, str]]:
    from tenken.checks.finding import Status
    from tenken.hub import api

    req = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(engine=engine)))
    h = hosts // 3
    key = host_key(h)
    month_lo = START + timedelta(days=150)
    month_hi = month_lo + timedelta(days=30)

    def findings(**kw: Any) -> Any:
        args = {"clause": None, "status": None, "target": None, "host": None, "since": None, "until": None, "limit": 100, "offset": 0, **kw}
        return api.findings(req, **args)  # type: ignore[arg-type]

    cases: list[tuple[str, Callable[[], Any], Callable[[Any], str]]] = [
        ("latest-status, one host  GET /hosts/{h}/status", lambda: api.host_status(req, host_name(h)), lambda r: f"{len(r.clauses)} clauses"),  # type: ignore[arg-type]
        ("latest-status, fleet     GET /hosts", lambda: api.hosts(req), lambda r: f"{len(r)} hosts"),  # type: ignore[arg-type]
        ("per-clause               GET /findings?clause=SO-14-2", lambda: findings(clause="SO-14-2"), lambda r: f"100 of {r.total:,}"),
        ("per-host                 GET /findings?host=KEY", lambda: findings(host=key), lambda r: f"100 of {r.total:,}"),
        ("per-host, one month      GET /findings?host=KEY&since&until", lambda: findings(host=key, since=month_lo, until=month_hi),
         lambda r: f"100 of {r.total:,}"),
        ("per-clause, fail, month  GET /findings?clause&status=fail&since&until",
         lambda: findings(clause="SO-14-2", status=Status.FAIL, since=month_lo, until=month_hi), lambda r: f"{len(r.items)} of {r.total:,}"),
    ]
    out = []
    for label, fn, what in cases:
        ms, res = timed(fn, repeat)
        out.append((label, ms, what(res)))
    return out


def run(backend: str, rows: int, hosts: int, repeat: int, rebuild: bool) -> None:
    from tenken.hub.db import open_db

    CACHE.mkdir(parents=True, exist_ok=True)
    srv = None
    if backend == "postgresql":
        srv = pg_server(rebuild)
        name = f"hub_{rows}_{hosts}"
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=srv.port, user="postgres", dbname="postgres", autocommit=True) as c:
            exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        marker = CACHE / f"{name}.loaded"
        if exists and not marker.exists():
            with psycopg.connect(host="127.0.0.1", port=srv.port, user="postgres", dbname="postgres", autocommit=True) as c:
                c.execute(f'DROP DATABASE "{name}"')
            exists = False
        url = srv.url(name) if exists else srv.create_database(name)
    else:
        path = CACHE / f"hub-{rows}-{hosts}.db"
        marker = CACHE / f"{path.name}.loaded"
        if rebuild or not marker.exists():
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                p.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    try:
        engine = open_db(url)
        try:
            if not marker.exists():
                print(f"{backend}: loading {rows:,} findings ({hosts:,} hosts, {FINDINGS_PER_REPORT} per scan, one year) into {url.split('@')[-1]}", flush=True)
                load(engine, rows, hosts, lambda m: print(m, flush=True))
                marker.write_text(datetime.now(UTC).isoformat())
            from sqlalchemy import func, select
            from tenken.hub import partitions
            from tenken.hub import tables as t

            with engine.connect() as conn:
                n = conn.execute(select(func.count()).select_from(t.findings)).scalar_one()
                nparts = len(partitions.list_partitions(conn, "findings"))
            print(f"{backend}: {n:,} findings" + (f" in {nparts} monthly partitions" if nparts else " (unpartitioned)") + f"; median of {repeat} runs:")
            for label, ms, what in queries(engine, rows, hosts, repeat):
                verdict = "met" if ms <= TARGET_MS else "NOT met"
                print(f"  {label:<62} {ms:8.1f} ms  ({what}; target {TARGET_MS:.0f} ms on 10M rows: {verdict})", flush=True)
        finally:
            engine.dispose()
    finally:
        if srv is not None:
            srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="postgresql")
    ap.add_argument("--rows", type=int, default=None, help="findings to load (default 10,000,000 on PostgreSQL, 2,000,000 on SQLite)")
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rebuild", action="store_true", help="drop the cached database and load again")
    args = ap.parse_args()
    for b in (["postgresql", "sqlite"] if args.backend == "both" else [args.backend]):
        rows = args.rows or (10_000_000 if b == "postgresql" else 2_000_000)
        run(b, rows, args.hosts, args.repeat, args.rebuild)


if __name__ == "__main__":
    main()
