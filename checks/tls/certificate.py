"""The server certificate (SO-13-6 高セキュリティ型, SO-13-9 MITM, SO-13-12 the peer is who it claims).

Key type and size, signature hash, validity, hostname, and the chain to the configured trust store (a
hospital's private CA via --ca-file). `today` comes from the report clock, not the certificate.
"""

from __future__ import annotations

from datetime import timedelta

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.tls.common import TLS, TLS_OS
from tenken.collectors.evidence import Reason, Unavailable
from tenken.collectors.tls.facts import CERTIFICATE, CertificateFacts, TlsFacts


def _cert(ctx: CheckContext) -> tuple[CertificateFacts | None, list[Finding]]:
    facts = ctx.get(TLS, TlsFacts)
    if (u := facts.missing(CERTIFICATE)) is not None or facts.certificate is None:
        u = u or Unavailable(reason=Reason.FAILED, detail="no certificate received")
        return None, [ctx.unavailable(u, title=ctx.spec.title, subject="certificate")]
    return facts.certificate, []


@check(
    "tls.certificate.key",
    clauses=("SO-13-6", "SO-13-9"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="サーバ証明書の鍵の種類と長さ", en="Server certificate key type and size"),
)
def certificate_key(ctx: CheckContext) -> list[Finding]:
    cert, out = _cert(ctx)
    if cert is None:
        return out
    pol = ctx.policy.tls
    bits = cert.key_bits or 0
    ok = {"RSA": bits >= pol.min_rsa_bits, "EC": bits >= pol.min_ec_bits, "Ed25519": True, "Ed448": True}.get(cert.key_type, False)
    desc = f"{cert.key_type} {cert.key_bits} bits{' (' + cert.curve + ')' if cert.curve else ''}"
    if ok:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"鍵: {desc}（基準: RSA {pol.min_rsa_bits} / ECDSA {pol.min_ec_bits} ビット以上）",
                                        en=f"Key: {desc} (profile: RSA {pol.min_rsa_bits}+ / ECDSA {pol.min_ec_bits}+ bits)"))]
    return [ctx.finding(
        Status.FAIL,
        title=Text(ja="サーバ証明書の鍵が弱い", en="Server certificate key is too weak"),
        detail=Text(ja=f"鍵: {desc}。高セキュリティ型は RSA {pol.min_rsa_bits} ビット以上または ECDSA {pol.min_ec_bits} ビット以上を求めます。",
                    en=f"Key: {desc}. The profile needs RSA {pol.min_rsa_bits}+ or ECDSA {pol.min_ec_bits}+ bits."),
        remediation=Text(ja="RSA 2048 ビット以上（または ECDSA P-256 以上）の鍵で証明書を再発行してください。",
                         en="Reissue the certificate with an RSA 2048+ (or ECDSA P-256+) key."),
    )]


@check(
    "tls.certificate.signature",
    clauses=("SO-13-6", "SO-13-9"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="サーバ証明書の署名ハッシュ", en="Server certificate signature hash"),
)
def certificate_signature(ctx: CheckContext) -> list[Finding]:
    cert, out = _cert(ctx)
    if cert is None:
        return out
    algo = cert.signature_hash or f"{cert.key_type} (intrinsic)"
    if cert.signature_hash is not None and cert.signature_hash.lower() in {h.lower() for h in ctx.policy.tls.forbidden_signature_hashes}:
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja=f"サーバ証明書が {algo} で署名されている", en=f"Server certificate signed with {algo}"),
            detail=Text(ja=f"署名ハッシュ {algo} は衝突攻撃により偽造のおそれがあり、禁止されています（SHA-256 以上が必要）。",
                        en=f"The {algo} signature hash is forbidden: collisions allow forgery (SHA-256 or stronger is required)."),
            remediation=Text(ja="SHA-256 以上で署名された証明書に更新してください。", en="Replace it with a certificate signed with SHA-256 or stronger."),
        )]
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"署名ハッシュ: {algo}", en=f"Signature hash: {algo}"))]


@check(
    "tls.certificate.validity",
    clauses=("SO-13-9", "SO-13-12"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="サーバ証明書の有効期間", en="Server certificate validity"),
)
def certificate_validity(ctx: CheckContext) -> list[Finding]:
    cert, out = _cert(ctx)
    if cert is None:
        return out
    now = ctx.now
    window = ctx.policy.tls.cert_expiry_warn_days
    span = f"{cert.not_before:%Y-%m-%d %H:%M} – {cert.not_after:%Y-%m-%d %H:%M} UTC"
    renew = Text(ja="証明書を更新（再発行）して配置してください。", en="Renew (reissue) and deploy the certificate.")
    if now > cert.not_after:
        return [ctx.finding(Status.FAIL, title=Text(ja="サーバ証明書の有効期限切れ", en="Server certificate has expired"),
                            detail=Text(ja=f"有効期間: {span}。期限切れの証明書では正当なサーバか確認できません。",
                                        en=f"Valid {span}. An expired certificate cannot prove the server's identity."),
                            remediation=renew)]
    if now < cert.not_before:
        return [ctx.finding(Status.FAIL, title=Text(ja="サーバ証明書がまだ有効になっていない", en="Server certificate is not yet valid"),
                            detail=Text(ja=f"有効期間: {span}。", en=f"Valid {span}."),
                            remediation=Text(ja="証明書と対象の時刻設定を確認してください。", en="Check the certificate and the server's clock."))]
    left = cert.not_after - now
    if left <= timedelta(days=window):
        return [ctx.finding(Status.WARN, severity=Severity.MEDIUM,
                            title=Text(ja=f"サーバ証明書の期限が {left.days} 日以内", en=f"Server certificate expires within {left.days} days"),
                            detail=Text(ja=f"有効期間: {span}（警告期間 {window} 日）。", en=f"Valid {span} (warning window {window} days)."),
                            remediation=renew)]
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"有効期間: {span}（残り {left.days} 日）", en=f"Valid {span} ({left.days} days left)"))]


@check(
    "tls.certificate.hostname",
    clauses=("SO-13-9", "SO-13-12"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="サーバ証明書のホスト名", en="Server certificate hostname"),
)
def certificate_hostname(ctx: CheckContext) -> list[Finding]:
    cert, out = _cert(ctx)
    if cert is None:
        return out
    names = ", ".join([*cert.dns_names, *cert.ip_addresses]) or cert.subject
    if cert.hostname_matches:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"{cert.hostname} は証明書の名前（{names}）に一致します。",
                                        en=f"{cert.hostname} matches the certificate's names ({names})."))]
    return [ctx.finding(
        Status.FAIL,
        title=Text(ja="サーバ証明書がホスト名に一致しない", en="Server certificate does not match the hostname"),
        detail=Text(ja=f"接続名 {cert.hostname} は証明書の名前（{names}）に含まれません。クライアントは偽サーバと区別できません。",
                    en=f"{cert.hostname} is not among the certificate's names ({names}); clients cannot tell this server from an impostor."),
        remediation=Text(ja="接続に使う名前を SAN に含む証明書を配置するか、--sni で正しい名前を指定してください。",
                         en="Deploy a certificate whose SAN includes the name clients use, or give the right name with --sni."),
    )]


@check(
    "tls.certificate.chain",
    clauses=("SO-13-9", "SO-13-12"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="サーバ証明書の信頼チェーン", en="Server certificate chain of trust"),
)
def certificate_chain(ctx: CheckContext) -> list[Finding]:
    cert, out = _cert(ctx)
    if cert is None:
        return out
    if cert.chain_trusted:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"証明書チェーン（{cert.chain_length} 枚）は {cert.trust_store} で検証できました。",
                                        en=f"The chain ({cert.chain_length} certificate(s)) validates against {cert.trust_store}."))]
    return [ctx.finding(
        Status.FAIL,
        title=Text(ja="サーバ証明書を信頼できるチェーンで検証できない", en="Server certificate does not chain to a trusted root"),
        detail=Text(ja=f"{cert.trust_store} での検証に失敗しました: {cert.validation_error}（発行者: {cert.issuer}）",
                    en=f"Validation against {cert.trust_store} failed: {cert.validation_error} (issuer: {cert.issuer})"),
        remediation=Text(ja="院内のプライベート CA で発行している場合は --ca-file でその CA 証明書を指定してください。"
                            "そうでなければ、信頼された CA の証明書と中間証明書を正しく配置してください。",
                         en="If a hospital private CA issued it, pass that CA certificate with --ca-file; otherwise deploy a certificate "
                            "from a trusted CA with its intermediates."),
    )]
