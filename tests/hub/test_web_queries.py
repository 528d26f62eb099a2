"""The web view's queries and summary tables, on SQLite and on a PostgreSQL started by the tests.

Reports go through the hub's real ingest transaction (`tenken.hub.ingest.store`, which folds each report
into the summaries); answers are compared with naive computations written here straight over the stored
reports/targets/finding_clauses, and incremental updates with `summaries.rebuild`.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from tenken.agent.report import HostIdentity, Report, TargetInfo
from tenken.checks.finding import AppliedWaiver, Finding, Text, finding_id
from tenken.collectors.evidence import build_evidence
from tenken.hub import summaries as s
from tenken.hub import tables as t
from tenken.hub import web_queries as wq
from tenken.hub.db import as_utc, open_db, write_tx
from tenken.hub.ingest import store, streamed

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AGENT = "agent-web-test"
RANK = {"pass": 0, "not_applicable": 0, "manual": 0, "warn": 1, "error": 2, "fail": 3}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create_database("web_" + uuid.uuid4().hex[:12])
    else:
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = open_db(url)
    with write_tx(eng) as conn:
        conn.execute(t.agents.insert().values(id=AGENT, signing_key="-", key_id="k", cert_serial="1", enrolled_at=BASE - timedelta(days=30)))
    try:
        yield eng
    finally:
        eng.dispose()


def hk(name: str) -> str:
    return "machine-id:" + hashlib.md5(name.encode()).hexdigest()


def ident(name: str) -> HostIdentity:
    return HostIdentity(host_id=hk(name), hostname=name, fqdn=f"{name}.hospital.test")


def target(name: str, *, groups: list[str] | None = None, kind: str = "ssh", os: str | None = "Debian 12", identity: bool = True) -> TargetInfo:
    return TargetInfo(target=name, kind=kind, identity=ident(name) if identity else None, groups=groups or [], os=os, state="scanned")


def finding(tname: str, check: str, status: str, clauses: list[str], *, subject: str | None = None, evidence: str | None = None,
            waiver: AppliedWaiver | None = None) -> Finding:
    return Finding(
        id=finding_id(check, tname, subject), check_id=check, target=tname, status=status, clauses=clauses, severity="medium",
        title=Text(ja=f"{check} の検査", en=f"check {check}"), detail=Text(ja="詳細", en="detail"), remediation=Text(ja="対処", en="fix"),
        evidence=[evidence] if evidence else [], subject=subject, waiver=waiver,
    )


def report(at: datetime, targets: list[TargetInfo], findings: list[tuple[str, str, str, list[str]]], *, rid: str | None = None,
           raw: str = "PASS_MAX_DAYS 90\n") -> Report:
    """findings: (target, check, status, clauses); every finding cites the target's one evidence item."""
    evs = {ti.target: build_evidence(collector="linux.accounts", target=ti.target, sources=[], raw=raw, facts=None, collected_at=at) for ti in targets}
    fs = [finding(tn, chk, st, cl, subject=f"{chk}/s", evidence=evs[tn].id if tn in evs else None) for tn, chk, st, cl in findings]
    return Report(id=rid or f"r-{uuid.uuid4().hex[:12]}", started_at=at - timedelta(seconds=5), finished_at=at, targets=targets, findings=fs, evidence=list(evs.values()))


def ingest(engine: Engine, rep: Report, received: datetime | None = None) -> str:
    acc = store(engine, streamed(rep), agent_id=AGENT, envelope=b"{}", payload=rep.id.encode(), now=received or rep.finished_at + timedelta(minutes=1))
    assert acc.status == "stored"
    return rep.id


# --- naive reference computations (straight over the stored report tables) ---------------------------


def naive_reports(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """host -> [{key, groups, os_family, clauses}] from reports/targets/finding_clauses only."""
    r, tg, fc = t.reports, t.targets, t.finding_clauses
    parts: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(select(tg.c.host_key, tg.c.report_id, tg.c.kind, tg.c.os, tg.c.groups, r.c.observed_at, r.c.received_at).join(r, r.c.id == tg.c.report_id)):
        p = parts.setdefault((row.host_key, row.report_id), {
            "key": (as_utc(row.observed_at), as_utc(row.received_at), row.report_id), "groups": set(), "kind": row.kind, "os": row.os, "clauses": {},
        })
        p["groups"] |= set(row.groups)
    for hk, rid, clause, status in conn.execute(select(fc.c.host_key, fc.c.report_id, fc.c.clause, fc.c.status)):
        p = parts.get((hk, rid))
        if p is not None and (clause not in p["clauses"] or s.RANK[status] > s.RANK[p["clauses"][clause]]):
            p["clauses"][clause] = status
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (hk, _), p in parts.items():
        p["groups"] = sorted(p["groups"]) or [""]
        p["os_family"] = s.os_family(p["kind"], p["os"])
        out[hk].append(p)
    return out


def naive_state_at(hist: dict[str, list[dict[str, Any]]], until: datetime | None) -> dict[str, dict[str, Any]]:
    out = {}
    for hk, parts in hist.items():
        ok = [p for p in parts if until is None or p["key"][0] <= until]
        if ok:
            out[hk] = max(ok, key=lambda p: p["key"])
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return as_utc(v)
    if isinstance(v, dict):
        return sorted(v.items())
    return v


def snapshot(conn: Any) -> dict[str, Any]:
    """Every summary table's content, comparable across incremental updates and rebuild."""
    out: dict[str, Any] = {}
    for tbl in (s.group_sets, s.host_reports, s.host_latest, s.host_clause_latest):
        rows = [tuple(_plain(v) for v in r) for r in conn.execute(select(tbl))]
        out[tbl.name] = sorted(repr(r) for r in rows)
    deltas = Counter()
    for r in conn.execute(select(s.trend_deltas)):
        deltas[(str(r.day), r.clause, r.gk, r.os_family, r.status, r.section)] += r.delta
    out["trend_deltas"] = {k: v for k, v in deltas.items() if v}
    return out


# --- randomised: incremental == rebuild == naive ------------------------------------------------------

CLAUSES = ["SO-2-1", "SO-9-3", "SO-13-6", "SO-13-7", "SO-14-2", "SO-14-5"]
STATUSES = ["pass", "fail", "warn", "error", "not_applicable", "manual"]
GROUPS = [[], ["病棟"], ["病棟", "外来"], ["検査"]]


def random_history(rng: random.Random, n_reports: int, days: int) -> list[tuple[Report, datetime]]:
    hosts = [f"h{i}" for i in range(7)]
    out = []
    for i in range(n_reports):
        at = BASE + timedelta(minutes=rng.randrange(0, 24 * 60 * days))
        if rng.random() < 0.15 and out:  # same observed time as an earlier report: the tie-break decides
            at = out[rng.randrange(len(out))][0].finished_at
        chosen = rng.sample(hosts, rng.choice([1, 1, 1, 2]))
        tis = []
        for h in chosen:
            kind = "winrm" if h == "h5" else ("tls" if h == "h6" else "ssh")
            tis.append(target(h, groups=rng.choice(GROUPS), kind=kind, os="Windows Server 2022" if kind == "winrm" else None))
        fs = []
        for ti in tis:
            if rng.random() < 0.1:
                continue  # a host whose report has no findings at all drops out of every clause
            for k, clause in enumerate(rng.sample(CLAUSES, rng.randrange(1, len(CLAUSES) + 1))):
                for j in range(rng.choice([1, 1, 2])):
                    fs.append((ti.target, f"chk.{clause}.{k}.{j}", rng.choice(STATUSES), [clause] + ([rng.choice(CLAUSES)] if rng.random() < 0.2 else [])))
        fs.append(("site", "clause.SO-2-1", "manual", ["SO-2-1"]))
        rep = report(at, tis, [x for x in fs if x[0] != "site"], rid=f"r{i:03d}-{rng.randrange(10**6):06d}")
        received = at + timedelta(minutes=rng.choice([1, 1, 5, 600]))
        if rng.random() < 0.1 and out:
            received = out[-1][1]  # same receipt time too: the report id decides
        out.append((rep, received))
    rng.shuffle(out)  # arrival order is not observation order: many reports arrive late
    return out


@pytest.mark.parametrize(("seed", "n", "days"), [(1, 60, 9), (2, 90, 3)])
def test_incremental_summaries_equal_rebuild_and_naive(engine: Engine, seed: int, n: int, days: int) -> None:
    rng = random.Random(seed)
    for rep, received in random_history(rng, n, days):
        ingest(engine, rep, received)
    with engine.connect() as conn:
        inc = snapshot(conn)
        hist = naive_reports(conn)
        latest = naive_state_at(hist, None)
        stored = defaultdict(dict)
        for hk, clause, status in conn.execute(select(s.host_clause_latest.c.host_key, s.host_clause_latest.c.clause, s.host_clause_latest.c.status)):
            stored[hk][clause] = status
        assert {hk: p["clauses"] for hk, p in latest.items() if p["clauses"]} == dict(stored)
        assert {hk: p["key"][2] for hk, p in latest.items()} == dict(conn.execute(select(s.host_latest.c.host_key, s.host_latest.c.report_id)).all())
        assert "site" not in stored

        # overview cells against the naive latest state, with and without filters
        for f in [wq.Filters(), wq.Filters(groups=["病棟"]), wq.Filters(groups=[""], statuses=["fail", "error"]), wq.Filters(clauses=["SO-13"], os=["linux"]),
                  wq.Filters(os=["windows", "network"]), wq.Filters(groups=["外来", "検査"], clauses=["SO-14-2"])]:
            ov = wq.overview(conn, f)
            want: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
            for p in latest.values():
                if f.os and p["os_family"] not in {("other" if o == "network" else o) for o in f.os}:
                    continue
                if f.groups and not set(f.groups) & set(p["groups"]):
                    continue
                for clause, status in p["clauses"].items():
                    if (f.clauses and clause not in f.clauses and s.section_of(clause) not in f.clauses) or (f.statuses and status not in f.statuses):
                        continue
                    want[clause]["*"][status] += 1
                    for g in p["groups"]:
                        if not f.groups or g in f.groups:
                            want[clause][g][status] += 1
            got = {row.clause: {g: c.counts for g, c in row.cells.items()} for row in ov.rows if row.cells}
            assert got == {c: {g: dict(v) for g, v in d.items()} for c, d in want.items()}, f
            for row in ov.rows:
                for cell in row.cells.values():
                    assert cell.hosts == sum(cell.counts.values())
                    assert cell.passing_share == pytest.approx(cell.counts.get("pass", 0) / cell.hosts)

        # trends: every day's counts against the naive state at the end of that day
        since, until = (BASE - timedelta(days=1)).date(), (BASE + timedelta(days=10)).date()
        for by in ("section", "group"):
            for f in [wq.Filters(), wq.Filters(groups=["病棟"], statuses=["pass", "fail"]), wq.Filters(clauses=["SO-13-6", "SO-14"], os=["linux"])]:
                got_t = {tr.key: {p.day: p.counts for p in tr.points} for tr in wq.trends(conn, f, since, until, by)}
                want_t: dict[str, dict[date, dict[str, int]]] = defaultdict(dict)
                day = since
                while day <= until:
                    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) - timedelta(microseconds=1)
                    per: dict[str, Counter[str]] = defaultdict(Counter)
                    for p in naive_state_at(hist, end).values():
                        if (f.os and p["os_family"] not in f.os) or (f.groups and not set(f.groups) & set(p["groups"])):
                            continue
                        for clause, status in p["clauses"].items():
                            if (f.clauses and clause not in f.clauses and s.section_of(clause) not in f.clauses) or (f.statuses and status not in f.statuses):
                                continue
                            for k in ([s.section_of(clause)] if by == "section" else [g for g in p["groups"] if not f.groups or g in f.groups]):
                                per[k][status] += 1
                    for k, c in per.items():
                        want_t[k][day] = dict(c)
                    day += timedelta(days=1)
                assert set(got_t) == set(want_t), (by, f)
                for k, days in got_t.items():
                    assert {d: c for d, c in days.items() if c} == want_t[k], (by, f, k)

        # the runs kept per (host, clause): the earliest report from which the clause has had its current
        # status in every later report, and the report before it, straight from the history
        want_runs = {}
        for hk, parts in hist.items():
            seq = sorted(parts, key=lambda p: p["key"])
            for c, st in seq[-1]["clauses"].items():
                i = len(seq) - 1
                while i > 0 and seq[i - 1]["clauses"].get(c) == st:
                    i -= 1
                prev_status, prev_since = None, None
                if i > 0:
                    prev_status = seq[i - 1]["clauses"].get(c)
                    j = i - 1  # when the previous status began (a clause absent there: that report's time)
                    while prev_status is not None and j > 0 and seq[j - 1]["clauses"].get(c) == prev_status:
                        j -= 1
                    prev_since = seq[j]["key"][0]
                want_runs[(hk, c)] = (seq[i]["key"][0], seq[i]["key"][2], prev_status, prev_since)
        hcl = s.host_clause_latest
        got_runs = {(r.host_key, r.clause): (as_utc(r.since_at), r.since_report_id, r.prev_status, as_utc(r.prev_since_at))
                    for r in conn.execute(select(hcl.c.host_key, hcl.c.clause, hcl.c.since_at, hcl.c.since_report_id, hcl.c.prev_status, hcl.c.prev_since_at))}
        assert got_runs == want_runs

        # worsened since several moments, against the naive states then and now (early moments make
        # clauses that changed more than once after them, where the status then has to be looked up)
        for mid in (BASE + timedelta(hours=2), BASE + timedelta(days=1, hours=7), BASE + timedelta(days=2, hours=20), BASE + timedelta(days=4, hours=3)):
            then = naive_state_at(hist, mid)
            want_w = {
                (hk, c, then[hk]["clauses"][c], st)
                for hk, p in latest.items() if hk in then and p["key"][0] > mid
                for c, st in p["clauses"].items() if c in then[hk]["clauses"] and RANK[st] > RANK[then[hk]["clauses"][c]]
            }
            got_w = wq.worsened_since(conn, wq.Filters(), mid, limit=10_000)
            assert {(w.host_key, w.clause, w.before, w.after) for w in got_w} == want_w, mid
            for n in (1, 3, 7):  # a limit keeps the first ones of the full, ordered answer
                assert wq.worsened_since(conn, wq.Filters(), mid, limit=n) == got_w[:n]
            for w in got_w:
                assert w.changed_at > mid
                assert (w.changed_at, w.report_id) == want_runs[(w.host_key, w.clause)][:2]
            f = wq.Filters(groups=["病棟"], statuses=["fail"], clauses=["SO-13", "SO-14-2"])
            want_f = {
                x for x in want_w
                if x[3] == "fail" and (s.section_of(x[1]) == "SO-13" or x[1] == "SO-14-2") and "病棟" in latest[x[0]]["groups"]
            }
            assert {(w.host_key, w.clause, w.before, w.after) for w in wq.worsened_since(conn, f, mid, limit=10_000)} == want_f, mid

    with write_tx(engine) as conn:
        s.rebuild(conn, chunk=7)
    with engine.connect() as conn:
        assert snapshot(conn) == inc


# --- targeted behaviour --------------------------------------------------------------------------------


def test_late_report_does_not_replace_latest_and_dropped_clause_leaves(engine: Engine) -> None:
    pc = target("ward-pc-1", groups=["病棟"])
    r2 = ingest(engine, report(BASE + timedelta(days=2), [pc], [("ward-pc-1", "a", "pass", ["SO-14-2"])]))
    r1 = ingest(engine, report(BASE, [pc], [("ward-pc-1", "a", "fail", ["SO-14-2"]), ("ward-pc-1", "b", "fail", ["SO-9-3"])]))  # arrives late
    with engine.connect() as conn:
        assert conn.execute(select(s.host_latest.c.report_id)).scalar_one() == r2
        hosts = wq.clause_hosts(conn, "SO-14-2", wq.Filters())
        assert [(h.host_name, h.status, h.report_id) for h in hosts] == [("ward-pc-1", "pass", r2)]
        assert wq.clause_hosts(conn, "SO-9-3", wq.Filters()) == []  # only the older report mentions it
        # the trend still shows the late report's day, and carries it forward until the newer one
        tr = {x.key: x for x in wq.trends(conn, wq.Filters(), BASE.date(), (BASE + timedelta(days=3)).date(), "section")}
        assert [p.counts for p in tr["SO-14"].points] == [{"fail": 1}, {"fail": 1}, {"pass": 1}, {"pass": 1}]
        assert [p.counts for p in tr["SO-9"].points] == [{"fail": 1}, {"fail": 1}, {}, {}]
        assert [sc.report_id for sc in wq.host_scans(conn, hk("ward-pc-1"))] == [r2, r1]
    r3 = ingest(engine, report(BASE + timedelta(days=3), [pc], [("ward-pc-1", "b", "warn", ["SO-9-3"])]))
    with engine.connect() as conn:
        assert wq.clause_hosts(conn, "SO-14-2", wq.Filters()) == []  # the newest report no longer mentions it
        assert [h.report_id for h in wq.clause_hosts(conn, "SO-9-3", wq.Filters())] == [r3]
        ov = wq.overview(conn, wq.Filters())
        cells = {r.clause: r.cells for r in ov.rows}
        assert cells["SO-14-2"] == {} and cells["SO-9-3"]["病棟"].counts == {"warn": 1}
        assert ov.host_count == 1 and ov.latest_observed_at == BASE + timedelta(days=3)


def fleet(engine: Engine) -> dict[str, str]:
    """Four hosts: two grouped Linux, one Windows in two groups, one ungrouped TLS endpoint."""
    ids = {}
    day0, day1 = BASE, BASE + timedelta(days=1)
    ids["a0"] = ingest(engine, report(day0, [target("lin-a", groups=["病棟"])], [
        ("lin-a", "pw", "fail", ["SO-14-2"]), ("lin-a", "log", "pass", ["SO-13-6"]), ("lin-a", "tfa", "warn", ["SO-14-5"])]))
    ids["a1"] = ingest(engine, report(day1, [target("lin-a", groups=["病棟"])], [
        ("lin-a", "pw", "pass", ["SO-14-2"]), ("lin-a", "log", "fail", ["SO-13-6"]), ("lin-a", "usb", "error", ["SO-7-1"])]))
    ids["b"] = ingest(engine, report(day1, [target("lin-b", groups=["外来"])], [("lin-b", "pw", "pass", ["SO-14-2"]), ("lin-b", "log", "pass", ["SO-13-6"])]))
    ids["w"] = ingest(engine, report(day1, [target("win-c", groups=["病棟", "外来"], kind="winrm", os="Windows 11")], [
        ("win-c", "pw", "fail", ["SO-14-2"]), ("win-c", "pw2", "pass", ["SO-14-2"])]))
    ids["tls"] = ingest(engine, report(day0, [target("tls:portal:443", kind="tls", os=None, identity=False)], [("tls:portal:443", "tls.v", "pass", ["SO-13-6"])]))
    return ids


def test_overview_filters_groups_and_ordering(engine: Engine) -> None:
    fleet(engine)
    with engine.connect() as conn:
        assert wq.group_names(conn) == ["外来", "病棟", ""]
        ov = wq.overview(conn, wq.Filters())
        assert ov.groups == ["外来", "病棟", ""] and ov.host_count == 4
        clauses = [r.clause for r in ov.rows]
        assert clauses.index("SO-2-1") < clauses.index("SO-7-1") < clauses.index("SO-13-6") < clauses.index("SO-14-2")
        assert len(clauses) >= 80  # the whole volume: catalogue clauses without findings are rows too
        row = {r.clause: r for r in ov.rows}
        assert row["SO-14-2"].section == "SO-14" and row["SO-14-2"].title_ja and row["SO-14-2"].title_en
        c = row["SO-14-2"].cells
        assert c["*"].counts == {"fail": 1, "pass": 2} and c["*"].hosts == 3 and c["*"].passing_share == pytest.approx(2 / 3)
        assert c["病棟"].counts == {"fail": 1, "pass": 1} and c["外来"].counts == {"fail": 1, "pass": 1}  # win-c in both groups
        assert row["SO-13-6"].cells[""].counts == {"pass": 1}  # the ungrouped TLS endpoint
        assert row["SO-7-1"].cells["*"].counts == {"error": 1}

        ov = wq.overview(conn, wq.Filters(statuses=["fail"]))
        assert {r.clause for r in ov.rows} == {"SO-14-2", "SO-13-6"}
        assert all(cell.passing_share == 0.0 for r in ov.rows for cell in r.cells.values())
        ov = wq.overview(conn, wq.Filters(os=["windows"]))
        assert ov.host_count == 1 and ov.groups == ["外来", "病棟"]
        assert {r.clause for r in ov.rows if r.cells} == {"SO-14-2"}
        ov = wq.overview(conn, wq.Filters(os=["network"]))
        assert ov.host_count == 1 and ov.groups == [""]
        ov = wq.overview(conn, wq.Filters(groups=[""], clauses=["SO-13"]))
        assert {r.clause for r in ov.rows if r.cells} == {"SO-13-6"} and all(r.section == "SO-13" for r in ov.rows)
        assert ov.host_count == 1
        ov = wq.overview(conn, wq.Filters(groups=["no-such-group"]))
        assert ov.host_count == 0 and all(not r.cells for r in ov.rows)


def test_clause_hosts_and_trends_by_group(engine: Engine) -> None:
    ids = fleet(engine)
    with engine.connect() as conn:
        hs = wq.clause_hosts(conn, "SO-14-2", wq.Filters())
        assert [(h.host_name, h.status) for h in hs] == [("win-c", "fail"), ("lin-a", "pass"), ("lin-b", "pass")]  # worst first
        win = hs[0]
        assert win.groups == ["外来", "病棟"] and win.os == "Windows 11" and win.check_ids == ["pw", "pw2"] and win.report_id == ids["w"]
        assert [h.host_name for h in wq.clause_hosts(conn, "SO-14-2", wq.Filters(groups=["外来"], statuses=["pass"]))] == ["lin-b"]
        assert [h.host_name for h in wq.clause_hosts(conn, "SO-13-6", wq.Filters(os=["other"]))] == ["tls:portal:443"]

        tr = {x.key: [p.counts for p in x.points] for x in wq.trends(conn, wq.Filters(), BASE.date() - timedelta(days=1), BASE.date() + timedelta(days=2), "group")}
        assert list(tr) == ["外来", "病棟", ""]
        assert tr["病棟"] == [{}, {"fail": 1, "pass": 1, "warn": 1}, {"error": 1, "fail": 2, "pass": 1}, {"error": 1, "fail": 2, "pass": 1}]
        assert tr[""] == [{}, {"pass": 1}, {"pass": 1}, {"pass": 1}]  # carried forward over days without reports
        tr2 = wq.trends(conn, wq.Filters(clauses=["SO-14-2"], groups=["外来"]), BASE.date() + timedelta(days=1), BASE.date() + timedelta(days=1), "section")
        assert [(x.key, [p.counts for p in x.points]) for x in tr2] == [("SO-14", [{"fail": 1, "pass": 1}])]

        w = wq.worsened_since(conn, wq.Filters(), BASE + timedelta(hours=1))
        assert [(x.host_name, x.clause, x.before, x.after, x.report_id) for x in w] == [("lin-a", "SO-13-6", "pass", "fail", ids["a1"])]
        assert wq.worsened_since(conn, wq.Filters(groups=["外来"]), BASE + timedelta(hours=1)) == []


def test_host_detail_scans_findings_and_diff(engine: Engine) -> None:
    pc = target("ward-pc-9", groups=["病棟"])
    long_raw = "x" * 5000
    waiver = AppliedWaiver(justification="vendor system", approver="CISO", expires=date(2027, 3, 31))
    older = report(BASE, [pc], [("ward-pc-9", "pw", "fail", ["SO-14-2"]), ("ward-pc-9", "log", "pass", ["SO-13-6"]),
                                ("ward-pc-9", "gone", "warn", ["SO-9-3"]), ("ward-pc-9", "na", "not_applicable", ["SO-7-1"])])
    newer = report(BASE + timedelta(days=1), [pc], [("ward-pc-9", "pw", "pass", ["SO-14-2", "SO-13-7"]), ("ward-pc-9", "log", "error", ["SO-13-6"]),
                                                     ("ward-pc-9", "new", "fail", ["SO-2-1"]), ("ward-pc-9", "na", "manual", ["SO-7-1"])], raw=long_raw)
    newer.findings[0] = newer.findings[0].model_copy(update={"waiver": waiver})
    ingest(engine, older)
    ingest(engine, newer)
    with engine.connect() as conn:
        assert wq.host_detail(conn, hk("nobody")) is None
        d = wq.host_detail(conn, hk("ward-pc-9"))
        assert d is not None
        assert (d.name, d.fqdn, d.kind, d.os, d.groups, d.last_agent_id) == ("ward-pc-9", "ward-pc-9.hospital.test", "ssh", "Debian 12", ["病棟"], AGENT)
        assert d.first_seen == BASE and d.last_seen == BASE + timedelta(days=1)
        assert list(d.findings_by_section) == ["SO-2", "SO-7", "SO-13", "SO-14"]
        pw = d.findings_by_section["SO-14"][0]
        assert pw in d.findings_by_section["SO-13"]  # a finding for two sections is listed under both
        assert pw.waiver is not None and pw.waiver["approver"] == "CISO" and pw.status == "pass"
        assert pw.evidence_excerpt == "x" * 600 and pw.title_ja == "pw の検査" and pw.remediation_en == "fix"
        assert [sc.report_id for sc in d.scans] == [newer.id, older.id]
        assert d.scans[0].counts == {"pass": 1, "error": 1, "fail": 1, "manual": 1} and d.scans[0].transport == "ssh" and d.scans[0].agent_id == AGENT
        assert [sc.report_id for sc in wq.host_scans(conn, hk("ward-pc-9"), limit=1)] == [newer.id]
        fs = wq.scan_findings(conn, older.id, hk("ward-pc-9"))
        assert [f.check_id for f in fs] == ["pw", "log", "gone", "na"] and fs[0].evidence_excerpt == "PASS_MAX_DAYS 90\n"
        assert wq.scan_findings(conn, older.id, hk("other")) == []

        diff = wq.scan_diff(conn, hk("ward-pc-9"), older.id, newer.id)
        assert diff is not None and diff.older.report_id == older.id and diff.newer.report_id == newer.id
        assert [(i.check_id, i.before, i.after) for i in diff.better] == [("pw", "fail", "pass")]
        assert [(i.check_id, i.before, i.after) for i in diff.worse] == [("log", "pass", "error")]
        assert [(i.check_id, i.before, i.after) for i in diff.new] == [("new", None, "fail")]
        assert [(i.check_id, i.before, i.after) for i in diff.gone] == [("gone", "warn", None)]
        assert diff.unchanged == 1  # not_applicable -> manual: neither better nor worse
        assert diff.better[0].clauses == ["SO-14-2", "SO-13-7"] and diff.better[0].title_en == "check pw"
        assert wq.scan_diff(conn, hk("ward-pc-9"), older.id, "no-such-report") is None
        assert wq.scan_diff(conn, hk("other"), older.id, newer.id) is None


def test_rebuild_on_a_hub_without_summaries(engine: Engine) -> None:
    """A hub whose reports were stored before the summary tables existed: rebuild derives them."""
    ids = fleet(engine)
    with engine.connect() as conn:
        before = snapshot(conn)
    with write_tx(engine) as conn:
        for tbl in s.SUMMARY_TABLES:
            conn.execute(tbl.delete())
    with engine.connect() as conn:
        assert wq.overview(conn, wq.Filters()).host_count == 0
    with write_tx(engine) as conn:
        s.rebuild(conn)
    with engine.connect() as conn:
        assert snapshot(conn) == before
        assert wq.clause_hosts(conn, "SO-7-1", wq.Filters())[0].report_id == ids["a1"]
