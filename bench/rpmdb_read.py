"""Reading a real N-package rpmdb.sqlite without rpm, against `rpm -qa` on the same database.

Builds N packages with Debian's rpmbuild (F files each, so headers carry file lists like real ones), installs
them with `rpm --justdb` into a scratch root, then prints the database's size, read_rpmdb_sqlite's time in
process (median of runs; bytes already in memory, as the transport hands them over), the wall time and peak
RSS of a child that reads the file and parses it, `rpm -qa`'s, and whether the two lists agree.
Usage: python bench/rpmdb_read.py [--packages 1000] [--files 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure

SPEC = """Name: {name}
Version: {version}
Release: {release}.el9
Summary: tenken rpmdb bench package {i}
License: MIT
BuildArch: {arch}
{epoch}
%description
bench package {i}, one of many, with a file list and a changelog like a real package's
%install
mkdir -p %{{buildroot}}/usr/share/{name}/doc
for n in $(seq 1 {files}); do echo $n > %{{buildroot}}/usr/share/{name}/doc/file-number-$n.txt; done
%files
/usr/share/{name}
%changelog
* Mon Dec 07 2026 tenken <t@example.invalid> - {version}-{release}
- bench build
"""
QF = "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"


def build(work: Path, n: int, files: int) -> Path:
    top, specs = work / "top", work / "specs"
    specs.mkdir()
    env = {**os.environ, "HOME": str(work)}

    def one(i: int) -> None:
        arch = "noarch" if i % 3 else "x86_64"
        spec = specs / f"p{i}.spec"
        spec.write_text(SPEC.format(name=f"bench-pkg-{i:04d}", version=f"{i % 17}.{i % 5}.{i}", release=i % 9 + 1,
                                    arch=arch, epoch=f"Epoch: {i % 4}" if i % 2 else "", i=i, files=files))
        subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "--define", f"_builddir {work}/b{i}",
                        "--define", f"_buildrootdir {work}/br{i}", "--target", arch, "-bb", str(spec)],
                       capture_output=True, env=env, check=True, timeout=300)

    with ThreadPoolExecutor(os.cpu_count() or 4) as pool:
        list(pool.map(one, range(n)))
    root = work / "root"
    root.mkdir()
    rpms = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps", "--noscripts",
                    "--ignorearch", "--ignoreos", *rpms], capture_output=True, env=env, check=True, timeout=600)
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from tenken.collectors.linux import rpmdb
    from tenken.collectors.linux.rpmdb import InstalledRpm, read_rpmdb_sqlite

    with tempfile.TemporaryDirectory(prefix="tenken-rpmdb-bench-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        root = build(work, args.packages, args.files)
        print(f"built and installed {args.packages} packages ({args.files} files each) in {time.perf_counter() - t:.1f} s")
        dbfile = root / "var/lib/rpm/rpmdb.sqlite"
        db = dbfile.read_bytes()
        print(f"rpmdb.sqlite: {len(db) / 1e6:.1f} MB, {len(db) / args.packages / 1e3:.1f} kB a package")

        walls, cpus = [], []
        for _ in range(args.runs):
            w, c = time.perf_counter(), time.process_time()
            got = read_rpmdb_sqlite(db)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        print(f"read_rpmdb_sqlite in process: median {statistics.median(walls) * 1e3:.1f} ms wall "
              f"(min {min(walls) * 1e3:.1f}), {statistics.median(cpus) * 1e3:.1f} ms CPU, {len(got)} packages")

        # the child loads the very module file measured above (it imports nothing else of tenken's)
        child = (f"import importlib.util\nfrom pathlib import Path\n"
                 f"spec = importlib.util.spec_from_file_location('rpmdb', {rpmdb.__file__!r})\n"
                 f"m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                 f"assert len(m.read_rpmdb_sqlite(Path({str(dbfile)!r}).read_bytes())) == {len(got)}\n")
        base = measure([sys.executable, "-c", "import sqlite3, tempfile, struct"])
        run = measure([sys.executable, "-c", child])
        assert run.exit_code == 0
        # peak RSS from the child's own VmHWM (wait4's ru_maxrss keeps the forking parent's size across exec)
        hwm = "\nprint([ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1])"
        base_kb = int(subprocess.run([sys.executable, "-c", "import sqlite3, tempfile, struct" + hwm], capture_output=True,
                                     text=True, check=True).stdout)
        run_kb = int(subprocess.run([sys.executable, "-c", child + hwm], capture_output=True, text=True, check=True).stdout)
        print(f"child process (interpreter, read file, parse): {run.wall_s:.3f} s wall, {run_kb / 1024:.1f} MB peak RSS "
              f"(bare interpreter {base.wall_s:.3f} s, {base_kb / 1024:.1f} MB)")

        env = {**os.environ, "HOME": str(work)}
        argv = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa", "--qf", QF]
        rpm_run = measure(argv, env=env)
        out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
        theirs = [InstalledRpm(n, int(e), v, r, a) for n, e, v, r, a in (ln.split("\t") for ln in out.splitlines())]
        print(f"rpm -qa: {rpm_run.wall_s:.3f} s wall")
        print("agree: identical list, same order" if got == theirs else
              f"DIFFER: only ours {sorted(set(got) - set(theirs))[:3]}, only rpm {sorted(set(theirs) - set(got))[:3]}")


if __name__ == "__main__":
    main()
