"""Two-factor authentication (SO-14-5; MHLW checklist 2-10, target FY2027): what the host's own login
configuration shows of a second factor.

Evidence of a second factor on a Linux host is either OpenSSH requiring two methods in one
`AuthenticationMethods` entry (e.g. `publickey,keyboard-interactive`), or a one-time-password / hardware
token PAM module that is binding (required/requisite) in the login or sshd auth stack. Without either it is
a warn, not a fail: the guideline asks two-factor of systems introduced or renewed with FY2027 in view, and a
central product (a VPN, an IdP, a smart-card logon on the terminals) may provide it where this host cannot see.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.linux.passwords import PWPOL, _pam_missing, enforcing
from tenken.checks.registry import CheckContext, check
from tenken.collectors.linux.password_policy import PasswordPolicyFacts
from tenken.collectors.linux.sshd import SshdFacts

SSHD = "linux.sshd"
#: PAM modules that add a factor beyond the password: TOTP/HOTP, FIDO U2F, Duo, YubiKey OTP, smart cards.
SECOND_FACTOR_MODULES = ("pam_google_authenticator", "pam_oath", "pam_u2f", "pam_duo", "pam_yubico", "pam_pkcs11", "pam_p11", "pam_radius_auth")


@check(
    "linux.auth.two_factor",
    clauses=("SO-14-5",),
    needs=(PWPOL, SSHD),
    severity=Severity.MEDIUM,
    title=Text(ja="二要素認証の採用", en="Two-factor authentication in use"),
)
def two_factor(ctx: CheckContext) -> list[Finding]:
    pam = ctx.get(PWPOL, PasswordPolicyFacts)
    sshd = ctx.get(SSHD, SshdFacts)
    ssh_multi = [m for m in sshd.authentication_methods if "," in m]
    pam_hits = [ln for ln in pam.auth_stack if ln.module in SECOND_FACTOR_MODULES and enforcing(ln.control)]
    if ssh_multi or pam_hits:
        where = [f"sshd AuthenticationMethods {m}" for m in ssh_multi] + [f"{ln.file}:{ln.line} {ln.module} ({ln.control})" for ln in pam_hits]
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"第二の認証要素が必須になっています: {'; '.join(where)}。",
                                        en=f"A second factor is required: {'; '.join(where)}."))]
    if (pf := _pam_missing(ctx, pam)) is not None and not sshd.authentication_methods:
        return [pf]
    if ctx.policy.passwords.mfa_in_place:
        return [ctx.finding(
            Status.MANUAL, subject="/etc/pam.d, sshd_config", title=ctx.spec.title,
            detail=Text(ja="サイト方針（passwords.mfa_in_place）は二要素認証ありとしていますが、このホストの sshd・PAM 設定には第二要素がありません。"
                           "二要素を提供する仕組み（VPN・IdP 等）の証跡を確認してください。",
                        en="The site policy (passwords.mfa_in_place) declares two-factor authentication, but this host's sshd and PAM "
                           "settings show no second factor: confirm the evidence of the system that provides it (VPN, IdP)."),
            remediation=Text(ja="二要素を提供する仕組みの設定・運用記録を証跡として添付してください。",
                             en="Attach the configuration or records of the system that provides the second factor."))]
    optional = [f"{ln.file}:{ln.line} {ln.module} ({ln.control})" for ln in pam.auth_stack if ln.module in SECOND_FACTOR_MODULES]
    note_ja = f" 任意扱いの第二要素モジュールはあります: {'; '.join(optional)}。" if optional else ""
    note_en = f" A second-factor module is present but optional: {'; '.join(optional)}." if optional else ""
    return [ctx.finding(
        Status.WARN, subject="/etc/pam.d, sshd_config", title=Text(ja="二要素認証が確認できない", en="No second factor found"),
        detail=Text(ja="sshd の AuthenticationMethods にも、PAM の auth スタック（" + (", ".join(pam.entries) or "なし")
                       + "）にも必須の第二要素がありません。VPN・IdP など他の仕組みで実施している場合はその証跡を添えてください。" + note_ja,
                    en="Neither sshd's AuthenticationMethods nor the PAM auth stacks (" + (", ".join(pam.entries) or "none")
                       + ") require a second factor. If another system (VPN, IdP) provides it, attach its evidence." + note_en),
        remediation=Text(ja="令和9年度を目途に二要素認証を導入してください（例: sshd で AuthenticationMethods publickey,keyboard-interactive"
                            " と pam_google_authenticator / pam_u2f を required で設定）。",
                         en="Introduce two-factor authentication by FY2027 (e.g. sshd AuthenticationMethods publickey,keyboard-interactive"
                            " with pam_google_authenticator or pam_u2f as required)."))]
