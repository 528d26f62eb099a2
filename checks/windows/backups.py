"""Backups seen from a Windows host (SO-11-1, SO-12-4, SO-18-1), judged like the Linux ones: something
exists, enough generations (`backups.min_generations` or a location's `expected_generations`), the newest
is recent (`backups.max_newest_age_days`), and a copy out of malware's reach is registered (`offline: true`).
Sources: Windows Server Backup's catalogue, and `backups.locations` entries that are Windows paths."""

from __future__ import annotations

from datetime import datetime

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.collectors.windows.backups import BackupFacts

BK = "windows.backups"
W = OsFamily.WINDOWS
CLAUSES = ("SO-11-1", "SO-12-4", "SO-18-1")

CONFIGURE = Text(
    ja="バックアップ保存先を方針ファイルの backups.locations に Windows のパスで登録してください（例: {path: 'D:\\Backup\\EMR', expected_generations: 7}）。",
    en="Register the backup locations under backups.locations as Windows paths (e.g. {path: 'D:\\Backup\\EMR', expected_generations: 7}).",
)


def _sources(f: BackupFacts) -> list[tuple[str, int, datetime | None, int | None, bool]]:
    """(name, generations, newest, expected, offline) for each place backups were found or expected."""
    out = []
    if f.wbadmin_versions:
        out.append(("Windows Server Backup", len(f.wbadmin_versions), max(v.time for v in f.wbadmin_versions), None, False))
    for loc in f.locations:
        out.append((loc.label or loc.path, loc.count if loc.exists else 0, loc.newest, loc.expected_generations, loc.offline))
    return out


@check("windows.backup.found", clauses=CLAUSES, needs=(BK,), os=W, severity=Severity.HIGH,
       title=Text(ja="バックアップの存在", en="Backups exist"))
def backup_found(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    out = []
    for loc in f.locations:
        if loc.unverifiable:
            out.append(ctx.finding(
                Status.ERROR, subject=loc.path, severity=Severity.MEDIUM,
                title=Text(ja="バックアップ保存先（共有フォルダー）に到達できない", en="Backup share not reachable from the audit session"),
                detail=Text(ja=f"{loc.path} の共有に WinRM セッションから到達できませんでした（{loc.error or '不明'}）。リモート セッションは"
                               "資格情報を別のサーバーへ渡せない（ダブルホップ）ため、保存先が存在しないとは判断できません。",
                            en=f"The share of {loc.path} could not be reached from the WinRM session ({loc.error or 'unknown'}). A remote "
                               "session cannot pass credentials on to a third server (the double hop), so this does not show the location is missing."),
                remediation=Text(ja="CredSSP または Kerberos の委任を構成するか、共有に到達できるホストから確認してください。",
                                 en="Needs CredSSP or Kerberos delegation, or check from a host that can reach it."),
            ))
            continue
        if not loc.offline and (not loc.exists or loc.count == 0):
            why_ja = "存在しません" if not loc.exists else "空です"
            why_en = "does not exist" if not loc.exists else "is empty"
            status = Status.ERROR if loc.error and "Unauthorized" in loc.error else Status.FAIL
            out.append(ctx.finding(
                status, subject=loc.path, title=Text(ja="登録されたバックアップ保存先にバックアップがない", en="Configured backup location holds no backup"),
                detail=Text(ja=f"{loc.path} は{why_ja}{f'（{loc.error}）' if loc.error else ''}。",
                            en=f"{loc.path} {why_en}{f' ({loc.error})' if loc.error else ''}."),
                remediation=Text(ja="バックアップ ジョブの実行結果と保存先を確認してください。", en="Check the backup job's results and its destination."),
            ))
    found = [s for s in _sources(f) if s[1] > 0]
    if found:
        return [*out, ctx.finding(Status.PASS, title=ctx.spec.title,
                                  detail=Text(ja="バックアップを確認しました: " + ", ".join(f"{n}（{c} 世代）" for n, c, *_ in found) + "。",
                                              en="Backups found: " + ", ".join(f"{n} ({c} generations)" for n, c, *_ in found) + "."))]
    if out:
        return out
    wb_ja = "Windows Server Backup のバックアップはなく、" if f.wbadmin_available else "Windows Server Backup は使われておらず、"
    wb_en = "Windows Server Backup holds no backup and " if f.wbadmin_available else "Windows Server Backup is not in use and "
    return [ctx.finding(
        Status.FAIL, title=Text(ja="バックアップが見つからない", en="No backup found"),
        detail=Text(ja=f"{wb_ja}方針にバックアップ保存先の登録もありません。非常時に医療情報を復元する手段が確認できません。",
                    en=f"{wb_en}no backup location is configured: there is no evidence that data could be restored in an emergency."),
        remediation=Text(ja="バックアップを整備し、保存先を登録してください。" + CONFIGURE.ja, en="Set up backups and register their locations. " + CONFIGURE.en),
    )]


@check("windows.backup.generations", clauses=("SO-11-1", "SO-18-1"), needs=(BK,), os=W, severity=Severity.HIGH,  # as on Linux
       title=Text(ja="バックアップの世代数", en="Backup generations"))
def generations(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    srcs = [s for s in _sources(f) if s[1] > 0]
    if not srcs:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title,
                            detail=Text(ja="バックアップが見つからないため判定しません。", en="No backup found to count."))]
    out = []
    for name, count, _newest, expected, offline in srcs:
        need = expected if expected is not None else (1 if offline else ctx.policy.backups.min_generations)
        if count < need:
            out.append(ctx.finding(
                Status.FAIL, subject=name, title=Text(ja="バックアップの世代数が不足", en="Too few backup generations"),
                detail=Text(ja=f"{name} の世代数は {count}（必要 {need}）。", en=f"{name} holds {count} generations ({need} required)."),
                remediation=Text(ja="保持世代数の設定を見直してください。", en="Review the retention setting."),
            ))
    if out:
        return out
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja="世代数は十分です: " + ", ".join(f"{n} {c}" for n, c, *_ in srcs) + "。",
                                    en="Enough generations: " + ", ".join(f"{n} {c}" for n, c, *_ in srcs) + "."))]


@check("windows.backup.freshness", clauses=("SO-12-4", "SO-11-1"), needs=(BK,), os=W, severity=Severity.HIGH,
       title=Text(ja="最新バックアップの鮮度", en="Newest backup is recent"))
def freshness(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    limit = ctx.policy.backups.max_newest_age_days
    now = ctx.now
    srcs = [s for s in _sources(f) if s[1] > 0 and not s[4]]  # offline copies are rotated on their own cycle
    if not srcs:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title,
                            detail=Text(ja="オンラインのバックアップがないため判定しません。", en="No online backup to date."))]
    out = []
    for name, _count, newest, _exp, _off in srcs:
        if newest is None:
            out.append(ctx.finding(Status.ERROR, subject=name, title=ctx.spec.title, severity=Severity.MEDIUM,
                                   detail=Text(ja=f"{name} の最新バックアップの日時を取得できません。", en=f"The newest backup time of {name} is unknown.")))
            continue
        age = (now - newest).total_seconds() / 86400
        if age > limit:
            out.append(ctx.finding(
                Status.FAIL, subject=name, title=Text(ja="最新のバックアップが古い", en="Newest backup is too old"),
                detail=Text(ja=f"{name} の最新バックアップは {newest.date().isoformat()}（{age:.0f} 日前、基準 {limit:g} 日以内）。",
                            en=f"The newest backup in {name} is from {newest.date().isoformat()} ({age:.0f} days ago; policy {limit:g} days)."),
                remediation=Text(ja="バックアップ ジョブが失敗していないか確認してください。", en="Check whether the backup job is failing."),
            ))
    if out:
        return out
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"最新のバックアップは {limit:g} 日以内です。", en=f"The newest backups are within {limit:g} days."))]


@check("windows.backup.offline", clauses=("SO-11-1", "SO-18-1"), needs=(BK,), os=W, severity=Severity.MEDIUM,
       title=Text(ja="不正ソフトウェアの影響が及ばないバックアップ", en="A backup copy out of malware's reach"))
def offline(ctx: CheckContext) -> list[Finding]:
    """Part of the backups must be beyond malware's reach. tenken cannot see a tape in a safe: the site
    registers the offline location (`offline: true`) and tenken checks it holds something when mounted."""
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    off = [loc for loc in f.locations if loc.offline]
    if not off:
        return [ctx.finding(
            Status.WARN, title=Text(ja="オフライン（隔離）バックアップの登録がない", en="No offline backup copy configured"),
            detail=Text(ja="ネットワークから切り離された、または書換え不可の媒体のバックアップが方針に登録されていません。ランサムウェアは到達できるバックアップも暗号化します。",
                        en="No disconnected or write-once backup is registered in the policy; ransomware encrypts every backup it can reach."),
            remediation=Text(ja="オフライン保管先を backups.locations に offline: true で登録し、保管手順を整備してください。",
                             en="Register the offline copy under backups.locations with offline: true, and document how it is kept."),
        )]
    with_data = [loc for loc in off if loc.exists and loc.count > 0]
    if with_data:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="オフライン保管先にバックアップがあります: " + ", ".join(loc.path for loc in with_data) + "。",
                                        en="The offline location holds backups: " + ", ".join(loc.path for loc in with_data) + "."))]
    return [ctx.finding(
        Status.MANUAL, title=ctx.spec.title,
        detail=Text(ja="登録されたオフライン保管先は現在接続されていないか空です（切り離されているのは想定どおりです）。保管状況を台帳で確認してください。",
                    en="The registered offline location is not connected or empty now (being disconnected is expected); confirm its state in the log."),
    )]
