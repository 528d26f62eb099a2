"""Pending Debian updates on this machine: the file-based computation (apt lists) against apt-get -s.

Prints the wall time and peak RSS of each, in child processes, and whether they agree (same packages,
same candidate versions, same security subset). Usage: python bench/apt_pending.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure

FILE_BASED = """
from tenken.collectors.linux.apt_lists import collect_apt_lists
from tenken.collectors.probe import Probe
from tenken.collectors.transport.local import LocalTransport
r = collect_apt_lists(Probe(LocalTransport()))
assert r.computation is not None, r.fallback
"""
APT_GET = ["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"]
ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def agree() -> str:
    from tenken.collectors.linux.apt_lists import collect_apt_lists
    from tenken.collectors.linux.patches import parse_apt_simulate
    from tenken.collectors.probe import Probe
    from tenken.collectors.transport.local import LocalTransport

    comp = collect_apt_lists(Probe(LocalTransport())).computation
    if comp is None:
        return "file-based computation not possible here"
    mine = {(u.name, u.current, u.candidate, u.security) for u in comp.upgrades}
    sim = subprocess.run(APT_GET, capture_output=True, text=True, env=ENV, check=True).stdout
    apt = {(u.name, u.current, u.candidate, u.security) for u in parse_apt_simulate(sim) if u.current is not None}
    if mine == apt:
        return f"identical: {len(mine)} pending, {sum(1 for u in mine if u[3])} security"
    return f"DIFFER: only file-based {sorted(mine - apt)[:5]}, only apt-get {sorted(apt - mine)[:5]}"


def in_process(runs: int) -> str:
    """The computation alone, without the interpreter's start and imports (what a scan actually adds)."""
    import time

    from tenken.collectors.linux.apt_lists import collect_apt_lists
    from tenken.collectors.probe import Probe
    from tenken.collectors.transport.local import LocalTransport

    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        collect_apt_lists(Probe(LocalTransport()))
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return (f"median {statistics.median(walls):.3f} s wall (min {min(walls):.3f}), "
            f"median {statistics.median(cpus):.3f} s CPU, n={runs}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for label, argv, env in (("apt lists (file-based)", [sys.executable, "-c", FILE_BASED], None),
                             ("apt-get -s dist-upgrade", APT_GET, ENV)):
        runs = [measure(argv, env=env) for _ in range(args.runs)]
        walls = [r.wall_s for r in runs]
        print(f"{label:24}: median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}, "
              f"n={len(runs)}), peak RSS {max(r.max_rss_mb for r in runs):.1f} MB, exit codes {sorted({r.exit_code for r in runs})}")
    print(f"apt lists, in-process   : {in_process(args.runs)}")
    print(f"agreement: {agree()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
