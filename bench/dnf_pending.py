"""Pending dnf updates of a RHEL 9 root: tenken's file-based computation against real dnf, in the same run.

Builds (once; the rpmbuild output is cached, tests/linux/rpm_fixture.py) a root with --installed packages,
a baseos repository holding a newer build of each plus --extra packages nobody installed (a real AppStream
has ~6,000 of those), one security advisory per fifth installed package, and dnf's real metadata cache
(`dnf makecache`). Then, alternated --runs times, it prints wall time and CPU (user+sys of the process and
its children) of:

- peer: `dnf -C check-update` + `dnf -C updateinfo list --security` — what a scan ran on each RHEL host
  before (and still runs as the fallback);
- target side of a remote scan: the one sh/awk filtering script rpm_remote sends (rpm -qa inside), its
  answer's size against the cached repodata's;
- scanner side: rpm_remote's parsing and computation of that answer, and rpm_files' whole in-process path on
  the root (rpm database + repodata read by Python: a local or --root scan);

and whether tenken's pending list agrees with dnf's. Needs root (the script runs in a mount namespace
where the root's dnf cache is at /var/cache/dnf) and rpm, rpmbuild, createrepo_c, dnf (tests/run-all.sh).
Usage: sudo .venv/bin/python bench/dnf_pending.py [--installed 300] [--extra 700] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "linux"))
from rpm_fixture import Advisory, Pkg, Repo, _env, build_root, build_rpm, dnf_command  # noqa: E402

X = "x86_64"


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float, float, object]:
    """(wall, own CPU, children's CPU, result) of one call."""
    w, c, k = time.perf_counter(), time.process_time(), children_cpu()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, children_cpu() - k, out


def make_root(base: Path, installed: int, extra: int) -> Path:
    inst = [Pkg(f"pkg{i:05d}", "1.0", "1.el9", arch=X) for i in range(installed)]
    newer = [Pkg(p.name, "1.0", "2.el9", arch=X) for p in inst]
    others = [Pkg(f"other{i:05d}", "3.0", "1.el9", arch=X) for i in range(extra)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # fill the rpmbuild cache in parallel
        list(pool.map(build_rpm, [*inst, *newer, *others]))
    advisories = tuple(Advisory(f"RHSA-2026:{i:05d}", packages=(newer[i],)) for i in range(0, installed, 5))
    return build_root(base / "root", installed=inst, repos=[Repo("baseos", (*newer, *others), advisories=advisories)])


class Rooted:
    """The root as a host that runs commands: files are the root's, `rpm` reads the root's database, and the
    remote script sees the root's dnf cache at /var/cache/dnf (as tests/linux/test_rpm_vs_dnf.RootedHost)."""

    def __init__(self, root: Path, shim: Path) -> None:
        from tenken.collectors.transport.root import RootTransport

        class T(RootTransport):
            can_run = True
            is_local = False
            answer_bytes = 0

            def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False):  # type: ignore[override]
                from tenken.collectors.transport.local import run_subprocess

                args = list(argv)
                if argv[:2] == ["sh", "-c"]:
                    args = ["unshare", "-m", "--", "sh", "-c", 'mount --bind "$0" /var/cache && exec "$@"',
                            f"{root}/var/cache", *argv]
                res = run_subprocess(args, timeout, env={**_env(), "PATH": f"{shim}:{os.environ['PATH']}"})
                T.answer_bytes = len(res.stdout)
                return res

        shim.mkdir(exist_ok=True)
        (shim / "rpm").write_text(f'#!/bin/sh\nexec {shutil.which("rpm")} --root {root} "$@"\n', encoding="utf-8")
        (shim / "rpm").chmod(0o755)
        self.transport_class = T
        self.root = root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--installed", type=int, default=300)
    ap.add_argument("--extra", type=int, default=700)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("rpm", "rpmbuild", "createrepo_c", "dnf", "unshare")):
        print("needs root and rpm, rpmbuild, createrepo_c, dnf, unshare (tests/run-all.sh installs them)")
        return 2

    from tenken.collectors.linux.patches import parse_dnf_check_update
    from tenken.collectors.linux.rpm_files import collect_rpm_files
    from tenken.collectors.linux.rpm_remote import collect_rpm_remote
    from tenken.collectors.probe import Probe
    from tenken.collectors.transport.root import RootTransport

    tmp = Path(tempfile.mkdtemp(prefix="tenken-bench-dnf-"))
    try:
        t0 = time.perf_counter()
        root = make_root(tmp, args.installed, args.extra)
        print(f"root: {args.installed} installed, {args.installed + args.extra} packages in baseos, "
              f"{len(range(0, args.installed, 5))} advisories; built in {time.perf_counter() - t0:.1f} s")
        cache = sum(f.stat().st_size for f in (root / "var/cache/dnf").rglob("*") if f.is_file() and "repodata" in f.parts)
        rooted = Rooted(root, tmp / "shim")

        def peer() -> dict[str, str]:
            env = _env()
            cu = subprocess.run(dnf_command(root, "-q", "check-update"), capture_output=True, text=True, env=env, check=False)
            subprocess.run(dnf_command(root, "-q", "updateinfo", "list", "--security"), capture_output=True, env=env, check=False)
            return {u.name: u.candidate or "" for u in parse_dnf_check_update(cu.stdout)}

        def remote() -> object:
            return collect_rpm_remote(Probe(rooted.transport_class(root)))

        def offline() -> object:
            return collect_rpm_files(Probe(RootTransport(root)))

        rows: dict[str, list[tuple[float, float, float]]] = {"dnf": [], "remote": [], "offline": []}
        results: dict[str, object] = {}
        for _ in range(args.runs):
            for name, fn in (("dnf", peer), ("remote", remote), ("offline", offline)):
                w, c, k, out = timed(fn)
                rows[name].append((w, c, k))
                results[name] = out

        def med(name: str, i: int) -> float:
            return statistics.median(r[i] for r in rows[name])

        want = results["dnf"]
        for name in ("remote", "offline"):
            got = results[name]
            comp = got.computation  # type: ignore[attr-defined]
            if comp is None:
                print(f"{name}: no computation: {got.fallback}")  # type: ignore[attr-defined]
                return 1
            mine = {u.installed.name: u.candidate.evr for u in comp.upgrades}
            verdict = "identical" if mine == want else f"DIFFER ({len(set(mine) ^ set(want))} names)"
            print(f"{name:8s} agreement with dnf check-update: {verdict} ({len(mine)} pending, {len(comp.advisories)} advisories)")
        d_w, d_k = med("dnf", 0), med("dnf", 2)
        r_w, r_c, r_k = med("remote", 0), med("remote", 1), med("remote", 2)
        o_w, o_c = med("offline", 0), med("offline", 1)
        print(f"\nmedians of {args.runs} alternated runs:")
        print(f"  peer dnf -C check-update + updateinfo: {d_w:.3f} s wall, {d_k:.3f} CPU-s (on the target)")
        print(f"  remote: target script {r_k:.3f} CPU-s (rpm -qa, decompression, awk), scanner {r_c:.3f} CPU-s, "
              f"{r_w:.3f} s wall; answer {rooted.transport_class.answer_bytes:,} B against {cache:,} B of cached repodata")
        print(f"  local/--root in process: {o_w:.3f} s wall, {o_c:.3f} CPU-s")
        # peak RSS of the target-side commands (the largest process of each command's tree)
        from tenken.collectors.linux.rpm_remote import SCRIPT
        from tenken.collectors.transport.ssh_batch import new_boundary

        dirs = [str(d).replace(str(root), "", 1) for d in sorted((root / "var/cache/dnf").glob("*-*")) if d.is_dir()]
        script_argv = ["unshare", "-m", "--", "sh", "-c", 'mount --bind "$0" /var/cache && exec "$@"',
                       f"{root}/var/cache", "sh", "-c", SCRIPT, "tenken-rpm-filter", new_boundary(), *dirs]
        env = {**_env(), "PATH": f"{tmp / 'shim'}:{os.environ['PATH']}"}
        def peak_mb(argv: list[str], env: dict[str, str]) -> float:
            """GNU time's %M (its own small process forks the command: a fork of this big interpreter would count)."""
            if not Path("/usr/bin/time").exists():
                return float("nan")
            res = subprocess.run(["/usr/bin/time", "-f", "tenken-rss %M", *argv], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, env=env, check=False)
            kb = [line.split()[1] for line in res.stderr.splitlines() if line.startswith("tenken-rss ")]
            return int(kb[-1]) / 1024 if kb else float("nan")

        rss_dnf = peak_mb(dnf_command(root, "-q", "check-update"), _env())
        rss_script = peak_mb(script_argv, env)
        print(f"  peak RSS on the target: dnf -C check-update {rss_dnf:.1f} MB, the filter script {rss_script:.1f} MB")
        print(f"  ratios: target CPU dnf / script {d_k / max(r_k, 1e-6):.1f}x; machine CPU dnf / (script + scanner) "
              f"{d_k / max(r_k + r_c, 1e-6):.1f}x; dnf / in-process {d_k / max(o_c, 1e-6):.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
