"""Backups (SO-11-1, SO-12-4, SO-18-1): found, enough generations, fresh, a copy out of reach, restorable.

SO-11-1 and SO-18-1 ask for "数世代バックアップを複数の方式で確保し、その一部は不正ソフトウェアの混入による
影響が波及しない手段で管理する" — several generations by several methods, part of them beyond malware's
reach (append-only or write-once media, copies disconnected from hosts and networks). SO-12-4 asks that
backups follow the site's regulations and stay usable in an emergency. Generation count and age are the
site's numbers (policy `backups`); the guideline gives none.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules import backups as rules
from tenken.collectors.linux.backups import BackupFacts, BackupLocationFacts, Generation

BACKUPS = "linux.backups"
CLAUSES = ("SO-11-1", "SO-12-4", "SO-18-1")


def _has_data(loc: BackupLocationFacts) -> bool:
    return loc.state == "present" and (bool(loc.count) or (loc.layout == "borg" and loc.newest is not None))


def _taken(g: Generation, now: datetime) -> datetime:
    """When a generation was written: its mtime, or the date in its name when later (rsync -a keeps old mtimes)."""
    t = g.mtime
    if g.name_date is not None:
        named = datetime.combine(g.name_date, time(0), UTC)
        if t < named <= now:
            t = named
    return t


def _newest(loc: BackupLocationFacts, now: datetime) -> datetime | None:
    times = [_taken(g, now) for g in loc.generations]
    if loc.newest is not None:
        times.append(loc.newest)
    return max(times) if times else None


def _required(ctx: CheckContext, loc: BackupLocationFacts) -> int:
    if loc.expected_generations is not None:
        return loc.expected_generations
    return 1 if loc.offline_expected else ctx.policy.backups.min_generations


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024:
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} TiB"


def _where(loc: BackupLocationFacts) -> str:
    return loc.container or loc.path


def _searched(facts: BackupFacts) -> str:
    return ", ".join(loc.path for loc in facts.locations)


CONFIGURE = Text(
    ja="バックアップの保存先を方針ファイルの backups.locations に登録してください（例: {path: /srv/backup/emr, expected_generations: 7}）。",
    en="Register the backup locations in the policy file under backups.locations (e.g. {path: /srv/backup/emr, expected_generations: 7}).",
)


@check(
    "linux.backup.found",
    clauses=CLAUSES,
    needs=(BACKUPS,),
    severity=Severity.HIGH,
    title=Text(ja="バックアップの存在", en="Backups exist"),
)
def backup_found(ctx: CheckContext) -> list[Finding]:
    """No backup at all fails SO-11-1/SO-12-4/SO-18-1 outright; every configured (online) location must hold one."""
    facts = ctx.get(BACKUPS, BackupFacts)
    out: list[Finding] = []
    online = [loc for loc in facts.locations if not loc.offline_expected]
    for loc in online:
        if loc.state == "unreadable":
            out.append(ctx.finding(
                Status.ERROR, subject=loc.path, severity=Severity.MEDIUM,
                title=Text(ja="バックアップ保存先を読めない", en="Backup location could not be read"),
                detail=Text(ja=f"{loc.path} の一覧を取得できませんでした（{loc.detail}）。",
                            en=f"Could not list {loc.path} ({loc.detail})."),
                remediation=Text(ja="root 権限で再実行してください。", en="Re-run with root privileges."),
            ))
    if not facts.locations_configured:
        found = [loc for loc in online if _has_data(loc)]
        if found:
            return [*out, ctx.finding(
                Status.PASS,
                title=ctx.spec.title,
                detail=Text(
                    ja="既定の場所でバックアップを検出しました: " + ", ".join(f"{_where(x)}（{x.count if x.count is not None else '?'} 世代）" for x in found)
                       + "。保存先が方針に登録されていないため、他のバックアップの有無は確認していません。",
                    en="Backups found in default locations: " + ", ".join(f"{_where(x)} ({x.count if x.count is not None else '?'} generations)" for x in found)
                       + ". No location is configured in the policy, so other backups were not looked for."),
            )]
        if any(loc.state == "unreadable" for loc in online):
            return out
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja="バックアップが見つからない", en="No backup found"),
            detail=Text(
                ja=f"方針にバックアップ保存先の登録がなく、既定の場所（{_searched(facts)}）にもバックアップがありません。"
                   "非常時に医療情報を復元する手段が確認できません。",
                en=f"No backup location is configured and none of the default locations ({_searched(facts)}) holds a backup. "
                   "There is no evidence that medical information could be restored in an emergency."),
            remediation=Text(
                ja="バックアップを取得する仕組みを整備し、保存先を backups.locations に登録してください。" + CONFIGURE.ja,
                en="Set up backups and register their locations under backups.locations. " + CONFIGURE.en),
        )]
    for loc in online:
        if loc.state == "unreadable":
            continue
        if _has_data(loc):
            out.append(ctx.finding(
                Status.PASS, subject=loc.path, title=ctx.spec.title,
                detail=Text(ja=f"{_where(loc)} にバックアップがあります（{loc.count if loc.count is not None else '?'} 世代、形式 {loc.layout}）。",
                            en=f"{_where(loc)} holds backups ({loc.count if loc.count is not None else '?'} generations, layout {loc.layout})."),
            ))
            continue
        why_ja = {"absent": "存在しません", "not_mounted": "マウントされていません", "present": "空です"}.get(loc.state, loc.state)
        why_en = {"absent": "does not exist", "not_mounted": "is not mounted", "present": "is empty"}.get(loc.state, loc.state)
        out.append(ctx.finding(
            Status.FAIL, subject=loc.path,
            title=Text(ja="登録されたバックアップ保存先にバックアップがない", en="Configured backup location holds no backup"),
            detail=Text(ja=f"方針に登録された保存先 {loc.path} は{why_ja}。", en=f"The configured location {loc.path} {why_en}."),
            remediation=Text(ja="バックアップジョブの実行結果と保存先の設定を確認してください。",
                             en="Check the backup job's results and the location's configuration."),
        ))
    if not online:
        out.append(ctx.finding(
            Status.WARN,
            title=Text(ja="オンラインのバックアップ保存先が登録されていない", en="No online backup location configured"),
            detail=Text(ja="登録された保存先はすべてオフライン用です。このホストで取得される世代を確認できません。",
                        en="Every configured location is an offline copy; the generations taken on this host cannot be checked."),
            remediation=CONFIGURE,
        ))
    return out


def _no_data_na(ctx: CheckContext) -> Finding:
    return ctx.finding(
        Status.NOT_APPLICABLE, title=ctx.spec.title,
        detail=Text(ja="判定できるバックアップがありません（linux.backup.found を参照）。",
                    en="No backup to judge (see linux.backup.found)."),
    )


@check(
    "linux.backup.generations",
    clauses=rules.GENERATION_CLAUSES,
    needs=(BACKUPS,),
    severity=Severity.HIGH,
    title=rules.GENERATIONS_TITLE,
)
def backup_generations(ctx: CheckContext) -> list[Finding]:
    """"数世代" (checks/rules/backups.py). A generation here: a non-hidden, non-symlink entry or a restic snapshot."""
    facts = ctx.get(BACKUPS, BackupFacts)
    locs = [loc for loc in facts.locations if _has_data(loc)]
    if not locs:
        return [_no_data_na(ctx)]
    out = []
    for loc in locs:
        need = rules.required_generations(loc.expected_generations, loc.offline_expected, ctx.policy.backups)
        names = ", ".join(g.name for g in loc.generations[:8]) + (" …" if len(loc.generations) > 8 else "")
        if loc.count is None:
            out.append(ctx.finding(
                Status.WARN, subject=loc.path,
                title=Text(ja="世代数を確認できない（borg リポジトリ）", en="Generations not countable (borg repository)"),
                detail=Text(ja=f"{loc.path} は borg リポジトリで、アーカイブ一覧は暗号化されています。最終書込み {loc.newest}。",
                            en=f"{loc.path} is a borg repository whose archive list is encrypted. Last write {loc.newest}."),
                remediation=Text(ja=f"borg list {loc.path} で世代数が {need} 以上あることを確認し、記録してください。",
                                 en=f"Confirm with `borg list {loc.path}` that at least {need} archives exist, and record it."),
            ))
            continue
        total = Text(ja=f"合計 {_size(loc.total_size)}。", en=f"Total {_size(loc.total_size)}.")
        out.append(ctx.verdict(rules.judge_generations(loc.count, need, where=_where(loc), names=names, extra=total), subject=loc.path))
    return out


@check(
    "linux.backup.freshness",
    clauses=rules.FRESHNESS_CLAUSES,
    needs=(BACKUPS,),
    severity=Severity.HIGH,
    title=rules.FRESHNESS_TITLE,
)
def backup_freshness(ctx: CheckContext) -> list[Finding]:
    """The newest online copy against `backups.max_newest_age_days` (checks/rules/backups.py)."""
    facts = ctx.get(BACKUPS, BackupFacts)
    locs = [loc for loc in facts.locations if _has_data(loc) and rules.judged_for_freshness(loc.offline_expected)]
    if not locs:
        return [_no_data_na(ctx)]
    out = []
    for loc in locs:
        newest = _newest(loc, ctx.now)
        if newest is None:
            out.append(ctx.finding(
                Status.ERROR, subject=loc.path, severity=Severity.MEDIUM, title=ctx.spec.title,
                detail=Text(ja=f"{loc.path} の最新バックアップの日時を取得できませんでした。",
                            en=f"The time of the newest backup in {loc.path} could not be determined."),
            ))
            continue
        out.append(ctx.verdict(rules.judge_newest(newest, ctx.now, ctx.policy.backups, where=_where(loc)), subject=loc.path))
    return out


def _reach_text(loc: BackupLocationFacts) -> tuple[str, str]:
    m = loc.mount
    if m is None:
        return "マウント情報なし", "no mount information"
    bits_ja = [f"{m.mount_point}（{m.fstype}、{'読取専用' if m.read_only else '読み書き可'}"]
    bits_en = [f"{m.mount_point} ({m.fstype}, {'read-only' if m.read_only else 'read-write'}"]
    if m.network:
        bits_ja.append("、ネットワーク共有")
        bits_en.append(", network share")
    if loc.same_device_as_root is True:
        bits_ja.append("、システムディスクと同じデバイス")
        bits_en.append(", same device as /")
    elif loc.same_device_as_root is False:
        bits_ja.append("、/ とは別デバイス")
        bits_en.append(", separate device from /")
    bits_ja.append(f"、{loc.mount_table} による）")
    bits_en.append(f", per {loc.mount_table})")
    return "".join(bits_ja), "".join(bits_en)


def offline_state(loc: BackupLocationFacts) -> tuple[rules.OfflineState, Text] | None:
    """Where a registered offline location stands, with what was seen; None when it could not be read."""
    rj, re_ = _reach_text(loc)
    if loc.state in ("absent", "not_mounted"):
        noauto = loc.fstab_entry is not None and loc.fstab_entry.noauto
        how_ja = "マウントされていません（fstab の noauto）" if noauto else (
            "マウントされていません" if loc.state == "not_mounted" else "このホストからは見えません")
        how_en = "not mounted (noauto in fstab)" if noauto else ("not mounted" if loc.state == "not_mounted" else "not visible from this host")
        return rules.OfflineState.DISCONNECTED, Text(ja=f"（{how_ja}）", en=f"({how_en})")
    if loc.state == "unreadable":
        return None
    m = loc.mount
    seen = Text(ja=f"{rj}。", en=f"{re_}.")
    if loc.immutable or loc.append_only:
        attr = "immutable (i)" if loc.immutable else "append-only (a)"
        return rules.OfflineState.IMMUTABLE, Text(ja=f"{attr} 属性。{seen.ja}", en=f"Attribute {attr}. {seen.en}")
    if m is None:
        return rules.OfflineState.CONNECTED_UNKNOWN, Text(ja="マウント情報を取得できませんでした。", en="No mount table could be read.")
    if m.read_only:
        return rules.OfflineState.READ_ONLY, seen
    if loc.same_device_as_root and m.mount_point == "/":
        return rules.OfflineState.WRITABLE_SYSTEM_DISK, seen
    if loc.fstab_entry is not None and loc.fstab_entry.noauto:
        seen = Text(ja=seen.ja + "fstab では noauto ですが、マウントされたままです。", en=seen.en + " fstab marks it noauto, yet it is mounted.")
    return rules.OfflineState.CONNECTED_WRITABLE, seen


@check(
    "linux.backup.offline",
    clauses=rules.OFFLINE_CLAUSES,
    needs=(BACKUPS,),
    severity=Severity.MEDIUM,
    title=rules.OFFLINE_TITLE,
)
def backup_offline(ctx: CheckContext) -> list[Finding]:
    """"その一部は不正ソフトウェアの混入による影響が波及しない手段で管理": the copy ransomware on this host cannot touch.

    An offline copy is expected to be absent or unmounted at scan time; when it is mounted, it is out of reach
    only if read-only or immutable/append-only. A read-write directory on the system disk is not out of reach.
    """
    facts = ctx.get(BACKUPS, BackupFacts)
    offline = [loc for loc in facts.locations if loc.offline_expected]
    if not offline:
        seen_ja, seen_en = [], []
        for loc in facts.locations:
            if _has_data(loc):
                rj, re_ = _reach_text(loc)
                seen_ja.append(f"{loc.path}: {rj}")
                seen_en.append(f"{loc.path}: {re_}")
        seen = Text(ja="検出した保存先: " + "; ".join(seen_ja) + "。", en="Locations seen: " + "; ".join(seen_en) + ".") if seen_ja else None
        return [ctx.verdict(rules.judge_offline(rules.OfflineState.NOT_CONFIGURED, where=None, facts=seen))]
    out = []
    for loc in offline:
        st = offline_state(loc)
        if st is None:
            out.append(ctx.finding(
                Status.ERROR, subject=loc.path, severity=Severity.MEDIUM, title=ctx.spec.title,
                detail=Text(ja=f"{loc.path} を読めませんでした（{loc.detail}）。", en=f"Could not read {loc.path} ({loc.detail})."),
                remediation=Text(ja="root 権限で再実行してください。", en="Re-run with root privileges."),
            ))
            continue
        out.append(ctx.verdict(rules.judge_offline(st[0], where=loc.path, facts=st[1]), subject=loc.path))
    return out


@check(
    "linux.backup.restore",
    clauses=("SO-12-4",),
    needs=(BACKUPS,),
    severity=Severity.INFO,
    kind=FindingKind.PROMPT,
    title=Text(ja="バックアップからの復元手順と復元テスト", en="Restore procedure and restore test"),
)
def backup_restore(ctx: CheckContext) -> list[Finding]:
    """Whether a backup restores is known only by restoring it: tenken supplies what it saw, a person confirms.

    Only SO-12-4 is claimed: SO-11-1 and SO-18-1 keep their full catalogue questions (emergency accounts,
    network isolation ...), which a backup prompt must not silence.
    """
    facts = ctx.get(BACKUPS, BackupFacts)
    seen_ja, seen_en = [], []
    for loc in facts.locations:
        if _has_data(loc):
            newest = loc.generations[0].name if loc.generations else str(loc.newest)
            seen_ja.append(f"{_where(loc)}（{loc.count if loc.count is not None else '?'} 世代、最新 {newest}）")
            seen_en.append(f"{_where(loc)} ({loc.count if loc.count is not None else '?'} generations, newest {newest})")
        elif loc.offline_expected:
            seen_ja.append(f"{loc.path}（オフライン、状態 {loc.state}）")
            seen_en.append(f"{loc.path} (offline, state {loc.state})")
    tools = ", ".join(sorted({f"{t.kind}:{t.path}" for t in facts.tools})) or None
    return [ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT, title=ctx.spec.title,
        detail=Text(
            ja=f"検出したバックアップ: {'; '.join(seen_ja) or 'なし'}。バックアップ関連の設定・ジョブ: {tools or 'なし'}。"
               "重要なファイルの復元手順が文書化され、直近に実際の復元テストを行ったこと（実施日と結果）を確認してください。",
            en=f"Backups seen: {'; '.join(seen_en) or 'none'}. Backup configuration and jobs: {tools or 'none'}. "
               "Confirm that a restore procedure for important files is documented and that a real restore test was "
               "done recently (date and result)."),
        remediation=Text(ja="復元テストを定期的に実施し、実施日・対象・結果を記録してください。",
                         en="Run restore tests regularly and record the date, what was restored and the result."),
    )]
