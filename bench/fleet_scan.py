"""Fleet-scan benchmark: N real sshd servers on loopback, tenken with and without patches, and Ansible.

    sudo .venv/bin/python bench/fleet_scan.py [--hosts 10] [--concurrency 10] [--no-ansible]

Starts N sshd instances (tests/sshd_fixture.py), then runs, each in a fresh child process so its peak
RSS and CPU are its own: a single-host scan, the fleet with all collectors, the fleet without
`linux.patches`, and the peer, Ansible's fact gathering (`ansible all -m setup`, ansible-core from PyPI in
the bench's own venv bench/.ansible-venv, strict host keys, pipelining on), on the same servers.

Per host it prints: SSH round trips (commands and batches through the one shell), remote processes
spawned (the machine's fork counter from /proc/stat over the phase, divided by hosts: on loopback the
targets are this machine; the scanner forks none over SSH), bytes returned, tenken CPU and machine CPU.
On loopback every "remote" host is this machine, so machine CPU = tenken + N targets' sshd and shells.
Targets (issue 15): <= 3 round trips per host; machine CPU <= 0.5 s/host all collectors, <= 0.25 s
without patches; tenken CPU <= 0.15 s/host; wall <= 1.2 x machine CPU / cores; the full audit faster
than Ansible's pipelined fact gathering.

Measured 2026-12-07, machine otherwise idle (load 0.3), two runs of `--hosts 10 --concurrency 10`: 3 round
trips per host; machine CPU 0.372-0.377 s/host with all collectors, 0.232-0.235 without patches; tenken
0.141-0.143 CPU-s/host; Ansible 2.85-2.87 s wall, 0.50 machine CPU-s/host; full audit 0.74x Ansible's wall.
Every target met. The process count includes whatever else forks on the machine meanwhile.
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


def _forks() -> int:
    """Processes created on the whole machine since boot (/proc/stat `processes`)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("processes "):
            return int(line.split()[1])
    return 0


def _count_exec() -> dict[str, int]:
    """Wrap SSHTransport._exec to count round trips and bytes returned, over every host of the phase."""
    import threading

    from tenken.collectors.transport.ssh import SSHTransport

    counts = {"round_trips": 0, "bytes": 0}
    lock = threading.Lock()
    orig = SSHTransport._exec

    def counted(self, command, timeout, what):  # type: ignore[no-untyped-def]
        code, out, err = orig(self, command, timeout, what)
        with lock:
            counts["round_trips"] += 1
            counts["bytes"] += len(out) + len(err)
        return code, out, err

    SSHTransport._exec = counted  # type: ignore[method-assign]
    return counts


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
    counts = _count_exec()
    t0 = time.monotonic()
    stat0 = _machine_cpu()
    forks0 = _forks()
    results = run_fleet(hosts, policy_for=lambda _s: pol, concurrency=args.concurrency, progress=False,
                        scan=partial(scan_one, only_collectors=only))
    wall = time.monotonic() - t0
    machine = _machine_cpu() - stat0
    forks = _forks() - forks0
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
        "round_trips": counts["round_trips"],
        "bytes": counts["bytes"],
        "forks": forks,
        "methods": sorted({e.facts.get("pending_method") or "" for r in results for e in r.evidence
                           if e.collector == "linux.patches" and e.facts}),
        "collections": sorted({(r.info.collection or "?").split(" (")[0] for r in results}),
    }))


ANSIBLE_VENV = ROOT / "bench" / ".ansible-venv"


def ansible_venv() -> Path:
    """ansible-core from PyPI in the bench's own venv (never the project's)."""
    exe = ANSIBLE_VENV / "bin" / "ansible"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True)
    return exe


def run_ansible(exe: Path, servers: list, key: Path, kh: Path, work: Path, forks: int) -> dict:
    inv = work / "ansible.ini"
    inv.write_text("[fleet]\n" + "".join(
        f"h{i:02d} ansible_host={s.host} ansible_port={s.port} ansible_user=root ansible_ssh_private_key_file={key}\n"
        for i, s in enumerate(servers)))
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_PIPELINING": "True",
           "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o ControlMaster=auto "
                               "-o ControlPersist=60s -o ControlPath=" + str(work / "cm-%C"),
           "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3", "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
           "ANSIBLE_HOME": str(work / "ansible-home"), "ANSIBLE_STDOUT_CALLBACK": "oneline"}
    stat0, forks0, t0 = _machine_cpu(), _forks(), time.monotonic()
    out = subprocess.run([str(exe), "all", "-i", str(inv), "-m", "setup", "-f", str(forks)],
                         capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    ok = out.stdout.count(" | SUCCESS")
    return {"wall": wall, "machine_cpu": _machine_cpu() - stat0, "forks": _forks() - forks0, "ok": ok,
            "rc": out.returncode, "err": (out.stderr or out.stdout)[-300:] if ok < len(servers) else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--no-ansible", action="store_true", help="skip the peer")
    ap.add_argument("--all-collectors", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inventory", help=argparse.SUPPRESS)
    ap.add_argument("--take", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(args)
        return
    from sshd_fixture import keygen, start_sshd

    exe = None if args.no_ansible else ansible_venv()
    work = Path(tempfile.mkdtemp(prefix="tenken-bench-"))
    key = keygen(work / "id_ed25519")
    t0 = time.monotonic()
    servers = [start_sshd(work / f"sshd{i}", client_key=key) for i in range(args.hosts)]
    started = time.monotonic() - t0
    peer: dict | None = None
    try:
        kh = work / "known_hosts"
        kh.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
        inv = work / "inventory.yaml"
        inv.write_text(
            f"defaults: {{user: root, identity: {key}, known_hosts: {kh}, agent: false,"
            " timeouts: {connect: 60, command: 120, deadline: 900}}\nhosts:\n"
            + "".join(f"  - {{name: h{i:02d}, address: 127.0.0.1, port: {s.port}}}\n" for i, s in enumerate(servers))
        )

        def run(take: int, conc: int, every: bool) -> dict:
            cmd = [sys.executable, __file__, "--phase", "--inventory", str(inv), "--take", str(take),
                   "--concurrency", str(conc)] + (["--all-collectors"] if every else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            return json.loads(out.stdout.strip().splitlines()[-1])

        run(1, 1, True)  # warm the page cache and the remote side once
        single = run(1, 1, True)
        full = run(args.hosts, args.concurrency, True)
        lean = run(args.hosts, args.concurrency, False)
        if exe is not None:
            run_ansible(exe, servers[:1], key, kh, work, 1)  # warm: ansible's own imports and caches
            peer = run_ansible(exe, servers, key, kh, work, args.concurrency)
    finally:
        for s in servers:
            s.close()
    cores = os.cpu_count() or 1
    print(f"sshd servers started: {args.hosts} in {started:.2f} s; {cores} CPUs; load {os.getloadavg()[0]:.1f} "
          "(shared machine: other jobs' CPU lands in `machine CPU` too)")
    print(f"{'phase':26s} {'wall s':>7s} {'RSS MB':>7s} | per host: {'trips':>5s} {'procs':>6s} {'KB back':>8s} "
          f"{'tenken CPU':>10s} {'machine CPU':>11s}")
    for name, r in (("single host, all", single), (f"fleet {full['hosts']}, all collectors", full),
                    (f"fleet {lean['hosts']}, without patches", lean)):
        n = max(1, r["hosts"])
        print(f"{name:26s} {r['wall']:7.2f} {r['rss_mb']:7.1f} |           {r['round_trips'] / n:5.1f} {r['forks'] / n:6.0f} "
              f"{r['bytes'] / n / 1024:8.0f} {r['cpu'] / n:10.3f} {r['machine_cpu'] / n:11.3f}"
              f"   ({r['scanned']} scanned, {r['findings']} findings)")
        if r["errors"]:
            print(f"   errors: {r['errors']}")
    print(f"pending updates computed by: {', '.join(full['methods']) or '?'}")
    print(f"how the evidence was fetched: {'; '.join(full['collections'])}")
    n = full["hosts"]
    checks = [
        ("round trips per host <= 3", full["round_trips"] / n, 3),
        ("machine CPU per host, all collectors <= 0.5 s", full["machine_cpu"] / n, 0.5),
        ("machine CPU per host, without patches <= 0.25 s", lean["machine_cpu"] / n, 0.25),
        ("tenken CPU per host <= 0.15 s", full["cpu"] / n, 0.15),
        ("fleet wall / (1.2 x machine CPU / cores) <= 1", full["wall"] / (1.2 * full["machine_cpu"] / cores), 1),
    ]
    if peer is not None:
        print(f"{'ansible -m setup (peer)':26s} {peer['wall']:7.2f} {'':7s} |           {'':5s} {peer['forks'] / n:6.0f} "
              f"{'':8s} {'':10s} {peer['machine_cpu'] / n:11.3f}   ({peer['ok']}/{n} ok, pipelining, strict host keys)")
        if peer["err"]:
            print(f"   ansible: rc {peer['rc']}: {peer['err']}")
        print(f"ratio tenken full audit / ansible fact gathering: wall {full['wall'] / peer['wall']:.2f}x, "
              f"machine CPU {full['machine_cpu'] / peer['machine_cpu']:.2f}x; "
              f"without patches: wall {lean['wall'] / peer['wall']:.2f}x")
        checks.append(("full audit wall / ansible wall < 1", full["wall"] / peer["wall"], 1))
    for what, value, limit in checks:
        print(f"  {what:50s} {value:7.3f}  {'met' if value <= limit else 'NOT met'}")


if __name__ == "__main__":
    main()
