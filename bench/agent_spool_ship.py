"""Agent outbox figures: signing, durable spool writes (fsync file + dir) and draining a backlog over mTLS 1.3.

Uses the same small HTTPS hub the agent tests use (tests/agent/agent_hubstub.py: TLS 1.3, client certificate
required, every envelope verified), so the figure is the agent's side: sign -> spool -> send -> ack -> unlink.

    .venv/bin/python bench/agent_spool_ship.py [--reports 500] [--findings 200]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "agent")]

from agent_hubstub import Pki, StubHub  # noqa: E402
from tenken.agent.agent_config import HubConfig  # noqa: E402
from tenken.agent.identity import init_identity  # noqa: E402
from tenken.agent.report import Report  # noqa: E402
from tenken.agent.ship import Backoff, HubClient, Sender  # noqa: E402
from tenken.agent.signing import load_signing_key, sign_report  # noqa: E402
from tenken.agent.spool import Spool  # noqa: E402
from tenken.checks.finding import Finding, Severity, Status, Text, finding_id  # noqa: E402


def make_report(n_findings: int) -> Report:
    now = datetime.now(UTC)
    findings = [
        Finding(id=finding_id("bench.check", f"host-{i}"), check_id="bench.check", target=f"host-{i}", status=Status.WARN,
                clauses=["SO-14-6"], severity=Severity.LOW, title=Text(ja="ベンチ", en="bench"),
                detail=Text(ja="詳細" * 10, en="detail " * 10), remediation=Text(ja="対処", en="fix"))
        for i in range(n_findings)
    ]
    return Report(started_at=now, finished_at=now, targets=[], findings=findings, evidence=[])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=500)
    ap.add_argument("--findings", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenken-bench-agent-") as tmp:
        base = Path(tmp)
        pki = Pki.create(base / "pki")
        init_identity(base / "id")
        cert = pki.enroll(base / "id" / "tls.csr", base / "id" / "tls.crt")
        key = load_signing_key(base / "id" / "agent.key")
        reports = [make_report(args.findings) for _ in range(args.reports)]

        t0 = time.perf_counter()
        envelopes = [(r.id, sign_report(r, key)) for r in reports]
        t_sign = time.perf_counter() - t0
        size = sum(len(e) for _, e in envelopes) / len(envelopes)

        spool = Spool(base / "spool", max_reports=10**6, max_bytes=10**12, min_free_bytes=0)
        t0 = time.perf_counter()
        for rid, env in envelopes:
            spool.put(rid, env)
        t_spool = time.perf_counter() - t0

        with StubHub(pki, base / "id" / "agent.pub") as hub:
            hubcfg = HubConfig(url=hub.url, ca_file=str(pki.ca_pem), client_cert=str(cert), client_key=str(base / "id" / "tls.key"))
            sender = Sender(spool, HubClient(hubcfg), Backoff(0.01, 0.1, random.Random(1)))
            t0 = time.perf_counter()
            res = sender.drain()
            t_drain = time.perf_counter() - t0
            assert res.acked == args.reports and len(hub.state.stored) == args.reports and not hub.state.invalid
            sender.client.close()

    n = args.reports
    print(f"reports: {n}, findings each: {args.findings}, envelope: {size / 1024:.1f} KiB")
    print(f"sign (RFC 8785 + Ed25519):        {n / t_sign:8.1f} reports/s  ({t_sign * 1000 / n:.2f} ms each)")
    print(f"spool put (fsync file + dir):     {n / t_spool:8.1f} reports/s  ({t_spool * 1000 / n:.2f} ms each)")
    print(f"drain to hub (mTLS 1.3, ack+rm):  {n / t_drain:8.1f} reports/s  ({t_drain * 1000 / n:.2f} ms each, stub hub verifies each)")


if __name__ == "__main__":
    main()
