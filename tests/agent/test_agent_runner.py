"""The agent loop: real `schedule` firing, jitter, `once`, SIGTERM with and without a scan in progress."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

from agent_fixtures import *  # noqa: F403  (fixtures)
from agent_fixtures import run_tenken
from tenken.agent.agent_config import load_agent_config
from tenken.agent.dsse import load_public_key, verify_envelope
from tenken.agent.schedule_runner import Agent
from tenken.agent.spool import Spool


def _wait(pred, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _run_in_thread(agent: Agent, stop: threading.Event) -> tuple[threading.Thread, dict]:
    out: dict = {}
    t = threading.Thread(target=lambda: out.__setitem__("code", agent.run(stop, tick=0.1)), daemon=True)
    t.start()
    return t, out


def test_real_schedule_loop_delivers_a_report(tmp_path, make_config, hub, agent_files, small_root) -> None:
    """`schedule` fires every second in a real loop; signed reports land on the hub; stop -> exit 0."""
    hub.start()
    cfg = load_agent_config(make_config(jobs=[{"name": "every-second", "kind": "local", "root": str(small_root), "schedule": {"every_seconds": 1, "jitter": 0}}]))
    agent = Agent(cfg)
    stop = threading.Event()
    t, out = _run_in_thread(agent, stop)
    try:
        _wait(lambda: len(hub.state.stored) >= 2, what="two scheduled reports on the hub")
    finally:
        stop.set()
        t.join(30)
        agent.close()
    assert not t.is_alive() and out["code"] == 0
    assert hub.state.invalid == []
    first = json.loads(next(iter(hub.state.stored.values())))
    assert first["targets"][0]["target"] == f"root:{small_root}" and first["targets"][0]["state"] == "scanned"
    assert Spool(cfg.spool.dir).temp_files() == []


def test_jitter_delays_each_run_by_a_fresh_random_amount(tmp_path, make_config, hub, small_root) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[float, float]] = []

        def uniform(self, a: float, b: float) -> float:
            self.calls.append((a, b))
            return 0.3 * len(self.calls) % b

    hub.start()
    cfg = load_agent_config(make_config(jobs=[{"name": "j", "kind": "local", "root": str(small_root), "schedule": {"every_seconds": 1, "jitter": "2s"}}]))
    rng = Recorder()
    agent = Agent(cfg, rng=rng)  # type: ignore[arg-type]
    stop = threading.Event()
    t, out = _run_in_thread(agent, stop)
    try:
        _wait(lambda: len(hub.state.stored) >= 1, what="a jittered report")
    finally:
        stop.set()
        t.join(30)
        agent.close()
    assert out["code"] == 0
    assert (0, 2.0) in rng.calls  # each firing drew its own delay in [0, jitter]


def test_once_delivers_and_exits_0(tmp_path, make_config, hub, agent_files) -> None:
    hub.start()
    cfg = make_config()
    res = run_tenken("agent", "once", "--config", str(cfg))
    assert res.exit_code == 0, res.stderr
    assert len(hub.state.stored) == 1 and hub.state.invalid == []
    assert Spool(tmp_path / "spool").entries() == []


def test_once_with_hub_down_spools_and_exits_0_then_catches_up(tmp_path, make_config, hub, agent_files) -> None:
    cfg = make_config()
    res = run_tenken("agent", "once", "--config", str(cfg))
    assert res.exit_code == 0, res.stderr
    entries = Spool(tmp_path / "spool").entries()
    assert len(entries) == 1
    # The spooled entry is a complete, signed envelope.
    payload = verify_envelope(entries[0].read_bytes(), [load_public_key(agent_files.pub.read_bytes())])
    first_id = json.loads(payload)["id"]
    hub.start()
    assert run_tenken("agent", "once", "--config", str(cfg)).exit_code == 0
    assert hub.state.order[0] == first_id and len(hub.state.order) == 2


def test_config_errors_exit_2_with_file_line_field(tmp_path, make_config) -> None:
    cfg = make_config()
    text = cfg.read_text().replace("every_seconds: 1", "every_seconds: 0")
    cfg.write_text(text)
    res = run_tenken("agent", "once", "--config", str(cfg))
    assert res.exit_code == 2
    line = text.splitlines().index(next(ln for ln in text.splitlines() if "every_seconds" in ln)) + 1
    assert f"{cfg}:{line}: jobs.0.schedule.every_seconds:" in res.stderr


def test_loose_signing_key_stops_the_agent_with_a_hint(tmp_path, make_config, agent_files) -> None:
    cfg = make_config()
    agent_files.key.chmod(0o640)
    res = run_tenken("agent", "once", "--config", str(cfg))
    assert res.exit_code == 2 and "chmod 600" in res.stderr


def test_shutdown_waits_for_a_scan_that_finishes_within_grace(tmp_path, make_config, hub, agent_files) -> None:
    cfg = load_agent_config(make_config(shutdown_grace="20s"))
    agent = Agent(cfg)
    started, release = threading.Event(), threading.Event()
    real_scan = agent.scan

    def slow_scan(job):
        started.set()
        release.wait(30)
        return real_scan(job)

    agent.scan = slow_scan  # type: ignore[method-assign]
    stop = threading.Event()
    t, out = _run_in_thread(agent, stop)
    assert started.wait(30)
    stop.set()  # SIGTERM arrives mid-scan ...
    time.sleep(0.3)
    assert t.is_alive()  # ... the agent waits for the scan
    release.set()
    t.join(30)
    agent.close()
    assert out["code"] == 0
    entries = Spool(cfg.spool.dir).entries()
    assert len(entries) == 1  # the finished scan was kept
    verify_envelope(entries[0].read_bytes(), [load_public_key(agent_files.pub.read_bytes())])


def test_shutdown_abandons_a_scan_that_overruns_grace(tmp_path, make_config, caplog) -> None:
    cfg = load_agent_config(make_config(shutdown_grace=0.3))
    agent = Agent(cfg)
    started, never = threading.Event(), threading.Event()

    def stuck_scan(job):
        started.set()
        never.wait(60)
        raise RuntimeError("released after the test")

    agent.scan = stuck_scan  # type: ignore[method-assign]
    stop = threading.Event()
    with caplog.at_level("WARNING", logger="tenken.agent.schedule_runner"):
        t, out = _run_in_thread(agent, stop)
        assert started.wait(30)
        stop.set()
        t.join(30)
    agent.close()
    never.set()
    assert out["code"] == 0 and "abandoned at shutdown" in caplog.text
    sp = Spool(cfg.spool.dir)
    assert sp.entries() == [] and sp.temp_files() == []


def test_sigterm_stops_the_foreground_agent_cleanly(tmp_path, make_config, hub) -> None:
    hub.start()
    cfg = make_config()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tenken.agent.cli import main; main()", "agent", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait(lambda: len(hub.state.stored) >= 1 or proc.poll() is not None, what="the first report from `agent run`")
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert code == 0, err
    assert "signal SIGTERM: stopping" in err and "agent stopped cleanly" in err
    sp = Spool(tmp_path / "spool")
    assert sp.temp_files() == []
    assert hub.state.invalid == []
    # Whatever is still spooled is complete (a report finished during the grace period may not be shipped yet).
    for e in sp.entries():
        assert e.read_bytes().endswith(b"\n") and json.loads(e.read_bytes())["payload"]


def test_sigint_too(tmp_path, make_config, hub) -> None:
    cfg = make_config()
    proc = subprocess.Popen([sys.executable, "-c", "from tenken.agent.cli import main; main()", "agent", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: bool(Spool(tmp_path / "spool").entries()) or proc.poll() is not None, what="a spooled report (hub down)")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    proc.stderr.close()
    assert code == 0, err
    assert Spool(tmp_path / "spool").temp_files() == []


def test_inventory_job_scans_only_its_groups_and_ships_unreachable_hosts_as_errors(tmp_path, make_config, hub, agent_files) -> None:
    """An inventory job goes through the fleet scanner; a host that cannot be reached is an `error` target."""
    from agent_hubstub import free_port

    hub.start()
    (tmp_path / "known_hosts").write_text("")
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "version: 1\n"
        "defaults:\n"
        f"  user: audit\n  known_hosts: {tmp_path / 'known_hosts'}\n"
        "  timeouts: {connect: 3, command: 5, deadline: 20}\n"
        "groups:\n"
        "  lab:\n"
        "    hosts:\n"
        f"      - {{name: closed-port, address: 127.0.0.1, port: {free_port()}}}\n"
        "  other:\n"
        "    hosts: [192.0.2.10]\n"
    )
    cfg = make_config(jobs=[{"name": "fleet", "kind": "inventory", "inventory": str(inv), "groups": ["lab"],
                             "schedule": {"daily_at": "03:00"}}])
    res = run_tenken("agent", "once", "--config", str(cfg))
    assert res.exit_code == 0, res.stderr
    ((_, payload),) = hub.state.stored.items()
    report = json.loads(payload)
    assert [t["state"] for t in report["targets"]] == ["error"]
    assert "closed-port" in report["targets"][0]["target"] and "192.0.2.10" not in payload.decode()

    bad = make_config("bad.yaml", jobs=[{"name": "fleet", "kind": "inventory", "inventory": str(inv), "groups": ["nope"],
                                        "schedule": {"daily_at": "03:00"}}])
    res = run_tenken("agent", "once", "--config", str(bad))
    assert res.exit_code == 2 and "no group named 'nope'" in res.stderr
