"""Host protections: BitLocker (SO-7-3), Windows Firewall and removable storage
(clauses shared with Linux: checks/rules/host.py).

Policy `host` is shared with Linux: `require_disk_encryption` with `disk_encryption_scope` (portable
machines fail, others warn, unless `all`), `require_firewall`, `require_usb_storage_block`.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules import host as host_rules
from tenken.checks.rules import screen_lock as lock_rule
from tenken.collectors.windows.bitlocker import BitLockerFacts
from tenken.collectors.windows.firewall import FirewallFacts
from tenken.collectors.windows.screen_lock import ScreenLockFacts
from tenken.collectors.windows.usb import UsbFacts

W = OsFamily.WINDOWS
BL = "windows.bitlocker"
FW = "windows.firewall"
USB = "windows.usb"


@check("windows.bitlocker", clauses=("SO-7-3",), needs=(BL,), os=W, severity=Severity.HIGH,
       title=Text(ja="ディスクの暗号化（BitLocker）", en="Disk encryption (BitLocker)"))
def bitlocker(ctx: CheckContext) -> list[Finding]:
    """SO-7-3: contents of devices that leave the site must not be readable if lost. Laptops fail; other
    machines warn unless the policy's scope is `all`."""
    f = ctx.get(BL, BitLockerFacts)
    hp = ctx.policy.host
    if (u := f.missing("volumes")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    portable = hp.portable if hp.portable is not None else f.portable
    strict = hp.disk_encryption_scope == "all" or bool(portable)
    miss = Status.FAIL if (hp.require_disk_encryption and strict) else Status.WARN
    kind_ja = "持ち出し可能な端末" if portable else ("端末" if portable is None else "据え置きの機器")
    kind_en = "a portable device" if portable else ("a device of unknown type" if portable is None else "a stationary machine")
    fix = Text(ja="manage-bde -on C: -RecoveryPassword（または Enable-BitLocker）で暗号化し、回復キーを安全に保管してください。",
               en="Encrypt with manage-bde -on C: -RecoveryPassword (or Enable-BitLocker) and keep the recovery key safe.")
    if not f.available:
        return [ctx.finding(
            miss, subject="BitLocker", title=Text(ja="BitLocker が導入されていない", en="BitLocker not installed"),
            detail=Text(ja=f"この{kind_ja}には BitLocker 機能がなく、ディスクは暗号化されていないと考えられます。",
                        en=f"This is {kind_en} without the BitLocker feature; its disks are presumably unencrypted."),
            remediation=Text(ja="BitLocker 機能を追加して暗号化するか、他の製品で暗号化している場合は例外（waiver）に記録してください。",
                             en="Add the BitLocker feature and encrypt, or record a waiver if another product encrypts the disks."),
        )]
    fixed = [v for v in f.volumes if v.volume_type in ("OperatingSystem", "FixedData", None)]
    if not fixed:
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, severity=Severity.MEDIUM,
                            detail=Text(ja="BitLocker がボリュームを 1 つも報告しませんでした。", en="BitLocker reported no volume."))]
    out = []
    for v in fixed:
        if v.protected:
            continue
        state = f"{v.protection or '?'} / {v.volume_status or '?'}"
        out.append(ctx.finding(
            miss, subject=v.mount_point, title=Text(ja="暗号化されていないボリューム", en="Volume not protected by BitLocker"),
            detail=Text(ja=f"{kind_ja}のボリューム {v.mount_point}（{v.volume_type or '?'}）は保護されていません（{state}）。",
                        en=f"Volume {v.mount_point} ({v.volume_type or '?'}) on {kind_en} is not protected ({state})."),
            remediation=fix,
        ))
    if out:
        return out
    methods = sorted({v.encryption_method or "?" for v in fixed})
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"{len(fixed)} ボリュームすべてが BitLocker で保護されています（{', '.join(methods)}）。",
                                    en=f"All {len(fixed)} volumes are BitLocker-protected ({', '.join(methods)})."))]


@check("windows.firewall", clauses=host_rules.FIREWALL, needs=(FW,), os=W, severity=Severity.HIGH,
       title=Text(ja="Windows ファイアウォール", en="Windows Firewall"))
def firewall(ctx: CheckContext) -> list[Finding]:
    """SO-8-3 asks to stop threats spreading over connected networks, SO-7-4 names the personal firewall:
    every profile on, inbound blocked unless a rule allows it."""
    f = ctx.get(FW, FirewallFacts)
    if (u := f.missing("profiles")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    status = Status.FAIL if ctx.policy.host.require_firewall else Status.WARN
    bl = ctx.facts.get(BL)  # optional: BitLocker's chassis facts say whether this is a portable device (SO-7-4)
    portable = ctx.policy.host.portable if ctx.policy.host.portable is not None else (
        bl.portable if isinstance(bl, BitLockerFacts) else None)
    clauses = host_rules.firewall_clauses(portable)
    out = []
    for p in f.profiles:
        if not p.enabled:
            out.append(ctx.finding(
                status, subject=p.name, clauses=clauses, title=Text(ja="ファイアウォールのプロファイルが無効", en="Firewall profile off"),
                detail=Text(ja=f"{p.name} プロファイルのファイアウォールが無効です。", en=f"The firewall is off for the {p.name} profile."),
                remediation=Text(ja=f"Set-NetFirewallProfile -Profile {p.name} -Enabled True を実行してください。",
                                 en=f"Run Set-NetFirewallProfile -Profile {p.name} -Enabled True."),
            ))
        elif p.default_inbound == "Allow":
            out.append(ctx.finding(
                status, subject=p.name, clauses=clauses, title=Text(ja="受信を既定で許可している", en="Inbound allowed by default"),
                detail=Text(ja=f"{p.name} プロファイルは規則にない受信接続も許可します。", en=f"The {p.name} profile allows inbound connections no rule permits."),
                remediation=Text(ja=f"Set-NetFirewallProfile -Profile {p.name} -DefaultInboundAction Block を実行してください。",
                                 en=f"Run Set-NetFirewallProfile -Profile {p.name} -DefaultInboundAction Block."),
            ))
    if out:
        return out
    names = ", ".join(p.name for p in f.profiles)
    return [ctx.finding(Status.PASS, title=ctx.spec.title, clauses=clauses,
                        detail=Text(ja=f"すべてのプロファイル（{names}）でファイアウォールが有効で、受信は既定で遮断されます。",
                                    en=f"The firewall is on for every profile ({names}) and blocks inbound by default."))]


@check("windows.usb.storage", clauses=host_rules.USB_STORAGE, needs=(USB,), os=W, severity=Severity.MEDIUM,
       title=Text(ja="USB 記憶装置の制限", en="USB storage restricted"))
def usb_storage(ctx: CheckContext) -> list[Finding]:
    """MHLW checklist ⑨ (external media restricted); SO-8-1: unmanaged media only after checks. Sites that
    control media by procedure instead record a waiver, or set host.require_usb_storage_block: false (warn)."""
    f = ctx.get(USB, UsbFacts)
    if (u := f.missing("usb")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    if f.blocked:
        how = "USBSTOR ドライバー無効（Start=4）" if f.usbstor_start == 4 else "グループ ポリシー（リムーバブル記憶域へのアクセス拒否）"
        how_en = "USBSTOR driver disabled (Start=4)" if f.usbstor_start == 4 else "Group Policy (removable storage access denied)"
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"USB 記憶装置は使用できません: {how}。", en=f"USB storage is blocked: {how_en}."))]
    # as on Linux (policy.yaml host.require_usb_storage_block): required -> fail, otherwise a warning
    status = Status.FAIL if ctx.policy.host.require_usb_storage_block else Status.WARN
    partial_ja = "書き込みのみ禁止されています。" if f.disk_deny_write else "制限されていません。"
    partial_en = "only writing is denied." if f.disk_deny_write else "not restricted."
    return [ctx.finding(
        status, subject="USBSTOR", title=Text(ja="USB 記憶装置が使用できる", en="USB storage usable"),
        detail=Text(ja=f"USB メモリ等の記憶装置は{partial_ja}持込み媒体によるマルウェア感染や情報の持出しを技術的に防げません。",
                    en=f"USB mass storage is {partial_en} Malware brought in on media, or data carried out, is not technically prevented."),
        remediation=Text(ja="グループ ポリシー「すべてのリムーバブル記憶域クラス: すべてのアクセスを拒否」を有効にするか、"
                            "HKLM\\SYSTEM\\CurrentControlSet\\Services\\USBSTOR の Start を 4 にしてください。運用で管理している場合は例外に記録してください。",
                         en="Enable the Group Policy 'All Removable Storage classes: Deny all access', or set Start=4 under "
                            "HKLM\\SYSTEM\\CurrentControlSet\\Services\\USBSTOR. If media are controlled by procedure, record a waiver."),
    )]


SCREEN = "windows.screen_lock"


def screen_settings(f: ScreenLockFacts) -> list[lock_rule.LockSetting]:
    """The machine inactivity limit first (it binds every user), then Group Policy, then users' own screen savers."""
    out = []
    if f.inactivity_timeout_seconds is not None:
        out.append(lock_rule.LockSetting(source="Interactive logon: Machine inactivity limit (InactivityTimeoutSecs)",
                                         idle_seconds=f.inactivity_timeout_seconds, lock_enabled=True, enforced=True))
    for s in sorted(f.screensavers, key=lambda s: not s.policy):
        where = "Group Policy screen saver" if s.policy else "user's own screen saver"
        out.append(lock_rule.LockSetting(
            source=f"{where} ({s.sid}: ScreenSaveActive={int(bool(s.active))}, ScreenSaverIsSecure={int(bool(s.secure))}, "
                   f"ScreenSaveTimeOut={s.timeout_seconds})",
            idle_seconds=s.timeout_seconds, lock_enabled=bool(s.active) and bool(s.secure), enforced=s.policy))
    return out


@check("windows.screen_lock", clauses=lock_rule.CLAUSES, needs=(SCREEN,), os=W, severity=Severity.MEDIUM, title=lock_rule.TITLE)
def screen_lock(ctx: CheckContext) -> list[Finding]:
    """The same rule as linux.host.screen_lock (checks/rules/screen_lock.py) over the registry's settings."""
    f = ctx.get(SCREEN, ScreenLockFacts)
    if (u := f.missing("screen_lock")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    limit = ctx.policy.host.max_screen_lock_idle_seconds
    desktop = f"Windows {f.installation_type or ''}".strip() if f.desktop else None
    fix = Text(ja=f"グループ ポリシーの「対話型ログオン: コンピューターの非アクティブ状態の制限」を {limit} 秒以下に設定してください"
                  "（またはユーザーの構成で、パスワード付きスクリーン セーバーとそのタイムアウトを強制してください）。",
               en=f"Set the Group Policy 'Interactive logon: Machine inactivity limit' to {limit} seconds or less "
                  "(or enforce a password-protected screen saver and its timeout under User Configuration).")
    return [ctx.verdict(lock_rule.judge_screen_lock(screen_settings(f), ctx.policy.host, desktop=desktop, fix_enforce=fix, fix_set=fix))]
