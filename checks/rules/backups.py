"""SO-11-1 / SO-18-1 / SO-12-4: backups — enough generations, a recent newest copy, and a copy out of
malware's reach. The guideline asks for "数世代バックアップを複数の方式で確保し、その一部は不正ソフトウェアの
混入による影響が波及しない手段で管理する" and for backups usable in an emergency; it gives no numbers, so policy
`backups.min_generations` (3, grandfather-father-son) and `backups.max_newest_age_days` (7) are documented
choices, and a location's own `expected_generations` (the site's regulation, SO-12-4) replaces the first.
An `offline: true` location needs one generation unless it says otherwise.

What a generation is differs by OS, not the rule:
- Linux: a non-hidden, non-symlink directory or file at the location (or inside its single container
  directory), a restic snapshot; never lost+found or .snapshot (collectors/linux/backups.py).
- Windows: a Windows Server Backup version (`wbadmin get versions`), a `WindowsImageBackup\\<host>\\Backup …`
  set, or a visible directory or archive file in a configured folder; hidden or system entries, reparse
  points and shell artefacts (desktop.ini, Thumbs.db, *.tmp, *.log …) are never generations
  (collectors/windows/backups.py `count_generations`).

Every outcome has one status and one severity on every OS (tests/test_rules_cross_os.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from tenken.checks.finding import Severity, Status, Text
from tenken.checks.policy import BackupPolicy
from tenken.checks.rules.verdict import Verdict, days

GENERATION_CLAUSES = ("SO-11-1", "SO-18-1")
FRESHNESS_CLAUSES = ("SO-12-4", "SO-11-1")
OFFLINE_CLAUSES = ("SO-11-1", "SO-18-1")
GENERATIONS_TITLE = Text(ja="バックアップの世代数", en="Backup generations")
FRESHNESS_TITLE = Text(ja="最新バックアップの鮮度", en="Newest backup is recent")
OFFLINE_TITLE = Text(ja="不正ソフトウェアの影響が及ばないバックアップ", en="A backup copy out of malware's reach")


def required_generations(expected: int | None, offline: bool, pol: BackupPolicy) -> int:
    """The location's own number, else 1 for an offline copy, else the policy's minimum."""
    if expected is not None:
        return expected
    return 1 if offline else pol.min_generations


def judge_generations(count: int, need: int, *, where: str, names: str = "", extra: Text | None = None) -> Verdict:
    """Fewer generations than required leaves one bad (or encrypted) copy between the data and its loss."""
    listed_ja = f"（{names}）" if names else ""
    listed_en = f" ({names})" if names else ""
    more_ja = extra.ja if extra else ""
    more_en = (" " + extra.en) if extra else ""
    if count < need:
        return Verdict(
            Status.FAIL, Text(ja="バックアップの世代数が不足", en="Too few backup generations"), clauses=GENERATION_CLAUSES,
            severity=Severity.HIGH, subject=where,
            detail=Text(ja=f"{where} には {count} 世代{listed_ja}しかありません。必要な世代数は {need} です。{more_ja}",
                        en=f"{where} holds {count} generation(s){listed_en}; {need} are required.{more_en}"),
            remediation=Text(ja=f"少なくとも {need} 世代を保持するよう、バックアップの保持設定を見直してください。",
                             en=f"Change the backup retention to keep at least {need} generations."))
    return Verdict(
        Status.PASS, GENERATIONS_TITLE, clauses=GENERATION_CLAUSES, subject=where,
        detail=Text(ja=f"{where} に {count} 世代（必要 {need}）{listed_ja}。{more_ja}",
                    en=f"{where} holds {count} generations (required {need}){listed_en}.{more_en}"))


def judge_newest(newest: datetime, now: datetime, pol: BackupPolicy, *, where: str) -> Verdict:
    """A backup that stopped weeks ago is not usable in an emergency (SO-12-4): everything since is lost."""
    age = days(now - newest)
    limit = pol.max_newest_age_days
    when = newest.date().isoformat()
    if age > limit:
        return Verdict(
            Status.FAIL, Text(ja="最新のバックアップが古い", en="Newest backup is too old"), clauses=FRESHNESS_CLAUSES,
            severity=Severity.HIGH, subject=where,
            detail=Text(ja=f"{where} の最新バックアップは {when}（{age:.0f} 日前）で、方針の上限 {limit:g} 日を超えています。",
                        en=f"The newest backup in {where} is from {when} ({age:.0f} days ago), beyond the policy limit of {limit:g} days."),
            remediation=Text(ja="バックアップジョブが止まっていないか（スケジュール・ジョブの実行結果・ログ）確認し、再開してください。",
                             en="Check whether the backup job stopped (its schedule, results and logs) and restart it."))
    return Verdict(
        Status.PASS, FRESHNESS_TITLE, clauses=FRESHNESS_CLAUSES, subject=where,
        detail=Text(ja=f"{where} の最新バックアップは {when}（{age:.1f} 日前、上限 {limit:g} 日）。",
                    en=f"The newest backup in {where} is from {when} ({age:.1f} days ago; limit {limit:g} days)."))


def judged_for_freshness(offline: bool) -> bool:
    """Offline copies are rotated on their own cycle (weekly tapes, a monthly disk): only online ones are dated."""
    return not offline


class OfflineState(StrEnum):
    """Where the copy meant to be out of malware's reach stands at scan time."""

    NOT_CONFIGURED = "not_configured"  # no location is registered as offline
    DISCONNECTED = "disconnected"  # absent / not mounted / not reachable: the expected state of an offline copy
    READ_ONLY = "read_only"  # connected but read-only
    IMMUTABLE = "immutable"  # connected but immutable or append-only
    WRITABLE_SYSTEM_DISK = "writable_system_disk"  # a writable directory on the system disk
    CONNECTED_WRITABLE = "connected_writable"  # mounted / reachable read-write now
    CONNECTED_UNKNOWN = "connected_unknown"  # connected, writability not known from this host


def judge_offline(state: OfflineState, *, where: str | None, facts: Text | None = None) -> Verdict:
    """Part of the backups must be beyond malware's reach; tenken sees where the registered copy stands now.

    `facts`: what the OS saw about the location (mount, attributes, reachability), appended to the detail."""
    f_ja = facts.ja if facts else ""
    f_en = (" " + facts.en) if facts else ""
    if state is OfflineState.NOT_CONFIGURED:
        return Verdict(
            Status.WARN, Text(ja="オフライン（隔離）バックアップの登録がない", en="No offline backup copy configured"),
            clauses=OFFLINE_CLAUSES, severity=Severity.MEDIUM,
            detail=Text(ja=f"{f_ja}ネットワークやホストから切り離した（または書換え不可の）バックアップがどこにあるか、方針に登録されていません。"
                           "このホストからは、ランサムウェアの影響が及ばないコピーの存在を確認できません。",
                        en=f"{f_en.strip()}{' ' if facts else ''}The policy does not say where the copy disconnected from hosts and networks "
                           "(or on non-rewritable media) is kept, so its existence cannot be confirmed from this host."),
            remediation=Text(
                ja="オフライン／追記不能なバックアップの保存先を backups.locations に offline: true として登録してください"
                   "（例: {path: /mnt/offline-nas/emr, offline: true} や {path: '\\\\nas01\\offline-emr', offline: true}）。"
                   "外部媒体やテープで運用する場合は、その手順を記録してください。",
                en="Configure backups.locations with offline: true for the disconnected or immutable copy "
                   "(e.g. {path: /mnt/offline-nas/emr, offline: true} or {path: '\\\\nas01\\offline-emr', offline: true}); "
                   "for tapes or removable media, record the procedure."))
    if state is OfflineState.DISCONNECTED:
        return Verdict(
            Status.PASS, OFFLINE_TITLE, clauses=OFFLINE_CLAUSES, subject=where,
            detail=Text(ja=f"オフライン用の保存先 {where} はスキャン時点で接続されていません{f_ja}。オフラインコピーとして想定どおりの状態です。"
                           "中身はこのスキャンでは確認できないため、復元テストで確認してください。",
                        en=f"The offline location {where} is not connected at scan time{f_en}, as an offline copy should be. "
                           "Its contents cannot be seen by this scan; confirm them in the restore test."))
    if state in (OfflineState.READ_ONLY, OfflineState.IMMUTABLE):
        how_ja = "読取専用" if state is OfflineState.READ_ONLY else "書換え・削除できない（immutable／append-only）"
        how_en = "read-only" if state is OfflineState.READ_ONLY else "immutable or append-only"
        return Verdict(
            Status.PASS, OFFLINE_TITLE, clauses=OFFLINE_CLAUSES, subject=where,
            detail=Text(ja=f"{where} は接続中ですが{how_ja}です。{f_ja}", en=f"{where} is connected but {how_en}.{f_en}"))
    if state is OfflineState.WRITABLE_SYSTEM_DISK:
        return Verdict(
            Status.FAIL, Text(ja="「オフライン」バックアップがシステムディスク上で書込み可能", en="'Offline' backup is a writable directory on the system disk"),
            clauses=OFFLINE_CLAUSES, severity=Severity.HIGH, subject=where,
            detail=Text(ja=f"offline: true とされた {where} は、システムディスク上の書込み可能なディレクトリです。{f_ja}"
                           "このホストに侵入したランサムウェアは、本番データと同時にこのコピーも暗号化・削除できます。",
                        en=f"{where}, configured as offline, is a writable directory on the system disk.{f_en} "
                           "Ransomware on this host can encrypt or delete it together with the live data."),
            remediation=Text(ja="オフラインコピーは、取得後に取り外す媒体・普段はマウントしない別装置・追記不能（WORM／イミュータブル）なストレージに置いてください。",
                             en="Keep the offline copy on media removed after the job, a separate device that is normally unmounted, or WORM/immutable storage."))
    unknown = state is OfflineState.CONNECTED_UNKNOWN
    return Verdict(
        Status.WARN,
        Text(ja="オフライン用保存先が接続中（書込み可否は不明）", en="Offline backup location connected (writability unknown)") if unknown else
        Text(ja="オフライン用保存先が読み書き可能で接続中", en="Offline backup location connected read-write"),
        clauses=OFFLINE_CLAUSES, severity=Severity.MEDIUM, subject=where,
        detail=Text(ja=f"offline: true とされた {where} は現在このホストから接続されています{'（読取専用かどうかは確認できません）' if unknown else '（読み書き可能）'}。{f_ja}"
                       "接続中はこのホストのランサムウェアから到達できます。",
                    en=f"{where}, configured as offline, is connected to this host now"
                       f"{' (whether it is read-only cannot be seen)' if unknown else ' (read-write)'}.{f_en} "
                       "While connected, ransomware on this host can reach it."),
        remediation=Text(ja="バックアップ取得後は切断（アンマウント・媒体の取外し・共有の切断）するか、読取専用・イミュータブルにしてください。",
                         en="Disconnect it (unmount, remove the medium, or drop the share) after each backup, or make it read-only or immutable."))
