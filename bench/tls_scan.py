"""Benchmark: `tenken scan tls` per endpoint alone, 30 endpoints at once, and testssl on the same endpoints.

Starts one nginx on 127.0.0.1 with 30 identical TLS 1.3 listeners (a fleet) plus a few distinct set-ups
(TLS 1.2+1.3 high-security with client certificates at the HTTP layer, CBC/RSA suites, TLS 1.0 enabled),
then prints per-endpoint times, the ratio to testssl (`--protocols`), and whether both agree on the
protocol versions offered. Targets: <= 2 s per endpoint alone, 30 endpoints <= 15 s, 100% agreement.

    .venv/bin/python bench/tls_scan.py [--fleet 30] [--alone 6]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tls_servers import Nginx, NginxSite, free_port, make_pki  # noqa: E402

TENKEN = str(Path(sys.executable).with_name("tenken"))
TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
VERSIONS = ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
TESTSSL_IDS = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLS1": "TLSv1.0", "TLS1_1": "TLSv1.1", "TLS1_2": "TLSv1.2", "TLS1_3": "TLSv1.3"}


def tenken(targets: list[str], ca: Path, out: Path) -> tuple[float, dict[str, dict[str, bool | None]]]:
    """Wall time of one CLI run and, per target, the versions tenken found offered (None: not determined)."""
    t0 = time.monotonic()
    proc = subprocess.run([TENKEN, "scan", "tls", *targets, "--sni", "localhost", "--ca-file", str(ca), "--format", "json", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    if proc.returncode not in (0, 1, 3):
        raise RuntimeError(f"tenken failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(out.read_text())
    found: dict[str, dict[str, bool | None]] = {t: dict.fromkeys(VERSIONS) for t in targets}
    for ev in report["evidence"]:
        if ev["collector"] != "tls.endpoint":
            continue
        versions = ev["facts"].get("versions", {})
        found[ev["target"]] = {v: (versions[v]["offered"] if v in versions else None) for v in VERSIONS}
    return wall, found


def testssl(target: str, workdir: Path) -> tuple[float, dict[str, bool | None]]:
    assert TESTSSL is not None
    out = workdir / f"testssl-{target.replace(':', '_')}.json"
    out.unlink(missing_ok=True)
    t0 = time.monotonic()
    subprocess.run([TESTSSL, "--protocols", "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", str(out), target],
                   capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    found: dict[str, bool | None] = dict.fromkeys(VERSIONS)
    for item in json.loads(out.read_text()):
        v = TESTSSL_IDS.get(item.get("id", ""))
        if v is not None:
            text = item.get("finding", "").lower()
            found[v] = None if "not offered" not in text and "offered" not in text else not text.startswith("not offered")
    return wall, found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleet", type=int, default=30, help="identical TLS 1.3 endpoints for the concurrency figure")
    ap.add_argument("--alone", type=int, default=6, help="fleet endpoints also timed one by one")
    args = ap.parse_args()
    if TESTSSL is None:
        sys.exit("testssl (Debian package testssl.sh) is not installed")
    work = Path(tempfile.mkdtemp(prefix="tenken-tls-bench-"))
    pki = make_pki(work / "pki")
    cert, key = pki.issue("server")
    fleet = [free_port() for _ in range(args.fleet)]
    distinct = {
        "tls12+13 high, client cert at HTTP layer": NginxSite(free_port(), cert, key, protocols="TLSv1.2 TLSv1.3", verify_client="on",
                                                              client_ca=pki.ca_cert),
        "tls12 CBC + RSA kex": NginxSite(free_port(), cert, key, protocols="TLSv1.2 TLSv1.3",
                                         ciphers="ECDHE+AESGCM:ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256"),
        "tls1.0 + 1.1 + 1.2 legacy": NginxSite(free_port(), cert, key, protocols="TLSv1 TLSv1.1 TLSv1.2",
                                               ciphers="ECDHE+AESGCM:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0"),
    }
    nginx = Nginx(work / "nginx", [NginxSite(p, cert, key) for p in fleet] + list(distinct.values())).start()
    try:
        label = {f"127.0.0.1:{p}": "tls1.3 fleet" for p in fleet} | {f"127.0.0.1:{s.port}": n for n, s in distinct.items()}
        alone_targets = [f"127.0.0.1:{p}" for p in fleet[: args.alone]] + [f"127.0.0.1:{s.port}" for s in distinct.values()]
        tenken([alone_targets[0]], pki.ca_cert, work / "warm.json")  # warm the page cache (imports), not timed
        print(f"tenken scan tls, one endpoint per run ({len(alone_targets)} runs):")
        alone: dict[str, float] = {}
        tk_versions: dict[str, dict[str, bool | None]] = {}
        from tenken.agent.tls_scan import scan_tls
        from tenken.checks.policy import load_policy
        from tenken.collectors.tls.spec import TlsEndpoint

        policy = load_policy()
        in_process: dict[str, float] = {}
        for t in alone_targets:
            wall, found = tenken([t], pki.ca_cert, work / "one.json")
            alone[t] = wall
            tk_versions |= found
            host, port = t.rsplit(":", 1)
            t0 = time.monotonic()
            scan_tls([TlsEndpoint(host=host, port=int(port), server_name="localhost", ca_file=str(pki.ca_cert))], policy)
            in_process[t] = time.monotonic() - t0
            print(f"  {t:18} {label[t]:42} CLI {wall:6.2f} s   scan in-process {in_process[t]:5.2f} s")
        fleet_targets = [f"127.0.0.1:{p}" for p in fleet]
        wall_all, found_all = tenken(fleet_targets, pki.ca_cert, work / "fleet.json")
        tk_versions |= found_all
        print(f"tenken scan tls, {len(fleet_targets)} endpoints in one run (concurrent): {wall_all:.2f} s "
              f"({wall_all / len(fleet_targets):.2f} s per endpoint)")

        print("testssl --protocols, one endpoint per run (timed serially for the endpoints timed alone above; "
              "the rest run 4 at a time, for the agreement only):")
        ts_times: dict[str, float] = {}
        ts_found: dict[str, dict[str, bool | None]] = {}
        for t in alone_targets:
            ts_times[t], ts_found[t] = testssl(t, work)
        all_targets = fleet_targets + [f"127.0.0.1:{s.port}" for s in distinct.values()]
        rest = [t for t in all_targets if t not in ts_found]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for t, (_, found) in zip(rest, pool.map(lambda x: testssl(x, work), rest), strict=True):
                ts_found[t] = found
        agree = 0
        compared = 0
        for t in all_targets:
            ts = ts_found[t]
            wall = ts_times.get(t, float("nan"))
            tk = tk_versions.get(t, dict.fromkeys(VERSIONS))
            same = all(tk[v] == ts[v] for v in VERSIONS)
            compared += 1
            agree += same
            offered_tk = ",".join(v for v in VERSIONS if tk[v]) or "-"
            offered_ts = ",".join(v for v in VERSIONS if ts[v]) or "-"
            mark = "agree" if same else f"DIFFER tenken={offered_tk} testssl={offered_ts}"
            if t in alone or not same or t == all_targets[-1] or t == fleet_targets[0]:
                print(f"  {t:18} {label[t]:42} {wall:6.2f} s  versions {offered_ts:28} {mark}")
        tk_mean = statistics.mean(alone.values())
        ts_mean = statistics.mean(ts_times.values())
        print("\nSummary")
        print(f"  tenken alone: CLI mean {tk_mean:.2f} s, max {max(alone.values()):.2f} s per endpoint (incl. interpreter start-up); "
              f"scan in-process mean {statistics.mean(in_process.values()):.2f} s, max {max(in_process.values()):.2f} s (target <= 2 s)")
        print(f"  tenken {len(fleet_targets)} concurrent: {wall_all:.2f} s (target <= 15 s)")
        print(f"  testssl --protocols: mean {ts_mean:.2f} s per endpoint (timed on the {len(ts_times)} endpoints timed alone)")
        print(f"  ratio testssl/tenken per endpoint alone: {ts_mean / tk_mean:.1f}x; testssl mean x {len(fleet_targets)} "
              f"(serial estimate) / tenken {len(fleet_targets)} concurrent: {ts_mean * len(fleet_targets) / wall_all:.1f}x")
        print(f"  protocol versions agreement: {agree}/{compared} ({100 * agree / compared:.0f}%) (target 100%)")
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
