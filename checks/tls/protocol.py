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
from tenken.collectors.tls.facts import CURVES, LEGACY_VERSIONS, TlsFacts, TlsVersion, suites_probe


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
    if (u := facts.missing(v12.probe)) is not None:
        out.append(incomplete(ctx, v12.value, u.detail, subject=v12.value))
    elif facts.versions[v12].offered:
        exc = ctx.policy.tls.tls12_exception_for(ctx.target)
        if exc is None:
            out.append(ctx.finding(
                Status.WARN, subject=v12.value, clauses=("SO-13-6",),
                title=Text(ja="TLS 1.2 が有効（TLS 1.3 対応が困難な場合のみ許容）", en="TLS 1.2 enabled (allowed only where TLS 1.3 is hard)"),
                detail=Text(ja=f"TLS 1.2 で接続できます（提供バージョン: {listing}）。SO-13-6 は TLS 1.3 への限定を求め、"
                               "対応が困難な場合に限り 高セキュリティ型 の設定で TLS 1.2 を認めています。",
                            en=f"TLS 1.2 is accepted (versions offered: {listing}). SO-13-6 asks for TLS 1.3 only and allows "
                               "TLS 1.2 with 高セキュリティ型 settings only where TLS 1.3 is hard."),
                remediation=Text(ja="TLS 1.2 を無効化するか、困難な理由をポリシーの tls.tls12_exceptions に記録してください。",
                                 en="Disable TLS 1.2, or record why TLS 1.3 alone is hard in the policy's tls.tls12_exceptions."),
            ))
        else:
            who = f"（承認: {exc.approver}）" if exc.approver else ""
            who_en = f" (approved by {exc.approver})" if exc.approver else ""
            out.append(ctx.finding(
                Status.PASS, subject=v12.value, clauses=("SO-13-6",),
                title=Text(ja="TLS 1.2 は文書化された例外により許容", en="TLS 1.2 accepted under a documented exception"),
                detail=Text(ja=f"TLS 1.2 が有効ですが、ポリシーの例外に記録されています{who}: {exc.justification}",
                            en=f"TLS 1.2 is enabled under the policy's documented exception{who_en}: {exc.justification}"),
            ))
    v13 = TlsVersion.TLS13
    if (u := facts.missing(v13.probe)) is not None:
        out.append(incomplete(ctx, v13.value, u.detail, subject=v13.value))
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
        else:
            out.append(ctx.finding(
                Status.WARN, subject=version.value,
                title=Text(ja=f"{version.value}: クライアントの優先順位に従う", en=f"{version.value}: the client's order decides"),
                detail=Text(ja="サーバはクライアントの提示順に従ってスイートを選びます（受け入れるスイート自体は別項目で判定）。",
                            en="The server follows the client's order (the suites it accepts are judged separately)."),
                remediation=Text(ja="サーバ側の優先順位を有効にしてください（例: nginx `ssl_prefer_server_ciphers on;`）。",
                                 en="Enable server-side preference (e.g. nginx `ssl_prefer_server_ciphers on;`)."),
            ))
    return out
