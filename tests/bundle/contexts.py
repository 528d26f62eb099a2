"""A BundleContext of two hosts (one weak, one good) built from real signed, verified reports.

The reports come from tests/hub/hub_harness.make_report (schema-valid tenken.report/v1), are signed with a fresh
Ed25519 key through tenken.agent.signing and verified back before they enter the context, as the bundle builder does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hub_harness import STATUSES, make_report
from tenken.agent import dsse
from tenken.agent.bundle.model import BundleContext, BundleReport
from tenken.agent.signing import sign_report, verify_report

CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FINISHED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _signed(report, key: Ed25519PrivateKey) -> BundleReport:
    env = sign_report(report, key)
    pub = key.public_key()
    verified = verify_report(env, pub)
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return BundleReport(envelope=env, report=verified, keyid=dsse.key_id(pub), agent_id=dsse.agent_id(pub), public_key_pem=pem)


def two_host_context(weak_subject: str | None = None) -> BundleContext:
    """weak-host: 12 findings cycling all six statuses over three clauses; good-host: 4 passes.

    `weak_subject`, when given, replaces the subject of the weak host's first finding (hostile-string tests)."""
    key = Ed25519PrivateKey.generate()
    weak = make_report(
        target="weak-host", n_findings=12, finished_at=FINISHED, report_id="00000000-0000-4000-8000-00000000000a",
        clauses=("SO-13-6", "SO-14-2", "SO-7-1"), statuses=STATUSES, n_evidence=2,
    )
    if weak_subject is not None:
        f0 = weak.findings[0].model_copy(update={"subject": weak_subject})
        weak = weak.model_copy(update={"findings": [f0, *weak.findings[1:]]})
    good = make_report(
        target="good-host", n_findings=4, finished_at=FINISHED, report_id="00000000-0000-4000-8000-00000000000b",
        clauses=("SO-13-6", "SO-14-2"), statuses=["pass"],
    )
    return BundleContext(bundle_id="bundle-test-0001", created_at=CREATED, reports=[_signed(weak, key), _signed(good, key)])
