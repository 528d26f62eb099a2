"""Fleet-scan benchmark: N real sshd servers on loopback, one host vs. the whole fleet.

    sudo .venv/bin/python bench/fleet_scan.py [--hosts 20] [--concurrency 20] [--all-collectors]

Starts N sshd instances (tests/sshd_fixture.py), then runs, each in a fresh child process so its peak
RSS is its own: a single-host scan and an N-host fleet scan at the given concurrency. Prints wall times,
the fleet/single ratio and peak RSS. Targets: fleet <= 3x single, peak RSS <= 150 MB.

On loopback every "remote" host is this machine, so the remote side's CPU is shared by all N hosts
(on a real fleet each host brings its own CPU). By default the benchmark therefore leaves out
`linux.patches`, whose `apt-get -s dist-upgrade` burns seconds of remote CPU per host and would measure
the package manager N times over on one box rather than tenken; `--all-collectors` includes it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CPU_BOUND_REMOTE = {"linux.patches"}


def _machine_cpu() -> float:
    """CPU-seconds used by the whole machine so far (all processes, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for i, x in enumerate(fields) if i not in (3, 4))  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def phase(args: argparse.Namespace) -> None:
    """Child process: scan the hosts in args.inventory, print wall time and own peak RSS as JSON."""
    from functools import partial

    from tenken.agent.fleet import run_fleet, scan_one
    from tenken.agent.inventory import load_inventory
    from tenken.checks.policy import load_policy
    from tenken.collectors.registry import collectors_for
    from tenken.collectors.transport.base import OsFamily

    inv = load_inventory(args.inventory)
    hosts = inv.hosts[: args.take]
    pol = load_policy()
    names = {c.name for c in collectors_for(OsFamily.LINUX)}
    only = names if args.all_collectors else names - CPU_BOUND_REMOTE
    t0 = time.monotonic()
    stat0 = _machine_cpu()
    results = run_fleet(hosts, policy_for=lambda _s: pol, concurrency=args.concurrency, progress=False,
                        scan=partial(scan_one, only_collectors=only))
    wall = time.monotonic() - t0
    machine = _machine_cpu() - stat0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss_kb = ru.ru_maxrss
    print(json.dumps({
        "wall": wall,
        "rss_mb": rss_kb / 1024,
        "cpu": ru.ru_utime + ru.ru_stime,
        "hosts": len(hosts),
        "scanned": sum(r.ok for r in results),
        "errors": [r.info.error for r in results if not r.ok][:3],
        "findings": sum(len(r.findings) for r in results),
        "machine_cpu": machine,
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--all-collectors", action="store_true", help="include remote-CPU-bound collectors (linux.patches)")
    ap.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inventory", help=argparse.SUPPRESS)
    ap.add_argument("--take", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(args)
        return
    from sshd_fixture import keygen, start_sshd

    work = Path(tempfile.mkdtemp(prefix="tenken-bench-"))
    key = keygen(work / "id_ed25519")
    t0 = time.monotonic()
    servers = [start_sshd(work / f"sshd{i}", client_key=key) for i in range(args.hosts)]
    started = time.monotonic() - t0
    try:
        kh = work / "known_hosts"
        kh.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
        inv = work / "inventory.yaml"
        inv.write_text(
            f"defaults: {{user: root, identity: {key}, known_hosts: {kh}, agent: false,"
            " timeouts: {connect: 60, command: 120, deadline: 900}}\nhosts:\n"
            + "".join(f"  - {{name: h{i:02d}, address: 127.0.0.1, port: {s.port}}}\n" for i, s in enumerate(servers))
        )

        def run(take: int, conc: int) -> dict:
            cmd = [sys.executable, __file__, "--phase", "--inventory", str(inv), "--take", str(take),
                   "--concurrency", str(conc)] + (["--all-collectors"] if args.all_collectors else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            return json.loads(out.stdout.strip().splitlines()[-1])

        run(1, 1)  # warm the page cache and the remote side once
        single = run(1, 1)
        fleet = run(args.hosts, args.concurrency)
    finally:
        for s in servers:
            s.close()
    ratio = fleet["wall"] / single["wall"]
    scope = "all collectors" if args.all_collectors else f"all collectors except {', '.join(sorted(CPU_BOUND_REMOTE))}"
    print(f"sshd servers started: {args.hosts} in {started:.2f} s; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    print(f"scope: {scope}")
    for name, r in (("single host", single), (f"fleet of {fleet['hosts']:2d}", fleet)):
        print(f"{name:11s} : {r['wall']:7.2f} s  peak RSS {r['rss_mb']:6.1f} MB  tenken CPU {r['cpu']:6.2f} s  "
              f"machine CPU {r['machine_cpu']:6.2f} s  ({r['scanned']} scanned, {r['findings']} findings)")
    if fleet["errors"]:
        print(f"errors: {fleet['errors']}")
    print(f"fleet/single: {ratio:.2f}x (target <= 3x)   speed-up vs sequential: {fleet['hosts'] * single['wall'] / fleet['wall']:.1f}x")
    print(f"peak RSS target <= 150 MB: {'met' if fleet['rss_mb'] <= 150 else 'NOT met'}; "
          f"time target: {'met' if ratio <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
