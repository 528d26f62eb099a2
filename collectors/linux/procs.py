"""Which processes run on the target: psutil on the local machine, `ps` over a remote shell, nothing offline.

A helper for collectors that must tell "installed" from "running" (anti-malware engines, time daemons).
Names are compared the way the kernel keeps them: `comm` is cut to 15 characters, so a match also
accepts the basename of argv[0].
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from tenken.collectors.evidence import Reason
from tenken.collectors.probe import Probe

COMM_LEN = 15  # TASK_COMM_LEN - 1


@dataclass(frozen=True)
class Proc:
    pid: int
    comm: str
    argv0: str  # basename of the first argument, "" for kernel threads

    def named(self, name: str) -> bool:
        return self.comm == name[:COMM_LEN] or self.argv0 == name


def parse_ps(comm_text: str, args_text: str) -> list[Proc]:
    """Join `ps -eo pid=,stat=,comm=` and `ps -eo pid=,args=` by pid (comm may hold spaces; pid never does).

    Zombies (stat Z) are dropped: a dead daemon not yet reaped is not running.
    """
    comms: dict[int, str] = {}
    for line in comm_text.splitlines():
        parts = line.strip().split(None, 2)
        if len(parts) < 3 or not parts[0].isdecimal() or parts[1].startswith("Z"):
            continue
        comms[int(parts[0])] = parts[2].strip()
    args: dict[int, str] = {}
    for line in args_text.splitlines():
        pid, _, rest = line.strip().partition(" ")
        if pid.isdecimal():
            first = rest.strip().split(" ", 1)[0] if rest.strip() else ""
            args[int(pid)] = "" if first.startswith("[") else posixpath.basename(first)
    return [Proc(pid, comm, args.get(pid, "")) for pid, comm in sorted(comms.items())]


def list_processes(p: Probe, *, fact: str = "processes") -> list[Proc] | None:
    """Every process on the target, or None (reason noted under `fact`) when that cannot be known."""
    if not p.t.can_run:
        p.note(fact, Reason.OFFLINE, "running processes of an offline root cannot be known")
        return None
    if p.t.is_local:
        import psutil

        procs: list[Proc] = []
        for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
            info = proc.info
            if info.get("status") == psutil.STATUS_ZOMBIE:
                continue
            cmd = info.get("cmdline") or []
            procs.append(Proc(int(info["pid"]), str(info.get("name") or ""), posixpath.basename(cmd[0]) if cmd else ""))
        # names only (command lines can hold secrets); kernel threads (no argv) left out
        p.api("psutil.process_iter (names)", "\n".join(sorted({x.comm for x in procs if x.comm and x.argv0})))
        return procs
    a = p.command(["ps", "-eo", "pid=,stat=,comm="], fact=fact, keep_raw=False)
    b = p.command(["ps", "-eo", "pid=,args="], fact=fact, keep_raw=False)
    if a is None or b is None or not a.ok:
        if a is not None and not a.ok:
            p.note(fact, Reason.FAILED, f"ps exited {a.exit_code}")
        return None
    procs = parse_ps(a.text(), b.text() if b.ok else "")
    p.excerpt("ps -eo pid=,stat=,comm= (names)", "\n".join(sorted({x.comm for x in procs if x.comm and x.argv0})))
    return procs


def running_named(procs: list[Proc], names: tuple[str, ...] | list[str]) -> list[str]:
    """Which of `names` have at least one running process."""
    return [n for n in names if any(pr.named(n) for pr in procs)]


def process_names(p: Probe, fact: str = "processes") -> set[str] | None:
    """Names a process is known by: its comm (cut to 15 characters by the kernel) and its argv[0] basename,
    so `systemd-journald` is found over SSH too, where `ps` shows `systemd-journal`."""
    procs = list_processes(p, fact=fact)
    return None if procs is None else {n for x in procs for n in (x.comm, x.argv0) if n}
