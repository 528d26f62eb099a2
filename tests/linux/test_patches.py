"""SO-8-3 patches: parsers on real apt captures and realistic dnf output, version ordering, real root trees
through the CLI, and the live collector on this Debian machine against apt-get itself."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import hostroot as hr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.agent.report import TargetKind
from tenken.agent.scan import scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.linux.apt_lists import lz4_available
from tenken.collectors.linux.osrelease import os_release_from, parse_os_release
from tenken.collectors.linux.patches import (
    apt_interval_on,
    is_security_origin,
    kernel_flavour,
    kernels_in_boot,
    newest_kernel,
    parse_apt_history,
    parse_apt_list_upgradable,
    parse_apt_periodic,
    parse_apt_simulate,
    parse_dnf_check_update,
    parse_dnf_history,
    parse_dnf_rpm_log,
    parse_dnf_updateinfo,
    parse_dpkg_log,
    parse_ini,
    rpm_name_of,
    vercmp,
)
from tenken.collectors.linux.pkgdb import dpkg_stanzas, parse_dpkg_status, parse_rpm_query
from tenken.collectors.transport.base import CommandResult
from tenken.collectors.transport.local import run_subprocess
from tenken.collectors.transport.root import RootTransport

FIX = Path(__file__).parent / "fixtures"
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600)

# dnf 4 on RHEL 9.3 (`dnf -q updateinfo list --security`), dnf 5 on Fedora 41 (its column layout)
DNF_UPDATEINFO = """\
RHSA-2024:0627 Important/Sec. gnutls-3.7.6-23.el9_3.3.x86_64
RHSA-2024:0533 Moderate/Sec.  gnutls-3.7.6-23.el9_3.3.x86_64
RHSA-2024:1130 Important/Sec. openssh-8.7p1-34.el9_3.3.x86_64
RHSA-2024:1130 Important/Sec. openssh-clients-8.7p1-34.el9_3.3.x86_64
RHSA-2024:1130 Important/Sec. openssh-server-8.7p1-34.el9_3.3.x86_64
RHSA-2024:1248 Important/Sec. kernel-5.14.0-362.24.1.el9_3.x86_64
RHSA-2024:1248 Important/Sec. kernel-core-5.14.0-362.24.1.el9_3.x86_64
RHSA-2024:1130 Important/Sec. openssh-8.7p1-34.el9_3.3.x86_64
"""
DNF5_UPDATEINFO = """\
Name                   Type     Severity Package                  Issued
FEDORA-2024-2e7ea2d5f3 security Moderate curl-8.6.0-7.fc40.x86_64 2024-04-01 01:23:45
FEDORA-2024-aa11bb22cc bugfix   None     tzdata-2024a-5.fc40.noarch 2024-04-02 01:00:00
"""
DNF_CHECK_UPDATE = """\

gnutls.x86_64                         3.7.6-23.el9_3.3                  rhel-9-for-x86_64-baseos-rpms
kernel.x86_64                         5.14.0-362.24.1.el9_3             rhel-9-for-x86_64-baseos-rpms
kernel-core.x86_64                    5.14.0-362.24.1.el9_3             rhel-9-for-x86_64-baseos-rpms
openssh.x86_64                        8.7p1-34.el9_3.3                  rhel-9-for-x86_64-baseos-rpms
openssh-clients.x86_64                8.7p1-34.el9_3.3                  rhel-9-for-x86_64-baseos-rpms
openssh-server.x86_64                 8.7p1-34.el9_3.3                  rhel-9-for-x86_64-baseos-rpms
tzdata.noarch                         2024a-1.el9                       rhel-9-for-x86_64-baseos-rpms
python3-libselinux-with-a-long-name.x86_64
                                      3.5-1.el9                         rhel-9-for-x86_64-appstream-rpms
Obsoleting Packages
grub2-tools.x86_64                    1:2.06-70.el9_3.2                 rhel-9-for-x86_64-baseos-rpms
    grub2-tools.x86_64                1:2.06-70.el9_3.1                 @rhel-9-for-x86_64-baseos-rpms
"""
DNF_RPM_LOG = """\
2024-03-01T10:15:02+0000 INFO --- logging initialized ---
2024-03-01T10:15:03+0000 SUBDEBUG Upgrade: openssl-libs-1:3.0.7-25.el9_3.x86_64
2024-03-01T10:15:04+0000 SUBDEBUG Upgraded: openssl-libs-1:3.0.7-24.el9.x86_64
2024-03-05T09:00:00+0900 SUBDEBUG Installed: vim-enhanced-2:8.2.2637-20.el9_1.x86_64
"""
DNF_HISTORY = """\
ID     | Command line              | Date and time    | Action(s)      | Altered
-------------------------------------------------------------------------------
     7 | install vim-enhanced      | 2024-03-05 09:00 | Install        |    2
     6 | upgrade -y                | 2024-03-01 10:15 | Upgrade        |   25
     5 | update openssl            | 2024-02-10 08:00 | I, U           |    3 E
"""


# -- parsers on real and realistic output -------------------------------------------------------------------


def test_apt_simulate_on_real_debian_capture() -> None:
    ups = parse_apt_simulate((FIX / "apt-get-s-dist-upgrade.debian12.txt").read_text())
    by = {u.name: u for u in ups}
    assert len(ups) == 116
    assert sum(u.security for u in ups) == 70
    bf = by["base-files"]
    assert (bf.current, bf.candidate, bf.origin, bf.security) == ("12.4+deb12u11", "12.4+deb12u15", "Debian:12.15/oldstable", False)
    # an update published in both the point release and the security suite is a security update
    g = by["libgcrypt20"]
    assert g.security and g.origin == "Debian:12.15/oldstable, Debian-Security:12/oldstable-security"
    assert by["liblzma-dev"].security  # its line ends with a trailing ` []`


def test_apt_list_upgradable_agrees_with_apt_get_simulate() -> None:
    """Two real captures of the same host state: both parsers must find the same updates and security set."""
    sim = parse_apt_simulate((FIX / "apt-get-s-dist-upgrade.debian12.txt").read_text())
    lst = parse_apt_list_upgradable((FIX / "apt-list-upgradable.debian12.txt").read_text())
    assert {u.name for u in lst} == {u.name for u in sim}
    assert {u.name for u in lst if u.security} == {u.name for u in sim if u.security}
    apt = next(u for u in lst if u.name == "apt")
    assert (apt.current, apt.candidate, apt.origin) == ("2.6.1", "2.6.2", "oldstable-security")


def test_ubuntu_origins_are_classified() -> None:
    line = "Inst libc6 [2.35-0ubuntu3.4] (2.35-0ubuntu3.5 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])"
    (u,) = parse_apt_simulate(line)
    assert u.security and u.current == "2.35-0ubuntu3.4"
    (v,) = parse_apt_list_upgradable("libc6/jammy-updates,jammy-security 2.35-0ubuntu3.5 amd64 [upgradable from: 2.35-0ubuntu3.4]")
    assert v.security
    new = "Inst linux-image-6.1.0-21-amd64 (6.1.90-1 Debian-Security:12/stable-security [amd64])"
    (k,) = parse_apt_simulate(new)
    assert k.current is None and k.security  # a new kernel ABI pulled in by dist-upgrade
    assert not is_security_origin("Debian:12.5/stable") and not is_security_origin("jammy-updates")


def test_dnf_updateinfo_and_check_update() -> None:
    adv = parse_dnf_updateinfo(DNF_UPDATEINFO)
    assert len(adv) == 7  # the repeated RHSA-2024:1130 openssh line is counted once
    assert {rpm_name_of(a.package) for a in adv} == {"gnutls", "openssh", "openssh-clients", "openssh-server", "kernel", "kernel-core"}
    assert adv[0].severity == "Important"
    (curl,) = parse_dnf_updateinfo(DNF5_UPDATEINFO)  # bugfix advisories are not security ones
    assert (curl.id, curl.severity, rpm_name_of(curl.package)) == ("FEDORA-2024-2e7ea2d5f3", "Moderate", "curl")
    ups = {u.name: u for u in parse_dnf_check_update(DNF_CHECK_UPDATE)}
    assert set(ups) == {"gnutls", "kernel", "kernel-core", "openssh", "openssh-clients", "openssh-server", "tzdata",
                        "python3-libselinux-with-a-long-name"}
    assert ups["python3-libselinux-with-a-long-name"].candidate == "3.5-1.el9"  # wrapped line joined
    assert "grub2-tools" not in ups  # the obsoletes section is not a list of updates
    assert rpm_name_of("openssl-libs-1:3.0.7-25.el9_3.x86_64") == "openssl-libs"


def test_history_parsers() -> None:
    blocks = [
        hr.apt_history_block(datetime(2024, 1, 10, 9, 0, tzinfo=UTC)),
        hr.apt_history_block(datetime(2024, 3, 1, 9, 0, tzinfo=UTC), error=True),  # failed: does not count
        hr.apt_history_block(datetime(2024, 2, 1, 9, 0, tzinfo=UTC), action="Install"),
        "Start-Date: 2024-03-09  10:00:00\nCommandline: apt-get upgrade\nUpgrade: bash:amd64 (5.2.15-2+b2, 5.2.15-2+b7)\n",  # cut off
    ]
    h = parse_apt_history("\n".join(blocks))
    assert h.last_upgrade == datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    assert h.last_install == datetime(2024, 2, 1, 9, 0, tzinfo=UTC)
    d = parse_dpkg_log("2024-03-01 10:15:03 startup archives unpack\n"
                       "2024-03-01 10:15:03 upgrade libssl3:amd64 3.0.11-1~deb12u1 3.0.11-1~deb12u2\n"
                       "2024-03-02 08:00:00 install vim:amd64 <none> 2:9.0.1378-2\n")
    assert d.last_upgrade == datetime(2024, 3, 1, 10, 15, 3, tzinfo=UTC) and d.last_install == datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    r = parse_dnf_rpm_log(DNF_RPM_LOG)
    assert r.last_upgrade == datetime(2024, 3, 1, 10, 15, 4, tzinfo=UTC)
    assert r.last_install == datetime(2024, 3, 5, 0, 0, tzinfo=UTC)  # +0900 honoured
    dh = parse_dnf_history(DNF_HISTORY)
    assert dh.last_upgrade == datetime(2024, 3, 1, 10, 15, tzinfo=UTC)
    assert dh.last_install == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)


def test_apt_periodic_later_files_win_and_comments_are_ignored() -> None:
    a = 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n'
    b = '// turned off by the vendor\n# APT::Periodic::Unattended-Upgrade "1";\nAPT::Periodic::Unattended-Upgrade "0";\n'
    assert parse_apt_periodic([a]) == {"Update-Package-Lists": "1", "Unattended-Upgrade": "1"}
    assert parse_apt_periodic([a, b])["Unattended-Upgrade"] == "0"
    assert apt_interval_on("0") is False and apt_interval_on("1") is True and apt_interval_on(None) is None
    ini = parse_ini("[commands]\nupgrade_type = security\napply_updates = yes # on\n[emitters]\nemit_via = stdio\n")
    assert ini["commands"] == {"upgrade_type": "security", "apply_updates": "yes"}


def test_package_databases() -> None:
    status = hr.dpkg_status([("unattended-upgrades", "2.9.1+nmu3")], removed=["clamav-daemon"])
    pk = parse_dpkg_status(status)
    assert pk["unattended-upgrades"] == "2.9.1+nmu3" and "clamav-daemon" not in pk
    assert "clamav-daemon" not in dpkg_stanzas(status, ["unattended-upgrades"])
    assert parse_rpm_query("clamd\t0:1.0.3-1.el9\npackage mdatp is not installed\n") == {"clamd": "0:1.0.3-1.el9"}


def test_os_release() -> None:
    o = os_release_from(hr.RHEL_OS_RELEASE)
    assert (o.id, o.id_like, o.version_id, o.family) == ("rhel", ["fedora"], "9.3", "rhel")
    assert os_release_from(hr.DEBIAN_OS_RELEASE).family == "debian"
    assert os_release_from('ID=miraclelinux\nID_LIKE="rhel fedora"\n').family == "rhel"
    assert os_release_from('ID="ubuntu"\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 22.04.4 LTS"').label == "Ubuntu 22.04.4 LTS"
    assert parse_os_release("NAME='Rocky Linux'\nbad line\n=x\n")["NAME"] == "Rocky Linux"


def test_vercmp_orders_kernels_of_every_family() -> None:
    assert vercmp("6.1.0-21-amd64", "6.1.0-18-amd64") == 1
    assert vercmp("5.15.0-105-generic", "5.15.0-97-generic") == 1
    assert vercmp("5.14.0-362.24.1.el9_3.x86_64", "5.14.0-362.el9.x86_64") == 1
    assert vercmp("1.0~rc1", "1.0") == -1
    assert vercmp("1.0", "1.0.0") == -1 and vercmp("1.0a", "1.0") == 1
    assert kernel_flavour("6.1.0-18-cloud-amd64") == "cloud-amd64" and kernel_flavour("5.14.0-362.el9.x86_64+debug") == "debug"
    installed = kernels_in_boot(["vmlinuz-6.1.0-18-amd64", "vmlinuz-6.1.0-21-amd64", "vmlinuz-6.1.0-22-cloud-amd64",
                                 "vmlinuz-0-rescue-abc", "vmlinuz", "config-6.1.0-21-amd64"])
    assert installed == ["6.1.0-18-amd64", "6.1.0-21-amd64", "6.1.0-22-cloud-amd64"]
    # a newer cloud kernel does not make a standard-kernel host "reboot pending"
    assert newest_kernel(installed, "6.1.0-21-amd64") == "6.1.0-21-amd64"
    assert newest_kernel(installed, "6.1.0-18-amd64") == "6.1.0-21-amd64"


ver = st.text(alphabet="0123456789.-~^+abcXYZ_:", max_size=20)


@given(ver, ver)
@settings(max_examples=400)
def test_vercmp_is_antisymmetric_and_reflexive(a: str, b: str) -> None:
    assert vercmp(a, a) == 0
    assert vercmp(a, b) == -vercmp(b, a)
    assert vercmp(a, b) in (-1, 0, 1)


@given(text)
@settings(max_examples=200)
def test_parsers_are_total(s: str) -> None:
    parse_apt_simulate(s)
    parse_apt_list_upgradable(s)
    parse_dnf_updateinfo(s)
    parse_dnf_check_update(s)
    parse_apt_history(s)
    parse_dpkg_log(s)
    parse_dnf_rpm_log(s)
    parse_dnf_history(s)
    parse_apt_periodic([s, s])
    parse_ini(s)
    parse_dpkg_status(s)
    parse_rpm_query(s)
    dpkg_stanzas(s, ["a"])
    os_release_from(s)
    kernels_in_boot(s.splitlines())
    kernel_flavour(s)
    rpm_name_of(s)
    newest_kernel(s.split(), s or None)


@given(st.lists(st.sampled_from([
    "Inst ", "Conf ", "libssl3 ", "[3.0.11-1] ", "(3.0.11-2 ", "Debian-Security:12/stable-security ", "[amd64])",
    " []", "\n", "Start-Date: 2024-03-01  10:15:02\n", "End-Date: 2024-13-45  99:99:99\n", "Upgrade: x\n",
    "Error: y\n", "/stable-security ", "[upgradable from: 1.0]", "2024-03-01T10:15:03+0000 SUBDEBUG Upgrade: a\n",
    "    7 | x | 2024-03-01 10:15 | Upgrade | 1\n", "Obsoleting Packages\n", "x.x86_64 ", "1:2.0-1.el9 ",
]), max_size=40))
@settings(max_examples=300)
def test_parsers_survive_near_miss_input(parts: list[str]) -> None:
    s = "".join(parts)
    for u in parse_apt_simulate(s) + parse_apt_list_upgradable(s) + parse_dnf_check_update(s):
        assert u.name
    parse_apt_history(s)
    parse_dnf_rpm_log(s)
    parse_dnf_history(s)


# -- real root trees through the CLI -------------------------------------------------------------------------


def good_debian(root: Path) -> Path:
    hr.debian(root, packages=[("unattended-upgrades", "2.9.1+nmu3")])
    hr.apt_history(root, [hr.apt_history_block(hr.ago(40), action="Install"), hr.apt_history_block(hr.ago(2))])
    hr.auto_upgrades(root, "1")
    hr.kernels(root, ["6.1.0-18-amd64", "6.1.0-21-amd64"])
    hr.write(root, "/var/lib/apt/periodic/update-success-stamp", "", mtime=hr.ago(1))
    return root


def test_good_debian_root(tmp_path: Path) -> None:
    rep = hr.scan(good_debian(tmp_path / "good"))
    assert hr.mine(rep, "linux.patches.") == [
        ("linux.patches.auto", "pass", None, ["SO-8-3"]),
        ("linux.patches.pending", "error", None, ["SO-8-3"]),  # offline: never a pass without the package manager
        ("linux.patches.reboot", "error", None, ["SO-8-3"]),  # offline: the running kernel is unknown
        ("linux.patches.recency", "pass", None, ["SO-8-3"]),
    ]
    assert "offline" in hr.detail(rep, "linux.patches.pending")
    assert "2 days ago" in hr.detail(rep, "linux.patches.recency")
    assert "unattended-upgrades" in hr.detail(rep, "linux.patches.auto")


def test_weak_debian_root(tmp_path: Path) -> None:
    root = hr.debian(tmp_path / "weak")
    hr.apt_history(root, [hr.apt_history_block(hr.ago(200))])
    hr.write(root, "/var/run/reboot-required", "*** System restart required ***\n")
    hr.write(root, "/var/run/reboot-required.pkgs", "linux-image-6.1.0-21-amd64\nlibc6\n")
    hr.auto_upgrades(root, "0")
    rep = hr.scan(root)
    assert hr.mine(rep, "linux.patches.") == [
        ("linux.patches.auto", "not_applicable", None, ["SO-8-3"]),
        ("linux.patches.pending", "error", None, ["SO-8-3"]),
        ("linux.patches.reboot", "warn", "reboot-required", ["SO-8-3"]),
        ("linux.patches.recency", "fail", None, ["SO-8-3"]),
    ]
    assert "200 days ago" in hr.detail(rep, "linux.patches.recency")
    assert "/var/run/reboot-required asks for a reboot (libc6, linux-image-6.1.0-21-amd64)" in hr.detail(rep, "linux.patches.reboot", "reboot-required")
    # the site requires automatic updates: now off is a warning
    pol = tmp_path / "site.yaml"
    pol.write_text("patches:\n  require_auto_updates: true\n  fail_days_since_update: 365\n")
    rep2 = hr.scan(root, "--policy", str(pol))
    assert ("linux.patches.auto", "warn", None, ["SO-8-3"]) in hr.mine(rep2, "linux.patches.")
    assert ("linux.patches.recency", "warn", None, ["SO-8-3"]) in hr.mine(rep2, "linux.patches.")


def test_upgrade_found_in_rotated_gzip_history(tmp_path: Path) -> None:
    """logrotate moved the last upgrade out of history.log: it is found in the newest rotated copy (.gz)."""
    root = hr.debian(tmp_path / "rot")
    hr.apt_history(root, [hr.apt_history_block(hr.ago(1), action="Install")])  # current log: an install only
    hr.apt_history(root, [hr.apt_history_block(hr.ago(12))], name="history.log.2.gz", gz=True)
    hr.apt_history(root, [hr.apt_history_block(hr.ago(50))], name="history.log.3.gz", gz=True)
    hr.write(root, "/var/log/apt/history.log.4.gz", b"not gzip at all")  # a damaged copy is skipped
    rep = hr.scan(root)
    assert ("linux.patches.recency", "pass", None, ["SO-8-3"]) in hr.mine(rep, "linux.patches.")
    assert "12 days ago, /var/log/apt/history.log.2.gz" in hr.detail(rep, "linux.patches.recency")


def test_no_history_at_all_warns_and_unknown_distro_errors(tmp_path: Path) -> None:
    root = hr.debian(tmp_path / "bare")
    rep = hr.scan(root)
    assert ("linux.patches.recency", "warn", None, ["SO-8-3"]) in hr.mine(rep, "linux.patches.")
    odd = tmp_path / "odd"
    hr.write(odd, "/etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n")
    rep2 = hr.scan(odd)
    got = hr.mine(rep2, "linux.patches.")
    assert ("linux.patches.pending", "error", None, ["SO-8-3"]) in got
    assert "Alpine Linux v3.19" in hr.detail(rep2, "linux.patches.pending")


def test_rhel_root(tmp_path: Path) -> None:
    root = hr.rhel(tmp_path / "rhel")
    log = (f"{hr.ago(3).strftime('%Y-%m-%dT%H:%M:%S')}+0000 SUBDEBUG Upgrade: openssl-libs-1:3.0.7-25.el9_3.x86_64\n"
           f"{hr.ago(3).strftime('%Y-%m-%dT%H:%M:%S')}+0000 SUBDEBUG Upgraded: openssl-libs-1:3.0.7-24.el9.x86_64\n")
    hr.write(root, "/var/log/dnf.rpm.log", log)
    hr.write(root, "/var/log/dnf.rpm.log-20240101", "2024-01-01T00:00:00+0000 SUBDEBUG Upgrade: bash-5.1.8-6.el9.x86_64\n")
    hr.write(root, "/etc/dnf/automatic.conf", "[commands]\nupgrade_type = security\napply_updates = yes\n")
    (root / "etc/systemd/system/timers.target.wants").mkdir(parents=True)
    os.symlink("/usr/lib/systemd/system/dnf-automatic.timer", root / "etc/systemd/system/timers.target.wants/dnf-automatic.timer")
    hr.kernels(root, ["5.14.0-362.el9.x86_64", "5.14.0-362.24.1.el9_3.x86_64"])
    rep = hr.scan(root)
    assert hr.mine(rep, "linux.patches.") == [
        ("linux.patches.auto", "pass", None, ["SO-8-3"]),
        ("linux.patches.pending", "error", None, ["SO-8-3"]),
        ("linux.patches.reboot", "error", None, ["SO-8-3"]),
        ("linux.patches.recency", "pass", None, ["SO-8-3"]),
    ]
    assert "dnf.rpm.log" in hr.detail(rep, "linux.patches.recency")
    assert "upgrade_type=security" in hr.detail(rep, "linux.patches.auto")


# -- live: this Debian machine -------------------------------------------------------------------------------


def _apt_get_simulation() -> str:
    return subprocess.run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], capture_output=True, text=True,
                          env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=True, timeout=600).stdout


def _kept_back(sim: str) -> set[str]:
    """Names apt-get lists under "The following packages have been kept back:" (dependency problems)."""
    m = re.search(r"kept back:\n((?:  .*\n)+)", sim)
    return set(m.group(1).split()) if m else set()


@pytest.mark.skipif(not Path("/usr/bin/apt-get").exists(), reason="needs a Debian-family host")
def test_live_collector_matches_apt_get_itself() -> None:
    """On this machine the file-based computation (apt lists, here lz4 through liblz4) gives what apt-get
    itself plans: the same packages, from the same versions to the same candidates, the same security ones."""
    import time

    from tenken.collectors.registry import COLLECTORS, load_all, run_collector
    from tenken.collectors.settings import CollectSettings
    from tenken.collectors.transport.local import LocalTransport

    load_all()
    t0 = time.perf_counter()
    got = run_collector(COLLECTORS["linux.patches"], LocalTransport(), CollectSettings()).facts
    took = time.perf_counter() - t0
    assert got is not None and got.pending is not None, got
    assert got.pending_method == "apt-lists", got.pending_source
    assert got.apt_lists and all(s.published is not None and s.downloaded is not None for s in got.apt_lists)
    sim = _apt_get_simulation()
    apt = {u.name: u for u in parse_apt_simulate(sim)}
    mine = {u.name: u for u in got.pending}
    # a dist-upgrade may also install packages new to the host (a new kernel ABI package pulled in by the
    # upgraded metapackage, which is counted); those are never installed, so never in the computation
    new = {n for n, u in apt.items() if u.current is None}
    installed = set(parse_dpkg_status(Path("/var/lib/dpkg/status").read_text(errors="replace")))
    assert not new & installed, f"apt-get installs as new packages that are installed: {new & installed}"
    kept = _kept_back(sim)
    upgrades = {n: u for n, u in apt.items() if u.current is not None}
    assert set(mine) - set(upgrades) <= kept, (
        f"computed as pending but neither upgraded nor kept back by apt-get: {sorted(set(mine) - set(upgrades) - kept)}")
    assert set(upgrades) == set(mine) - kept, f"apt-get upgrades that the lists missed: {sorted(set(upgrades) - set(mine))}"
    for name, u in upgrades.items():
        assert (mine[name].current, mine[name].candidate) == (u.current, u.candidate), (name, mine[name], u)
    assert {n for n, u in upgrades.items() if u.security} == {n for n in upgrades if mine[n].security}
    assert got.os is not None and got.os.family == "debian" and got.kernel.running == os.uname().release
    print(f"\nlinux.patches (file-based, {len(got.apt_lists)} lists): {took:.3f} s; "
          f"{len(mine)} pending, {sum(u.security for u in got.pending)} security; apt-get agrees")


def test_live_local_scan_includes_these_checks() -> None:
    """The installed console script, as an operator runs it, on this machine."""
    import sys

    exe = Path(sys.executable).parent / "tenken"
    res = subprocess.run([str(exe), "scan", "local", "-f", "json"], capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stderr[-2000:]
    import json

    rep = json.loads(res.stdout)
    ids = {f["check_id"] for f in rep["findings"]}
    assert {"linux.patches.pending", "linux.patches.recency", "linux.patches.reboot", "linux.patches.auto",
            "linux.antimalware.present", "linux.antimalware.signatures", "linux.time.sources", "linux.time.sync"} <= ids
    for f in rep["findings"]:
        if f["check_id"].startswith(hr.MINE):
            assert "Internal error" not in f["detail"]["en"], f
            assert f["status"] != "pass" or f["evidence"]


class RootFilesLocalCommands(RootTransport):
    """Files from a root tree, commands (uname -r, apt-get) from this machine."""

    can_run = True
    is_local = True

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        return run_subprocess(argv, timeout)


def test_newer_kernel_than_the_running_one_warns(tmp_path: Path) -> None:
    """The running kernel is this machine's real `uname -r`; the tree holds it and (or not) a newer one."""
    running = os.uname().release
    newer = re.sub(r"^(\d+)\.(\d+)", lambda m: f"{m.group(1)}.{int(m.group(2)) + 1}", running)

    def reboot_findings(kernels: list[str]) -> list[tuple[str, str | None]]:
        root = hr.debian(tmp_path / "-".join(kernels))
        hr.kernels(root, kernels)
        with RootFilesLocalCommands(root) as t:
            res = scan_host(t, load_policy(), kind=TargetKind.LOCAL, only_collectors={"linux.patches"})
        return [(f.status.value, f.subject) for f in res.findings if f.check_id == "linux.patches.reboot"]

    assert reboot_findings([running]) == [("pass", None)]
    assert reboot_findings([running, newer]) == [("warn", "kernel")]


# -- pending updates computed from an image's apt lists ------------------------------------------------------


def _stanza(name: str, version: str, arch: str = "amd64") -> str:
    return (f"Package: {name}\nSource: {name}\nVersion: {version}\nInstalled-Size: 100\nMaintainer: Debian <d@example.org>\n"
            f"Architecture: {arch}\nDescription: {name}\n a long description\n .\n Package: not-a-stanza\n"
            f"Filename: pool/main/{name[0]}/{name}/{name}_{version}_{arch}.deb\nSize: 1000\n")


def _release(origin: str, label: str, suite: str, codename: str, *, date: datetime, extra: str = "", signed: bool = True) -> str:
    body = (f"Origin: {origin}\nLabel: {label}\nSuite: {suite}\nVersion: 12\nCodename: {codename}\n"
            f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S UTC')}\n{extra}Architectures: amd64 i386 all\nComponents: main\n"
            "SHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 10 main/binary-amd64/Packages\n")
    if not signed:
        return body
    return ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + body
            + "-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n-----END PGP SIGNATURE-----\n")


def _dpkg_status(pkgs: list[tuple[str, str, str, str]]) -> str:
    return "\n".join(f"Package: {n}\nStatus: {st}\nPriority: optional\nArchitecture: {a}\nVersion: {v}\nDescription: {n}\n"
                     for n, v, a, st in pkgs)


def apt_image(root: Path, *, ext: dict[str, str] | None = None) -> Path:
    """A Debian 12 image whose apt lists (main .xz, security .gz, updates .lz4, backports plain) and dpkg
    status make a known set of pending updates. `ext` overrides a list's compression."""
    from test_apt_lists import compress

    ext = {"main": ".xz", "security": ".gz", "updates": ".lz4", "backports": "", **(ext or {})}
    hr.debian(root)
    ok = "install ok installed"
    hr.write(root, "/var/lib/dpkg/status", _dpkg_status([
        ("dpkg", "1.21.22", "amd64", ok),
        ("openssl", "3.0.11-1~deb12u2", "amd64", ok),
        ("libssl3", "3.0.11-1~deb12u2", "amd64", ok),
        ("linux-image-amd64", "6.1.76-1", "amd64", ok),  # backports has 6.6: NotAutomatic, not a pending update
        ("linux-image-cloud-amd64", "6.5.10-1~bpo12+1", "amd64", ok),  # installed from backports: follows it
        ("tzdata", "2024a-0+deb12u1", "all", ok),
        ("libfoo-data", "1.0-1", "amd64", ok),  # became Architecture: all upstream: still an upgrade
        ("libbar1", "1.0-1", "i386", ok),  # only an amd64 build is newer: not an upgrade of the i386 one
        ("pkg-rc", "2.1.0~rc2-1", "amd64", ok),  # 2.1.0-1 is newer than 2.1.0~rc2-1
        ("pkg-tilde", "1.0-1", "amd64", ok),  # 1.0~beta1-1 is OLDER than 1.0-1 (a string compare says newer)
        ("nginx", "1.22.1-9", "amd64", ok),  # pinned by preferences.d
        ("held-pkg", "1.0", "amd64", "hold ok installed"),  # apt-mark hold
        ("removed-pkg", "1.0", "amd64", "deinstall ok config-files"),
    ]))
    lists = "/var/lib/apt/lists/deb.debian.org_debian"
    now = datetime.now(UTC)
    hr.write(root, f"{lists}_dists_bookworm_InRelease", _release("Debian", "Debian", "stable", "bookworm", date=hr.ago(40)))
    hr.write(root, f"{lists}-security_dists_bookworm-security_InRelease",
             _release("Debian", "Debian-Security", "stable-security", "bookworm-security", date=hr.ago(1)))
    hr.write(root, f"{lists}_dists_bookworm-updates_Release",
             _release("Debian", "Debian", "stable-updates", "bookworm-updates", date=hr.ago(2), signed=False))
    hr.write(root, f"{lists}_dists_bookworm-backports_InRelease",
             _release("Debian Backports", "Debian Backports", "stable-backports", "bookworm-backports", date=now,
                      extra="NotAutomatic: yes\nButAutomaticUpgrades: yes\n"))
    main = [_stanza(f"filler{i}", "1.0-1") for i in range(300)] + [
        _stanza("openssl", "3.0.11-1~deb12u2"), _stanza("libssl3", "3.0.11-1~deb12u2"),
        _stanza("linux-image-amd64", "6.1.76-1"), _stanza("linux-image-cloud-amd64", "6.1.76-1"),
        _stanza("tzdata", "2024a-0+deb12u1", "all"), _stanza("libfoo-data", "1.1-1", "all"),
        _stanza("libbar1", "2.0-1"), _stanza("pkg-rc", "2.1.0-1"), _stanza("pkg-tilde", "1.0~beta1-1"),
        _stanza("nginx", "1.22.1-9"), _stanza("held-pkg", "1.0"), _stanza("removed-pkg", "2.0"),
    ]
    security = [_stanza("openssl", "3.0.11-1~deb12u3"), _stanza("libssl3", "3.0.11-1~deb12u3"),
                _stanza("nginx", "1.22.1-9+deb12u1"), _stanza("held-pkg", "1.1")]
    updates = [_stanza("tzdata", "2025b-0+deb12u1", "all")]
    backports = [_stanza("linux-image-amd64", "6.6.13-1~bpo12+1"), _stanza("linux-image-cloud-amd64", "6.6.13-1~bpo12+1")]
    for name, stanzas in (("_dists_bookworm_main", main), ("-security_dists_bookworm-security_main", security),
                          ("_dists_bookworm-updates_main", updates), ("_dists_bookworm-backports_main", backports)):
        key = name.split("_dists_")[1].split("_")[0].removeprefix("bookworm").lstrip("-") or "main"
        e = ext[key]
        hr.write(root, f"{lists}{name}_binary-amd64_Packages{e}", compress(e, "\n".join(stanzas).encode()))
    hr.write(root, "/etc/apt/preferences.d/nginx", "Explanation: validated build\nPackage: nginx\nPin: version 1.22.1-9\nPin-Priority: 1001\n")
    return root


PENDING = {"openssl", "libssl3", "linux-image-cloud-amd64", "tzdata", "libfoo-data", "pkg-rc"}
SECURITY = {"openssl", "libssl3"}


def _patch_facts(rep: dict) -> dict:
    return next(e["facts"] for e in rep["evidence"] if e["collector"] == "linux.patches")


@pytest.mark.skipif(not lz4_available(), reason="liblz4 not installed")
def test_offline_image_pending_updates_from_its_apt_lists(tmp_path: Path) -> None:
    """Through the real CLI (`scan local --root`): exact pending and security sets, from xz, gz, lz4 and
    plain lists; backports, arch, `~`, pins, holds and removed packages handled as apt does."""
    rep = hr.scan(apt_image(tmp_path / "img"))
    facts = _patch_facts(rep)
    assert facts["pending_method"] == "apt-lists"
    assert {u["name"] for u in facts["pending"]} == PENDING
    assert {u["name"] for u in facts["pending"] if u["security"]} == SECURITY
    by = {u["name"]: u for u in facts["pending"]}
    assert (by["openssl"]["current"], by["openssl"]["candidate"]) == ("3.0.11-1~deb12u2", "3.0.11-1~deb12u3")
    assert by["openssl"]["origin"] == "Debian-Security:12/stable-security"
    assert [(u["name"], u["candidate"]) for u in facts["held"]] == [("held-pkg", "1.1")]
    lists = {s["suite"]: s for s in facts["apt_lists"]}
    assert set(lists) == {"stable", "stable-security", "stable-updates", "stable-backports"}
    assert lists["stable-backports"]["not_automatic"] and lists["stable-backports"]["priority"] == 100
    assert lists["stable-security"]["security"] and not lists["stable"]["security"]
    assert lists["stable"]["published"] is not None
    got = hr.mine(rep, "linux.patches.pending")
    assert ("linux.patches.pending", "fail", "security", ["SO-8-3"]) in got
    assert ("linux.patches.pending", "warn", "other", ["SO-8-3"]) in got
    assert "2 security updates are pending" in hr.detail(rep, "linux.patches.pending", "security")
    assert "apt lists" in hr.detail(rep, "linux.patches.pending", "security")
    ev = next(e for e in rep["evidence"] if e["collector"] == "linux.patches")
    assert "held by dpkg (not counted, as apt-get does not upgrade it): held-pkg 1.0 -> 1.1 [security]" in ev["raw"]
    refs = {s["ref"] for s in ev["sources"]}
    assert "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4" in refs
    assert "/etc/apt/preferences.d/nginx" in refs


def test_offline_image_with_undecodable_lists_stays_not_collected(tmp_path: Path) -> None:
    """Lists that cannot be decoded (gzip data under a .zst name): an offline image keeps "offline, not
    collected", saying why, and never reads them as "nothing pending"."""
    root = apt_image(tmp_path / "zst", ext={"main": ".gz"})
    for p in (root / "var/lib/apt/lists").glob("*_Packages.gz"):
        p.rename(p.with_name(p.name.removesuffix(".gz") + ".zst"))
    rep = hr.scan(root)
    assert ("linux.patches.pending", "error", None, ["SO-8-3"]) in hr.mine(rep, "linux.patches.")
    d = hr.detail(rep, "linux.patches.pending")
    assert "offline" in d and ".zst" in d, d
    assert _patch_facts(rep)["pending"] is None


def test_zstd_lists_are_read_in_process(tmp_path: Path) -> None:
    """apt may keep .zst lists: decoded with libzstd, the image gives the same pending list as with .xz."""
    want = _patch_facts(hr.scan(apt_image(tmp_path / "xz")))
    got = _patch_facts(hr.scan(apt_image(tmp_path / "zst", ext={"main": ".zst", "security": ".zst"})))
    assert got["pending_method"] == "apt-lists" and got["pending"] == want["pending"] and got["pending"]


class RemoteLike(RootFilesLocalCommands):
    """Files from a root tree, commands from this machine, but not local: as an SSH target is seen."""

    is_local = False


@pytest.mark.skipif(not Path("/usr/bin/apt-get").exists(), reason="needs apt-get")
def test_unfilterable_remote_and_undecodable_local_use_apt_get(tmp_path: Path) -> None:
    """A remote host whose lists the target-side filter cannot read (here: the image's list names do not
    exist where the commands run), and a local host whose lists cannot be decoded, fall back to apt-get -s
    and the evidence says why. (apt-get here plans for this machine.)"""
    root = apt_image(tmp_path / "img")
    zst = apt_image(tmp_path / "zst", ext={"main": ".gz"})
    for p in (zst / "var/lib/apt/lists").glob("*_Packages.gz"):
        p.rename(p.with_name(p.name.removesuffix(".gz") + ".zst"))
    expected = {u.name for u in parse_apt_simulate(_apt_get_simulation())}
    for transport, why in ((RemoteLike(root), "the target could not read or decode"),
                           (RootFilesLocalCommands(zst), "zstd: Unknown frame descriptor")):  # gzip named .zst
        with transport as t:
            res = scan_host(t, load_policy(), kind=TargetKind.LOCAL, only_collectors={"linux.patches"})
        ev = next(e for e in res.evidence if e.collector == "linux.patches")
        facts = ev.facts
        assert facts["pending_method"] == "apt-get -s", facts["pending_source"]
        assert {u["name"] for u in facts["pending"]} == expected
        if why:
            assert why in ev.raw and "falling back to apt-get -s" in ev.raw


# -- yum.log and dnf's history database (hosts upgraded from yum, offline roots) ----------------------------------


def test_yum_log_lines_take_their_year_from_the_file() -> None:
    from tenken.collectors.linux.patches import parse_yum_log

    text = ("Dec 30 23:10:01 Updated: openssl-1.0.2k-25.el7_9.x86_64\n"
            "Jan 04 08:00:00 Installed: vim-enhanced-2:7.4.629-8.el7_9.x86_64\n"
            "Jan 04 09:00:00 Erased: telnet-1:0.17-66.el7.x86_64\n"
            "garbage line\n")
    h = parse_yum_log(text, datetime(2026, 1, 5, tzinfo=UTC))
    assert h.last_upgrade == datetime(2025, 12, 30, 23, 10, 1, tzinfo=UTC)  # before the file's year turned
    assert h.last_install == datetime(2026, 1, 4, 8, 0, tzinfo=UTC)


def test_rhel7_root_with_only_yum_log(tmp_path: Path) -> None:
    root = hr.rhel(tmp_path / "el7")
    when = hr.ago(3)
    hr.write(root, "/var/log/yum.log", f"{when.strftime('%b %d %H:%M:%S')} Updated: openssl-libs-1:1.0.2k-26.el7_9.x86_64\n")
    rep = hr.scan(root)
    assert [o[1] for o in hr.mine(rep, "linux.patches.recency")] == ["pass"]
    assert "yum.log" in hr.detail(rep, "linux.patches.recency")


def _libdnf_history(path: Path, rows: list[tuple[int, int, int]]) -> bytes:
    """A history.sqlite with libdnf's own table layout (libdnf/transaction/sql/*.sql): trans and trans_item."""
    import sqlite3

    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE trans (id INTEGER PRIMARY KEY, dt_begin INTEGER NOT NULL, dt_end INTEGER, rpmdb_version_begin TEXT,"
        " rpmdb_version_end TEXT, releasever TEXT NOT NULL, user_id INTEGER NOT NULL, cmdline TEXT, state INTEGER NOT NULL, comment TEXT);"
        "CREATE TABLE trans_item (id INTEGER PRIMARY KEY, trans_id INTEGER REFERENCES trans(id), item_id INTEGER,"
        " repo_id INTEGER, action INTEGER NOT NULL, reason INTEGER NOT NULL, state INTEGER NOT NULL);")
    for i, (end, state, action) in enumerate(rows, 1):
        con.execute("INSERT INTO trans VALUES (?, ?, ?, '', '', '9', 0, 'dnf upgrade', ?, '')", (i, end - 60, end, state))
        con.execute("INSERT INTO trans_item VALUES (?, ?, ?, 1, ?, 2, 1)", (i, i, i, action))
    con.commit()
    con.close()
    return path.read_bytes()


def test_dnf_history_database_newest_finished_upgrade(tmp_path: Path) -> None:
    from tenken.collectors.linux.patches import parse_dnf_history_db

    old, new, failed = int(hr.ago(40).timestamp()), int(hr.ago(2).timestamp()), int(hr.ago(1).timestamp())
    data = _libdnf_history(tmp_path / "h.sqlite", [(old, 1, 6), (new, 1, 6), (failed, 2, 6), (failed, 1, 1)])
    h = parse_dnf_history_db(data)
    assert h.last_upgrade == datetime.fromtimestamp(new, UTC)  # the failed (state 2) transaction does not count
    assert h.last_install == datetime.fromtimestamp(failed, UTC)
    root = hr.rhel(tmp_path / "el9")
    hr.write(root, "/var/lib/dnf/history.sqlite", data)
    rep = hr.scan(root)
    assert [o[1] for o in hr.mine(rep, "linux.patches.recency")] == ["pass"]
    assert "history.sqlite" in hr.detail(rep, "linux.patches.recency")


def test_a_damaged_dnf_history_database_is_never_a_pass(tmp_path: Path) -> None:
    root = hr.rhel(tmp_path / "el9")
    hr.write(root, "/var/lib/dnf/history.sqlite", b"SQLite format 3\x00" + b"\xff" * 200)
    rep = hr.scan(root)
    (status,) = [o[1] for o in hr.mine(rep, "linux.patches.recency")]
    assert status != "pass"
    (ev,) = [e for e in rep["evidence"] if e["collector"] == "linux.patches"]
    assert {"path": "/var/lib/dnf/history.sqlite", "line": 0, "reason": "unreadable history database: DatabaseError"} in ev["facts"]["malformed"]


class ChunkCountingRoot(RootTransport):
    """An offline root that records how each apt list is read: never whole, always in pieces."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.whole: list[str] = []
        self.pieces: dict[str, int] = {}

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        if "_Packages" in path:
            self.whole.append(path)
        return super().read_file(path, privileged=privileged, max_bytes=max_bytes)

    def read_chunks(self, path: str, *, max_bytes: int = 8 * 1024 * 1024, chunk: int = 1024 * 1024):  # type: ignore[no-untyped-def]
        self.pieces[path] = 0
        for piece in super().read_chunks(path, max_bytes=max_bytes, chunk=1024):  # tiny pieces: many cuts
            self.pieces[path] += 1
            yield piece


def test_apt_lists_are_read_in_pieces_with_the_whole_files_digest(tmp_path: Path) -> None:
    """A 19 MB Debian main list is never held whole (issue 15's 55 MB bound): every list is read through
    read_chunks, the computation is the same as from whole files, and each Source's digest is the file's."""
    import hashlib

    from tenken.collectors.registry import COLLECTORS, load_all, run_collector
    from tenken.collectors.settings import CollectSettings

    img = apt_image(tmp_path / "img")
    t = ChunkCountingRoot(str(img))
    load_all()
    got = run_collector(COLLECTORS["linux.patches"], t, CollectSettings())
    assert got.facts is not None and got.facts.pending_method == "apt-lists"
    assert {u.name for u in got.facts.pending} == PENDING
    assert {u.name for u in got.facts.pending if u.security} == SECURITY
    assert not t.whole and t.pieces and all(n >= 1 for n in t.pieces.values())
    assert max(t.pieces.values()) > 1  # at least one list arrived in several pieces
    digests = {s.ref: s.sha256 for s in got.evidence.sources}
    for path in t.pieces:
        assert digests[path] == hashlib.sha256((img / path.lstrip("/")).read_bytes()).hexdigest()
