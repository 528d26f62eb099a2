"""TLS endpoint scans -> TargetResults (implemented by the TLS audit feature)."""

from __future__ import annotations

from tenken.agent.scan import TargetResult
from tenken.checks.policy import Policy
from tenken.collectors.tls.spec import TlsEndpoint


def scan_tls(endpoints: list[TlsEndpoint], policy: Policy) -> list[TargetResult]:
    """Scan every endpoint concurrently; one TargetResult per endpoint, in input order."""
    raise NotImplementedError("TLS audit not implemented yet")
