"""Accounts and stored passwords (SO-14-6 irreversible storage, SO-14-7 ID ledger, SO-8-5 no blank passwords)."""

from __future__ import annotations

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules.accounts import LoginAccount, judge_stale
from tenken.collectors.linux.accounts import AccountsFacts

ACCOUNTS = "linux.accounts"


@check(
    "linux.password.storage",
    clauses=("SO-14-6",),
    needs=(ACCOUNTS,),
    severity=Severity.HIGH,
    title=Text(ja="パスワードの不可逆な保存", en="Passwords stored irreversibly"),
)
def password_storage(ctx: CheckContext) -> list[Finding]:
    """SO-14-6: password files stored irreversibly. A weak or missing hash is as good as plaintext."""
    facts = ctx.get(ACCOUNTS, AccountsFacts)
    spec_title = ctx.spec.title
    if (u := facts.missing("passwd")) is not None:
        return [ctx.unavailable(u, title=spec_title)]
    pol = ctx.policy.passwords
    out: list[Finding] = []
    for a in facts.accounts:
        # a hash or a password kept in /etc/passwd itself is world-readable
        if a.passwd_field_hash is not None and a.passwd_field_hash.state in ("hashed", "plaintext"):
            scheme = a.passwd_field_hash.scheme
            out.append(ctx.finding(
                Status.FAIL, subject=a.name,
                title=Text(ja="パスワード情報が /etc/passwd に記載されている", en="Password data stored in world-readable /etc/passwd"),
                detail=Text(ja=f"アカウント {a.name} のパスワード（方式: {scheme}）が誰でも読める /etc/passwd にあります。",
                            en=f"Account {a.name} has its password ({scheme}) in /etc/passwd, which every user can read."),
                remediation=Text(ja="pwconv でシャドウパスワードに移行し、パスワードを再設定してください。",
                                 en="Move to shadow passwords (pwconv) and reset the password."),
            ))
    if (u := facts.missing("shadow")) is not None:
        out.append(ctx.unavailable(u, title=spec_title, subject="/etc/shadow"))
        return out
    weak = [(a.name, a.password) for a in facts.accounts if a.password and a.password.state in ("hashed", "plaintext", "locked")
            and a.password.scheme is not None and (a.password.scheme in pol.weak_hash_schemes
                                                   or a.password.scheme.startswith("unknown"))]
    for name, h in weak:
        assert h is not None
        locked = h.state == "locked"
        out.append(ctx.finding(
            Status.WARN if locked else Status.FAIL, subject=name,
            severity=Severity.MEDIUM if locked else Severity.HIGH,
            title=Text(ja="弱い方式でパスワードが保存されている", en="Password stored with a weak scheme"),
            detail=Text(
                ja=f"アカウント {name} のパスワードは {h.scheme} 方式で保存されています{'（ロック中）' if locked else ''}。"
                   "この方式は総当たりで容易に復元でき、不可逆な保存とは言えません。",
                en=f"Account {name} stores its password with {h.scheme}{' (locked)' if locked else ''}; "
                   "it is cheap to brute-force and does not count as irreversible storage."),
            remediation=Text(ja="ENCRYPT_METHOD を YESCRYPT か SHA512 にし、このアカウントのパスワードを再設定してください。",
                             en="Set ENCRYPT_METHOD to YESCRYPT or SHA512 and reset this account's password."),
        ))
    # a scheme in neither list (a new crypt prefix, a vendor's own) is not assumed strong: the policy must say
    unknown = [(a.name, a.password) for a in facts.accounts if a.password and a.password.state == "hashed"
               and a.password.scheme is not None and a.password.scheme not in pol.strong_hash_schemes
               and a.password.scheme not in pol.weak_hash_schemes and not a.password.scheme.startswith("unknown")]
    for name, h in unknown:
        assert h is not None
        out.append(ctx.finding(
            Status.WARN, subject=name,
            title=Text(ja="方針にない方式でパスワードが保存されている", en="Password stored with a scheme the policy does not list"),
            detail=Text(ja=f"アカウント {name} のパスワードは {h.scheme} 方式です。方針（passwords.strong_hash_schemes）に強い方式として記載がありません。",
                        en=f"Account {name} uses {h.scheme}, which passwords.strong_hash_schemes does not list as strong."),
            remediation=Text(ja="強い方式と判断できるなら方針の strong_hash_schemes に追加し、そうでなければ yescrypt で再設定してください。",
                             en="Add it to strong_hash_schemes if it is strong; otherwise reset the password with yescrypt."),
        ))
    low_rounds = [(a.name, a.password) for a in facts.accounts if a.password and a.password.state == "hashed"
                  and a.password.scheme in ("sha256", "sha512") and a.password.rounds is not None
                  and a.password.rounds < pol.min_sha_rounds]
    for name, h in low_rounds:
        assert h is not None
        out.append(ctx.finding(
            Status.WARN, subject=name,
            title=Text(ja="ハッシュの反復回数が少ない", en="Password hash cost below policy"),
            detail=Text(ja=f"アカウント {name}: {h.scheme} rounds={h.rounds}（方針の下限 {pol.min_sha_rounds}）",
                        en=f"Account {name}: {h.scheme} rounds={h.rounds} (policy minimum {pol.min_sha_rounds})"),
            remediation=Text(ja="既定以上の反復回数でパスワードを再設定してください。", en="Reset the password with at least the default cost."),
        ))
    if not out:
        hashed = [a for a in facts.accounts if a.password and a.password.state == "hashed"]
        schemes = sorted({a.password.scheme or "" for a in hashed if a.password})
        if not hashed:
            return [ctx.finding(
                Status.NOT_APPLICABLE, title=spec_title,
                detail=Text(ja="パスワードが設定されたアカウントはありません（すべてロックまたは無効）。",
                            en="No account has a password set (all are locked or disabled)."),
            )]
        out.append(ctx.finding(
            Status.PASS,
            title=spec_title,
            detail=Text(ja=f"パスワードを持つ {len(hashed)} アカウントはすべて不可逆な方式（{', '.join(schemes) or 'なし'}）で保存されています。",
                        en=f"All {len(hashed)} accounts with a password use irreversible schemes ({', '.join(schemes) or 'none'})."),
        ))
    return out


@check(
    "linux.password.empty",
    clauses=("SO-14-6", "SO-8-5"),
    needs=(ACCOUNTS,),
    severity=Severity.CRITICAL,
    title=Text(ja="空のパスワードがない", en="No empty passwords"),
)
def empty_passwords(ctx: CheckContext) -> list[Finding]:
    """An empty password lets anyone log in: the most guessable password there is (SO-14-6, SO-8-5)."""
    facts = ctx.get(ACCOUNTS, AccountsFacts)
    if (u := facts.missing("passwd")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    empty = [a.name for a in facts.accounts
             if (a.password is not None and a.password.state == "empty")
             or (a.passwd_field_hash is not None and a.passwd_field_hash.state == "empty")]
    out = [ctx.finding(
        Status.FAIL, subject=name,
        title=Text(ja="パスワードが空のアカウント", en="Account with an empty password"),
        detail=Text(ja=f"アカウント {name} はパスワードなしでログインできる可能性があります。",
                    en=f"Account {name} may be logged into without any password."),
        remediation=Text(ja=f"passwd -l {name} でロックするか、強いパスワードを設定してください。",
                         en=f"Lock it (passwd -l {name}) or set a strong password."),
    ) for name in empty]
    if out:
        return out
    if (u := facts.missing("shadow")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title, subject="/etc/shadow")]
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"{len(facts.accounts)} アカウントに空のパスワードはありません。",
                                    en=f"None of {len(facts.accounts)} accounts has an empty password."))]


@check(
    "linux.accounts.uid0",
    clauses=("SO-14-7", "SO-14-4"),
    needs=(ACCOUNTS,),
    severity=Severity.HIGH,
    title=Text(ja="root 以外の UID 0 アカウントがない", en="No UID 0 account other than root"),
)
def uid0(ctx: CheckContext) -> list[Finding]:
    """A second UID 0 account is an unaccounted superuser: it escapes the ID ledger and access-right rules."""
    facts = ctx.get(ACCOUNTS, AccountsFacts)
    if (u := facts.missing("passwd")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    extra = [a.name for a in facts.accounts if a.uid == 0 and a.name not in ctx.policy.accounts.allowed_uid0]
    if not extra:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="UID 0 は root のみです。", en="Only root has UID 0."))]
    return [ctx.finding(
        Status.FAIL, subject=name,
        title=Text(ja="root 以外の UID 0 アカウント", en="UID 0 account other than root"),
        detail=Text(ja=f"アカウント {name} は UID 0（管理者権限）を持っています。", en=f"Account {name} has UID 0 (full superuser)."),
        remediation=Text(ja="不要なら削除し、必要なら個別 UID と sudo 権限に置き換えてください。",
                         en="Remove it, or give it its own UID and sudo rights if it is needed."),
    ) for name in extra]


@check(
    "linux.accounts.stale",
    clauses=("SO-14-7",),
    needs=(ACCOUNTS,),
    severity=Severity.MEDIUM,
    title=Text(ja="長期間未使用のログイン可能アカウント", en="Stale login accounts"),
)
def stale_accounts(ctx: CheckContext) -> list[Finding]:
    """Unused IDs are to be deleted (SO-14-7, MHLW checklist ⑤); last login tells which are unused."""
    facts = ctx.get(ACCOUNTS, AccountsFacts)
    if (u := facts.missing("passwd")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    if not facts.lastlog_available:
        u = facts.missing("lastlog")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title, subject="/var/log/lastlog")]
    usable = [a for a in facts.accounts if a.login_shell and (a.password is None or a.password.state in ("hashed", "plaintext", "empty"))]
    accounts = [LoginAccount(a.name, a.last_login, builtin_superuser=a.name == "root") for a in usable]
    return [ctx.verdict(v) for v in judge_stale(accounts, ctx.now, ctx.policy.accounts, fix="userdel {name}")]


@check(
    "linux.accounts.inventory",
    clauses=("SO-14-7",),
    needs=(ACCOUNTS,),
    severity=Severity.INFO,
    kind=FindingKind.PROMPT,
    title=Text(ja="ID 台帳との照合", en="Reconcile IDs with the ID ledger"),
)
def inventory(ctx: CheckContext) -> list[Finding]:
    """The ledger itself is a document; tenken supplies the host's side of the reconciliation."""
    facts = ctx.get(ACCOUNTS, AccountsFacts)
    if (u := facts.missing("passwd")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    logins = [a.name for a in facts.accounts if a.login_shell]
    admins = facts.admin_members
    return [ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT,
        title=ctx.spec.title,
        detail=Text(
            ja=f"ログイン可能なアカウント（{len(logins)}）: {', '.join(logins) or 'なし'}。管理者権限（sudo/wheel）: {', '.join(admins) or 'なし'}。"
               "すべてが ID 台帳に記載され、棚卸済みであることを確認してください。",
            en=f"Login accounts ({len(logins)}): {', '.join(logins) or 'none'}. Administrators (sudo/wheel): {', '.join(admins) or 'none'}. "
               "Confirm each is in the ID ledger and was covered by the last inventory."),
        remediation=Text(ja="台帳にない ID は削除するか台帳に登録してください。", en="Delete IDs missing from the ledger, or register them."),
    )]
