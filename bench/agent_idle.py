"""`tenken agent run` between scans: RSS and CPU of the long-running process after its first scan.

Starts the real `tenken agent run` (a local scan of this machine every 24 h, run at start, no jitter)
against the test suite's stub hub over mutual TLS, waits until the first report reached the hub, then
samples the agent process's RSS (/proc/PID/status VmRSS) and CPU time (utime+stime) for --seconds.
The peer in the same run is the in-process loop (`Agent.run`: scans in a thread of the one process, as
before the supervisor), alternated with it. Target (issue 15): <= 30 MB RSS and no CPU between scans.

Usage: python bench/agent_idle.py [--seconds 20] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "agent")]

from agent_hubstub import Pki, StubHub  # noqa: E402
from tenken.agent.identity import init_identity  # noqa: E402

TARGET_RSS_MB = 30.0
CLK = os.sysconf("SC_CLK_TCK")
IN_PROCESS = ("import sys, signal, threading\nfrom tenken.agent.agent_config import load_agent_config\n"
              "from tenken.agent.schedule_runner import Agent\nstop = threading.Event()\n"
              "signal.signal(signal.SIGTERM, lambda *_: stop.set())\nagent = Agent(load_agent_config(sys.argv[1]))\n"
              "sys.exit(agent.run(stop))\n")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime of the process itself (not children)


def measure(argv: list[str], hub: StubHub, seconds: float) -> tuple[float, float, float]:
    """(peak RSS MB, CPU seconds, first-report seconds) of the process between scans."""
    before = len(hub.state.stored)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while len(hub.state.stored) <= before:
            if proc.poll() is not None:
                raise SystemExit(f"agent exited early: {proc.stderr.read()[-2000:]}")
            if time.monotonic() - t0 > 120:
                raise SystemExit("no report reached the hub within 120 s")
            time.sleep(0.05)
        first = time.monotonic() - t0
        time.sleep(1.0)  # let the delivery child exit and the loop go back to sleep
        cpu0, peak = cpu_s(proc.pid), 0.0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            peak = max(peak, rss_mb(proc.pid))
            time.sleep(0.25)
        return peak, cpu_s(proc.pid) - cpu0, first
    finally:
        proc.terminate()
        proc.wait(60)
        proc.stderr.close()  # type: ignore[union-attr]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        pki = Pki.create(base / "pki")
        ident = base / "id"
        init_identity(ident)
        cert = pki.enroll(ident / "tls.csr", ident / "tls.crt")
        hub = StubHub(pki, ident / "agent.pub").start()
        cfg = base / "agent.yaml"
        cfg.write_text(yaml.safe_dump({
            "signing_key": str(ident / "agent.key"),
            "hub": {"url": hub.url, "ca_file": str(pki.ca_pem), "client_cert": str(cert), "client_key": str(ident / "tls.key")},
            "spool": {"dir": str(base / "spool"), "min_free_bytes": "1MiB"},
            "jobs": [{"name": "this-host", "kind": "local", "schedule": {"every_hours": 24, "jitter": 0, "run_at_start": True}}],
        }))
        tenken = [sys.executable, "-c", "from tenken.agent.cli import main; main()", "agent", "run", "--config", str(cfg), "--log-level", "warning"]
        peer = [sys.executable, "-c", IN_PROCESS, str(cfg)]
        res: dict[str, list[tuple[float, float, float]]] = {"supervisor": [], "in-process": []}
        try:
            for _ in range(args.rounds):
                res["supervisor"].append(measure(tenken, hub, args.seconds))
                res["in-process"].append(measure(peer, hub, args.seconds))
        finally:
            hub.stop()
    for name, runs in res.items():
        rss = max(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        first = statistics.median(r[2] for r in runs)
        label = "tenken agent run (supervisor, scans in children)" if name == "supervisor" else "peer: in-process loop (Agent.run)"
        print(f"{label}: idle RSS {rss:.1f} MB, CPU {cpu * 1000:.0f} ms over {args.seconds:g} s after the first scan "
              f"(first report on the hub after {first:.2f} s, n={len(runs)})")
    sup, inp = max(r[0] for r in res["supervisor"]), max(r[0] for r in res["in-process"])
    print(f"ratio idle RSS in-process/supervisor: {inp / sup:.2f}x; target <= {TARGET_RSS_MB:g} MB: {'OK' if sup <= TARGET_RSS_MB else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
