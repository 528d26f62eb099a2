"""Access logs (SO-17-1 recorded and kept; SO-17-2 access-restricted and protected from tampering).

SO-17-1: "利用者のアクセスについて、アクセスログを記録する" — at least login time and access time. On Linux
that record is the auth log (auth.log / secure, written by rsyslog or syslog-ng), the persistent journal,
wtmp/btmp, and — where required — auditd. SO-17-2: "アクセスログへのアクセス制限を行い、不当な削除／改ざん
／追加等を防止する" — modes and owners of those files, and a copy an intruder on this host cannot rewrite
(remote forwarding, immutable audit rules, append-only files).
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules import logs as rules
from tenken.collectors.linux.logs import AUTH_LOGS, LogFile, LogsFacts, Rotation

LOGS = "linux.logs"

IDENTITY_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/sudoers")
LOGIN_FILES = ("/var/log/lastlog", "/var/log/wtmp", "/var/log/btmp", "/var/run/faillock", "/run/faillock",
               "/var/log/faillog", "/var/log/tallylog", "/var/run/utmp", "/run/utmp")


def _auth_files(facts: LogsFacts) -> list[LogFile]:
    return [f for f in facts.files if f.path in AUTH_LOGS]


def _kept_on_disk(f: LogsFacts) -> list[LogFile]:
    """Auth log files on disk that a syslog daemon writes (or may: offline root) and logrotate rotates."""
    writer = bool(f.syslog.running) if f.processes_known else bool(f.syslog.daemons)
    return [x for x in _auth_files(f) if writer and x.path in f.rotation]


@check(
    "linux.logs.access_recorded",
    clauses=("SO-17-1",),
    needs=(LOGS,),
    severity=Severity.HIGH,
    title=Text(ja="ログイン等のアクセスログの記録", en="Logins and access are recorded"),
)
def access_recorded(ctx: CheckContext) -> list[Finding]:
    """SO-17-1 needs a lasting record of who logged in and when: an auth log, a persistent journal, or auditd."""
    f = ctx.get(LOGS, LogsFacts)
    sources_ja: list[str] = []
    sources_en: list[str] = []
    auth = _auth_files(f)
    # a file nobody writes any more records nothing: with the process list known, a syslog daemon must run
    writer = not f.processes_known or bool(f.syslog.running)
    if auth and writer:
        sources_ja.append("認証ログ " + ", ".join(x.path for x in auth))
        sources_en.append("auth log " + ", ".join(x.path for x in auth))
    if f.journald.installed and f.journald.persistent and f.journald.running is not False:
        sources_ja.append("永続化されたジャーナル（/var/log/journal）")
        sources_en.append("persistent journal (/var/log/journal)")
    if f.auditd.installed and (f.auditd.running or (f.auditd.running is None and f.auditd.enabled)):
        sources_ja.append("auditd")
        sources_en.append("auditd")
    wtmp = any(x.path == "/var/log/wtmp" for x in f.files)
    if sources_ja:
        return [ctx.finding(
            Status.PASS, title=ctx.spec.title,
            detail=Text(ja="ログインの記録先: " + "、".join(sources_ja) + f"。wtmp: {'あり' if wtmp else 'なし'}。",
                        en="Logins are recorded in: " + ", ".join(sources_en) + f". wtmp: {'present' if wtmp else 'absent'}."),
        )]
    volatile = f.journald.installed and f.journald.persistent is False
    stale_ja = "認証ログはあるが書き込む syslog デーモンが動作しておらず、" if auth else "認証ログ（/var/log/auth.log・/var/log/secure）がなく、"
    stale_en = "auth log files exist but no syslog daemon is running to write them, " if auth else "There is no auth log (/var/log/auth.log, /var/log/secure), "
    if f.journald.installed and f.journald.running is False and f.journald.persistent:
        volatile_ja, volatile_en = "systemd-journald は動作しておらず、", "systemd-journald is not running, "
    elif volatile:
        volatile_ja, volatile_en = "ジャーナルはメモリ上のみ（再起動で消失）で、", "the journal is kept in memory only (lost at reboot), "
    else:
        volatile_ja, volatile_en = "永続化されたジャーナルもなく、", "no persistent journal, "
    return [ctx.finding(
        Status.FAIL,
        title=Text(ja="ログインの記録が残らない", en="No lasting record of logins"),
        detail=Text(
            ja=stale_ja
               + volatile_ja
               + "auditd も動作していません。利用者のログイン時刻・アクセス時間を後から確認できません。",
            en=stale_en[0].upper() + stale_en[1:]
               + volatile_en
               + "and auditd is not running: users' login and access times cannot be reviewed later."),
        remediation=Text(
            ja="rsyslog を導入して auth,authpriv.* をファイルに記録するか、journald を Storage=persistent にしてください。",
            en="Install rsyslog and log auth,authpriv.* to a file, or set Storage=persistent in journald.conf."),
    )]


@check(
    "linux.logs.journal_persistent",
    clauses=("SO-17-1",),
    needs=(LOGS,),
    severity=Severity.MEDIUM,
    title=Text(ja="ジャーナルの永続化", en="Journal kept across reboots"),
)
def journal_persistent(ctx: CheckContext) -> list[Finding]:
    """A volatile journal loses every login record at reboot — exactly when an incident needs them."""
    f = ctx.get(LOGS, LogsFacts)
    j = f.journald
    if not j.installed:
        if (u := f.missing("journald_conf")) is not None and not f.files:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(
            Status.NOT_APPLICABLE, title=ctx.spec.title,
            detail=Text(ja="systemd-journald が導入されていません（syslog のみの構成）。",
                        en="systemd-journald is not installed (syslog-only system)."),
        )]
    if j.persistent:
        how_ja = "Storage=persistent" if j.storage == "persistent" else "Storage=auto で /var/log/journal が存在"
        how_en = "Storage=persistent" if j.storage == "persistent" else "Storage=auto with /var/log/journal present"
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"ジャーナルはディスクに保存されます（{how_ja}）。", en=f"The journal is stored on disk ({how_en})."))]
    required = ctx.policy.logging.require_persistent_journal
    kept = _kept_on_disk(f)
    if kept:
        return [ctx.finding(
            Status.PASS, title=ctx.spec.title,
            detail=Text(ja=f"ジャーナルはメモリ上のみ（Storage={j.storage}）ですが、ログインの記録は認証ログ "
                           + "、".join(f"{x.path}（logrotate {f.rotation[x.path].source}）" for x in kept)
                           + " としてディスクに保存され、ローテートされています。SO-17-1 の記録はこちらで満たされます。",
                        en=f"The journal is volatile (Storage={j.storage}), but login records are kept on disk in "
                           + ", ".join(f"{x.path} (logrotate {f.rotation[x.path].source})" for x in kept)
                           + ", with rotation: SO-17-1's record is met there."),
        )]
    files = ", ".join(x.path for x in _auth_files(f))
    why_ja = f"Storage={j.storage}" + ("（/var/log/journal がない）" if j.storage == "auto" else "")
    why_en = f"Storage={j.storage}" + (" and /var/log/journal does not exist" if j.storage == "auto" else "")
    return [ctx.finding(
        Status.FAIL if required else Status.WARN,
        title=Text(ja="ジャーナルがメモリ上のみ（再起動で消失）", en="Journal is volatile (lost at reboot)"),
        detail=Text(ja=f"{why_ja} のため、ジャーナルは再起動で失われます。" + (f"認証ログファイル（{files}）は別にあります。" if files else ""),
                    en=f"With {why_en}, the journal is lost at every reboot." + (f" Auth log files ({files}) exist separately." if files else "")),
        remediation=Text(ja="/etc/systemd/journald.conf.d/ に Storage=persistent を設定し、systemctl restart systemd-journald を実行してください。",
                         en="Set Storage=persistent in /etc/systemd/journald.conf.d/ and restart systemd-journald."),
    )]


def _rule_text(r: Rotation) -> str:
    bits = [f"rotate {r.rotate} × {r.period}" if r.period else f"rotate {r.rotate}"]
    if r.maxage:
        bits.append(f"maxage {r.maxage}")
    if r.size_mode != "time":
        bits.append(r.size_mode)
    return ", ".join([*bits, r.source])


def _fix(need: int, source: str | None) -> Text:
    where_ja = f"{source} の" if source else "logrotate の"
    where_en = f" in {source}" if source else ""
    return Text(ja=f"{where_ja} rotate と周期で {need} 日以上を確保する（例: weekly なら rotate {-(-need // 7) - 1}）か、ログサーバへ転送して長期保存してください。",
                en=f"Keep at least {need} days with rotate × period{where_en} (e.g. weekly with rotate {-(-need // 7) - 1}: "
                   "the current file plus the rotated ones), or forward to a log server that keeps them.")


def rotation_retention(r: Rotation | None) -> tuple[rules.Retention, float | None, str]:
    """logrotate's rule for one file as the shared rule's input (checks/rules/logs.py says how days are counted)."""
    if r is None:
        return rules.Retention.UNDEFINED, None, "no logrotate rule covers it"
    if r.unlimited:
        return rules.Retention.UNLIMITED, None, _rule_text(r)
    if r.retention_days is None:
        return rules.Retention.VOLUME, None, _rule_text(r)
    return rules.Retention.DAYS, r.retention_days, _rule_text(r)


@check(
    "linux.logs.retention",
    clauses=rules.CLAUSES,
    needs=(LOGS,),
    severity=Severity.MEDIUM,
    title=rules.TITLE,
)
def retention(ctx: CheckContext) -> list[Finding]:
    """Logs must survive long enough to be reviewed (定期的にログを確認): logrotate or journald against the policy."""
    f = ctx.get(LOGS, LogsFacts)
    pol = ctx.policy.logging
    need = pol.min_retention_days
    out: list[Finding] = []
    auth = _auth_files(f)
    for lf in auth:
        r = f.rotation.get(lf.path)
        if r is None and not f.logrotate_present and (u := f.missing("logrotate")) is not None and u.reason.value != "absent":
            out.append(ctx.unavailable(u, title=ctx.spec.title, subject=lf.path))
            continue
        kind, days, rule = rotation_retention(r)
        out.append(ctx.verdict(rules.judge_retention(kind, days, pol, where=lf.path, rule=rule, fix=_fix(need, r.source if r else None)),
                               subject=lf.path))
    if not auth and f.journald.installed and f.journald.persistent:
        secs = f.journald.max_retention_seconds
        fix = Text(ja=f"SystemMaxUse を十分に確保して MaxRetentionSec={need}d 以上を設定するか、rsyslog でファイルに保存してください。",
                   en=f"Give SystemMaxUse enough room and set MaxRetentionSec={need}d or more, or keep auth logs in files via rsyslog.")
        if not secs:
            v = rules.judge_retention(rules.Retention.VOLUME, None, pol, where="journal", fix=fix,
                                      rule=f"no MaxRetentionSec; SystemMaxUse={f.journald.system_max_use or 'default'}")
        else:
            v = rules.judge_retention(rules.Retention.DAYS, round(secs / 86400, 1), pol, where="journal", fix=fix, rule="MaxRetentionSec")
        out.append(ctx.verdict(v, subject="journal"))
    if not out:
        out.append(ctx.finding(
            Status.NOT_APPLICABLE, title=ctx.spec.title,
            detail=Text(ja="保存期間を判定できるアクセスログがありません（linux.logs.access_recorded を参照）。",
                        en="No access log whose retention could be judged (see linux.logs.access_recorded)."),
        ))
    return out


@check(
    "linux.logs.auditd",
    clauses=("SO-17-1", "SO-17-2"),
    needs=(LOGS,),
    severity=Severity.MEDIUM,
    title=Text(ja="auditd による監査記録", en="auditd audit trail"),
)
def auditd(ctx: CheckContext) -> list[Finding]:
    """auditd records changes to identity files and login records at kernel level, beyond what syslog sees."""
    f = ctx.get(LOGS, LogsFacts)
    a = f.auditd
    required = ctx.policy.logging.require_auditd
    missing = Status.FAIL if required else Status.WARN
    if not a.installed:
        if not required:
            return [ctx.finding(
                Status.NOT_APPLICABLE, title=ctx.spec.title,
                detail=Text(ja="auditd は導入されていません（方針 logging.require_auditd=false のため必須ではありません）。",
                            en="auditd is not installed (not required: policy logging.require_auditd is false)."),
            )]
        return [ctx.finding(
            Status.FAIL, title=Text(ja="auditd が導入されていない", en="auditd not installed"),
            detail=Text(ja="方針で auditd が必須とされていますが、導入されていません。", en="The policy requires auditd, but it is not installed."),
            remediation=Text(ja="auditd（Debian: auditd、RHEL: audit）を導入し、有効化してください。",
                             en="Install and enable auditd (Debian: auditd, RHEL: audit)."),
        )]
    active = a.running if a.running is not None else a.enabled
    if not active:
        how_ja = "動作していません" if a.running is False else "起動時に有効化されていません"
        how_en = "is not running" if a.running is False else "is not enabled at boot"
        return [ctx.finding(
            missing, title=Text(ja="auditd が動作していない", en="auditd not running"),
            detail=Text(ja=f"auditd は導入されていますが{how_ja}。", en=f"auditd is installed but {how_en}."),
            remediation=Text(ja="systemctl enable --now auditd を実行してください。", en="Run systemctl enable --now auditd."),
        )]
    watched = set(a.rules.watched)
    ident = [p for p in IDENTITY_FILES if p in watched or (p == "/etc/sudoers" and "/etc/sudoers.d" in watched)]
    logins = [p for p in LOGIN_FILES if p in watched]
    state_ja = "動作中" if a.running else "起動時に有効（オフライン判定）"
    state_en = "running" if a.running else "enabled at boot (offline root)"
    if not ident or not logins:
        lacking = [x for x in ("/etc/passwd", "/etc/shadow", "/etc/sudoers") if x not in ident]
        if not logins:
            lacking.append("/var/log/lastlog, /var/run/faillock")
        return [ctx.finding(
            missing, title=Text(ja="監査ルールが不足", en="Audit rules incomplete"),
            detail=Text(ja=f"auditd は{state_ja}ですが、次の監視ルールがありません: {', '.join(lacking)}（ルール {len(a.rules.rules)} 行）。",
                        en=f"auditd is {state_en} but has no watch on: {', '.join(lacking)} ({len(a.rules.rules)} rule lines)."),
            remediation=Text(ja="/etc/audit/rules.d/ に -w /etc/passwd -p wa -k identity、-w /var/log/lastlog -p wa -k logins 等を追加し、augenrules --load を実行してください。",
                             en="Add e.g. -w /etc/passwd -p wa -k identity and -w /var/log/lastlog -p wa -k logins under /etc/audit/rules.d/, then augenrules --load."),
        )]
    c = a.config
    size_ja = size_en = ""
    if "max_log_file" in c and "num_logs" in c:
        action = c.get("max_log_file_action", "ROTATE").upper()
        size_ja = f"監査ログは {c['max_log_file']} MB × {c['num_logs']} 個（{action}"
        size_en = f" Audit log: {c['max_log_file']} MB × {c['num_logs']} files ({action}"
        if action == "ROTATE":
            size_ja += "、古いものから上書き）。保存期間は件数次第のため、長期保存は転送で確保してください。"
            size_en += ", oldest overwritten); how long that lasts depends on volume, so keep long-term copies elsewhere."
        else:
            size_ja += "）。"
            size_en += ")."
    return [ctx.finding(
        Status.PASS, title=ctx.spec.title,
        detail=Text(ja=f"auditd は{state_ja}で、{', '.join(ident)} と {', '.join(logins)} を監視しています"
                       + ("。ルールは変更不可（-e 2）です。" if a.rules.immutable else "。") + size_ja,
                    en=f"auditd is {state_en} and watches {', '.join(ident)} and {', '.join(logins)}"
                       + (". Rules are immutable (-e 2)." if a.rules.immutable else ".") + size_en),
    )]


def _limit(ctx: CheckContext, path: str) -> int:
    pol = ctx.policy.logging
    if path == "/var/log/btmp":
        # failed-login names often hold a password typed into the user field: never world-readable
        return pol.login_records_max_mode & ~0o007
    if path in ("/var/log/wtmp", "/var/log/lastlog"):
        return pol.login_records_max_mode
    return pol.max_log_file_mode


@check(
    "linux.logs.permissions",
    clauses=("SO-17-2",),
    needs=(LOGS,),
    severity=Severity.HIGH,
    title=Text(ja="ログファイルのアクセス制限", en="Log files access-restricted"),
)
def permissions(ctx: CheckContext) -> list[Finding]:
    """"アクセスログへのアクセス制限": no log readable by everyone, writable by anyone but its writer, or owned by a user."""
    f = ctx.get(LOGS, LogsFacts)
    out: list[Finding] = []
    ok: list[str] = []
    for lf in f.files:
        limit = _limit(ctx, lf.path)
        extra = lf.mode & ~limit
        owner = lf.owner or str(lf.uid)
        group = lf.group or str(lf.gid)
        problems_ja, problems_en = [], []
        if lf.mode & 0o002:
            problems_ja.append("誰でも書き込めます")
            problems_en.append("anyone can write to it")
        if lf.mode & 0o004 and extra & 0o004:
            problems_ja.append("誰でも読めます")
            problems_en.append("anyone can read it")
        if extra & ~0o006:
            problems_ja.append(f"方針の上限 {limit:04o} を超える権限があります")
            problems_en.append(f"it has permissions beyond the policy limit {limit:04o}")
        if lf.uid >= 1000 and lf.uid != 65534:
            problems_ja.append(f"一般ユーザー {owner} の所有です")
            problems_en.append(f"it is owned by the ordinary user {owner}")
        if problems_ja:
            out.append(ctx.finding(
                Status.FAIL, subject=lf.path,
                title=Text(ja="ログファイルのアクセス制限が不十分", en="Log file not access-restricted"),
                detail=Text(ja=f"{lf.path}（{lf.mode:04o} {owner}:{group}）: " + "、".join(problems_ja) + "。",
                            en=f"{lf.path} ({lf.mode:04o} {owner}:{group}): " + "; ".join(problems_en) + "."),
                remediation=Text(ja=f"chmod {limit & 0o640:04o} {lf.path}; chown root {lf.path} を実行し、logrotate の create 指定も同じ権限にしてください。",
                                 en=f"chmod {limit & 0o640:04o} {lf.path}; chown root {lf.path}, and make logrotate's `create` use the same mode."),
            ))
        else:
            ok.append(f"{lf.path} {lf.mode:04o} {owner}:{group}")
    if ok and not out:
        out.append(ctx.finding(
            Status.PASS, title=ctx.spec.title,
            detail=Text(ja="ログファイルは適切に制限されています: " + "; ".join(ok), en="Log files are restricted: " + "; ".join(ok)),
        ))
    if not f.files:
        out.append(ctx.finding(
            Status.NOT_APPLICABLE, title=ctx.spec.title,
            detail=Text(ja="確認対象のログファイル（auth.log・secure・syslog・messages・audit.log・wtmp・btmp・lastlog）が存在しません。",
                        en="None of the log files checked (auth.log, secure, syslog, messages, audit.log, wtmp, btmp, lastlog) exists."),
        ))
    return out


@check(
    "linux.logs.tamper_protection",
    clauses=("SO-17-2",),
    needs=(LOGS,),
    severity=Severity.MEDIUM,
    title=Text(ja="ログの改ざん・削除対策", en="Logs protected against deletion and tampering"),
)
def tamper_protection(ctx: CheckContext) -> list[Finding]:
    """Permissions stop users, not an intruder with root: a remote copy or locked audit rules do (不当な削除／改ざん)."""
    f = ctx.get(LOGS, LogsFacts)
    have_ja: list[str] = []
    have_en: list[str] = []
    if f.syslog.remote_targets:
        have_ja.append("ログサーバへの転送（" + ", ".join(f.syslog.remote_targets) + "）")
        have_en.append("forwarding to a log server (" + ", ".join(f.syslog.remote_targets) + ")")
    if f.auditd.installed and (f.auditd.rules.immutable or f.auditd.runtime_enabled == 2):
        have_ja.append("監査ルールの変更禁止（-e 2）")
        have_en.append("immutable audit rules (-e 2)")
    ao = [x.path for x in f.files if x.append_only]
    if ao:
        have_ja.append("追記専用属性（" + ", ".join(ao) + "）")
        have_en.append("append-only attribute (" + ", ".join(ao) + ")")
    if f.journald.settings.get("Seal", "").lower() in ("yes", "true", "1") and f.journald.persistent:
        have_ja.append("ジャーナルの封印（Seal=yes、鍵の生成は要確認）")
        have_en.append("journal sealing (Seal=yes; check that keys were generated)")
    if have_ja:
        return [ctx.finding(
            Status.PASS, title=ctx.spec.title,
            detail=Text(ja="改ざん・削除への対策: " + "、".join(have_ja) + "。", en="Protection against deletion and tampering: " + "; ".join(have_en) + "."),
        )]
    if not ctx.policy.logging.expect_remote_or_immutable:
        return [ctx.finding(
            Status.NOT_APPLICABLE, title=ctx.spec.title,
            detail=Text(ja="ログの転送・変更禁止の設定はありません（方針 logging.expect_remote_or_immutable=false）。",
                        en="No forwarding or immutability found (not expected: policy logging.expect_remote_or_immutable is false)."),
        )]
    return [ctx.finding(
        Status.WARN, title=Text(ja="ログがこのホストにしかない", en="Logs exist only on this host"),
        detail=Text(
            ja="ログサーバへの転送、監査ルールの変更禁止（-e 2）、追記専用属性のいずれも見つかりません。"
               "管理者権限を得た侵入者は、痕跡となるログを削除・改ざんできます。",
            en="No forwarding to a log server, no immutable audit rules (-e 2) and no append-only log files were found: "
               "an intruder who gains root can delete or alter the logs that would show it."),
        remediation=Text(
            ja="rsyslog で *.* @@ログサーバ:514（TLS 推奨）へ転送するか、auditd のルール末尾に -e 2 を追加してください。",
            en="Forward logs with rsyslog (*.* @@loghost:514, preferably over TLS), and/or end the audit rules with -e 2."),
    )]
