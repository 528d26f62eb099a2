"""Password rules as configured (SO-14-6, SO-8-5): hashing of new passwords, guessable-password
restrictions judged against the Q&A rule, dictionary checks, nullok, and lockout after failed logins.

The Q&A シQ-54 rule: (a) 13+ characters mixing letters, digits and symbols; or (b) 8+ such characters
changed at most every 2 months; or (c) 8+ with two-factor authentication. What PAM enforces is compared
with it; the stored hashes themselves are judged by linux.password.storage (checks/linux/accounts.py).
"""

from __future__ import annotations

from dataclasses import replace

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules.passwords import QUALITY_CLAUSES, judge_lockout, judge_password_rule
from tenken.collectors.evidence import Reason, Unavailable
from tenken.collectors.linux.password_policy import PasswordPolicyFacts, PwQuality

PWPOL = "linux.password_policy"
STRONG_METHODS = ("YESCRYPT", "GOST_YESCRYPT", "SHA512", "SHA256", "BCRYPT")
WEAK_UNIX_OPTIONS = ("md5", "bigcrypt")


def _pam_missing(ctx: CheckContext, facts: PasswordPolicyFacts) -> Finding | None:
    """PAM could not be read (error) or has none of the stacks we know (not applicable)."""
    for name in ("pam", "pam_stacks"):
        if (u := facts.missing(name)) is not None:
            return ctx.unavailable(u, title=ctx.spec.title, subject="/etc/pam.d")
    return None


PAM_DIR_SUBJECT = "/etc/pam.d"


def _status(name: str) -> Status:
    return Status.FAIL if name == "fail" else Status.WARN


def login_defs_method(facts: PasswordPolicyFacts) -> tuple[str, str]:
    """ENCRYPT_METHOD as shadow's tools apply it (login.defs(5)): unset falls back to MD5_CRYPT_ENAB, then DES."""
    ld = facts.login_defs
    if ld is None:
        return "UNKNOWN", "/etc/login.defs unread"
    if ld.encrypt_method:
        return ld.encrypt_method, f"ENCRYPT_METHOD {ld.encrypt_method}"
    if ld.md5_crypt_enab:
        return "MD5", "ENCRYPT_METHOD unset, MD5_CRYPT_ENAB yes"
    return "DES", "ENCRYPT_METHOD and MD5_CRYPT_ENAB unset (shadow's default is DES)"


@check(
    "linux.password.hash_method",
    clauses=("SO-14-6",),
    needs=(PWPOL,),
    severity=Severity.HIGH,
    title=Text(ja="新しいパスワードのハッシュ方式", en="Hash method for new passwords"),
)
def hash_method(ctx: CheckContext) -> list[Finding]:
    """SO-14-6 requires irreversible storage; MD5-crypt and DES-crypt are brute-forced in hours, so a
    configuration that still produces them fails even if today's hashes are strong."""
    facts = ctx.get(PWPOL, PasswordPolicyFacts)
    pol = ctx.policy.passwords
    out: list[Finding] = []
    if (u := facts.missing("login_defs")) is not None and u.reason is not Reason.ABSENT:
        out.append(ctx.unavailable(u, title=ctx.spec.title, subject="/etc/login.defs"))
    method, how = login_defs_method(facts)
    if facts.login_defs is not None and method not in STRONG_METHODS:
        out.append(ctx.finding(
            Status.FAIL, subject="/etc/login.defs",
            title=Text(ja="login.defs のハッシュ方式が弱い", en="Weak hash method in login.defs"),
            detail=Text(ja=f"/etc/login.defs: {how}。useradd/chpasswd 等が作るパスワードは {method} 方式となり、"
                           "総当たりで容易に復元できるため不可逆な保存とは言えません。",
                        en=f"/etc/login.defs: {how}. Passwords set by useradd/chpasswd are hashed with {method}, "
                           "which is cheap to brute-force and does not count as irreversible storage."),
            remediation=Text(ja="/etc/login.defs に ENCRYPT_METHOD YESCRYPT（または SHA512）を設定してください。",
                             en="Set ENCRYPT_METHOD YESCRYPT (or SHA512) in /etc/login.defs."),
        ))
    ld = facts.login_defs
    if ld is not None and method in ("SHA512", "SHA256") and ld.sha_crypt_min_rounds is not None \
            and ld.sha_crypt_min_rounds < pol.min_sha_rounds:
        out.append(ctx.finding(
            Status.WARN, subject="/etc/login.defs:SHA_CRYPT_MIN_ROUNDS",
            title=Text(ja="SHA-crypt の反復回数が少ない", en="SHA-crypt rounds below policy"),
            detail=Text(ja=f"SHA_CRYPT_MIN_ROUNDS {ld.sha_crypt_min_rounds}（方針の下限 {pol.min_sha_rounds}）。",
                        en=f"SHA_CRYPT_MIN_ROUNDS {ld.sha_crypt_min_rounds} (policy minimum {pol.min_sha_rounds})."),
            remediation=Text(ja=f"SHA_CRYPT_MIN_ROUNDS を {pol.min_sha_rounds} 以上にしてください。",
                             en=f"Raise SHA_CRYPT_MIN_ROUNDS to at least {pol.min_sha_rounds}."),
        ))
    pam_note_ja = pam_note_en = ""
    if (pf := _pam_missing(ctx, facts)) is not None:
        if pf.status is Status.ERROR:
            out.append(pf)
        pam_note_ja = "PAM のパスワードスタックは見つかりません。"
        pam_note_en = "No PAM password stack found."
    elif facts.unix is not None and facts.unix.password_lines:
        unix = facts.unix
        weak = [o for o in unix.hash_options if o in WEAK_UNIX_OPTIONS]
        where = ", ".join(unix.password_lines)
        if weak:
            out.append(ctx.finding(
                Status.FAIL, subject="pam_unix",
                title=Text(ja="pam_unix が弱い方式でパスワードを保存する", en="pam_unix hashes passwords with a weak method"),
                detail=Text(ja=f"{where}: pam_unix に {', '.join(weak)} が指定されています。passwd で変更したパスワードはこの方式で保存されます。",
                            en=f"{where}: pam_unix is given {', '.join(weak)}; passwords changed with passwd are stored that way."),
                remediation=Text(ja="pam_unix の引数から md5/bigcrypt を外し、yescrypt（または sha512）を指定してください。",
                                 en="Remove md5/bigcrypt from pam_unix's arguments and use yescrypt (or sha512)."),
            ))
        strong_opt = [o for o in unix.hash_options if o not in WEAK_UNIX_OPTIONS]
        if unix.rounds is not None and unix.rounds < pol.min_sha_rounds and any(o in ("sha256", "sha512") for o in strong_opt):
            out.append(ctx.finding(
                Status.WARN, subject="pam_unix:rounds",
                title=Text(ja="pam_unix の反復回数が少ない", en="pam_unix rounds below policy"),
                detail=Text(ja=f"{where}: rounds={unix.rounds}（方針の下限 {pol.min_sha_rounds}）。",
                            en=f"{where}: rounds={unix.rounds} (policy minimum {pol.min_sha_rounds})."),
                remediation=Text(ja="rounds= を外すか方針の下限以上にしてください。", en="Remove rounds= or raise it to the policy minimum."),
            ))
        used = ", ".join(strong_opt) if strong_opt else f"login.defs ({method})"
        pam_note_ja = f"pam_unix（{where}）: {used}。"
        pam_note_en = f"pam_unix ({where}): {used}."
        if not unix.hash_options and method not in STRONG_METHODS and facts.login_defs is not None:
            pam_note_ja += "pam_unix は方式の指定がなく login.defs に従います。"
            pam_note_en += " pam_unix names no method and follows login.defs."
    else:
        pam_note_ja = "パスワードスタックに pam_unix はありません（他のモジュールが保存を担います）。"
        pam_note_en = "No pam_unix in the password stack (another module stores passwords)."
    if out:  # a weakness, or something that could not be read: no pass on half the picture
        return out
    if facts.login_defs is None and pf is None and facts.unix is not None and facts.unix.password_lines \
            and not facts.unix.hash_options:
        # no login.defs and pam_unix names no method: nothing establishes how new passwords are hashed
        return [ctx.finding(
            Status.WARN, title=Text(ja="新しいパスワードのハッシュ方式を確認できない", en="Hash method for new passwords undetermined"),
            detail=Text(ja=f"/etc/login.defs がなく、{pam_note_ja}方式はライブラリの既定値に依存します。",
                        en=f"/etc/login.defs is absent and {pam_note_en} The method is the library's default."),
            remediation=Text(ja="pam_unix に yescrypt（または sha512）を明示してください。",
                             en="Name yescrypt (or sha512) explicitly on the pam_unix password line."),
        )]
    if facts.login_defs is None:
        if pf is not None:
            return [ctx.unavailable(Unavailable(reason=Reason.ABSENT, detail="neither /etc/login.defs nor a PAM password stack"),
                                    title=ctx.spec.title)]
        how = "absent"
    out.append(ctx.finding(
        Status.PASS, title=ctx.spec.title,
        detail=Text(ja=f"/etc/login.defs: {how}。{pam_note_ja}", en=f"/etc/login.defs: {how}. {pam_note_en}"),
    ))
    return out


@check(
    "linux.password.nullok",
    clauses=("SO-14-6", "SO-8-5"),
    needs=(PWPOL,),
    severity=Severity.MEDIUM,
    title=Text(ja="空パスワードでの認証を許可しない", en="Empty passwords not accepted by PAM"),
)
def nullok(ctx: CheckContext) -> list[Finding]:
    """pam_unix `nullok` accepts an empty password for an account whose password field is empty. Severity
    and status follow policy (`passwords.nullok_status`, warn by default: see config/policy.yaml)."""
    facts = ctx.get(PWPOL, PasswordPolicyFacts)
    if (pf := _pam_missing(ctx, facts)) is not None:
        return [pf]
    no_unix = not any(ln.module == "pam_unix" for ln in facts.auth_stack)
    if not facts.auth_stack or (no_unix and facts.missing_includes):
        # No auth line was read (the auth entries are absent, or they include files that do not exist): there
        # is nothing that proves empty passwords are refused, so this is not a pass.
        return [ctx.finding(
            Status.ERROR, subject=PAM_DIR_SUBJECT, title=ctx.spec.title,
            detail=Text(ja=f"認証（auth）スタックを読めませんでした（読めた PAM ファイル: {', '.join(facts.pam_files) or 'なし'}"
                           f"{'、存在しない include 先: ' + ', '.join(facts.missing_includes) if facts.missing_includes else ''}）。"
                           "空パスワードを拒否することを確認できません。",
                        en=f"No auth stack could be read (PAM files read: {', '.join(facts.pam_files) or 'none'}"
                           f"{'; included but absent: ' + ', '.join(facts.missing_includes) if facts.missing_includes else ''}), so it "
                           "cannot be shown that empty passwords are refused."),
            remediation=Text(ja="sshd・login・common-auth（または system-auth / password-auth）の auth 行と、その include 先が"
                                "存在することを確認してください。",
                             en="Check that the auth lines of sshd, login and common-auth (or system-auth / password-auth) "
                                "and the files they include exist."))]
    unix = facts.unix
    hits = (unix.nullok_auth if unix else [])
    status = _status(ctx.policy.passwords.nullok_status)
    out = [ctx.finding(
        status, subject=where,
        title=Text(ja="pam_unix に nullok が指定されている", en="pam_unix accepts empty passwords (nullok)"),
        detail=Text(ja=f"{where}: pam_unix の nullok により、パスワード欄が空のアカウントはパスワードなしでログインできます。",
                    en=f"{where}: with nullok, pam_unix lets an account whose password field is empty log in without a password."),
        remediation=Text(ja="pam_unix の引数から nullok を削除してください（Debian: /usr/share/pam-configs/unix を編集し pam-auth-update）。",
                         en="Remove nullok from pam_unix's arguments (Debian: edit /usr/share/pam-configs/unix and run pam-auth-update)."),
    ) for where in hits]
    if out:
        return out
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"認証スタック（{', '.join(facts.entries)}）の pam_unix に nullok はありません。",
                                    en=f"No pam_unix line in the auth stacks ({', '.join(facts.entries)}) has nullok."))]


def effective_length(q: PwQuality) -> int:
    """The shortest password the module accepts: positive credits let each character class count extra."""
    credit = sum(max(c, 0) for c in (q.dcredit, q.ucredit, q.lcredit, q.ocredit))
    floor = 6 if q.module == "pam_pwquality" else 1
    return max(q.minlen - credit, floor)


def required_classes(q: PwQuality) -> int:
    """minclass, or the classes made mandatory by negative credits, whichever is larger."""
    return max(q.minclass, sum(1 for c in (q.dcredit, q.ucredit, q.lcredit, q.ocredit) if c < 0))


def enforcing(control: str) -> bool:
    """required/requisite (or a bracket control that dies on failure) make the module's verdict binding."""
    c = control.lower()
    return c in ("required", "requisite") or (c.startswith("[") and ("default=die" in c or "default=bad" in c))


@check(
    "linux.password.quality",
    clauses=QUALITY_CLAUSES,
    needs=(PWPOL,),
    severity=Severity.HIGH,
    title=Text(ja="類推されやすいパスワードの制限（長さ・文字種）", en="Guessable passwords restricted (length and classes)"),
)
def quality(ctx: CheckContext) -> list[Finding]:
    """SO-14-6's first duty, judged with the Q&A シQ-54 numbers from policy."""
    facts = ctx.get(PWPOL, PasswordPolicyFacts)
    if (pf := _pam_missing(ctx, facts)) is not None:
        return [pf]
    pol = ctx.policy.passwords
    q = facts.quality
    if q is None:
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja="パスワードの強度制限がない", en="No password strength rule"),
            detail=Text(ja="パスワードスタックに pam_pwquality も pam_cracklib もありません。pam_unix だけでは短い・単純なパスワードを"
                           "ほぼ制限できず、類推されやすいパスワードの使用を防げません。",
                        en="Neither pam_pwquality nor pam_cracklib is in the password stack. pam_unix alone barely restricts short "
                           "or simple passwords, so nothing stops guessable ones."),
            remediation=Text(ja=f"libpam-pwquality（RHEL: libpwquality）を導入し、pwquality.conf に minlen = {pol.min_length}、"
                                f"minclass = {pol.min_classes}、dictcheck = 1、enforce_for_root を設定してください。",
                             en=f"Install libpam-pwquality (RHEL: libpwquality) and set minlen = {pol.min_length}, "
                                f"minclass = {pol.min_classes}, dictcheck = 1 and enforce_for_root in pwquality.conf."),
        )]
    length = effective_length(q)
    classes = required_classes(q)
    ld = facts.login_defs
    max_days = ld.pass_max_days if ld is not None else None
    root_ja = "" if q.enforce_for_root else "（enforce_for_root がないため root が設定するパスワードには警告のみ）"
    root_en = "" if q.enforce_for_root else " (no enforce_for_root: root may still set any password after a warning)"
    facts_ja = f"{q.module}（{q.where}）: 最小 {length} 文字、必須文字種 {classes}、PASS_MAX_DAYS {max_days if max_days is not None else '未設定'}{root_ja}"
    facts_en = f"{q.module} ({q.where}): at least {length} characters, {classes} classes required, PASS_MAX_DAYS {max_days if max_days is not None else 'unset'}{root_en}"
    if not enforcing(q.control):
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja="パスワード強度の判定が強制されていない", en="Password strength verdict not enforced"),
            detail=Text(ja=f"{facts_ja}。制御フラグが {q.control} のため、基準を満たさないパスワードも設定できます。",
                        en=f"{facts_en}. Its control is {q.control}, so a password failing the rule is still accepted."),
            remediation=Text(ja=f"{q.module} の制御フラグを requisite にしてください。", en=f"Make {q.module}'s control requisite."),
        )]
    remedy = Text(
        ja=f"pwquality.conf で minlen = {pol.min_length} 以上、minclass = {pol.min_classes} にしてください"
           f"（8 文字以上で運用する場合は PASS_MAX_DAYS {pol.max_age_days_for_short} 以下か二要素認証が必要です）。",
        en=f"Set minlen = {pol.min_length} or more and minclass = {pol.min_classes} in pwquality.conf "
           f"(8+ characters are enough only with PASS_MAX_DAYS ≤ {pol.max_age_days_for_short} or two-factor authentication).")
    where = f"{q.module} ({q.where}, PASS_MAX_DAYS from login.defs){root_en}"
    v = judge_password_rule(length, classes, max_days, pol, where=where, fix=remedy)
    if v.status is Status.PASS and not pol.mfa_in_place and length < pol.min_length:
        v = replace(v, detail=Text(ja=v.detail.ja + "PASS_MAX_DAYS は新規アカウントの既定値です。既存アカウントは chage -l で確認してください。",
                                   en=v.detail.en + " PASS_MAX_DAYS is the default for new accounts; check existing ones with chage -l."))
    return [ctx.verdict(v)]


@check(
    "linux.password.dictionary",
    clauses=("SO-14-6",),
    needs=(PWPOL,),
    severity=Severity.MEDIUM,
    title=Text(ja="辞書にある単語をパスワードに使わせない", en="Dictionary words refused as passwords"),
)
def dictionary(ctx: CheckContext) -> list[Finding]:
    """Dictionary words are the first thing guessed: pwquality's dictcheck (on by default) refuses them."""
    facts = ctx.get(PWPOL, PasswordPolicyFacts)
    if (pf := _pam_missing(ctx, facts)) is not None:
        return [pf]
    q = facts.quality
    required = ctx.policy.passwords.require_dictcheck
    if q is not None and (q.dictcheck or not required):
        state = "有効" if q.dictcheck else "無効（方針で不要）"
        state_en = "on" if q.dictcheck else "off (not required by policy)"
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"{q.module}（{q.where}）の辞書チェックは{state}です。",
                                        en=f"{q.module} ({q.where}) dictionary check is {state_en}."))]
    if q is None and not required:
        return [ctx.unavailable(Unavailable(reason=Reason.ABSENT, detail="no pwquality/cracklib module and policy does not require a dictionary check"),
                                title=ctx.spec.title)]
    detail = (Text(ja=f"{q.module}（{q.where}）で dictcheck = 0 になっており、辞書にある単語もパスワードとして受け付けます。",
                   en=f"{q.module} ({q.where}) has dictcheck = 0: dictionary words are accepted as passwords.")
              if q is not None else
              Text(ja="pam_pwquality / pam_cracklib がないため、辞書にある単語のパスワードを拒否する仕組みがありません。",
                   en="No pam_pwquality / pam_cracklib: nothing refuses dictionary words as passwords."))
    return [ctx.finding(
        Status.WARN,
        title=Text(ja="辞書チェックが無効", en="Dictionary check off"), detail=detail,
        remediation=Text(ja="pwquality.conf で dictcheck = 1 にしてください（cracklib の辞書が必要です）。",
                         en="Set dictcheck = 1 in pwquality.conf (needs the cracklib dictionary)."),
    )]


@check(
    "linux.password.lockout",
    clauses=("SO-14-6",),
    needs=(PWPOL,),
    severity=Severity.MEDIUM,
    title=Text(ja="ログイン失敗時のアカウントロック", en="Account lockout after failed logins"),
)
def lockout(ctx: CheckContext) -> list[Finding]:
    """Without a lockout, any password can be guessed online at the speed of the login service. The 6.0
    text names no number (the 5.2 edition asked for it): required and bounded by policy."""
    facts = ctx.get(PWPOL, PasswordPolicyFacts)
    if (pf := _pam_missing(ctx, facts)) is not None:
        return [pf]
    pol = ctx.policy.passwords
    lk = facts.lockout
    where = "auth stacks (no pam_faillock / pam_tally2)" if lk is None else f"{lk.module} ({', '.join(lk.where)})"
    if lk is not None and lk.deny:
        where += f", unlock_time={'never' if lk.unlock_time == 0 else f'{lk.unlock_time}s'}"
    return [ctx.verdict(judge_lockout(lk.deny if lk else None, pol, where=where, fix=Text(
        ja=f"pam_faillock を有効にし（RHEL: authselect enable-feature with-faillock、Debian: pam-auth-update）、"
           f"/etc/security/faillock.conf で deny を {pol.lockout_max_deny} 以下にしてください。",
        en=f"Enable pam_faillock (RHEL: authselect enable-feature with-faillock; Debian: pam-auth-update) "
           f"with deny of {pol.lockout_max_deny} or fewer in /etc/security/faillock.conf.")))]
