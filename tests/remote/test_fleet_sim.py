"""The simulated fleet (tests/fleet_sim.py) and streamed fleet reports (agent/report_stream.py).

One real scan of the sshd fixture is recorded through the recording transport; replays of it stand in for
many hosts. Latency is zero here (no timing is asserted); hung hosts rely on the fleet's deadline.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from fleet_sim import (
    Network,
    Recording,
    ReplayTransport,
    machine_id_for,
    record_fixture_host,
    replay_scanner,
    sim_fleet,
)
from tenken.agent.fleet import run_fleet, stream_fleet
from tenken.agent.report import TargetKind
from tenken.agent.report_stream import ReportStreamWriter, StreamError, read_report_stream
from tenken.agent.scan import assemble_report, scan_host
from tenken.checks.policy import load_policy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):
    import os

    if os.geteuid() != 0:
        pytest.skip("recording the sshd fixture needs root")
    work = tmp_path_factory.mktemp("rec")
    _, result = record_fixture_host(work / "recording.json", work / "sshd")
    rec = Recording.load(work / "recording.json")
    rec.path = work / "recording.json"  # type: ignore[attr-defined]  # for tests that replay it in a fresh process
    return rec, result


def _shape(findings, target: str):  # type: ignore[no-untyped-def]
    """What a finding says, with the host's own name taken out (each replayed host has its own)."""
    return sorted(
        (f.check_id, f.status.value, f.subject or "", tuple(f.clauses), f.severity.value, f.detail.en.replace(target, "<host>"))
        for f in findings
    )


def test_replayed_host_gives_the_recorded_findings(recorded) -> None:
    rec, original = recorded
    assert original.info.state.value == "scanned" and original.findings
    assert rec.requests > 50 and rec.answers  # the whole scan went through the recording wrapper
    for batched in (False, True):
        t = ReplayTransport(rec, "ward3-pc17.example", network=Network(0.0), batched=batched)
        t.connect()
        got = scan_host(t, load_policy(None), kind=TargetKind.SSH)
        assert t.not_recorded == []
        assert got.info.state.value == "scanned"
        assert _shape(got.findings, t.target) == _shape(original.findings, original.info.target)
        # a distinct host: its own name and machine-id, not the recorded machine's
        assert got.info.target == "root@ward3-pc17.example:22"
        assert got.info.identity is not None and got.info.identity.host_id == f"machine-id:{machine_id_for('ward3-pc17.example')}"
        assert got.info.identity != original.info.identity
    # batching by planning waves needs far fewer round trips than one per request
    one_each = ReplayTransport(rec, "a", network=Network(0.0))
    one_each.connect()
    scan_host(one_each, load_policy(None), kind=TargetKind.SSH)
    waves = ReplayTransport(rec, "b", network=Network(0.0), batched=True)
    waves.connect()
    scan_host(waves, load_policy(None), kind=TargetKind.SSH)
    assert waves.round_trips < one_each.round_trips / 5


def test_a_request_the_recording_lacks_is_an_error_not_an_answer(recorded) -> None:
    rec, _ = recorded
    t = ReplayTransport(rec, "x", network=Network(0.0))
    t.connect()
    with pytest.raises(Exception, match="not in the recording"):
        t.read_file("/etc/never-recorded")
    assert t.not_recorded


def test_fleet_with_hung_and_refused_hosts_streams_each_host_as_it_completes(recorded, tmp_path: Path) -> None:
    rec, original = recorded
    hosts = sim_fleet(30, hung=3, refused=2, stalled=1, deadline=600.0, hang_deadline=2.0)
    assert Counter(h.behaviour for h in hosts) == {"ok": 24, "hang": 3, "refuse": 2, "stall": 1}
    specs = [h.spec() for h in hosts]
    policy = load_policy(None)
    out = tmp_path / "fleet.jsonl"
    seen_before: list[int] = []
    states: dict[str, tuple[str, str | None]] = {}
    with out.open("w", encoding="utf-8") as fh:
        writer = ReportStreamWriter(fh, policy=policy.name)

        def emit(i: int, res) -> None:  # type: ignore[no-untyped-def]
            # what another reader sees in the file now: every host emitted so far, already flushed
            on_disk = [json.loads(x) for x in out.read_text().splitlines()]
            seen_before.append(sum(1 for x in on_disk if x["type"] == "target"))
            writer.add(res)
            states[specs[i].name] = (res.info.state.value, res.info.error)

        stream_fleet(specs, emit, policy_for=lambda _s: policy, concurrency=10, progress=False,
                     scan=replay_scanner(rec, hosts, network=Network(0.0), batched=True))
        assert writer.finish(scanned_kinds={"host"}) == 3  # some hosts could not be scanned
    assert seen_before == list(range(30))  # host n was written and flushed before host n+1 finished
    for h in hosts:
        state, error = states[h.name]
        if h.behaviour in ("hang", "stall"):
            assert (state, error) == ("error", "deadline exceeded after 2 s"), h
        elif h.behaviour == "refuse":
            assert state == "error" and error == f"root@{h.name}:22: connection refused", h
        else:
            assert (state, error) == ("scanned", None), h
    report = read_report_stream(out)
    assert len(report.targets) == 30 and len({t.identity.host_id for t in report.targets if t.identity}) == 24
    ok_target = next(t.target for t in report.targets if t.state.value == "scanned")
    assert _shape([f for f in report.findings if f.target == ok_target], ok_target) == _shape(
        original.findings, original.info.target)


def test_streamed_report_equals_the_in_memory_report(recorded, tmp_path: Path) -> None:
    rec, _ = recorded
    hosts = sim_fleet(6, refused=1)
    specs = [h.spec() for h in hosts]
    policy = load_policy(None)
    scan = replay_scanner(rec, hosts, network=Network(0.0), batched=True)
    mem = assemble_report(run_fleet(specs, policy_for=lambda _s: policy, concurrency=3, progress=False, scan=scan),
                          policy=policy, scanned_kinds={"host"})
    out = tmp_path / "s.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        w = ReportStreamWriter(fh, policy=policy.name)
        stream_fleet(specs, lambda _i, r: w.add(r), policy_for=lambda _s: policy, concurrency=3, progress=False, scan=scan)
        w.finish(scanned_kinds={"host"})
    got = read_report_stream(out)

    def key(f):  # type: ignore[no-untyped-def]
        return (f.id, f.status.value, f.check_id, f.target, tuple(f.clauses), f.subject, tuple(sorted(f.evidence)))

    assert sorted(map(key, got.findings)) == sorted(map(key, mem.findings))
    assert [key(f) for f in got.findings] == [key(f) for f in mem.findings]  # the reader restores the report's order
    assert sorted(t.target for t in got.targets) == sorted(t.target for t in mem.targets)
    assert got.summary() == mem.summary()
    assert sorted(e.id for e in got.evidence) == sorted(e.id for e in mem.evidence)


def test_a_cut_or_damaged_stream_is_refused(recorded, tmp_path: Path) -> None:
    rec, _ = recorded
    hosts = sim_fleet(2)
    policy = load_policy(None)
    out = tmp_path / "s.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        w = ReportStreamWriter(fh, policy=policy.name)
        stream_fleet([h.spec() for h in hosts], lambda _i, r: w.add(r), policy_for=lambda _s: policy, concurrency=2,
                     progress=False, scan=replay_scanner(rec, hosts, network=Network(0.0), batched=True))
        w.finish(scanned_kinds={"host"})
    lines = out.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]))  # the scan was interrupted before its end line
    with pytest.raises(StreamError, match="no end line"):
        read_report_stream(cut)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + lines[1][: len(lines[1]) // 2] + "\n" + "".join(lines[2:]))
    with pytest.raises(StreamError, match="damaged line"):
        read_report_stream(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(lines[0] + "".join(lines[2:]))  # a host line dropped: the end line's count disagrees
    with pytest.raises(StreamError, match="counts 2 hosts"):
        read_report_stream(missing)


def _linux_inventory(tmp_path: Path, servers) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    """An inventory of the sshd servers (group linux, strict known_hosts) plus one host nothing listens for."""
    from sshd_fixture import free_port

    kh = tmp_path / "known_hosts"
    kh.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
    dead = free_port()
    inv = tmp_path / "inventory.yaml"
    inv.write_text(f"""
defaults:
  user: root
  identity: {servers[0].client_key}
  known_hosts: {kh}
  agent: false
groups:
  linux:
    hosts:
""" + "".join(f"      - name: srv{i}\n        address: 127.0.0.1\n        port: {s.port}\n" for i, s in enumerate(servers))
        + f"      - name: dead\n        address: 127.0.0.1\n        port: {dead}\n")
    return inv, dead


def test_scan_inventory_jsonl_streams_real_sshd_hosts(sshd_factory, tmp_path: Path, remote_cli) -> None:

    servers = [sshd_factory() for _ in range(2)]
    inv, dead = _linux_inventory(tmp_path, servers)
    out = tmp_path / "fleet.jsonl"
    res = remote_cli("scan", "inventory", str(inv), "-f", "jsonl", "-o", str(out), "--concurrency", "3")
    assert res.exit_code == 3, res.stderr
    assert (out.stat().st_mode & 0o777) == 0o600
    report = read_report_stream(out)
    states = {t.target: t.state.value for t in report.targets}
    assert states == {f"root@srv0:{servers[0].port}": "scanned", f"root@srv1:{servers[1].port}": "scanned",
                      f"root@dead:{dead}": "error"}
    assert all(t.groups == ["linux"] for t in report.targets)
    assert any(f.kind.value == "manual" for f in report.findings)  # coverage items of the end line
    res = remote_cli("scan", "inventory", str(inv), "-f", "jsonl", "--sign", str(tmp_path / "k"))
    assert res.exit_code == 2 and "not signed" in res.stderr


def test_real_sshd_hosts_behind_injected_latency(sshd_factory, tmp_path: Path, remote_cli) -> None:
    """Real sshd servers reached through tests/latency_relay.py (netem is missing from this kernel)."""
    from latency_relay import DelayRelay, relay_known_hosts_line

    servers = [sshd_factory() for _ in range(2)]
    relays = [DelayRelay(s.port, rtt=0.02, jitter=0.005, seed=i).start() for i, s in enumerate(servers)]
    try:
        kh = tmp_path / "known_hosts"
        kh.write_text("".join(relay_known_hosts_line(s.known_hosts_line(), r.port) + "\n" for s, r in zip(servers, relays, strict=True)))
        inv = tmp_path / "inventory.yaml"
        inv.write_text(f"""
defaults:
  user: root
  identity: {servers[0].client_key}
  known_hosts: {kh}
  agent: false
groups:
  far:
    hosts:
""" + "".join(f"      - name: far{i}\n        address: 127.0.0.1\n        port: {r.port}\n" for i, r in enumerate(relays)))
        out = tmp_path / "far.jsonl"
        res = remote_cli("scan", "inventory", str(inv), "-f", "jsonl", "-o", str(out), "--concurrency", "2",
                         "--limit", "far0,far1")
        report = read_report_stream(out)
        assert res.exit_code in (0, 1), res.stderr  # scanned (the fixture host may fail checks), never unscanned
        assert {t.target: t.state.value for t in report.targets} == {f"root@far{i}:{r.port}": "scanned" for i, r in enumerate(relays)}
        assert all(r.connections >= 1 for r in relays)  # every byte went through the delaying relay
    finally:
        for r in relays:
            r.close()


# Forked worker processes (agent/fleet_fork.py) are only used where no other thread runs: in a fresh process,
# not in pytest's (fixtures leave threads behind). The script below replays the recording there.
_FORK_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from fleet_sim import Network, Recording, replay_scanner, sim_fleet
from tenken.agent import fleet_fork
from tenken.agent.fleet import stream_fleet
from tenken.checks.policy import load_policy

assert fleet_fork.can_fork()
rec, pids_file, die = Recording.load(Path(sys.argv[2])), Path(sys.argv[3]), sys.argv[4]
policy = load_policy(None)
hosts = sim_fleet(24, hung=2, refused=2, deadline=600.0, hang_deadline=2.0)
specs = [h.spec() for h in hosts]
inner = replay_scanner(rec, hosts, network=Network(0.0), batched=True)

def scan(spec, pol, **kw):
    with pids_file.open("a") as fh:
        fh.write(f"{os.getpid()} {spec.name}\n")
    if spec.name == die:
        os._exit(7)  # the worker process dies in the middle of its share
    return inner(spec, pol, **kw)

out = {}
def emit(i, r):
    assert i not in out, f"host {i} emitted twice"
    out[i] = [r.info.state.value, r.info.error, r.info.target.replace(specs[i].name, "<host>"),
              sorted((f.check_id, f.status.value, (f.subject or "").replace(specs[i].name, "<host>")) for f in r.findings)]

procs = int(sys.argv[5])
stream_fleet(specs, emit, policy_for=lambda _s: policy, concurrency=8, progress=False, scan=scan, processes=procs)
print(json.dumps({"parent": os.getpid(), "results": out, "behaviour": [h.behaviour for h in hosts],
                  "names": [h.name for h in hosts]}))
"""


def _forked_run(recorded, tmp_path: Path, *, processes: int, die: str = "-"):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    rec, _ = recorded
    pids = tmp_path / f"pids-{processes}-{die}.txt"
    tests = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", _FORK_SCRIPT, tests, str(rec.path), str(pids), die, str(processes)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    where = [line.split() for line in pids.read_text().splitlines()]
    return got, {pid for pid, _ in where}, {name: pid for pid, name in where}


def test_forked_workers_give_every_host_once_and_the_same_results_as_one_process(recorded, tmp_path: Path) -> None:
    one, pids1, _ = _forked_run(recorded, tmp_path, processes=1)
    three, pids3, _ = _forked_run(recorded, tmp_path, processes=3)
    assert pids1 == {str(one["parent"])}  # one process: every host scanned in it
    assert len(pids3) == 3 and str(three["parent"]) not in pids3  # three workers, none of them the parent
    assert sorted(three["results"]) == sorted(one["results"]) == sorted(str(i) for i in range(24))
    assert three["results"] == one["results"]  # same states, errors and findings host by host
    for i, b in enumerate(three["behaviour"]):
        state, error = three["results"][str(i)][:2]
        assert (state == "scanned") == (b == "ok"), (b, state, error)
        if b == "hang":
            assert error == "deadline exceeded after 2 s"


def test_a_worker_that_dies_loses_no_host(recorded, tmp_path: Path) -> None:
    """The worker scanning one host exits mid-share: its unreported hosts are errors saying so, the other
    workers' hosts are unaffected, and every host is reported exactly once."""
    names = [h.name for h in sim_fleet(24, hung=2, refused=2, deadline=600.0, hang_deadline=2.0)]
    victim = names[6]  # worker 0 of 3 scans hosts 0, 3, 6, ...
    got, _, where = _forked_run(recorded, tmp_path, processes=3, die=victim)
    res = got["results"]
    assert sorted(res, key=int) == [str(i) for i in range(24)]
    lost = [i for i in range(24) if "ended before reporting" in (res[str(i)][1] or "")]
    assert 6 in lost and all(i % 3 == 0 for i in lost)  # only the dead worker's share
    assert all("exit status 7" in res[str(i)][1] for i in lost) and res["6"][0] == "error"
    others = [i for i in range(24) if i % 3 and got["behaviour"][i] == "ok"]
    assert others and all(res[str(i)][0] == "scanned" for i in others)
    assert where[victim] != str(got["parent"])


def test_scan_inventory_with_worker_processes_on_real_sshd_hosts(sshd_factory, tmp_path: Path) -> None:
    """`scan inventory --processes 2` end to end (a fresh CLI process, so it may fork): same hosts, states."""
    import subprocess
    import sys


    servers = [sshd_factory() for _ in range(3)]
    inv, dead = _linux_inventory(tmp_path, servers)
    out = tmp_path / "fleet.jsonl"
    proc = subprocess.run([sys.executable, "-m", "tenken", "scan", "inventory", str(inv), "-f", "jsonl", "-o", str(out),
                           "--concurrency", "4", "--processes", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-3000:]
    report = read_report_stream(out)
    states = {t.target: t.state.value for t in report.targets}
    assert states == {**{f"root@srv{i}:{s.port}": "scanned" for i, s in enumerate(servers)}, f"root@dead:{dead}": "error"}
    assert all(t.groups == ["linux"] for t in report.targets)
