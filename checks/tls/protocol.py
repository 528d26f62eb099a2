"""Protocol versions, cipher suites, key-exchange groups and suite order (SO-13-6, SO-13-8, SO-13-10).

SO-13-6 limits HTTPS on open networks to TLS 1.3 (TLS 1.2 only where 1.3 is hard) with the 高セキュリティ型
settings of TLS暗号設定ガイドライン 3.0.1; weak versions and suites also leave traffic open to tampering
(SO-13-8) and eavesdropping (SO-13-10).
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.tls.common import TLS, TLS_OS, incomplete
from tenken.checks.tls.rules import REASON_TEXT, suite_rule_violations
from tenken.collectors.tls.facts import (
    CURVES,
    LEGACY_VERSIONS,
    ClientAuthRequirement,
    HttpOutcome,
    TlsFacts,
    TlsVersion,
    suites_probe,
)


class _Exception:
    """The exception in force for an endpoint: its own (inventory/spec) first, else the policy's."""

    def __init__(self, reason: str, approver: str | None, expires: str | None) -> None:
        self.reason, self.approver, self.expires = reason, approver, expires


def tls12_exception(ctx: CheckContext, facts: TlsFacts) -> tuple[_Exception | None, str | None]:
    """(exception in force, the expiry date of an exception that was ignored because it ran out)."""
    today = facts.scanned_at.date() if facts.scanned_at else None
    expired: str | None = None
    own = facts.tls12_exception
    if own is not None:
        if today is not None and own.expires >= today:
            return _Exception(own.reason, own.approver, own.expires.isoformat()), None
        expired = own.expires.isoformat()
    pol = ctx.policy.tls.tls12_exception_for(ctx.target, today)
    if pol is not None:
        return _Exception(pol.justification, pol.approver, pol.expires.isoformat() if pol.expires else None), None
    lapsed = [e for e in ctx.policy.tls.tls12_exceptions if ("*" in e.targets or ctx.target in e.targets) and e.expires]
    if expired is None and lapsed:
        expired = max(e.expires for e in lapsed if e.expires).isoformat()
    return None, expired


def tls12_hard_case(ctx: CheckContext, facts: TlsFacts) -> bool:
    """SO-13-6's proviso in full: TLS 1.2 with only 高セキュリティ型 suites (listed, forward secret, AEAD) and a
    client certificate that is actually enforced."""
    v12 = facts.versions.get(TlsVersion.TLS12)
    if v12 is None or not v12.offered or not v12.suites:
        return False
    allowed = {s.upper() for s in ctx.policy.tls.tls12_suites}
    if any(s.name.upper() not in allowed or suite_rule_violations(s.name, tls13=False) for s in v12.suites):
        return False
    ca = facts.client_auth
    return ca is not None and (ca.tls_layer is ClientAuthRequirement.REQUIRED
                               or (ca.http is not None and ca.http.outcome is HttpOutcome.REFUSED))


@check(
    "tls.protocol.versions",
    clauses=("SO-13-6", "SO-13-10"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="TLS プロトコルバージョン（TLS 1.3 に限定）", en="TLS protocol versions (TLS 1.3 only)"),
)
def protocol_versions(ctx: CheckContext) -> list[Finding]:
    """SSL 2/3 and TLS 1.0/1.1 fail; TLS 1.2 warns (pass with a documented exception); no TLS 1.3 fails."""
    facts = ctx.get(TLS, TlsFacts)
    out: list[Finding] = []
    offered = [v.value for v, s in facts.versions.items() if s.offered]
    listing = ", ".join(offered) or "なし/none"
    for v in LEGACY_VERSIONS:
        if (u := facts.missing(v.probe)) is not None:
            out.append(incomplete(ctx, v.value, u.detail, subject=v.value))
        elif facts.versions[v].offered:
            out.append(ctx.finding(
                Status.FAIL, subject=v.value,
                title=Text(ja=f"廃止すべき {v.value} が有効", en=f"Obsolete {v.value} is enabled"),
                detail=Text(ja=f"{v.value} で接続できます（提供バージョン: {listing}）。既知の攻撃で盗聴・改ざんされるおそれがあります。",
                            en=f"{v.value} is accepted (versions offered: {listing}); known attacks allow eavesdropping and tampering."),
                remediation=Text(ja=f"サーバ設定で {v.value} を無効化してください（例: nginx `ssl_protocols TLSv1.3;`）。",
                                 en=f"Disable {v.value} in the server configuration (e.g. nginx `ssl_protocols TLSv1.3;`)."),
            ))
    v12 = TlsVersion.TLS12
    exc, lapsed = tls12_exception(ctx, facts)
    lapsed_ja = f"（{lapsed} に期限切れとなった例外は無視しました）" if lapsed else ""
    lapsed_en = f" (an exception that expired on {lapsed} was ignored)" if lapsed else ""
    if (u := facts.missing(v12.probe)) is not None:
        out.append(incomplete(ctx, v12.value, u.detail, subject=v12.value))
    elif facts.versions[v12].offered:
        if exc is None:
            out.append(ctx.finding(
                Status.WARN, subject=v12.value, clauses=("SO-13-6",),
                title=Text(ja="TLS 1.2 が有効（TLS 1.3 対応が困難な場合のみ許容）", en="TLS 1.2 enabled (allowed only where TLS 1.3 is hard)"),
                detail=Text(ja=f"TLS 1.2 で接続できます（提供バージョン: {listing}）。SO-13-6 は TLS 1.3 への限定を求め、"
                               "対応が困難な場合に限り 高セキュリティ型 の設定で TLS 1.2 を認めています。",
                            en=f"TLS 1.2 is accepted (versions offered: {listing}). SO-13-6 asks for TLS 1.3 only and allows "
                               f"TLS 1.2 with 高セキュリティ型 settings only where TLS 1.3 is hard.{lapsed_en}"),
                remediation=Text(ja="TLS 1.2 を無効化するか、困難な理由を例外（対象の tls12_exception: reason/approver/expires、"
                                    "またはポリシーの tls.tls12_exceptions）として記録してください。",
                                 en="Disable TLS 1.2, or record why TLS 1.3 alone is hard as an exception (the endpoint's "
                                    "tls12_exception: reason/approver/expires, or the policy's tls.tls12_exceptions)."),
            ))
        else:
            who = f"（承認: {exc.approver}）" if exc.approver else ""
            who_en = f" (approved by {exc.approver})" if exc.approver else ""
            out.append(ctx.finding(
                Status.PASS, subject=v12.value, clauses=("SO-13-6",),
                title=Text(ja="TLS 1.2 は文書化された例外により許容", en="TLS 1.2 accepted under a documented exception"),
                detail=Text(ja=f"TLS 1.2 が有効ですが、文書化された例外に記録されています{who}"
                               f"{'（期限 ' + exc.expires + '）' if exc.expires else ''}: {exc.reason}",
                            en=f"TLS 1.2 is enabled under a documented exception{who_en}"
                               f"{' (expires ' + exc.expires + ')' if exc.expires else ''}: {exc.reason}"),
            ))
    v13 = TlsVersion.TLS13
    if (u := facts.missing(v13.probe)) is not None:
        out.append(incomplete(ctx, v13.value, u.detail, subject=v13.value))
    elif not facts.versions[v13].offered and tls12_hard_case(ctx, facts):
        # TLS 1.2 only, but with 高セキュリティ型 suites and an enforced client certificate: SO-13-6's proviso.
        if exc is not None:
            out.append(ctx.finding(
                Status.PASS, subject=v13.value, clauses=("SO-13-6",),
                title=Text(ja="TLS 1.3 なし: 文書化された例外により TLS 1.2（高セキュリティ型）を許容",
                           en="No TLS 1.3: TLS 1.2 (高セキュリティ型) accepted under a documented exception"),
                detail=Text(ja=f"TLS 1.3 は提供されていませんが（提供バージョン: {listing}）、TLS 1.2 は高セキュリティ型の暗号スイートのみで"
                               f"クライアント証明書が必須であり、例外が記録されています: {exc.reason}",
                            en=f"TLS 1.3 is not offered (versions offered: {listing}), but TLS 1.2 uses only 高セキュリティ型 suites "
                               f"with a required client certificate, under a documented exception: {exc.reason}"),
            ))
        else:
            out.append(ctx.finding(
                Status.WARN, subject=v13.value, clauses=("SO-13-6",),
                title=Text(ja="TLS 1.3 なし（TLS 1.2 は高セキュリティ型・クライアント証明書必須）: 例外の記録が必要",
                           en="No TLS 1.3 (TLS 1.2 is 高セキュリティ型 with client certificates): an exception must be documented"),
                detail=Text(ja=f"TLS 1.3 は提供されていません（提供バージョン: {listing}）。TLS 1.2 は高セキュリティ型の暗号スイートのみで"
                               f"クライアント証明書が必須のため SO-13-6 の「TLS 1.3 対応が困難な場合」に当たり得ますが、例外が記録されていません{lapsed_ja}。",
                            en=f"TLS 1.3 is not offered (versions offered: {listing}). TLS 1.2 uses only 高セキュリティ型 suites with a "
                               f"required client certificate, which SO-13-6 allows where TLS 1.3 is hard, but no exception is "
                               f"documented{lapsed_en}."),
                remediation=Text(ja="TLS 1.3 を有効化するか、困難な理由・承認者・期限を例外（tls12_exception）として記録してください。",
                                 en="Enable TLS 1.3, or document why it is hard, who approved it and until when (tls12_exception)."),
            ))
    elif not facts.versions[v13].offered:
        out.append(ctx.finding(
            Status.FAIL, subject=v13.value, clauses=("SO-13-6",),
            title=Text(ja="TLS 1.3 が提供されていない", en="TLS 1.3 is not offered"),
            detail=Text(ja=f"TLS 1.3 で接続できません（提供バージョン: {listing}）。", en=f"TLS 1.3 is not accepted (versions offered: {listing})."),
            remediation=Text(ja="TLS 1.3 を有効化してください（OpenSSL 1.1.1 以降）。", en="Enable TLS 1.3 (OpenSSL 1.1.1 or later)."),
        ))
    elif not any(f.status in (Status.FAIL, Status.ERROR) for f in out):
        out.append(ctx.finding(
            Status.PASS, subject=v13.value,
            title=Text(ja="TLS 1.3 が提供され、廃止バージョンは無効", en="TLS 1.3 offered; obsolete versions disabled"),
            detail=Text(ja=f"提供バージョン: {listing}（SSL 2/3・TLS 1.0/1.1 は拒否）。", en=f"Versions offered: {listing} (SSL 2/3, TLS 1.0/1.1 refused)."),
        ))
    return out


@check(
    "tls.cipher_suites",
    clauses=("SO-13-6", "SO-13-8", "SO-13-10"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="暗号スイート（高セキュリティ型）", en="Cipher suites (高セキュリティ型)"),
)
def cipher_suites(ctx: CheckContext) -> list[Finding]:
    """Every suite accepted under TLS 1.2/1.3 must be in the policy's list and follow the rule (FS + AEAD)."""
    facts = ctx.get(TLS, TlsFacts)
    pol = ctx.policy.tls
    out: list[Finding] = []
    for version, allowed in ((TlsVersion.TLS13, pol.tls13_suites), (TlsVersion.TLS12, pol.tls12_suites)):
        if (u := facts.missing(version.probe) or facts.missing(suites_probe(version.value))) is not None:
            out.append(incomplete(ctx, f"{version.value} suites", u.detail, subject=version.value))
            continue
        support = facts.versions[version]
        if not support.offered:
            continue
        allowed_set = {s.upper() for s in allowed}
        bad: list[tuple[str, list[str]]] = []
        for s in support.suites:
            reasons = suite_rule_violations(s.name, tls13=version is TlsVersion.TLS13)
            if s.name.upper() not in allowed_set:
                reasons = [*reasons, "not-listed"]
            if reasons:
                bad.append((s.name, reasons))
        names = ", ".join(s.name for s in support.suites)
        if bad:
            ja = "; ".join(f"{n}（{'、'.join(REASON_TEXT[r][0] for r in rs)}）" for n, rs in bad)
            en = "; ".join(f"{n} ({', '.join(REASON_TEXT[r][1] for r in rs)})" for n, rs in bad)
            out.append(ctx.finding(
                Status.FAIL, subject=version.value,
                title=Text(ja=f"{version.value} で高セキュリティ型以外の暗号スイートを受け入れる",
                           en=f"{version.value} accepts suites outside the 高セキュリティ型 list"),
                detail=Text(ja=f"{len(bad)} 件: {ja}", en=f"{len(bad)} suite(s): {en}"),
                remediation=Text(
                    ja="暗号スイートを前方秘匿性のある鍵交換（ECDHE/DHE）と AEAD（GCM/CCM/ChaCha20-Poly1305）に限定してください"
                       "（例: IPA の設定 `ECDHE+AESGCM:DHE+aRSA+AESGCM:ECDHE+AESCCM:DHE+aRSA+AESCCM:ECDHE+CHACHA20:DHE+aRSA+CHACHA20`）。",
                    en="Restrict suites to forward-secret key exchange (ECDHE/DHE) with AEAD (GCM/CCM/ChaCha20-Poly1305), e.g. IPA's "
                       "`ECDHE+AESGCM:DHE+aRSA+AESGCM:ECDHE+AESCCM:DHE+aRSA+AESCCM:ECDHE+CHACHA20:DHE+aRSA+CHACHA20`."),
            ))
        else:
            out.append(ctx.finding(
                Status.PASS, subject=version.value,
                title=Text(ja=f"{version.value} の暗号スイートはすべて高セキュリティ型", en=f"All {version.value} suites are 高セキュリティ型"),
                detail=Text(ja=f"受け入れるスイート: {names}", en=f"Suites accepted: {names}"),
            ))
    return out


@check(
    "tls.key_exchange",
    clauses=("SO-13-6", "SO-13-10"),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.HIGH,
    title=Text(ja="鍵交換のグループと鍵長", en="Key-exchange groups and sizes"),
)
def key_exchange(ctx: CheckContext) -> list[Finding]:
    """ECDHE only on the listed ≥256-bit curves; DHE ≥ 2048 bits; the supported-groups list too."""
    facts = ctx.get(TLS, TlsFacts)
    pol = ctx.policy.tls
    allowed = {g.lower() for g in pol.groups}
    problems_ja: list[str] = []
    problems_en: list[str] = []
    seen: set[str] = set()
    for version in (TlsVersion.TLS13, TlsVersion.TLS12):
        support = facts.versions.get(version)
        if support is None:
            continue
        for s in support.suites:
            kx = s.key_exchange
            if kx is None or kx.kind == "none":
                continue  # static key exchange: the suite check fails it
            if kx.kind == "DH":
                seen.add(f"DHE {kx.bits}")
                if kx.bits is None or kx.bits < pol.min_dh_bits:
                    problems_ja.append(f"{s.name}: DHE {kx.bits} ビット（{pol.min_dh_bits} 未満）")
                    problems_en.append(f"{s.name}: DHE {kx.bits} bits (below {pol.min_dh_bits})")
            else:
                group = kx.group or f"unknown-{kx.bits}"
                seen.add(group)
                if group.lower() not in allowed:
                    problems_ja.append(f"{s.name}: グループ {group}（{kx.bits} ビット）は許可リスト外")
                    problems_en.append(f"{s.name}: group {group} ({kx.bits} bits) is not allowed")
    if (u := facts.missing(CURVES)) is not None:
        return [*_kx_result(ctx, problems_ja, problems_en, seen), incomplete(ctx, "supported groups", u.detail, subject="groups")]
    for g in facts.supported_groups or []:
        seen.add(g)
        if g.lower() not in allowed:
            problems_ja.append(f"サーバが受け入れる楕円曲線 {g} は許可リスト外")
            problems_en.append(f"the server accepts curve {g}, which is not allowed")
    return _kx_result(ctx, problems_ja, problems_en, seen)


def _kx_result(ctx: CheckContext, ja: list[str], en: list[str], seen: set[str]) -> list[Finding]:
    allowed = ", ".join(ctx.policy.tls.groups)
    if ja:
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja="弱い・許可外の鍵交換グループを受け入れる", en="Weak or unlisted key-exchange groups accepted"),
            detail=Text(ja="; ".join(dict.fromkeys(ja)), en="; ".join(dict.fromkeys(en))),
            remediation=Text(ja=f"鍵交換を {allowed}（ECDHE）と {ctx.policy.tls.min_dh_bits} ビット以上の DHE に限定してください"
                                "（例: nginx `ssl_ecdh_curve X25519:prime256v1:secp384r1;`）。",
                             en=f"Limit key exchange to {allowed} (ECDHE) and DHE of {ctx.policy.tls.min_dh_bits}+ bits "
                                "(e.g. nginx `ssl_ecdh_curve X25519:prime256v1:secp384r1;`)."),
        )]
    if not seen:
        return [ctx.finding(
            Status.NOT_APPLICABLE,
            title=Text(ja="鍵交換グループ: 該当なし", en="Key-exchange groups: nothing to judge"),
            detail=Text(ja="一時鍵を用いるスイートが観測されませんでした。", en="No suite with an ephemeral key was observed."),
        )]
    return [ctx.finding(
        Status.PASS,
        title=Text(ja="鍵交換グループと鍵長は基準を満たす", en="Key-exchange groups and sizes meet the profile"),
        detail=Text(ja=f"観測したグループ: {', '.join(sorted(seen))}", en=f"Groups observed: {', '.join(sorted(seen))}"),
    )]


@check(
    "tls.server_preference",
    clauses=("SO-13-6",),
    needs=(TLS,),
    os=TLS_OS,
    severity=Severity.LOW,
    title=Text(ja="サーバ側での暗号スイート優先順位", en="Server-side suite preference"),
)
def server_preference(ctx: CheckContext) -> list[Finding]:
    """Reported: whether the server picks the suite itself (the guideline's settings set the server's order)."""
    facts = ctx.get(TLS, TlsFacts)
    out: list[Finding] = []
    for version in (TlsVersion.TLS13, TlsVersion.TLS12):
        support = facts.versions.get(version)
        if support is None or not support.offered or len(support.suites) < 2 or support.server_preference is None:
            continue
        if support.server_preference:
            out.append(ctx.finding(
                Status.PASS, subject=version.value,
                title=Text(ja=f"{version.value}: サーバの優先順位で選択", en=f"{version.value}: the server's order decides"),
                detail=Text(ja="クライアントの提示順を入れ替えてもサーバは同じスイートを選びました。",
                            en="The server chose the same suite whichever order the client offered."),
            ))
        elif not _disallowed(ctx, version, support.suites):
            # the client picks, but every suite it could pick is allowed: nothing to warn about
            out.append(ctx.finding(
                Status.PASS, subject=version.value,
                title=Text(ja=f"{version.value}: クライアントの優先順位に従うが、選ばれ得るスイートはすべて許可済み",
                           en=f"{version.value}: the client's order decides, and every suite it can choose is allowed"),
                detail=Text(ja="サーバはクライアントの提示順に従いますが、受け入れるスイートはすべて高セキュリティ型です。",
                            en="The server follows the client's order, but every suite it accepts is 高セキュリティ型."),
            ))
        else:
            bad = ", ".join(_disallowed(ctx, version, support.suites))
            out.append(ctx.finding(
                Status.WARN, subject=version.value,
                title=Text(ja=f"{version.value}: クライアントの優先順位に従い、許可外のスイートが選ばれ得る",
                           en=f"{version.value}: the client's order decides, and a disallowed suite can be chosen"),
                detail=Text(ja=f"サーバはクライアントの提示順に従ってスイートを選ぶため、{bad} が選ばれ得ます（スイート自体は別項目で判定）。",
                            en=f"The server follows the client's order, so {bad} can be chosen (the suites themselves are judged separately)."),
                remediation=Text(ja="サーバ側の優先順位を有効にしてください（例: nginx `ssl_prefer_server_ciphers on;`）。",
                                 en="Enable server-side preference (e.g. nginx `ssl_prefer_server_ciphers on;`)."),
            ))
    return out


def _disallowed(ctx: CheckContext, version: TlsVersion, suites: list) -> list[str]:
    """Accepted suites outside the policy's list or the rule (FS + AEAD): what a client's order could pick."""
    tls13 = version is TlsVersion.TLS13
    allowed = {s.upper() for s in (ctx.policy.tls.tls13_suites if tls13 else ctx.policy.tls.tls12_suites)}
    return [s.name for s in suites if s.name.upper() not in allowed or suite_rule_violations(s.name, tls13=tls13)]
