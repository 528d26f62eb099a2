"""Host protections: firewall, disk encryption, USB storage, screen lock — root trees via the real CLI,
parsers with real-world samples, hypothesis totality, and the live scan of this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

from clihelp import details, outcomes, run_tenken, scan_root
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.collectors.linux.protections import (
    collect_protections,
    gvariant_int,
    install_blocks,
    lock_setting_from_kde,
    lock_settings_from_dconf,
    parse_cmdline_blocks,
    parse_dconf_keyfile,
    parse_dconf_profile,
    parse_iptables,
    parse_lsblk,
    parse_modprobe,
    parse_nft_json,
    parse_nft_text,
    parse_proc_modules,
)
from tenken.collectors.probe import Probe
from tenken.collectors.transport.local import LocalTransport

CHECKS = ("linux.host.firewall", "linux.host.disk_encryption", "linux.host.usb_storage", "linux.host.screen_lock")

NFTABLES_CONF = """\
#!/usr/sbin/nft -f
flush ruleset
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    ip saddr 10.0.0.0/24 tcp dport 22 accept   # maintenance subnet only
  }
  chain forward { type filter hook forward priority 0; policy drop; }
  chain output { type filter hook output priority 0; policy accept; }
}
"""


def write(root: Path, rel: str, text: str = "") -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def base(root: Path, chassis: int) -> Path:
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(root, "sys/class/dmi/id/chassis_type", f"{chassis}\n")
    return root


def good_tree(root: Path) -> Path:
    """A hospital laptop: nftables policy drop, LUKS root, usb-storage blocked, GNOME lock enforced."""
    base(root, 10)  # Notebook
    write(root, "etc/nftables.conf", NFTABLES_CONF)
    write(root, "etc/systemd/system/multi-user.target.wants/nftables.service")
    write(root, "etc/crypttab", "nvme0n1p3_crypt UUID=0b1c-2d3e none luks,discard\n")
    write(root, "etc/fstab", "/dev/mapper/nvme0n1p3_crypt / ext4 errors=remount-ro 0 1\nUUID=AB12 /boot/efi vfat umask=0077 0 1\n")
    write(root, "etc/modprobe.d/usb-storage.conf", "install usb-storage /bin/false\nblacklist usb-storage\nblacklist uas\n")
    write(root, "usr/sbin/gdm3")
    write(root, "usr/share/xsessions/gnome.desktop", "[Desktop Entry]\n")
    write(root, "etc/dconf/profile/user", "user-db:user\nsystem-db:local\n")
    write(root, "etc/dconf/db/local.d/00-screensaver",
          "[org/gnome/desktop/session]\nidle-delay=uint32 300\n\n[org/gnome/desktop/screensaver]\nlock-enabled=true\nlock-delay=uint32 0\n")
    write(root, "etc/dconf/db/local.d/locks/screensaver", "/org/gnome/desktop/session/idle-delay\n/org/gnome/desktop/screensaver/lock-enabled\n")
    return root


def weak_tree(root: Path, chassis: int = 3) -> Path:
    """No firewall config, plain root filesystem, no usb-storage block, a desktop without a lock policy."""
    base(root, chassis)
    write(root, "etc/fstab", "UUID=1234 / ext4 errors=remount-ro 0 1\n")
    write(root, "usr/share/xsessions/xfce.desktop", "[Desktop Entry]\n")
    return root


scan = scan_root
detail = details


def got(report: dict, checks: tuple[str, ...] = CHECKS) -> list[tuple[str, str, str | None, list[str]]]:
    return outcomes(report, checks)


def test_good_laptop_tree_passes_everything(tmp_path: Path) -> None:
    report = scan(good_tree(tmp_path / "good"))
    assert got(report) == [
        ("linux.host.disk_encryption", "pass", None, ["SO-7-3"]),
        # a portable device: the personal-firewall clause SO-7-4 applies too
        ("linux.host.firewall", "pass", None, ["SO-7-12", "SO-8-3", "SO-7-4"]),
        ("linux.host.screen_lock", "pass", None, ["SO-7-3", "SO-14-2"]),
        ("linux.host.usb_storage", "pass", None, ["SO-8-1"]),
    ]
    assert "input policy drop, 3 input rules" in detail(report, "linux.host.firewall")
    assert "crypttab nvme0n1p3_crypt" in detail(report, "linux.host.disk_encryption")
    assert "300 s idle" in detail(report, "linux.host.screen_lock")


def test_weak_desktop_tree_fails_firewall_usb_and_lock_and_warns_on_encryption(tmp_path: Path) -> None:
    report = scan(weak_tree(tmp_path / "weak"))
    assert got(report) == [
        ("linux.host.disk_encryption", "warn", "/", ["SO-7-3"]),
        ("linux.host.firewall", "fail", None, ["SO-7-12", "SO-8-3"]),
        ("linux.host.screen_lock", "fail", None, ["SO-7-3", "SO-14-2"]),
        ("linux.host.usb_storage", "fail", None, ["SO-8-1"]),
    ]
    assert "non-portable device" in detail(report, "linux.host.disk_encryption")


def test_unencrypted_laptop_fails_and_scope_all_fails_a_server(tmp_path: Path) -> None:
    assert got(scan(weak_tree(tmp_path / "laptop", chassis=9)), ("linux.host.disk_encryption",)) == [
        ("linux.host.disk_encryption", "fail", "/", ["SO-7-3"])]
    pol = tmp_path / "all.yaml"
    pol.write_text("host:\n  disk_encryption_scope: all\n")
    assert got(scan(weak_tree(tmp_path / "server", chassis=17), pol), ("linux.host.disk_encryption",)) == [
        ("linux.host.disk_encryption", "fail", "/", ["SO-7-3"])]
    declared = tmp_path / "declared.yaml"
    declared.write_text("host:\n  portable: true\n")
    assert got(scan(weak_tree(tmp_path / "decl", chassis=17), declared), ("linux.host.disk_encryption",)) == [
        ("linux.host.disk_encryption", "fail", "/", ["SO-7-3"])]


def test_no_desktop_is_not_applicable_and_weak_lock_settings_fail(tmp_path: Path) -> None:
    root = base(tmp_path / "srv", 17)
    assert got(scan(root), ("linux.host.screen_lock",)) == [("linux.host.screen_lock", "not_applicable", None, ["SO-7-3", "SO-14-2"])]
    root = good_tree(tmp_path / "idle")
    write(root, "etc/dconf/db/local.d/00-screensaver", "[org/gnome/desktop/session]\nidle-delay=uint32 3600\n")
    report = scan(root)
    assert got(report, ("linux.host.screen_lock",)) == [("linux.host.screen_lock", "fail", None, ["SO-7-3", "SO-14-2"])]
    assert "idle delay 3600 s exceeds the policy limit of 900 s" in detail(report, "linux.host.screen_lock")
    (root / "etc/dconf/db/local.d/locks/screensaver").unlink()
    write(root, "etc/dconf/db/local.d/00-screensaver", "[org/gnome/desktop/session]\nidle-delay=uint32 600\n")
    assert got(scan(root), ("linux.host.screen_lock",)) == [("linux.host.screen_lock", "warn", None, ["SO-7-3", "SO-14-2"])]


def test_blacklist_only_warns_and_ufw_and_iptables_configs_count(tmp_path: Path) -> None:
    root = weak_tree(tmp_path / "r")
    write(root, "etc/modprobe.d/usb.conf", "blacklist usb_storage\n")
    write(root, "etc/ufw/ufw.conf", "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n")
    write(root, "etc/default/ufw", 'DEFAULT_INPUT_POLICY="DROP"\n')
    report = scan(root)
    assert got(report, ("linux.host.usb_storage", "linux.host.firewall")) == [
        ("linux.host.firewall", "pass", None, ["SO-7-12", "SO-8-3"]),
        ("linux.host.usb_storage", "warn", None, ["SO-8-1"]),
    ]
    root3 = weak_tree(tmp_path / "r3")  # ufw enabled but letting everything in is no filter
    write(root3, "etc/ufw/ufw.conf", "ENABLED=yes\n")
    write(root3, "etc/default/ufw", 'DEFAULT_INPUT_POLICY="ACCEPT"\n')
    assert got(scan(root3), ("linux.host.firewall",)) == [("linux.host.firewall", "fail", None, ["SO-7-12", "SO-8-3"])]
    root2 = weak_tree(tmp_path / "r2")
    write(root2, "etc/sysconfig/iptables", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n")
    write(root2, "etc/systemd/system/multi-user.target.wants/iptables.service")
    report = scan(root2)
    assert got(report, ("linux.host.firewall",)) == [("linux.host.firewall", "fail", None, ["SO-7-12", "SO-8-3"])]
    assert "input policy accept, 1 input rules, 0 drop/reject" in detail(report, "linux.host.firewall")


def test_live_scan_of_this_machine_includes_these_checks() -> None:
    res = run_tenken("scan", "local", "-f", "json")
    assert res.exit_code in (0, 1), res.stderr
    report = res.json()
    mine = [f for f in report["findings"] if f["check_id"].startswith(("linux.host.", "linux.logs.", "linux.backup."))]
    assert {f["check_id"] for f in mine} >= {*CHECKS, "linux.logs.permissions", "linux.backup.found"}
    for f in mine:
        assert "Internal error" not in f["detail"]["en"], f
    ev = {e["collector"]: e for e in report["evidence"]}
    for name in ("linux.protections", "linux.logs", "linux.backups"):
        assert ev[name]["error"] is None


def test_live_root_filesystem_encryption_matches_sysfs() -> None:
    facts = collect_protections(Probe(LocalTransport()))
    e = facts.encryption
    dm_crypt = []
    if os.path.isdir("/sys/block"):
        for n in os.listdir("/sys/block"):
            try:
                dm_crypt.append(Path(f"/sys/block/{n}/dm/uuid").read_text().startswith("CRYPT-"))
            except OSError:
                continue
    if not any(dm_crypt):
        assert e.root_encrypted in (False, None)
    assert e.method in ("sysfs", "lsblk", "fstab+crypttab")


# -- parsers with real-world samples ----------------------------------------------------------------

NFT_JSON = {"nftables": [
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"table": {"family": "inet", "name": "filter", "handle": 1}},
    {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4,
              "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 23}}, {"reject": None}]}},
    {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
]}

IPTABLES_S = """-P INPUT DROP
-P FORWARD DROP
-P OUTPUT ACCEPT
-N ufw-before-input
-A INPUT -j ufw-before-input
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -m conntrack --ctstate INVALID -j DROP
"""

LSBLK = {"blockdevices": [
    {"name": "nvme0n1", "type": "disk", "fstype": None, "mountpoint": None, "children": [
        {"name": "nvme0n1p1", "type": "part", "fstype": "vfat", "mountpoint": "/boot/efi"},
        {"name": "nvme0n1p3", "type": "part", "fstype": "crypto_LUKS", "mountpoint": None, "children": [
            {"name": "nvme0n1p3_crypt", "type": "crypt", "fstype": "LVM2_member", "mountpoint": None, "children": [
                {"name": "vg-root", "type": "lvm", "fstype": "ext4", "mountpoint": "/"}]}]}]},
    {"name": "sda", "type": "disk", "fstype": "ext4", "mountpoints": ["/srv/data"]},
]}


def test_firewall_parsers() -> None:
    s = parse_nft_json(json.dumps(NFT_JSON))
    assert s is not None and (s.input_policy, s.input_rules, s.blocking_rules, s.active) == ("accept", 1, 1, True)
    assert parse_nft_json("{not json") is None and parse_nft_json("[]") is None
    s = parse_nft_text(NFTABLES_CONF, source="/etc/nftables.conf", runtime=False)
    assert (s.input_policy, s.input_rules, s.blocking_rules) == ("drop", 3, 0)
    one_line = parse_nft_text("table ip f {\n chain INPUT { type filter hook input priority 0; policy accept; }\n chain x {\n  tcp dport 23 reject\n }\n}\n")
    assert (one_line.input_policy, one_line.blocking_rules) == ("accept", 1)
    s = parse_iptables(IPTABLES_S)
    assert (s.input_policy, s.input_rules, s.blocking_rules) == ("drop", 1, 1)
    save = parse_iptables("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DROP\nCOMMIT\n*filter\n:INPUT DROP [3:120]\nCOMMIT\n")
    assert (save.input_policy, save.blocking_rules) == ("drop", 0)


def test_device_module_and_desktop_parsers() -> None:
    rows = parse_lsblk(json.dumps(LSBLK))
    assert rows == [("/boot/efi", "nvme0n1p1", False), ("/", "vg-root", True), ("/srv/data", "sda", False)]
    assert parse_modprobe("install usb-storage /bin/false # no USB\nblacklist uas\noptions x y=1\n") == [
        ("install", "usb_storage", "/bin/false"), ("blacklist", "uas", ""), ("options", "x", "y=1")]
    assert install_blocks("/bin/true") and install_blocks("/usr/bin/false") and install_blocks("/bin/sh -c 'exit 1'")
    assert not install_blocks("/sbin/modprobe --ignore-install usb-storage")
    assert parse_cmdline_blocks("quiet module_blacklist=usb_storage,uas modprobe.blacklist=usb-storage") == ["usb_storage", "uas", "usb_storage"]
    assert parse_proc_modules("usb_storage 81920 1 uas, Live 0x0\nuas 32768 0 - Live 0x0\n") == ["usb_storage", "uas"]
    assert parse_dconf_profile("user-db:user\nsystem-db:local\nsystem-db:site\n") == ["local", "site"]
    kf = parse_dconf_keyfile("[org/gnome/desktop/session]\nidle-delay=uint32 600\n# c\n[/org/mate/session/]\nidle-delay=5\n")
    assert kf == {"org/gnome/desktop/session": {"idle-delay": "uint32 600"}, "org/mate/session": {"idle-delay": "5"}}
    got_ = lock_settings_from_dconf({"a": "[org/mate/session]\nidle-delay=5\n[org/mate/screensaver]\nlock-enabled=true\n"}, [])
    assert [(s.desktop, s.idle_seconds, s.lock_enabled, s.locked) for s in got_] == [("mate", 300, True, False)]
    kde = lock_setting_from_kde("[Daemon][$i]\nAutolock=true\nTimeout=10\n", "/etc/xdg/kscreenlockerrc")
    assert kde is not None and (kde.idle_seconds, kde.lock_enabled) == (600, True)
    assert gvariant_int("uint32 300") == 300 and gvariant_int("true") is None


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600)
nftish = st.lists(st.sampled_from(["table inet f {", "chain input {", "type filter hook input priority 0;", "policy drop;",
                                   "}", "{", "\n", "drop", "reject", "accept", "#", "-P INPUT DROP", ":INPUT ACCEPT",
                                   "-A INPUT -j DROP", "*filter", "*nat"]), max_size=60).map("".join)
jsonish = st.recursive(st.none() | st.booleans() | st.integers() | st.sampled_from(["input", "drop", "filter", "crypt", "/"]),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(
                           st.sampled_from(["nftables", "chain", "rule", "hook", "policy", "expr", "drop", "family", "table",
                                            "blockdevices", "children", "type", "mountpoint", "mountpoints", "name"]), c, max_size=5),
                       max_leaves=30).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(st.one_of(text, nftish, jsonish))
def test_protection_parsers_are_total(s: str) -> None:
    parse_nft_json(s)
    parse_nft_text(s)
    parse_iptables(s)
    parse_lsblk(s)
    for cmd, mod, _ in parse_modprobe(s):
        assert "-" not in mod and cmd
    install_blocks(s)
    parse_cmdline_blocks(s)
    parse_proc_modules(s)
    parse_dconf_keyfile(s)
    parse_dconf_profile(s)
    lock_settings_from_dconf({"x": s}, s.splitlines())
    lock_setting_from_kde(s, "k")
    gvariant_int(s)


def test_ufw_verbose_default_incoming_policy() -> None:
    from tenken.collectors.linux.protections import parse_ufw_incoming

    out = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\nNew profiles: skip\n"
    assert parse_ufw_incoming(out) == "deny"
    assert parse_ufw_incoming(out.replace("deny (incoming)", "allow (incoming)")) == "allow"
    assert parse_ufw_incoming("Status: inactive\n") is None
