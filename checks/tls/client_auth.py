"""TLS client-certificate authentication (SO-13-6 on open networks, SO-13-12 mutual authentication).

The zone decides: `open` (the default) requires the server to demand a client certificate; `closed`
(closed network or IPsec VPN) reports what it does and asks a person how mutual authentication is met.
A server that asks in the handshake but refuses at the HTTP layer (nginx `ssl_verify_client on`) requires
the certificate too.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.tls.common import TLS, TLS_OS, incomplete
from tenken.collectors.tls.facts import CLIENT_AUTH_HTTP, ClientAuthRequirement, HttpOutcome, TlsFacts

REQUIRE_FIX = Text(
    ja="クライアント証明書による TLS クライアント認証を必須にしてください（例: nginx `ssl_verify_client on;` と "
       "`ssl_client_certificate <院内CA>;`）。閉域網・IPsec VPN 内の場合は --zone closed で点検してください。",
    en="Require TLS client-certificate authentication (e.g. nginx `ssl_verify_client on;` with `ssl_client_certificate <CA>;`). "
       "If the endpoint is only reachable over a closed network or IPsec VPN, scan it with --zone closed.",
)


@check(
    "tls.client_auth",
    clauses=("SO-13-6", "SO-13-12"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="TLS クライアント証明書認証", en="TLS client-certificate authentication"),
)
def client_auth(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(TLS, TlsFacts)
    ca = facts.client_auth
    assert ca is not None, "client-auth requirement is part of every completed TLS scan"
    open_zone = facts.zone == "open"
    zone_ja = "オープンなネットワーク" if open_zone else "閉域網"
    if ca.tls_layer is ClientAuthRequirement.REQUIRED:
        return [ctx.finding(Status.PASS, title=Text(ja="クライアント証明書が必須（TLS 層）", en="Client certificate required (TLS layer)"),
                            detail=Text(ja="証明書を提示しない接続はハンドシェイクで拒否されました。",
                                        en="A connection without a certificate was refused during the handshake."))]
    if ca.tls_layer is ClientAuthRequirement.OPTIONAL:
        http = ca.http
        if http is not None and http.outcome is HttpOutcome.REFUSED:
            return [ctx.finding(
                Status.PASS, title=Text(ja="クライアント証明書が必須（HTTP 層で拒否）", en="Client certificate required (refused at the HTTP layer)"),
                detail=Text(ja=f"ハンドシェイクでは証明書を要求し、証明書なしのリクエストは HTTP 層で拒否されました（{http.status_line or http.detail}）。",
                            en=f"The handshake asks for a certificate and a request without one is refused at the HTTP layer ({http.status_line or http.detail})."))]
        if http is not None and http.outcome is HttpOutcome.SERVED:
            return [_not_required(ctx, open_zone, zone_ja,
                                  Text(ja=f"証明書を要求しますが任意で、証明書なしのリクエストにも応答しました（{http.status_line}）。",
                                       en=f"The server asks for a certificate but answered a request without one ({http.status_line})."))]
        if (u := facts.missing(CLIENT_AUTH_HTTP)) is not None:
            return [incomplete(ctx, "client certificate enforcement", u.detail, subject="http")]
        why = http.detail if http is not None else "not an HTTPS endpoint (no HTTP probe)"
        return [ctx.finding(
            Status.WARN if open_zone else Status.MANUAL, kind=FindingKind.AUTOMATED if open_zone else FindingKind.PROMPT,
            title=Text(ja="クライアント証明書は任意（強制の有無を確認できない）", en="Client certificate optional (enforcement not confirmed)"),
            detail=Text(ja=f"ハンドシェイクでは証明書を要求しますが、証明書なしでも完了します。アプリケーション層で拒否されるか確認できませんでした（{why}）。",
                        en=f"The handshake asks for a certificate but completes without one; whether the application refuses it could not be told ({why})."),
            remediation=REQUIRE_FIX,
        )]
    return [_not_required(ctx, open_zone, zone_ja,
                          Text(ja="サーバはクライアント証明書を要求しません。", en="The server never asks for a client certificate."))]


def _not_required(ctx: CheckContext, open_zone: bool, zone_ja: str, what: Text) -> Finding:
    if open_zone:
        return ctx.finding(
            Status.FAIL,
            title=Text(ja="クライアント証明書認証が行われていない（オープンなネットワーク）", en="No client-certificate authentication (open network)"),
            detail=Text(ja=f"{what.ja}SO-13-6 はオープンなネットワークで HTTPS を使う場合、クライアント証明書による TLS クライアント認証を求めています。",
                        en=f"{what.en} SO-13-6 requires TLS client-certificate authentication for HTTPS over open networks."),
            remediation=REQUIRE_FIX,
        )
    return ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT,
        title=Text(ja="クライアント証明書なし（閉域網）: 相互認証の方法を確認", en="No client certificate (closed network): confirm how mutual authentication is done"),
        detail=Text(ja=f"{what.ja}{zone_ja}のため SO-13-6 の必須要件ではありませんが、SO-13-12 の相互認証を他の方法（IPsec、アプリケーション認証等）で"
                       "行っているか確認してください。",
                    en=f"{what.en} On a closed network SO-13-6 does not require it, but confirm SO-13-12 mutual authentication is met another way "
                       "(IPsec, application-level authentication, ...)."),
        remediation=Text(ja="相互認証の方式を文書で確認し記録してください。", en="Confirm and record the mutual-authentication method."),
    )
