"""Windows passwords and local accounts: SO-14-6 (guessable passwords, irreversible storage), SO-14-7 (ID
ledger, unused IDs deleted), SO-8-5 (no blank passwords). Same thresholds as the Linux checks
(policy `passwords`, `accounts`), so a site's rule reads the same on both."""

from __future__ import annotations

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules.accounts import LoginAccount, judge_stale
from tenken.checks.rules.passwords import QUALITY_CLAUSES, QUALITY_TITLE, judge_lockout, judge_password_rule
from tenken.collectors.windows.accounts import WinAccountsFacts
from tenken.collectors.windows.password_policy import PasswordPolicyFacts

ACCOUNTS = "windows.accounts"
PWPOL = "windows.password_policy"
W = OsFamily.WINDOWS
GUEST_RID = 501
#: The built-in Administrator: like root on Linux, judged by the ledger prompt, not as a stale account.
ADMIN_RID = 500
#: Built-in accounts Windows keeps disabled (DefaultAccount, WDAGUtilityAccount); they are not "users".
SYSTEM_RIDS = (503, 504)

SECPOL = Text(ja="ローカル セキュリティ ポリシー（secpol.msc）またはグループ ポリシーの「アカウント ポリシー」で設定してください。",
              en="Set it in Local Security Policy (secpol.msc) or Group Policy under Account Policies.")


#: Windows' "Password must meet complexity requirements" forces three of the five character categories.
COMPLEXITY_CLASSES = 3


@check("windows.password.quality", clauses=QUALITY_CLAUSES, needs=(PWPOL,), os=W, severity=Severity.HIGH,
       title=QUALITY_TITLE)
def password_quality(ctx: CheckContext) -> list[Finding]:
    """Q&A シQ-54 judged by the shared rule (checks/rules/passwords.py), as on Linux: minimum length, the
    complexity rule as 3 forced classes (off: 1), the maximum password age as the change period."""
    f = ctx.get(PWPOL, PasswordPolicyFacts)
    pol = ctx.policy.passwords
    if f.min_length is None:
        u = f.missing("policy") or f.missing("net_accounts") or f.missing("secedit")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, detail=Text(ja="最小文字数を取得できませんでした。", en="The minimum length could not be read."))]
    fix = Text(ja=f"「パスワードの長さ」を {pol.min_length} 文字以上にし、「複雑さの要件を満たす必要があるパスワード」を有効にしてください。" + SECPOL.ja,
               en=f"Set 'Minimum password length' to {pol.min_length} or more and enable 'Password must meet complexity requirements'. " + SECPOL.en)
    where = f"Account policy ({f.source or 'secedit'})"
    if f.complexity is None:
        # only secedit shows complexity: judge the best case; a fail then stands, anything else is unknown
        best = judge_password_rule(f.min_length, COMPLEXITY_CLASSES, f.max_age_days, pol, where=where, fix=fix)
        if best.status is Status.FAIL:
            return [ctx.verdict(best)]
        u = f.missing("complexity") or f.missing("secedit")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, detail=Text(ja="複雑さの要件を取得できませんでした。", en="The complexity setting could not be read."))]
    classes = COMPLEXITY_CLASSES if f.complexity else 1
    return [ctx.verdict(judge_password_rule(f.min_length, classes, f.max_age_days, pol, where=where, fix=fix))]


@check("windows.password.reversible", clauses=("SO-14-6",), needs=(PWPOL,), os=W, severity=Severity.HIGH,
       title=Text(ja="パスワードを元に戻せる暗号化で保存しない", en="Passwords not stored with reversible encryption"))
def password_reversible(ctx: CheckContext) -> list[Finding]:
    """SO-14-6 asks for irreversible storage; "store passwords using reversible encryption" is its opposite."""
    f = ctx.get(PWPOL, PasswordPolicyFacts)
    if f.reversible_encryption is None:
        u = f.missing("secedit")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, detail=Text(ja="設定を取得できませんでした。", en="The setting could not be read."))]
    if not f.reversible_encryption:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="「暗号化を元に戻せる状態でパスワードを保存する」は無効です。",
                                        en="'Store passwords using reversible encryption' is disabled."))]
    return [ctx.finding(
        Status.FAIL, title=Text(ja="パスワードが元に戻せる形式で保存される", en="Passwords stored with reversible encryption"),
        detail=Text(ja="パスワードを復号可能な形式で保存する設定が有効で、管理者がパスワードを知り得ます（SO-14-6）。",
                    en="Passwords are stored in a decryptable form, so administrators could learn them (SO-14-6)."),
        remediation=Text(ja="この設定を無効にし、影響するアカウントのパスワードを変更させてください。",
                         en="Disable the setting and have the affected accounts change their passwords."),
    )]


@check("windows.password.lockout", clauses=("SO-14-6",), needs=(PWPOL,), os=W, severity=Severity.MEDIUM,
       title=Text(ja="ログイン失敗時のアカウントロックアウト", en="Account lockout after failed logons"))
def lockout(ctx: CheckContext) -> list[Finding]:
    """Lockout bounds password guessing (policy `passwords.lockout_*`, shared with pam_faillock on Linux)."""
    f = ctx.get(PWPOL, PasswordPolicyFacts)
    if f.lockout_threshold is None:
        u = f.missing("policy") or f.missing("net_accounts") or f.missing("secedit")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, detail=Text(ja="しきい値を取得できませんでした。", en="The threshold could not be read."))]
    t = f.lockout_threshold
    pol = ctx.policy.passwords
    return [ctx.verdict(judge_lockout(t, pol, where="Account lockout threshold", fix=Text(
        ja=f"「アカウント ロックアウトのしきい値」を 1～{pol.lockout_max_deny} 回に設定してください。" + SECPOL.ja,
        en=f"Set 'Account lockout threshold' to 1-{pol.lockout_max_deny}. " + SECPOL.en)))]


def _users_unavailable(ctx: CheckContext, f: WinAccountsFacts) -> list[Finding] | None:
    u = f.missing("users")
    return [ctx.unavailable(u, title=ctx.spec.title)] if u is not None else None


@check("windows.password.required", clauses=("SO-14-6", "SO-8-5"), needs=(ACCOUNTS,), os=W, severity=Severity.CRITICAL,
       title=Text(ja="パスワードなしで使えるアカウントがない", en="No enabled account without a password requirement"))
def password_required(ctx: CheckContext) -> list[Finding]:
    """PasswordRequired=False lets an account have an empty password: the most guessable password there is."""
    f = ctx.get(ACCOUNTS, WinAccountsFacts)
    if (gone := _users_unavailable(ctx, f)) is not None:
        return gone
    bad = [u for u in f.users if u.enabled and u.password_required is False]
    if not bad:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"有効な {sum(u.enabled for u in f.users)} アカウントはすべてパスワードが必須です。",
                                        en=f"All {sum(u.enabled for u in f.users)} enabled accounts require a password."))]
    return [ctx.finding(
        Status.FAIL, subject=u.name,
        title=Text(ja="パスワード不要の有効なアカウント", en="Enabled account that does not require a password"),
        detail=Text(ja=f"アカウント {u.name} は有効で、パスワードが空でもログオンできる設定（PasswordRequired=False）です。",
                    en=f"Account {u.name} is enabled and may have an empty password (PasswordRequired=False)."),
        remediation=Text(ja=f"net user {u.name} /passwordreq:yes を実行して強いパスワードを設定するか、アカウントを無効にしてください。",
                         en=f"Run `net user {u.name} /passwordreq:yes` and set a strong password, or disable the account."),
    ) for u in bad]


@check("windows.accounts.guest", clauses=("SO-14-7", "SO-8-5"), needs=(ACCOUNTS,), os=W, severity=Severity.HIGH,
       title=Text(ja="Guest アカウントが無効", en="Guest account disabled"))
def guest(ctx: CheckContext) -> list[Finding]:
    """The built-in Guest (RID 501) is a shared, unnamed ID: it can never be in an ID ledger."""
    f = ctx.get(ACCOUNTS, WinAccountsFacts)
    if (gone := _users_unavailable(ctx, f)) is not None:
        return gone
    on = [u for u in f.users if u.rid == GUEST_RID and u.enabled]
    if not on:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="組み込みの Guest アカウントは無効です。", en="The built-in Guest account is disabled."))]
    return [ctx.finding(
        Status.FAIL, subject=u.name, title=Text(ja="Guest アカウントが有効", en="Guest account enabled"),
        detail=Text(ja=f"組み込みの Guest アカウント（{u.name}）が有効です。利用者を特定できない共用 ID です。",
                    en=f"The built-in Guest account ({u.name}) is enabled: a shared ID that identifies nobody."),
        remediation=Text(ja=f"Disable-LocalUser -Name '{u.name}' で無効にしてください。", en=f"Disable it: Disable-LocalUser -Name '{u.name}'."),
    ) for u in on]


@check("windows.accounts.stale", clauses=("SO-14-7",), needs=(ACCOUNTS,), os=W, severity=Severity.MEDIUM,
       title=Text(ja="長期間未使用の有効なアカウント", en="Stale enabled accounts"))
def stale(ctx: CheckContext) -> list[Finding]:
    """Unused IDs are to be deleted (SO-14-7); an enabled local account without a logon in `stale_days` is suspect."""
    f = ctx.get(ACCOUNTS, WinAccountsFacts)
    if (gone := _users_unavailable(ctx, f)) is not None:
        return gone
    accounts = [LoginAccount(u.name, u.last_logon, builtin_superuser=u.rid == ADMIN_RID)
                for u in f.users if u.enabled and u.rid not in SYSTEM_RIDS]
    return [ctx.verdict(v) for v in judge_stale(accounts, ctx.now, ctx.policy.accounts, fix="Remove-LocalUser -Name '{name}'")]


@check("windows.accounts.inventory", clauses=("SO-14-7",), needs=(ACCOUNTS,), os=W, severity=Severity.INFO,
       kind=FindingKind.PROMPT, title=Text(ja="ID 台帳との照合", en="Reconcile IDs with the ID ledger"))
def inventory(ctx: CheckContext) -> list[Finding]:
    """The ledger is a document; tenken lists the host's enabled accounts and administrators to reconcile."""
    f = ctx.get(ACCOUNTS, WinAccountsFacts)
    if (gone := _users_unavailable(ctx, f)) is not None:
        return gone
    users = [u.name for u in f.users if u.enabled]
    admins = [a.name for a in f.administrators]
    out = [ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT, title=ctx.spec.title,
        detail=Text(
            ja=f"有効なローカル アカウント（{len(users)}）: {', '.join(users) or 'なし'}。Administrators グループ: {', '.join(admins) or 'なし'}。"
               "すべてが ID 台帳に記載され、棚卸済みであることを確認してください。",
            en=f"Enabled local accounts ({len(users)}): {', '.join(users) or 'none'}. Administrators group: {', '.join(admins) or 'none'}. "
               "Confirm each is in the ID ledger and was covered by the last inventory."),
        remediation=Text(ja="台帳にない ID は削除するか台帳に登録してください。", en="Delete IDs missing from the ledger, or register them."),
    )]
    limit = ctx.policy.accounts.max_admins
    if limit is not None and len(admins) > limit:
        out.append(ctx.finding(
            Status.WARN, subject="Administrators", kind=FindingKind.AUTOMATED,
            title=Text(ja="管理者が多すぎる", en="Too many administrators"),
            detail=Text(ja=f"Administrators グループのメンバーは {len(admins)}（方針の上限 {limit}）。",
                        en=f"The Administrators group has {len(admins)} members (policy limit {limit})."),
            remediation=Text(ja="業務上必要な者だけに管理者権限を与えてください。", en="Grant administrator rights only to those who need them."),
        ))
    return out
