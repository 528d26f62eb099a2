"""Windows updates (SO-8-3) and anti-malware (SO-8-2, SO-8-3): same thresholds as Linux (policy
`patches.max_days_since_update`, `antimalware.max_signature_age_days`, `antimalware.required`)."""

from __future__ import annotations

from datetime import timedelta

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules.antimalware import CLAUSES as SIG_CLAUSES
from tenken.checks.rules.antimalware import judge_signature_age
from tenken.checks.rules.patches import CLAUSES as CLAUSES_PATCH
from tenken.checks.rules.patches import PENDING_TITLE, judge_patch_age, judge_pending, pending_pass
from tenken.collectors.windows.antimalware import AntimalwareFacts
from tenken.collectors.windows.pending_updates import MissingUpdate, PendingUpdatesFacts
from tenken.collectors.windows.updates import UpdatesFacts

UPDATES = "windows.updates"
AM = "windows.antimalware"
W = OsFamily.WINDOWS


@check("windows.patches.age", clauses=CLAUSES_PATCH, needs=(UPDATES,), os=W, severity=Severity.HIGH,
       title=Text(ja="セキュリティ更新の適用", en="Security updates applied recently"))
def patch_age(ctx: CheckContext) -> list[Finding]:
    """A host whose last installed update is older than a patch cycle is missing at least one month's fixes."""
    f = ctx.get(UPDATES, UpdatesFacts)
    if (u := f.missing("updates")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    # the patch level the host runs (build.UBR's cumulative update, else the newest hotfix), never
    # LastInstallationSuccessDate, which Defender definition installs also move
    last = f.patch_level_date
    if last is None:
        return [ctx.finding(
            Status.ERROR, title=ctx.spec.title, severity=Severity.MEDIUM,
            detail=Text(ja=f"更新プログラムのインストール日を確認できませんでした（Get-HotFix {len(f.hotfixes)} 件、Windows Update の記録なし）。",
                        en=f"No update installation date could be found ({len(f.hotfixes)} hotfixes listed, no Windows Update record)."),
            remediation=Text(ja="「設定 > Windows Update > 更新の履歴」で最終適用日を確認してください。",
                             en="Check the last installation date in Settings > Windows Update > Update history."),
        )]
    newest = max((h for h in f.hotfixes if h.installed_on), key=lambda h: h.installed_on or last, default=None)
    if f.patch is not None and f.patch.release_date is not None and not f.patch.newer_than_table:
        source = f"OS build {f.patch.build}.{f.patch.ubr} = {f.patch.kb}, its release date"
    else:
        source = f"Windows Update / Get-HotFix{', latest ' + newest.id if newest else ''}"
    return [ctx.verdict(judge_patch_age(last, ctx.now, ctx.policy.patches, source=source, fix=Text(
        ja="Windows Update（または WSUS）で最新の累積更新プログラムを適用し、定期適用の手順を確認してください。",
        en="Install the latest cumulative update through Windows Update (or WSUS) and check the monthly patch process.")))]


def _protector(f: AntimalwareFacts) -> str | None:
    if f.defender is not None and f.defender.active:
        return "Microsoft Defender"
    on = [p for p in f.products if p.enabled and "defender" not in p.name.lower()]
    if on:
        return on[0].name
    # found by its running service (Windows Server has no Security Center)
    return f.third_party_running[0].name if f.third_party_running else None


@check("windows.antimalware.enabled", clauses=("SO-8-2",), needs=(AM,), os=W, severity=Severity.HIGH,
       title=Text(ja="マルウェア対策ソフトの稼働", en="Anti-malware protection running"))
def av_enabled(ctx: CheckContext) -> list[Finding]:
    """Defender with real-time protection on, or a third-party product Security Center reports as on."""
    f = ctx.get(AM, AntimalwareFacts)
    if (u := f.missing("antimalware")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    who = _protector(f)
    if who is not None:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"{who} がリアルタイム保護を提供しています。", en=f"{who} provides real-time protection."))]
    d = f.defender
    if d is not None:
        off = [n for n, v in (("AMServiceEnabled", d.service_enabled), ("AntivirusEnabled", d.antivirus_enabled),
                              ("RealTimeProtectionEnabled", d.realtime_enabled)) if not v]
        state_ja = f"Microsoft Defender の {', '.join(off)} が無効" if off else f"Microsoft Defender は {d.running_mode} で動作中"
        state_en = f"Microsoft Defender has {', '.join(off)} off" if off else f"Microsoft Defender runs in {d.running_mode}"
    else:
        state_ja, state_en = "Microsoft Defender は導入されていません", "Microsoft Defender is not installed"
    sc_ja = "" if f.security_center_available else "（Windows Server のため、セキュリティ センターで他社製品を確認できません）"
    sc_en = "" if f.security_center_available else " (on Windows Server, Security Center cannot show third-party products)"
    return [ctx.finding(
        Status.FAIL if ctx.policy.antimalware.required else Status.WARN,
        title=Text(ja="マルウェア対策が稼働していない", en="No anti-malware protection running"),
        detail=Text(ja=f"{state_ja}。稼働中の他社製品も検出されません{sc_ja}。", en=f"{state_en}, and no running third-party product was found{sc_en}."),
        remediation=Text(ja="Microsoft Defender のリアルタイム保護を有効にするか、承認済みのマルウェア対策製品を導入してください。"
                            "Security Center に現れない他社製品で保護している場合は、その証跡を添えて例外（waiver）を登録してください。",
                         en="Turn on Microsoft Defender real-time protection or install an approved anti-malware product. "
                            "If a product invisible to Security Center protects this host, record a waiver with its evidence."),
    )]


@check("windows.antimalware.signatures", clauses=SIG_CLAUSES, needs=(AM,), os=W, severity=Severity.HIGH,
       title=Text(ja="パターンファイルの更新", en="Anti-malware signatures up to date"))
def av_signatures(ctx: CheckContext) -> list[Finding]:
    """SO-8-2/SO-8-3 name pattern files explicitly: they must be recent (policy `antimalware.max_signature_age_days`)."""
    f = ctx.get(AM, AntimalwareFacts)
    if (u := f.missing("antimalware")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    d = f.defender
    third = [p for p in f.products if p.enabled and "defender" not in p.name.lower()]
    by_service = f.third_party_running
    if by_service and not third and not (d is not None and d.active):
        # a product found only by its services exposes no signature date to Windows
        names = ", ".join(x.name for x in by_service)
        return [ctx.finding(
            Status.WARN, subject=by_service[0].name, title=ctx.spec.title, severity=Severity.MEDIUM,
            detail=Text(ja=f"{names} が稼働していますが、定義ファイルの更新日は製品の管理コンソールでしか確認できません。",
                        en=f"{names} is running, but its signature date is only visible in the product's own console."),
            remediation=Text(ja="管理コンソールで定義ファイルの更新日を確認し、証跡を残してください（例外 waiver に記録可）。",
                             en="Confirm the signature date in the product's console and keep the evidence (or record a waiver)."),
        )]
    # judge Defender when it protects the host, or when nothing else does (its stale signatures still matter)
    if d is not None and (d.active or not third):
        if d.signature_last_updated is not None:
            updated = d.signature_last_updated
        elif d.signature_age_days is not None:  # whole days only: a lower bound of the age
            updated = ctx.now - timedelta(days=d.signature_age_days)
        else:
            return [ctx.finding(Status.ERROR, title=ctx.spec.title, severity=Severity.MEDIUM,
                                detail=Text(ja="定義ファイルの更新日を取得できませんでした。", en="The signature update date could not be read."))]
        return [ctx.verdict(judge_signature_age(updated, ctx.now, ctx.policy.antimalware, product="Microsoft Defender",
                                                version=d.signature_version, source="Get-MpComputerStatus", fix=Text(
            ja="Update-MpSignature で更新し、更新元（Windows Update / WSUS / 共有フォルダー）への到達性を確認してください。",
            en="Run Update-MpSignature and check the host can reach its update source (Windows Update, WSUS or a share).")))]
    if third:
        stale = [p for p in third if p.up_to_date is False]
        if not stale:
            return [ctx.finding(Status.PASS, title=ctx.spec.title,
                                detail=Text(ja=f"セキュリティ センターによると {', '.join(p.name for p in third)} の定義ファイルは最新です。",
                                            en=f"Security Center reports {', '.join(p.name for p in third)} signatures as up to date."))]
        return [ctx.finding(
            Status.FAIL, subject=p.name, title=Text(ja="パターンファイルが古い", en="Anti-malware signatures out of date"),
            detail=Text(ja=f"セキュリティ センターによると {p.name} の定義ファイルが古くなっています。",
                        en=f"Security Center reports {p.name} signatures as out of date."),
            remediation=Text(ja="製品の管理コンソールで定義ファイルの配信状況を確認してください。",
                             en="Check signature distribution in the product's management console."),
        ) for p in stale]
    return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title,
                        detail=Text(ja="稼働中のマルウェア対策製品がないため判定しません（稼働の項目を参照）。",
                                    en="No running anti-malware product to judge (see the protection finding)."))]


PENDING = "windows.pending_updates"


@check("windows.patches.pending", clauses=CLAUSES_PATCH, needs=(PENDING,), os=W, severity=Severity.HIGH,
       title=PENDING_TITLE)
def pending(ctx: CheckContext) -> list[Finding]:
    """Missing updates from the Windows Update Agent's search (WSUS or Microsoft Update), judged by the
    same rule as Linux's pending packages (checks/rules/patches.py): an MSRC security update counts as security."""
    f = ctx.get(PENDING, PendingUpdatesFacts)
    if not f.enabled:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title, detail=Text(
            ja="Windows Update の検索は無効です（方針 windows.update_search: false）。更新の適用時期は windows.patches.age で判定しています。",
            en="The Windows Update search is off (policy windows.update_search: false); patch age is judged by windows.patches.age."))]
    if (u := f.missing("search")) is not None or not f.searched:
        return [ctx.unavailable(u, title=ctx.spec.title) if u is not None else ctx.finding(
            Status.ERROR, title=ctx.spec.title, severity=Severity.MEDIUM,
            detail=Text(ja="Windows Update の検索結果がありません。", en="The Windows Update search returned no result."))]
    def label(m: MissingUpdate) -> str:
        return f"{m.title} ({', '.join(m.kbs)})" if m.kbs and not any(k in m.title for k in m.kbs) else m.title

    sec = [label(m) for m in f.missing_updates if m.security or m.severity in ("Critical", "Important")]
    other = [label(m) for m in f.missing_updates if not (m.security or m.severity in ("Critical", "Important"))]
    src = f"Windows Update Agent search ({f.server or 'default'} server)"
    fix = Text(ja="WSUS（または Windows Update）で未適用の更新プログラムを承認・適用してください。",
               en="Approve and install the missing updates through WSUS (or Windows Update).")
    got = judge_pending(sec, other, ctx.policy.patches, source=src, fix=fix)
    return [ctx.verdict(v) for v in got] or [ctx.verdict(pending_pass(len(f.missing_updates), source=src))]
