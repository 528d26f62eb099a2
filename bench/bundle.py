"""Time and peak memory to build and to verify an evidence bundle of 200 hosts × 60 findings.

Each host's report is signed by its own agent key (as in a real fleet), with 10 evidence items of ~1.5 KB.
`tenken bundle` and `tenken verify` run as child processes (peak RSS from wait4). The peer is what IT staff
do by hand today: `zip -r` of the report files plus `sha256sum` over them (no signatures, no views), run on the
same files in the same run, for a ratio.

    .venv/bin/python bench/bundle.py [--hosts 200] [--findings 60] [--repeat 3]

Targets (issue 12): build ≤ 10 s and ≤ 300 MB; verify ≤ 10 s and ≤ 300 MB.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "hub")]

from _measure import Run, measure  # noqa: E402

TENKEN = str(Path(sys.executable).with_name("tenken"))


def make_reports(where: Path, hosts: int, findings: int) -> tuple[list[Path], list[Path], Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from hub_harness import fake_host, make_report
    from tenken.agent.signing import sign_report


    reports, pubs = [], []
    raw = "".join(f"line {i}: PASS_MAX_DAYS 90 / PermitRootLogin no / minlen = 14\n" for i in range(28))
    for i in range(hosts):
        name = f"host{i:04d}"
        rep = make_report(target=name, n_findings=findings, n_evidence=10, raw=raw, kind="local", identity=fake_host(name),
                          clauses=("SO-14-2", "SO-7-1", "SO-13-6", "SO-8-3", "SO-17-1"))
        sk = Ed25519PrivateKey.generate()
        p = where / f"{name}.dsse.json"
        p.write_bytes(sign_report(rep, sk))
        reports.append(p)
        pub = where / f"{name}.pub"
        pub.write_bytes(sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        pubs.append(pub)
    subprocess.run([TENKEN, "keygen", str(where / "signer")], check=True, capture_output=True)
    return reports, pubs, where / "signer"


def verdict(run: Run, wall: float, mb: float) -> str:
    return "PASS" if run.wall_s <= wall and run.max_rss_mb <= mb and run.exit_code == 0 else "MISS"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--findings", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chromium", default=None, help="passed to tenken bundle (PDF rendering is part of the build)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenken-bench-bundle-") as tmp:
        d = Path(tmp)
        reports, pubs, signer = make_reports(d, a.hosts, a.findings)
        out = d / "bundle.zip"
        build = [TENKEN, "bundle", *map(str, reports), "--key", str(signer / "signer.key"), "-o", str(out)]
        for p in pubs:
            build += ["--report-key", str(p)]
        if a.chromium:
            build += ["--chromium", a.chromium]
        verify = [TENKEN, "verify", str(out), "--key", str(signer / "signer.pub")] + [x for p in pubs for x in ("--key", str(p))]
        peer = ["sh", "-c", f"cd {d} && sha256sum *.dsse.json > SHA256SUMS && zip -q -r peer.zip *.dsse.json SHA256SUMS"]
        builds, verifies, peers = [], [], []
        for _ in range(a.repeat):
            out.unlink(missing_ok=True)
            (d / "peer.zip").unlink(missing_ok=True)
            builds.append(measure(build))
            verifies.append(measure(verify))
            peers.append(measure(peer))
        for name, runs in (("build", builds), ("verify", verifies)):
            if any(r.exit_code != 0 for r in runs):
                print(f"{name}: FAILED (exit {[r.exit_code for r in runs]})")
        b = min(builds, key=lambda r: r.wall_s)
        v = min(verifies, key=lambda r: r.wall_s)
        p = min(peers, key=lambda r: r.wall_s)
        size = out.stat().st_size / 1e6
        print(f"bundle of {a.hosts} hosts × {a.findings} findings ({len(reports)} signed reports, {size:.1f} MB zip), best of {a.repeat}")
        print(f"  build : {b.wall_s:6.2f} s (median {statistics.median(r.wall_s for r in builds):.2f})  peak {b.max_rss_mb:6.1f} MB   target ≤10 s, ≤300 MB: {verdict(b, 10, 300)}")
        print(f"  verify: {v.wall_s:6.2f} s (median {statistics.median(r.wall_s for r in verifies):.2f})  peak {v.max_rss_mb:6.1f} MB   target ≤10 s, ≤300 MB: {verdict(v, 10, 300)}")
        print(f"  peer (sha256sum + zip -r, no signatures or views): {p.wall_s:.2f} s, {p.max_rss_mb:.1f} MB;"
              f" build/peer {b.wall_s / max(p.wall_s, 1e-3):.1f}×")


if __name__ == "__main__":
    main()
