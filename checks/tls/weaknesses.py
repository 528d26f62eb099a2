"""Known TLS weaknesses sslyze probes (SO-13-8 tampering, SO-13-9 insertion/MITM, SO-13-10 eavesdropping).

Each weakness is its own finding. A probe that needs a completed handshake with a server that requires a
client certificate (and none was given) is `not_applicable` with that reason; an errored probe is `error`.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.tls.common import TLS, TLS_OS, incomplete, needs_client_cert
from tenken.collectors.evidence import Reason
from tenken.collectors.tls.facts import TlsFacts, Weakness

#: weakness -> (clauses, Japanese, English, remediation ja, remediation en, status when vulnerable)
WEAKNESSES: dict[Weakness, tuple[tuple[str, ...], str, str, str, str, Status]] = {
    Weakness.HEARTBLEED: (("SO-13-9", "SO-13-10"), "Heartbleed（メモリ内容の漏えい）", "Heartbleed (server memory disclosure)",
                          "OpenSSL を修正版に更新し、秘密鍵と証明書を再発行してください。", "Update OpenSSL, then reissue the key and certificate.", Status.FAIL),
    Weakness.ROBOT: (("SO-13-9", "SO-13-10"), "ROBOT（RSA 鍵交換の復号オラクル）", "ROBOT (RSA key-exchange decryption oracle)",
                     "RSA 鍵交換スイートを無効化し、TLS 実装を更新してください。", "Disable RSA key-exchange suites and update the TLS stack.", Status.FAIL),
    Weakness.CCS_INJECTION: (("SO-13-8", "SO-13-9"), "OpenSSL CCS インジェクション", "OpenSSL CCS injection",
                             "OpenSSL を修正版に更新してください。", "Update OpenSSL.", Status.FAIL),
    Weakness.INSECURE_RENEGOTIATION: (("SO-13-8", "SO-13-9"), "安全でない再ネゴシエーション（中間者によるデータ挿入）",
                                      "Insecure renegotiation (MITM data injection)",
                                      "安全な再ネゴシエーション（RFC 5746）に対応した実装に更新してください。",
                                      "Update to a TLS stack with secure renegotiation (RFC 5746).", Status.FAIL),
    Weakness.CLIENT_RENEGOTIATION: (("SO-13-9",), "クライアント起動の再ネゴシエーションを許可（DoS）", "Client-initiated renegotiation accepted (DoS)",
                                    "クライアント起動の再ネゴシエーションを無効化してください。", "Disable client-initiated renegotiation.", Status.WARN),
    Weakness.COMPRESSION: (("SO-13-10",), "TLS 圧縮が有効（CRIME）", "TLS compression enabled (CRIME)",
                           "TLS 圧縮を無効化してください。", "Disable TLS compression.", Status.FAIL),
    Weakness.NO_FALLBACK_SCSV: (("SO-13-8", "SO-13-9"), "TLS_FALLBACK_SCSV 非対応（ダウングレード攻撃）", "No TLS_FALLBACK_SCSV (downgrade attacks)",
                                "TLS_FALLBACK_SCSV に対応した実装に更新するか、旧バージョンを無効化してください。",
                                "Update to a stack supporting TLS_FALLBACK_SCSV, or disable older versions.", Status.FAIL),
}


@check(
    "tls.weaknesses",
    clauses=("SO-13-8", "SO-13-9", "SO-13-10"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="既知の TLS 脆弱性", en="Known TLS weaknesses"),
)
def weaknesses(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(TLS, TlsFacts)
    out: list[Finding] = []
    clean_ja: list[str] = []
    clean_en: list[str] = []
    for w, (clauses, ja, en, fix_ja, fix_en, bad_status) in WEAKNESSES.items():
        if w.probe in facts.needs_client_certificate:
            out.append(needs_client_cert(ctx, w.value, subject=w.value))
            continue
        if (u := facts.missing(w.probe)) is not None:
            # ABSENT: the weakness cannot occur on what the endpoint offers (TLS 1.3 only), said with the reason
            out.append(ctx.unavailable(u, title=Text(ja=f"該当しない: {ja}", en=f"Does not apply: {en}"), subject=w.value)
                       if u.reason is Reason.ABSENT else incomplete(ctx, w.value, u.detail, subject=w.value))
            continue
        vulnerable = facts.weaknesses.get(w)
        if vulnerable is None:
            out.append(incomplete(ctx, w.value, "no result recorded", subject=w.value))
        elif vulnerable:
            out.append(ctx.finding(
                bad_status, subject=w.value, clauses=clauses,
                severity=Severity.HIGH if bad_status is Status.FAIL else Severity.MEDIUM,
                title=Text(ja=f"脆弱性: {ja}", en=f"Vulnerable: {en}"),
                detail=Text(ja=f"{ja} の検査で該当しました。", en=f"The {en} probe found the server affected."),
                remediation=Text(ja=fix_ja, en=fix_en),
            ))
        else:
            clean_ja.append(ja)
            clean_en.append(en)
    if clean_ja:
        via = "（クライアント証明書を使用）" if facts.client_certificate_used else ""
        via_en = " (with the client certificate)" if facts.client_certificate_used else ""
        out.append(ctx.finding(
            Status.PASS,
            title=Text(ja="既知の TLS 脆弱性に該当なし", en="Not affected by the known TLS weaknesses probed"),
            detail=Text(ja=f"該当なし{via}: {'、'.join(clean_ja)}", en=f"Not affected{via_en}: {', '.join(clean_en)}"),
        ))
    return out
