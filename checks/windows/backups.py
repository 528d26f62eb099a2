"""Backups seen from a Windows host (SO-11-1, SO-12-4, SO-18-1), judged like the Linux ones: something
exists, enough generations (`backups.min_generations` or a location's `expected_generations`), the newest
is recent (`backups.max_newest_age_days`), and a copy out of malware's reach is registered (`offline: true`).
Sources: Windows Server Backup's catalogue, and `backups.locations` entries that are Windows paths."""

from __future__ import annotations

import re
from datetime import datetime

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules import backups as rules
from tenken.collectors.windows.backups import BackupFacts, LocationState

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
        if loc.offline:
            continue  # out of reach by design: windows.backup.offline reports where it stands
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


@check("windows.backup.generations", clauses=rules.GENERATION_CLAUSES, needs=(BK,), os=W, severity=Severity.HIGH,
       title=rules.GENERATIONS_TITLE)
def generations(ctx: CheckContext) -> list[Finding]:
    """"数世代" (checks/rules/backups.py). A generation here: a wbadmin version, a WindowsImageBackup set, or a
    visible directory/archive in a configured folder — never desktop.ini, Thumbs.db, hidden or system files."""
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    srcs = [s for s in _sources(f) if s[1] > 0]
    if not srcs:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title,
                            detail=Text(ja="判定できるバックアップがありません（windows.backup.found を参照）。",
                                        en="No backup to judge (see windows.backup.found)."))]
    out = []
    for name, count, _newest, expected, off in srcs:
        need = rules.required_generations(expected, off, ctx.policy.backups)
        skipped = _skipped(f, name)
        extra = Text(ja=f"数えなかった項目: {', '.join(skipped[:8])}。", en=f"Not counted: {', '.join(skipped[:8])}.") if skipped else None
        out.append(ctx.verdict(rules.judge_generations(count, need, where=name, names=_names(f, name), extra=extra), subject=name))
    return out


def _loc(f: BackupFacts, name: str) -> LocationState | None:
    return next((loc for loc in f.locations if (loc.label or loc.path) == name), None)


def _names(f: BackupFacts, name: str) -> str:
    loc = _loc(f, name)
    gens = loc.generations if loc else [v.version for v in f.wbadmin_versions]
    return ", ".join(gens[:8]) + (" …" if len(gens) > 8 else "")


def _skipped(f: BackupFacts, name: str) -> list[str]:
    loc = _loc(f, name)
    return loc.skipped if loc else []


@check("windows.backup.freshness", clauses=rules.FRESHNESS_CLAUSES, needs=(BK,), os=W, severity=Severity.HIGH,
       title=rules.FRESHNESS_TITLE)
def freshness(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    srcs = [s for s in _sources(f) if s[1] > 0 and rules.judged_for_freshness(s[4])]
    if not srcs:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title,
                            detail=Text(ja="判定できるバックアップがありません（windows.backup.found を参照）。",
                                        en="No backup to judge (see windows.backup.found)."))]
    out = []
    for name, _count, newest, _exp, _off in srcs:
        if newest is None:
            out.append(ctx.finding(Status.ERROR, subject=name, title=ctx.spec.title, severity=Severity.MEDIUM,
                                   detail=Text(ja=f"{name} の最新バックアップの日時を取得できません。", en=f"The newest backup time of {name} is unknown.")))
            continue
        out.append(ctx.verdict(rules.judge_newest(newest, ctx.now, ctx.policy.backups, where=name), subject=name))
    return out


_SYSTEM_DRIVE = re.compile(r"^[Cc]:[\\/]")


def offline_state(loc: LocationState) -> tuple[rules.OfflineState, Text]:
    """Where a registered offline location stands. Windows cannot tell from here whether a share or disk it
    reaches is read-only to the host, so a reachable one is `connected_unknown`; a folder on C: (the system
    drive) is the system disk."""
    if not loc.exists:
        if loc.unverifiable:
            return rules.OfflineState.DISCONNECTED, Text(ja="（この WinRM セッションからは共有に到達できません）",
                                                          en="(its share does not answer this WinRM session)")
        return rules.OfflineState.DISCONNECTED, Text(ja="（このホストからは見えません）", en="(not visible from this host)")
    if _SYSTEM_DRIVE.match(loc.path):
        return rules.OfflineState.WRITABLE_SYSTEM_DISK, Text(ja=f"{loc.path} はシステム ドライブ（C:）上のフォルダーです。",
                                                             en=f"{loc.path} is a folder on the system drive (C:).")
    return rules.OfflineState.CONNECTED_UNKNOWN, Text(ja=f"{loc.count} 世代が見えています。", en=f"{loc.count} generations are visible.")


@check("windows.backup.offline", clauses=rules.OFFLINE_CLAUSES, needs=(BK,), os=W, severity=Severity.MEDIUM,
       title=rules.OFFLINE_TITLE)
def offline(ctx: CheckContext) -> list[Finding]:
    """Part of the backups must be beyond malware's reach. tenken cannot see a tape in a safe: the site
    registers the offline location (`offline: true`) and tenken reports where it stands at scan time."""
    f = ctx.get(BK, BackupFacts)
    if (u := f.missing("locations")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    off = [loc for loc in f.locations if loc.offline]
    if not off:
        return [ctx.verdict(rules.judge_offline(rules.OfflineState.NOT_CONFIGURED, where=None))]
    out = []
    for loc in off:
        state, seen = offline_state(loc)
        out.append(ctx.verdict(rules.judge_offline(state, where=loc.path, facts=seen), subject=loc.path))
    return out
