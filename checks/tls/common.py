"""What every TLS check shares: the collector name, the registration defaults and two finding helpers."""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext
from tenken.collectors.evidence import OsFamily
from tenken.collectors.tls.facts import NEEDS_CLIENT_CERT_DETAIL

#: The one collector a TLS scan runs; its facts are `TlsFacts`.
TLS = "tls.endpoint"
#: TLS endpoints have no operating system: their checks run in scans whose os is UNKNOWN and that carry
#: `tls.endpoint` facts (host scans never do, so these checks never run there).
TLS_OS = OsFamily.UNKNOWN

INCOMPLETE_FIX = Text(
    ja="対象の負荷・経路・タイムアウト（--timeout）を確認して再スキャンしてください。",
    en="Check the endpoint's load, the network path and the timeout (--timeout), then scan again.",
)
CLIENT_CERT_FIX = Text(
    ja="この項目を確認するには --client-cert と --client-key で有効なクライアント証明書を指定して再スキャンしてください。",
    en="To probe this, scan again with a valid client certificate (--client-cert and --client-key).",
)


def incomplete(ctx: CheckContext, probe: str, detail: str, *, subject: str | None = None) -> Finding:
    """A probe that errored or timed out: `error` (scan incomplete), never read as 'not offered'.

    A probe skipped because the server requires a client certificate is `not_applicable` instead."""
    if detail.startswith(NEEDS_CLIENT_CERT_DETAIL):
        return needs_client_cert(ctx, probe, subject=subject)
    return ctx.finding(
        Status.ERROR, subject=subject or probe, severity=Severity.MEDIUM,
        title=Text(ja=f"確認できませんでした（スキャン不完全）: {probe}", en=f"Could not be checked (scan incomplete): {probe}"),
        detail=Text(ja=f"スキャン不完全: {detail}", en=f"Scan incomplete: {detail}"),
        remediation=INCOMPLETE_FIX,
    )


def needs_client_cert(ctx: CheckContext, probe: str, *, subject: str | None = None) -> Finding:
    """A probe that needs a completed handshake with a server that (rightly) requires a client certificate."""
    return ctx.finding(
        Status.NOT_APPLICABLE, subject=subject or probe,
        title=Text(ja=f"未検査（クライアント証明書が必要）: {probe}", en=f"Not probed (needs a client certificate): {probe}"),
        detail=Text(
            ja="サーバがクライアント証明書を必須としているため、ハンドシェイク完了を要するこの検査は実施できません"
               "（クライアント証明書の必須化自体は適合です）。",
            en="The server requires a client certificate, so this probe, which needs a completed handshake, could not run "
               "(requiring the certificate is itself compliant)."),
        remediation=CLIENT_CERT_FIX,
    )
