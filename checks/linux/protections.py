"""Host protections: inbound firewall, disk encryption, USB mass storage, screen lock.

Clause mapping (read against config/catalogue.yaml):
* firewall -> SO-7-12 ("適切に管理されたリモートログインのみに制限する機能": a host filter is that function at
  the host) and SO-13-5 (no rogue device or data may connect); SO-7-4 (personal firewall) too when the host
  is portable. MHLW checklist ⑬ (connection-source restriction).
* disk encryption -> SO-7-3 (devices taken off-site encrypted so their contents cannot easily be read).
  Fails on portable devices; warns elsewhere unless policy `host.disk_encryption_scope: all`.
* USB mass storage -> SO-8-1 (unmanaged media only after safety checks); MHLW checklist ⑨ (USB media
  restricted).
* screen lock -> SO-7-3 (access password so an unattended device cannot be read) and SO-14-2 (the
  authenticated session stays the user's own: an unlocked idle desktop lends it to whoever sits down).
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules import host as host_rules
from tenken.checks.rules import screen_lock as lock_rule
from tenken.collectors.linux.protections import PORTABLE_CHASSIS, FilterState, ProtectionFacts

PROT = "linux.protections"


def portable(ctx: CheckContext, f: ProtectionFacts) -> bool | None:
    """The site's declaration wins; else an SMBIOS laptop/tablet chassis or a battery says portable."""
    if ctx.policy.host.portable is not None:
        return ctx.policy.host.portable
    e = f.encryption
    if e.chassis_type in PORTABLE_CHASSIS or e.has_battery:
        return True
    if e.chassis_type is not None:
        return False
    return None


def _filters(s: FilterState) -> bool:
    if not s.active:
        return False
    if s.backend == "ufw":
        # ufw's default incoming policy decides; unknown is not evidence of filtering
        return s.input_policy in ("deny", "drop", "reject")
    if s.backend == "firewalld":
        return s.input_policy not in ("accept",)
    return s.input_policy in ("drop", "reject") or s.blocking_rules > 0


def _describe(s: FilterState) -> str:
    bits = [f"{s.backend} ({s.source})"]
    if s.input_policy:
        bits.append(f"input policy {s.input_policy}")
    if s.backend in ("nftables", "iptables"):
        bits.append(f"{s.input_rules} input rules, {s.blocking_rules} drop/reject")
    bits.append(("active" if s.runtime else "enabled at boot") if s.active else ("inactive" if s.runtime else "not enabled at boot"))
    return ", ".join(bits)


@check(
    "linux.host.firewall",
    clauses=host_rules.FIREWALL,
    needs=(PROT,),
    severity=Severity.HIGH,
    title=Text(ja="ホストファイアウォールによる接続元の制限", en="Host firewall restricts inbound connections"),
)
def firewall(ctx: CheckContext) -> list[Finding]:
    """An inbound filter (nftables, iptables, ufw, firewalld) is the host's own connection-source restriction."""
    f = ctx.get(PROT, ProtectionFacts)
    fw = f.firewall
    clauses = host_rules.firewall_clauses(portable(ctx, f))
    live = [s for s in fw.states if s.runtime]
    boot = [s for s in fw.states if not s.runtime]
    judged = live if fw.runtime_checked else boot
    good = [s for s in judged if _filters(s)]
    seen = "; ".join(_describe(s) for s in fw.states) or "—"
    if good:
        how_ja = "稼働中" if fw.runtime_checked else "起動時の設定"
        how_en = "running" if fw.runtime_checked else "boot configuration"
        return [ctx.finding(
            Status.PASS, title=ctx.spec.title, clauses=clauses,
            detail=Text(ja=f"受信を制限するファイアウォール（{how_ja}）: " + "; ".join(_describe(s) for s in good),
                        en=f"Inbound filtering ({how_en}): " + "; ".join(_describe(s) for s in good)),
        )]
    if fw.runtime_checked:
        for fact in ("nft", "iptables", "ufw"):
            u = f.missing(fact)
            if u is not None and u.reason.value in ("denied", "timeout", "failed"):
                return [ctx.unavailable(u, title=ctx.spec.title)]
    status = Status.FAIL if ctx.policy.host.require_firewall else Status.WARN
    where_ja = "稼働中のファイアウォール規則" if fw.runtime_checked else "起動時に有効になるファイアウォール設定"
    where_en = "running firewall rules" if fw.runtime_checked else "firewall configuration enabled at boot"
    return [ctx.finding(
        status, clauses=clauses,
        title=Text(ja="ホストファイアウォールが無効", en="No active host firewall"),
        detail=Text(ja=f"受信を制限する{where_ja}がありません（検出: {seen}）。どこからでもこのホストのサービスに接続できます。",
                    en=f"No {where_en} restrict inbound connections (seen: {seen}); any network peer can reach this host's services."),
        remediation=Text(
            ja="nftables（input チェインを policy drop にし、保守用の接続元だけ許可）・ufw（ufw default deny incoming; ufw enable）・firewalld のいずれかを有効にしてください。",
            en="Enable nftables (input chain policy drop, allow only the management sources), ufw (ufw default deny incoming; ufw enable) or firewalld."),
    )]


@check(
    "linux.host.disk_encryption",
    clauses=("SO-7-3",),
    needs=(PROT,),
    severity=Severity.HIGH,
    title=Text(ja="ディスクの暗号化", en="Disk encryption"),
)
def disk_encryption(ctx: CheckContext) -> list[Finding]:
    """SO-7-3: a stolen or lost device must not be readable. Decisive for portable devices, advisory elsewhere."""
    f = ctx.get(PROT, ProtectionFacts)
    e = f.encryption
    pol = ctx.policy.host
    if e.method is None:
        for fact in ("fstab", "lsblk"):
            if (u := f.missing(fact)) is not None:
                return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, severity=Severity.MEDIUM,
                            detail=Text(ja="マウント情報を取得できず、暗号化を判定できません。", en="No mount information: encryption cannot be judged."))]
    port = portable(ctx, f)
    plain = [m for m in e.mounts if m.encrypted is False]
    unknown = [m for m in e.mounts if m.encrypted is None]
    if port is True:
        kind_ja, kind_en = "持ち出し可能な端末", "a portable device"
        bad = Status.FAIL if pol.require_disk_encryption else Status.WARN
    else:
        kind_ja = "持ち出さない端末" if port is False else "種別不明の端末（持ち出し可否を判定できない）"
        kind_en = "a non-portable device" if port is False else "a device of unknown type (portability not known)"
        bad = Status.FAIL if pol.disk_encryption_scope == "all" and pol.require_disk_encryption else Status.WARN
    if not plain and not unknown and e.mounts:
        return [ctx.finding(
            Status.PASS, title=ctx.spec.title,
            detail=Text(ja="すべてのファイルシステムが dm-crypt 上にあります: " + ", ".join(f"{m.mount_point}（{m.via}）" for m in e.mounts),
                        en="Every filesystem sits on dm-crypt: " + ", ".join(f"{m.mount_point} ({m.via})" for m in e.mounts)),
        )]
    out = []
    for m in plain:
        out.append(ctx.finding(
            bad, subject=m.mount_point,
            title=Text(ja="暗号化されていないファイルシステム", en="Unencrypted filesystem"),
            detail=Text(
                ja=f"{m.mount_point}（{m.source}）は暗号化されていません（{m.via}、判定方法 {e.method}）。このホストは{kind_ja}として判定しました"
                   + ("。" if port else "。サーバ室等で物理的に保護されていることを確認してください（SO-12-2/12-3）。"),
                en=f"{m.mount_point} ({m.source}) is not encrypted ({m.via}; method {e.method}). This host was judged as {kind_en}"
                   + ("." if port else "; confirm it is physically protected (locked machine room, SO-12-2/12-3).")),
            remediation=Text(
                ja="LUKS（dm-crypt）で暗号化してください（再インストール時に暗号化を選択、または cryptsetup reencrypt）。"
                   "持ち出さないサーバは方針 host.portable: false で明示できます。",
                en="Encrypt with LUKS (choose encryption at installation, or cryptsetup reencrypt). Declare a "
                   "non-portable server with host.portable: false in the policy."),
        ))
    for m in unknown:
        out.append(ctx.finding(
            Status.WARN, subject=m.mount_point,
            title=Text(ja="暗号化の有無を証明できない", en="Encryption could not be proven"),
            detail=Text(ja=f"{m.mount_point}（{m.source}）: {m.via}。", en=f"{m.mount_point} ({m.source}): {m.via}."),
            remediation=Text(ja="稼働中のホストに対して再実行してください。", en="Re-run against the running host."),
        ))
    return out


@check(
    "linux.host.usb_storage",
    clauses=host_rules.USB_STORAGE,
    needs=(PROT,),
    severity=Severity.MEDIUM,
    title=Text(ja="USB 記憶装置の利用制限", en="USB mass storage restricted"),
)
def usb_storage(ctx: CheckContext) -> list[Finding]:
    """MHLW checklist ⑨ and SO-8-1: unmanaged media are a malware path; the kernel should refuse usb-storage."""
    f = ctx.get(PROT, ProtectionFacts)
    u = f.usb
    g = u.usbguard
    bad = Status.FAIL if ctx.policy.host.require_usb_storage_block else Status.WARN
    how_ja: list[str] = []
    how_en: list[str] = []
    if "usb_storage" in u.install_blocked:
        how_ja.append("modprobe の install 指定で usb-storage を読み込み不可")
        how_en.append("modprobe `install usb-storage` makes loading a no-op")
    if "usb_storage" in u.cmdline_blocked:
        how_ja.append("カーネル起動オプションで usb-storage を禁止")
        how_en.append("kernel command line forbids usb-storage")
    if u.cmdline_nomodule and u.builtin is False:
        how_ja.append("カーネル起動オプション nomodule（モジュール読込み不可）")
        how_en.append("kernel command line `nomodule` (no module can load)")
    guard_on = g.installed and g.running is not False and (g.implicit_policy or "").lower() in ("block", "reject")
    if guard_on:
        how_ja.append(f"USBGuard（既定 {g.implicit_policy}、許可ルール {g.rules} 件）")
        how_en.append(f"USBGuard (implicit {g.implicit_policy}, {g.rules} rules)")
    loaded = [m for m in (u.loaded or []) if m in ("usb_storage", "uas")]
    if how_ja and not (loaded and not guard_on):
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="USB 記憶装置は制限されています: " + "、".join(how_ja) + "。",
                                        en="USB mass storage is restricted: " + "; ".join(how_en) + "."))]
    if u.builtin:
        return [ctx.finding(
            bad, title=Text(ja="usb-storage がカーネルに組み込まれている", en="usb-storage is built into the kernel"),
            detail=Text(ja="usb-storage はカーネル組込みのため modprobe の設定では止められず、USBGuard も有効ではありません。",
                        en="usb-storage is built into the kernel, so modprobe settings cannot stop it, and USBGuard is not enforcing."),
            remediation=Text(ja="USBGuard を導入し ImplicitPolicyTarget=block で運用してください。",
                             en="Install USBGuard and run it with ImplicitPolicyTarget=block."),
        )]
    if loaded:
        return [ctx.finding(
            bad, title=Text(ja="USB 記憶装置ドライバが読み込まれている", en="USB storage driver is loaded"),
            detail=Text(ja=f"{', '.join(loaded)} が現在読み込まれています" + ("（blacklist 指定はあるが読込み済み）" if u.blacklisted else "") + "。",
                        en=f"{', '.join(loaded)} is loaded now" + (" (blacklisted, but already loaded)" if u.blacklisted else "") + "."),
            remediation=Text(ja="/etc/modprobe.d/usb-storage.conf に install usb-storage /bin/false と blacklist usb-storage・uas を書き、modprobe -r uas usb-storage を実行してください。",
                             en="Put `install usb-storage /bin/false` and `blacklist usb-storage`/`uas` in /etc/modprobe.d/usb-storage.conf, then modprobe -r uas usb-storage."),
        )]
    if "usb_storage" in u.blacklisted:
        if "uas" in u.blacklisted:
            return [ctx.finding(Status.PASS, title=ctx.spec.title,
                                detail=Text(ja="usb-storage と uas は blacklist され、自動では読み込まれません。",
                                            en="usb-storage and uas are blacklisted and will not load automatically."))]
        return [ctx.finding(
            Status.WARN, title=Text(ja="usb-storage は blacklist のみ", en="usb-storage only blacklisted"),
            detail=Text(ja="blacklist usb-storage は別名による自動読込みだけを止めます。uas（USB 3 の記憶装置）が依存関係として usb-storage を読み込めます。",
                        en="`blacklist usb-storage` only stops loading by alias; uas (USB 3 storage) can still pull usb-storage in as a dependency."),
            remediation=Text(ja="install usb-storage /bin/false と blacklist uas を追加してください。",
                             en="Add `install usb-storage /bin/false` and `blacklist uas`."),
        )]
    if u.module_support is False and u.builtin is None:
        return [ctx.finding(
            Status.WARN, title=Text(ja="USB 記憶装置の制限を判定できない", en="USB storage restriction undetermined"),
            detail=Text(ja="このカーネルはモジュールを読み込めません（/proc/modules なし）。usb-storage が組込みかどうか確認できません。",
                        en="This kernel has no loadable modules (/proc/modules absent); whether usb-storage is built in cannot be told."),
            remediation=Text(ja="カーネル設定（CONFIG_USB_STORAGE）を確認するか、USBGuard で制限してください。",
                             en="Check the kernel configuration (CONFIG_USB_STORAGE), or restrict with USBGuard."),
        )]
    directives = "; ".join(u.directives) or "なし"
    return [ctx.finding(
        bad, title=Text(ja="USB 記憶装置が制限されていない", en="USB mass storage not restricted"),
        detail=Text(ja=f"usb-storage を止める modprobe 設定・起動オプション・USBGuard がありません（関連設定: {directives}）。"
                       "管理されていない USB メモリを接続すると、そのまま読み書きできます。",
                    en=f"No modprobe setting, kernel option or USBGuard policy stops usb-storage (related lines: {'; '.join(u.directives) or 'none'}). "
                       "Any unmanaged USB stick can be read and written."),
        remediation=Text(ja="/etc/modprobe.d/usb-storage.conf に install usb-storage /bin/false、blacklist usb-storage、blacklist uas を記載するか、USBGuard を導入してください。",
                         en="Add `install usb-storage /bin/false`, `blacklist usb-storage` and `blacklist uas` to /etc/modprobe.d/usb-storage.conf, or deploy USBGuard."),
    )]


@check(
    "linux.host.screen_lock",
    clauses=lock_rule.CLAUSES,
    needs=(PROT,),
    severity=Severity.MEDIUM,
    title=lock_rule.TITLE,
)
def screen_lock(ctx: CheckContext) -> list[Finding]:
    """An unattended, unlocked desktop lends the logged-in user's session (and records) to whoever sits down."""
    f = ctx.get(PROT, ProtectionFacts)
    sc = f.screen
    limit = ctx.policy.host.max_screen_lock_idle_seconds
    desk = ", ".join(sc.display_managers + sc.sessions) if sc.desktop_present else None
    settings = [lock_rule.LockSetting(source=f"{s.desktop} ({s.source})", idle_seconds=s.idle_seconds, lock_enabled=s.lock_enabled,
                                      enforced=s.locked) for s in sc.settings]
    return [ctx.verdict(lock_rule.judge_screen_lock(settings, ctx.policy.host, desktop=desk or ("desktop" if sc.desktop_present else None), fix_enforce=Text(
        ja="/etc/dconf/db/local.d/locks/ に /org/gnome/desktop/session/idle-delay と /org/gnome/desktop/screensaver/lock-enabled を記載し、dconf update を実行してください。",
        en="List /org/gnome/desktop/session/idle-delay and /org/gnome/desktop/screensaver/lock-enabled in /etc/dconf/db/local.d/locks/ and run dconf update."),
        fix_set=Text(
        ja=f"/etc/dconf/db/local.d/00-screenlock に [org/gnome/desktop/session] idle-delay=uint32 {min(limit, 300)} と "
           "[org/gnome/desktop/screensaver] lock-enabled=true を設定し、locks で固定して dconf update を実行してください。",
        en=f"Create /etc/dconf/db/local.d/00-screenlock with [org/gnome/desktop/session] idle-delay=uint32 {min(limit, 300)} "
           "and [org/gnome/desktop/screensaver] lock-enabled=true, lock both keys, and run dconf update.")))]
