"""Password and lockout policy: `secedit /export /mergedpolicy` (locale-independent keys, the effective
policy including domain GPO) and `net accounts` (localised); on a domain member also
`net accounts /domain` (the domain's default policy, as the DC answers it).

secedit needs administrator rights and is the only source of PasswordComplexity and ClearTextPassword;
`net accounts` works for any user but prints labels in the host's language, so its parser knows the
English and Japanese ones. When both are read, secedit wins (it is what the Local Security Authority
stores); `net accounts` fills what secedit could not give.
"""

from __future__ import annotations

import re

from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_int, as_str, command_text, ps_json

SECEDIT_SCRIPT = r"""
$f = [System.IO.Path]::GetTempFileName()
$log = [System.IO.Path]::GetTempFileName()
try {
  # /mergedpolicy: the effective policy (local merged with domain GPO), not only the local database.
  # No stderr-to-stdout redirection: under ErrorActionPreference=Stop a native tool's stderr would become a terminating error.
  $ErrorActionPreference = 'Continue'
  $o = & secedit.exe /export /mergedpolicy /cfg $f /areas SECURITYPOLICY /quiet /log $log
  $rc = $LASTEXITCODE
  $ErrorActionPreference = 'Stop'
  $dom = $null; try { $cs = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop; if ($cs.PartOfDomain) { $dom = [string]$cs.Domain } } catch { }
  $t = if ((Test-Path -LiteralPath $f) -and (Get-Item -LiteralPath $f).Length -gt 0) { Get-Content -LiteralPath $f -Raw -Encoding Unicode } else { '' }
} finally { Remove-Item -LiteralPath $f,$log -Force -ErrorAction SilentlyContinue }
[pscustomobject]@{ExitCode=$rc;Inf=$t;Message=[string]($o -join ' ');Domain=$dom} | ConvertTo-Json -Compress
"""

# INF keys in [System Access] we keep (they are the same on every language edition)
SECEDIT_KEYS = (
    "MinimumPasswordAge", "MaximumPasswordAge", "MinimumPasswordLength", "PasswordComplexity",
    "PasswordHistorySize", "LockoutBadCount", "ResetLockoutCount", "LockoutDuration", "ClearTextPassword",
)


class PasswordPolicyFacts(Facts):
    min_length: int | None = None
    complexity: bool | None = None
    max_age_days: int | None = None  # None: passwords never expire
    min_age_days: int | None = None
    history: int | None = None
    lockout_threshold: int | None = None  # 0: never locks out
    lockout_duration_minutes: int | None = None
    lockout_window_minutes: int | None = None
    reversible_encryption: bool | None = None  # "store passwords using reversible encryption"
    source: str | None = None  # secedit | net accounts | secedit+net accounts
    #: the AD domain the host is a member of (None: workgroup, or not known)
    domain: str | None = None
    #: `net accounts /domain` on a domain member: the domain's default password policy as the DC reports it
    #: (same keys as parse_net_accounts); the effective policy above comes from `secedit /mergedpolicy`.
    domain_policy: dict[str, int | None] | None = None


def parse_secedit_inf(text: str) -> dict[str, int]:
    """[System Access] integer settings of a secedit export. Pure; unknown lines are ignored."""
    out: dict[str, int] = {}
    section = ""
    for line in text.replace("\ufeff", "").splitlines():
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1].strip().lower()
            continue
        if section != "system access" or "=" not in s:
            continue
        k, _, v = s.partition("=")
        k, v = k.strip(), v.strip()
        if k in SECEDIT_KEYS and re.fullmatch(r"-?\d{1,9}", v):
            out[k] = int(v)
    return out


# label patterns for `net accounts`, English and Japanese editions
_NET_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("min_length", re.compile(r"minimum password length|最小パスワード長|パスワードの最小長", re.I)),
    ("max_age", re.compile(r"maximum password age|最長有効期間|最大有効期間|パスワードの有効期間の最大", re.I)),
    ("min_age", re.compile(r"minimum password age|最短有効期間|最小有効期間|パスワードの有効期間の最小", re.I)),
    ("history", re.compile(r"password history|パスワードの履歴|パスワード履歴", re.I)),
    ("lockout_threshold", re.compile(r"lockout threshold|ロックアウトのしきい値|ロックアウトしきい値", re.I)),
    ("lockout_duration", re.compile(r"lockout duration|ロックアウト期間|ロックアウトの期間", re.I)),
    # the window's Japanese label differs between editions and quotes (監視ウィンドウ, 監視期間, 観察期間): any
    # "ロックアウト(の)" + 監視/観察/観測, or the counter reset wording
    ("lockout_window", re.compile(r"lockout observation window|ロックアウトの?(?:監視|観察|観測)|監視ウィンドウ|カウンターのリセット|ロックアウトカウンター", re.I)),
)
_NEVER = re.compile(r"^(never|unlimited|none|なし|無制限|無期限|しない)$", re.I)
_LINE = re.compile(r"^(.+?)[:：]\s*(\S.*?)\s*$")


def parse_net_accounts(text: str) -> dict[str, int | None]:
    """`net accounts` in English or Japanese. "Never"/"なし"/"無制限" map to None. Pure, total."""
    out: dict[str, int | None] = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        label, value = m.group(1), m.group(2)
        for key, pat in _NET_LABELS:
            if pat.search(label) and key not in out:
                v = value.strip()
                if _NEVER.match(v):
                    out[key] = None
                elif re.fullmatch(r"\d{1,9}", v):
                    out[key] = int(v)
                break
    return out


def merge_policy(secedit: dict[str, int] | None, net: dict[str, int | None] | None) -> PasswordPolicyFacts:
    """secedit values over `net accounts` ones; returns the typed facts (unavailable left to the caller)."""
    f = PasswordPolicyFacts()
    net = net or {}
    sources = []
    if net:
        sources.append("net accounts")
        f.min_length = net.get("min_length")
        f.max_age_days = net.get("max_age")
        f.min_age_days = net.get("min_age")
        f.history = net.get("history")
        # "Never" locks out == threshold 0
        f.lockout_threshold = net["lockout_threshold"] if net.get("lockout_threshold") is not None else (0 if "lockout_threshold" in net else None)
        f.lockout_duration_minutes = net.get("lockout_duration")
        f.lockout_window_minutes = net.get("lockout_window")
    if secedit:
        sources.insert(0, "secedit")
        s = secedit
        if "MinimumPasswordLength" in s:
            f.min_length = s["MinimumPasswordLength"]
        if "MaximumPasswordAge" in s:
            f.max_age_days = None if s["MaximumPasswordAge"] <= 0 else s["MaximumPasswordAge"]
        if "MinimumPasswordAge" in s:
            f.min_age_days = s["MinimumPasswordAge"]
        if "PasswordHistorySize" in s:
            f.history = s["PasswordHistorySize"]
        if "LockoutBadCount" in s:
            f.lockout_threshold = s["LockoutBadCount"]
        if "LockoutDuration" in s:
            f.lockout_duration_minutes = s["LockoutDuration"]
        if "ResetLockoutCount" in s:
            f.lockout_window_minutes = s["ResetLockoutCount"]
        if "PasswordComplexity" in s:
            f.complexity = s["PasswordComplexity"] == 1
        if "ClearTextPassword" in s:
            f.reversible_encryption = s["ClearTextPassword"] == 1
    if net and not secedit and f.max_age_days is not None and f.max_age_days <= 0:
        f.max_age_days = None
    f.source = "+".join(sources) or None
    return f


@collector("windows.password_policy", facts=PasswordPolicyFacts, os=OsFamily.WINDOWS)
def collect_password_policy(p: Probe) -> PasswordPolicyFacts:
    """Password length, complexity, age and lockout from secedit, with net accounts as a fallback."""
    secedit: dict[str, int] | None = None
    domain: str | None = None
    ok, data = ps_json(p, SECEDIT_SCRIPT, fact="secedit", ref="secedit /export /mergedpolicy /areas SECURITYPOLICY")
    if ok:
        try:
            d = as_dict(data)
            domain = as_str(d.get("Domain")) or None
            inf = as_str(d.get("Inf")) or ""
            rc = as_int(d.get("ExitCode"))
            secedit = parse_secedit_inf(inf)
            if not secedit:
                msg = as_str(d.get("Message")) or ""
                reason = Reason.DENIED if rc in (5, 1) and ("denied" in msg.lower() or "拒否" in msg or rc == 5) else Reason.FAILED
                p.note("secedit", reason, f"secedit exported nothing (exit {rc}): {msg[:200]}")
                secedit = None
        except ParseError as exc:
            p.note("secedit", Reason.FAILED, f"unexpected secedit output: {exc}")
    net_text = command_text(p, ["net", "accounts"], fact="net_accounts")
    net = parse_net_accounts(net_text) if net_text is not None else None
    if net_text is not None and not net:
        p.note("net_accounts", Reason.FAILED, "net accounts printed no recognised setting")
    facts = merge_policy(secedit, net)
    facts.domain = domain
    if domain:
        dom_text = command_text(p, ["net", "accounts", "/domain"], fact="domain_policy")
        if dom_text is not None:
            facts.domain_policy = parse_net_accounts(dom_text) or None
            if facts.domain_policy is None:
                p.note("domain_policy", Reason.FAILED, "net accounts /domain printed no recognised setting")
    if facts.min_length is None:
        p.note("policy", Reason.FAILED, "neither secedit nor net accounts gave the password policy")
    if facts.complexity is None:
        p.note("complexity", Reason.DENIED if (u := p.unavailable.get("secedit")) and u.reason is Reason.DENIED else Reason.FAILED,
               "password complexity is only visible through secedit (needs an administrator)")
    return facts
