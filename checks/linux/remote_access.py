"""Remote login through OpenSSH (SO-7-12), its passwords (SO-14-6, SO-8-5) and its cryptography
(SO-13-10, SO-13-9).

Clause mapping, from the catalogue text:
- SO-7-12 demands that remote login be limited to properly managed remote login: direct root login,
  empty passwords and password-only logins are the settings that decide how managed it is.
- PermitEmptyPasswords also breaks SO-8-5 (no guessable passwords); password logins over the network
  lean entirely on SO-14-6's restriction of guessable passwords.
- SO-13-10 (no eavesdropping of passwords and bodies on the path) is what ciphers and key exchange protect;
  SO-13-9 (tampering, man in the middle) is what MACs and key exchange protect.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.collectors.evidence import Reason, Unavailable
from tenken.collectors.linux.sshd import SshdFacts

SSHD = "linux.sshd"


def _unavailable(ctx: CheckContext, facts: SshdFacts) -> Finding | None:
    """Not installed -> not_applicable; config unreadable -> error. Never a judgement on nothing."""
    if (u := facts.missing("sshd")) is not None:
        return ctx.unavailable(u, title=ctx.spec.title)
    if facts.source == "none":
        u = facts.missing("sshd_config") or Unavailable(reason=Reason.FAILED, detail="sshd settings could not be determined")
        return ctx.unavailable(u, title=ctx.spec.title, subject="/etc/ssh/sshd_config")
    return None


def _origin(facts: SshdFacts, kw: str) -> tuple[str, str]:
    o = facts.origin.get(kw, "default")
    if o == "default":
        v = f"OpenSSH {facts.version}" if facts.version else "OpenSSH（版不明、現行版として判定）"
        v_en = f"OpenSSH {facts.version}" if facts.version else "OpenSSH (version unknown, judged as current)"
        return f"未設定のため {v} の既定値", f"unset, {v_en} default"
    return o, o


def _running(facts: SshdFacts) -> tuple[str, str]:
    if facts.running is None:
        return "稼働状況は未確認", "running state not checked"
    return ("sshd は稼働中", "sshd is running") if facts.running else ("sshd は停止中（設定は起動時に有効）", "sshd is not running (settings apply when started)")


@check(
    "linux.sshd.root_login",
    clauses=("SO-7-12",),
    needs=(SSHD,),
    severity=Severity.HIGH,
    title=Text(ja="SSH での root 直接ログインの禁止", en="No direct root login over SSH"),
)
def root_login(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(SSHD, SshdFacts)
    if (u := _unavailable(ctx, facts)) is not None:
        return [u]
    allowed = ctx.policy.ssh.permit_root_login_allowed
    value = facts.permit_root_login or "unknown"
    o_ja, o_en = _origin(facts, "permitrootlogin")
    out: list[Finding] = []
    if value not in allowed:
        out.append(ctx.finding(
            Status.FAIL,
            title=Text(ja="SSH で root が直接ログインできる", en="root may log in directly over SSH"),
            detail=Text(ja=f"PermitRootLogin {value}（{o_ja}）。許可値: {', '.join(allowed)}。root での直接ログインは誰が操作したかを"
                           "特定できず、適切に管理されたリモートログインとは言えません。",
                        en=f"PermitRootLogin {value} ({o_en}); allowed: {', '.join(allowed)}. A direct root login does not say who "
                           "acted, so it is not a properly managed remote login."),
            remediation=Text(ja="sshd_config（または sshd_config.d の先頭のファイル）に PermitRootLogin no を設定し、個人アカウント＋sudo を使ってください。",
                             en="Set PermitRootLogin no in sshd_config (or the first file of sshd_config.d) and use personal accounts with sudo."),
        ))
    for m in facts.match_blocks:
        mv = m.settings.get("permitrootlogin")
        if mv is not None and mv.lower() not in allowed:
            out.append(ctx.finding(
                Status.FAIL if value not in allowed else Status.WARN, subject=f"Match {m.criteria}",
                title=Text(ja="Match ブロックで root ログインを許可", en="A Match block allows root login"),
                detail=Text(ja=f"{m.where}: Match {m.criteria} の中で PermitRootLogin {mv}。条件に合う接続では root が直接ログインできます。",
                            en=f"{m.where}: inside Match {m.criteria}, PermitRootLogin {mv}: matching connections may log in as root."),
                remediation=Text(ja="例外が保守上どうしても必要か確認し、不要なら削除してください。",
                                 en="Confirm the exception is needed for maintenance; remove it otherwise."),
            ))
    if out:
        return out
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"PermitRootLogin {value}（{o_ja}）。", en=f"PermitRootLogin {value} ({o_en})."))]


@check(
    "linux.sshd.password_auth",
    clauses=("SO-7-12", "SO-14-6"),
    needs=(SSHD,),
    severity=Severity.MEDIUM,
    title=Text(ja="SSH のパスワードだけによるログイン", en="SSH logins by password alone"),
)
def password_auth(ctx: CheckContext) -> list[Finding]:
    """A password-only SSH login is guessable from the network; keys, or keys plus a password
    (AuthenticationMethods publickey,password), are the managed form."""
    facts = ctx.get(SSHD, SshdFacts)
    if (u := _unavailable(ctx, facts)) is not None:
        return [u]
    kbd_pw = bool(facts.kbd_interactive_authentication and facts.use_pam)
    pw = bool(facts.password_authentication) or kbd_pw
    methods = facts.authentication_methods or ["any"]
    key_required = methods != ["any"] and all("publickey" in m.split(",") for m in methods)
    pa_ja, pa_en = _origin(facts, "passwordauthentication")
    state_ja = f"PasswordAuthentication {'yes' if facts.password_authentication else 'no'}（{pa_ja}）、" \
               f"KbdInteractiveAuthentication {'yes' if facts.kbd_interactive_authentication else 'no'}、UsePAM {'yes' if facts.use_pam else 'no'}、" \
               f"AuthenticationMethods {' '.join(methods)}"
    state_en = f"PasswordAuthentication {'yes' if facts.password_authentication else 'no'} ({pa_en}), " \
               f"KbdInteractiveAuthentication {'yes' if facts.kbd_interactive_authentication else 'no'}, UsePAM {'yes' if facts.use_pam else 'no'}, " \
               f"AuthenticationMethods {' '.join(methods)}"
    if not pw or key_required or ctx.policy.ssh.password_authentication_allowed:
        why_ja = "パスワード認証は無効" if not pw else ("公開鍵との併用が必須" if key_required else "方針で許可")
        why_en = "password authentication off" if not pw else ("a key is required as well" if key_required else "allowed by policy")
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"{state_ja}: {why_ja}。", en=f"{state_en}: {why_en}."))]
    return [ctx.finding(
        Status.WARN,
        title=Text(ja="SSH にパスワードだけでログインできる", en="SSH accepts a password alone"),
        detail=Text(ja=f"{state_ja}。ネットワークからパスワードの推測を試みられます。",
                    en=f"{state_en}. Passwords can be guessed from the network."),
        remediation=Text(ja="公開鍵認証に移行して PasswordAuthentication no（と KbdInteractiveAuthentication no）にするか、"
                            "AuthenticationMethods publickey,password で鍵との併用を必須にしてください。",
                         en="Move to public keys and set PasswordAuthentication no (and KbdInteractiveAuthentication no), or require "
                            "a key as well with AuthenticationMethods publickey,password."),
    )]


@check(
    "linux.sshd.empty_passwords",
    clauses=("SO-7-12", "SO-8-5"),
    needs=(SSHD,),
    severity=Severity.CRITICAL,
    title=Text(ja="SSH で空パスワードを許可しない", en="SSH refuses empty passwords"),
)
def empty_passwords(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(SSHD, SshdFacts)
    if (u := _unavailable(ctx, facts)) is not None:
        return [u]
    o_ja, o_en = _origin(facts, "permitemptypasswords")
    if facts.permit_empty_passwords:
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja="SSH が空パスワードでのログインを許可", en="SSH allows logins with empty passwords"),
            detail=Text(ja=f"PermitEmptyPasswords yes（{o_ja}）。パスワード欄が空のアカウントにネットワークからパスワードなしでログインできます。",
                        en=f"PermitEmptyPasswords yes ({o_en}): accounts with an empty password can be logged into from the network."),
            remediation=Text(ja="PermitEmptyPasswords no にしてください。", en="Set PermitEmptyPasswords no."),
        )]
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"PermitEmptyPasswords no（{o_ja}）。", en=f"PermitEmptyPasswords no ({o_en})."))]


CRYPTO = (
    ("ciphers", "Ciphers", "weak_ciphers", ("SO-13-10",), "暗号", "ciphers"),
    ("kex_algorithms", "KexAlgorithms", "weak_kex", ("SO-13-10", "SO-13-9"), "鍵交換方式", "key exchange"),
    ("macs", "MACs", "weak_macs", ("SO-13-9",), "MAC（改ざん検知）", "MACs"),
)


@check(
    "linux.sshd.crypto",
    clauses=("SO-13-10", "SO-13-9"),
    needs=(SSHD,),
    severity=Severity.MEDIUM,
    title=Text(ja="SSH の暗号・鍵交換・MAC", en="SSH ciphers, key exchange and MACs"),
)
def crypto(ctx: CheckContext) -> list[Finding]:
    """Weak algorithms still accepted can be negotiated by an old or hostile client: CBC/RC4/3DES ciphers
    and SHA-1 key exchange expose the session (SO-13-10), MD5/SHA-1/64-bit MACs its integrity (SO-13-9)."""
    facts = ctx.get(SSHD, SshdFacts)
    if (u := _unavailable(ctx, facts)) is not None:
        return [u]
    pol = ctx.policy.ssh
    status = Status.FAIL if pol.weak_status == "fail" else Status.WARN
    out: list[Finding] = []
    summary_ja: list[str] = []
    summary_en: list[str] = []
    for attr, kw, weak_attr, clauses, name_ja, name_en in CRYPTO:
        offered: list[str] = getattr(facts, attr)
        weak_set = {w.lower() for w in getattr(pol, weak_attr)}
        weak = [a for a in offered if a in weak_set]
        o_ja, o_en = _origin(facts, kw.lower())
        summary_ja.append(f"{kw} {len(offered)} 件（{o_ja}）")
        summary_en.append(f"{kw}: {len(offered)} ({o_en})")
        if weak:
            out.append(ctx.finding(
                status, subject=attr, clauses=clauses,
                title=Text(ja=f"SSH で弱い{name_ja}が使える", en=f"SSH accepts weak {name_en}"),
                detail=Text(ja=f"{kw}（{o_ja}）に弱い方式があります: {', '.join(weak)}。",
                            en=f"{kw} ({o_en}) includes weak algorithms: {', '.join(weak)}."),
                remediation=Text(ja=f"sshd_config の {kw} を明示し、{', '.join(weak)} を除いてください（例: {kw} -{','.join(weak)}）。",
                                 en=f"Set {kw} explicitly in sshd_config without {', '.join(weak)} (e.g. {kw} -{','.join(weak)})."),
            ))
    if out:
        return out
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja="弱い方式はありません: " + "、".join(summary_ja) + "。",
                                    en="No weak algorithm accepted: " + "; ".join(summary_en) + "."))]


@check(
    "linux.sshd.login_scope",
    clauses=("SO-7-12",),
    needs=(SSHD,),
    severity=Severity.INFO,
    kind=FindingKind.PROMPT,
    title=Text(ja="SSH リモートログインの範囲の確認", en="Confirm who may log in remotely over SSH"),
)
def login_scope(ctx: CheckContext) -> list[Finding]:
    """Whether remote login is limited to what maintenance really needs is a judgement about people;
    tenken lays out who the configuration lets in."""
    facts = ctx.get(SSHD, SshdFacts)
    if (u := _unavailable(ctx, facts)) is not None:
        return [u]
    run_ja, run_en = _running(facts)
    allow = [*(f"user {u}" for u in facts.allow_users), *(f"group {g}" for g in facts.allow_groups)]
    deny = [*(f"user {u}" for u in facts.deny_users), *(f"group {g}" for g in facts.deny_groups)]
    allow_ja = "、".join(allow) if allow else "制限なし（ログインシェルを持つ全アカウント）"
    allow_en = ", ".join(allow) if allow else "not restricted (every account with a login shell)"
    matches = "; ".join(f"Match {m.criteria} ({m.where}): " + ", ".join(f"{k} {v}" for k, v in m.settings.items()) for m in facts.match_blocks)
    return [ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT, title=ctx.spec.title,
        detail=Text(
            ja=f"{run_ja}。ポート: {', '.join(facts.ports) or '22'}。許可: {allow_ja}。拒否: {'、'.join(deny) or 'なし'}。"
               f"PermitRootLogin {facts.permit_root_login}。Match 例外: {matches or 'なし'}。"
               "リモートログインが保守等に必要な者・経路に限られ、運用管理規程で管理されていることを確認してください。",
            en=f"{run_en}. Ports: {', '.join(facts.ports) or '22'}. Allowed: {allow_en}. Denied: {', '.join(deny) or 'none'}. "
               f"PermitRootLogin {facts.permit_root_login}. Match exceptions: {matches or 'none'}. "
               "Confirm remote login is limited to the people and paths maintenance needs, under the operating rules."),
        remediation=Text(ja="不要なら sshd を停止し、必要なら AllowUsers/AllowGroups と接続元制限（ファイアウォール）で範囲を絞ってください。",
                         en="Stop sshd if unneeded; otherwise narrow it with AllowUsers/AllowGroups and source restrictions (firewall)."),
    )]
