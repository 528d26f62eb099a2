"""Local audit speed: `tenken scan local` vs `lynis audit system --quick` on this machine, in one run.

Targets (issue 15): tenken <= 0.8 s median wall and <= 55 MB peak RSS; `tenken --help` <= 0.15 s (measured
alternately with the scans). Prints both tools' figures and the ratio. Note: with PYTHONDONTWRITEBYTECODE set
(as on the development machine) an editable install recompiles every module on each run; an installed wheel
has bytecode, so run `python -m compileall agent collectors checks config` first for installed-like figures.
Usage: python bench/local_scan.py [--runs N] [--skip-lynis]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure

TARGET_WALL_S = 0.8
TARGET_RSS_MB = 55.0
TARGET_HELP_S = 0.15


def tenken_argv() -> list[str]:
    exe = shutil.which("tenken", path=str(Path(sys.executable).parent)) or shutil.which("tenken")
    if exe:
        return [exe, "scan", "local", "--format", "json", "--output", "/dev/null"]
    return [sys.executable, "-m", "tenken", "scan", "local", "--format", "json", "--output", "/dev/null"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-lynis", action="store_true")
    args = ap.parse_args()

    runs, helps = [], []
    for _ in range(args.runs):  # alternated: both see the same load
        runs.append(measure(tenken_argv()))
        helps.append(measure([*tenken_argv()[:-6], "--help"] if tenken_argv()[0] != sys.executable else
                             [sys.executable, "-m", "tenken", "--help"]))
    walls = [r.wall_s for r in runs]
    rss = max(r.max_rss_mb for r in runs)
    med = statistics.median(walls)
    print(f"tenken scan local : median {med:.3f} s (min {min(walls):.3f}, max {max(walls):.3f}, n={len(runs)}), "
          f"peak RSS {rss:.1f} MB, exit codes {sorted({r.exit_code for r in runs})}")
    print(f"  target <= {TARGET_WALL_S} s: {'OK' if med <= TARGET_WALL_S else 'MISSED'}; "
          f"target <= {TARGET_RSS_MB} MB: {'OK' if rss <= TARGET_RSS_MB else 'MISSED'}")

    hmed = statistics.median(h.wall_s for h in helps)
    print(f"tenken --help     : median {hmed:.3f} s (n={len(helps)}), peak RSS {max(h.max_rss_mb for h in helps):.1f} MB; "
          f"target <= {TARGET_HELP_S} s: {'OK' if hmed <= TARGET_HELP_S else 'MISSED'}")

    lynis = shutil.which("lynis")
    if args.skip_lynis or not lynis:
        print("lynis: skipped" + ("" if lynis else " (not installed: apt-get install lynis)"))
        return 0
    lr = measure([lynis, "audit", "system", "--quick", "--no-colors", "--no-log"], timeout=900)
    print(f"lynis audit system --quick : {lr.wall_s:.2f} s, peak RSS {lr.max_rss_mb:.1f} MB (exit {lr.exit_code})")
    print(f"ratio lynis/tenken wall: {lr.wall_s / med:.1f}x faster; RSS tenken/lynis {rss / max(lr.max_rss_mb, 0.1):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
