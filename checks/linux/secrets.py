"""Plaintext secrets in configuration files (SO-14-6: "設定ファイルにパスワードが平文で記載される等があって
はならない"; SO-14-2: IDs and passwords known only to their owner).

Findings name the file, the line and the key — never the value, which the collector never kept.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.collectors.linux.secrets import SecretHit, SecretsFacts

SECRETS = "linux.secrets"


def _perm(h: SecretHit) -> tuple[str, str]:
    if h.mode is None:
        return "権限不明", "permissions unknown"
    return f"mode {h.mode:04o}, uid {h.uid}, gid {h.gid}", f"mode {h.mode:04o}, uid {h.uid}, gid {h.gid}"


@check(
    "linux.secrets.plaintext",
    clauses=("SO-14-6", "SO-14-2"),
    needs=(SECRETS,),
    severity=Severity.HIGH,
    title=Text(ja="設定ファイルに平文のパスワードがない", en="No plaintext passwords in configuration files"),
)
def plaintext(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(SECRETS, SecretsFacts)
    out: list[Finding] = []
    for h in facts.hits:
        p_ja, p_en = _perm(h)
        # SO-14-6 is unconditional: a plaintext password fails wherever it is written. Who may read the file
        # only mitigates, and the finding says so.
        status = Status.FAIL
        if h.root_only is False:
            reach_ja, reach_en = "root 以外も読めるファイル", "readable by users other than root"
        elif h.root_only:
            reach_ja, reach_en = ("root のみ読めるファイル（緩和要因: 一般利用者は読めませんが、運用者には値が見えます）",
                                  "readable by root only (mitigating: ordinary users cannot read it, but operators still see the value)")
        else:
            reach_ja, reach_en = "読める範囲を確認できないファイル", "a file whose readers could not be determined"
        what_ja = "秘密鍵" if h.kind == "private_key" else ("パスワード（ファイル全体）" if h.kind == "file" else f"パスワード（{h.key}）")
        what_en = "a private key" if h.kind == "private_key" else ("a password (whole file)" if h.kind == "file" else f"a password ({h.key})")
        out.append(ctx.finding(
            status, subject=f"{h.path}:{h.line}",
            severity=Severity.MEDIUM if h.root_only else Severity.HIGH,
            title=Text(ja=f"平文の{'秘密鍵' if h.kind == 'private_key' else 'パスワード'}が設定ファイルにある",
                       en=f"Plaintext {'private key' if h.kind == 'private_key' else 'password'} in a configuration file"),
            detail=Text(ja=f"{h.path} の {h.line} 行目に{what_ja}が平文で記載されています（{reach_ja}: {p_ja}）。値は記録していません。",
                        en=f"{h.path} line {h.line} holds {what_en} in plaintext ({reach_en}: {p_en}). The value was not recorded."),
            remediation=Text(
                ja="資格情報ファイル（mode 0600、root 所有）やキーリング・秘密情報管理に移し、値を変更してください。"
                   "cifs は credentials= ファイル、sssd は ldap_default_authtok_type obfuscated_password 以上の手段を検討してください。",
                en="Move it to a root-owned 0600 credentials file or a secret store, and change the value. For cifs use a "
                   "credentials= file; for sssd consider more than obfuscated_password."),
        ))
    for path, why in sorted(facts.unreadable.items()):
        out.append(ctx.finding(
            Status.ERROR, subject=path, severity=Severity.MEDIUM,
            title=Text(ja="設定ファイルを確認できない", en="Configuration file could not be checked"),
            detail=Text(ja=f"{path} を読めないため、平文のパスワードの有無を確認できません（{why}）。",
                        en=f"{path} could not be read, so it was not checked for plaintext passwords ({why})."),
            remediation=Text(ja="root 権限で再実行してください。", en="Re-run with root privileges."),
        ))
    if out:
        return out
    if not facts.scanned:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title, detail=Text(
            ja="確認対象の設定ファイルがありませんでした（policy の secrets.paths で追加できます）。",
            en="None of the configuration files searched exists here (add more with secrets.paths in the policy)."))]
    hashed_ja = f"（ハッシュ化された値 {facts.hashed_values} 件は対象外）" if facts.hashed_values else ""
    hashed_en = f" ({facts.hashed_values} hashed values ignored)" if facts.hashed_values else ""
    return [ctx.finding(Status.PASS, title=ctx.spec.title, detail=Text(
        ja=f"確認した {len(facts.scanned)} ファイル（{', '.join(facts.scanned) or 'なし'}）に平文のパスワード・秘密鍵はありません{hashed_ja}。",
        en=f"No plaintext password or private key in the {len(facts.scanned)} files checked ({', '.join(facts.scanned) or 'none'}){hashed_en}."))]
