"""`tenken agent run` as a small supervisor with scans in child processes: what the parent loads, and what
happens when a scan child crashes, hangs, or is running at shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from agent_fixtures import *  # noqa: F403  (fixtures)
from tenken.agent.agent_config import load_agent_config
from tenken.agent.schedule_runner import Agent
from tenken.agent.spool import Spool
from tenken.agent.supervisor import Plan, Supervisor, spool_entries

#: Stands in for agent_worker: a scan that crashes or hangs on request; everything else is the real worker.
FAKE_WORKER = '''
import os, runpy, sys, time
if "scan" in sys.argv:
    with open(os.environ["FAKE_PIDS"], "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    if os.environ["FAKE_SCAN"] == "crash":
        os.abort()
    if os.environ["FAKE_SCAN"] == "hang":
        time.sleep(3600)
sys.argv[0] = "agent_worker"
runpy.run_module("tenken.agent.agent_worker", run_name="__main__")
'''


def _wait(pred, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of a killed child counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _supervisor(tmp_path: Path, cfg_path: Path, mode: str, monkeypatch) -> tuple[Supervisor, Path]:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    pids = tmp_path / "scan-pids"
    monkeypatch.setenv("FAKE_SCAN", mode)
    monkeypatch.setenv("FAKE_PIDS", str(pids))
    agent = Agent(load_agent_config(cfg_path))
    plan = Plan.from_json(agent.plan(cfg_path, "info").to_json())  # what crosses the exec
    agent.close()
    return Supervisor(plan, worker=[sys.executable, str(script)]), pids


def _run(sup: Supervisor, stop: threading.Event) -> tuple[threading.Thread, dict]:
    out: dict = {}
    t = threading.Thread(target=lambda: out.__setitem__("code", sup.run(stop, tick=0.1)), daemon=True)
    t.start()
    return t, out


def _error_details(hub) -> list[str]:
    details = []
    for payload in hub.state.stored.values():
        rep = json.loads(payload)
        assert rep["targets"][0]["state"] == "error"
        details += [f["detail"]["en"] for f in rep["findings"] if f["check_id"] == "target.reachable" and f["status"] == "error"]
    return details


def test_agent_run_parent_loads_no_scan_code(tmp_path, make_config, hub) -> None:
    """After the first report reached the hub, the long-running process (same PID, exec'd) has mapped neither
    pydantic's core nor psutil nor cryptography: collectors, checks and report models live in the children."""
    hub.start()
    cfg = make_config(jobs=[{"name": "this-host", "kind": "local", "root": str(tmp_path / "root"),
                             "schedule": {"every_hours": 24, "jitter": 0, "run_at_start": True}}])
    proc = subprocess.Popen([sys.executable, "-c", "from tenken.agent.cli import main; main()", "agent", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: len(hub.state.stored) >= 1 or proc.poll() is not None, what="the first report")
        assert proc.poll() is None, proc.stderr.read()
        _wait(lambda: spool_entries(str(tmp_path / "spool")) == [], what="the spool to drain")
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    proc.stderr.close()
    assert code == 0, err
    assert b"tenken.agent.supervisor" in cmdline
    for lib in ("pydantic_core", "_psutil", "_rust.abi3", "_yaml"):
        assert lib not in maps, f"the agent's parent process loaded {lib}"
    assert "scans run in child processes" in err and "agent stopped cleanly" in err


def test_crashing_scan_child_becomes_an_error_report_and_the_agent_goes_on(tmp_path, make_config, hub, monkeypatch) -> None:
    hub.start()
    cfg = make_config()  # every second, run at start
    sup, _pids = _supervisor(tmp_path, cfg, "crash", monkeypatch)
    stop = threading.Event()
    t, out = _run(sup, stop)
    try:
        _wait(lambda: len(hub.state.stored) >= 2, what="two error reports (the agent keeps its schedule)")
    finally:
        stop.set()
        t.join(60)
    assert out["code"] == 0
    details = _error_details(hub)
    assert len(details) >= 2 and all("killed by signal SIGABRT without a report" in d for d in details)
    assert hub.state.invalid == [] and Spool(tmp_path / "spool").temp_files() == []


def test_hanging_scan_child_is_killed_at_scan_timeout_and_reported(tmp_path, make_config, hub, monkeypatch) -> None:
    hub.start()
    cfg = make_config(scan_timeout="1s")
    sup, pids = _supervisor(tmp_path, cfg, "hang", monkeypatch)
    stop = threading.Event()
    t, out = _run(sup, stop)
    try:
        _wait(lambda: len(hub.state.stored) >= 1, what="an error report for the hung scan")
    finally:
        stop.set()
        t.join(60)
    assert out["code"] == 0
    assert any("did not finish within scan_timeout (1 s) and was killed" in d for d in _error_details(hub))
    first = int(pids.read_text().split()[0])
    assert not _alive(first), "the hung scan process was left running"


def test_shutdown_abandons_a_hung_scan_child_after_grace(tmp_path, make_config, hub, monkeypatch, caplog) -> None:
    cfg = make_config(shutdown_grace=0.3)
    sup, pids = _supervisor(tmp_path, cfg, "hang", monkeypatch)
    stop = threading.Event()
    with caplog.at_level("INFO", logger="tenken.agent.schedule_runner"):
        t, out = _run(sup, stop)
        _wait(lambda: pids.exists() and pids.read_text().strip() != "", what="the scan child to start")
        stop.set()
        t.join(60)
    assert not t.is_alive() and out["code"] == 0
    assert "abandoned at shutdown" in caplog.text and "agent stopped cleanly" in caplog.text
    assert not _alive(int(pids.read_text().split()[0]))
    sp = Spool(tmp_path / "spool")
    assert sp.entries() == [] and sp.temp_files() == [] and hub.state.stored == {}
