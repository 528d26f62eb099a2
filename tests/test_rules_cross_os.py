"""One rule, one verdict: the same numbers fed through the Linux and the Windows adapters must give the
same status and the same clauses (checks/rules/). Each case is (rule, value); the facts are built the
way each OS's collector builds them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from tenken.checks.policy import Policy
from tenken.checks.registry import run_checks
from tenken.collectors.evidence import Facts
from tenken.collectors.linux._mounts import parse_mountinfo
from tenken.collectors.linux.accounts import Account, AccountsFacts
from tenken.collectors.linux.antimalware import AntimalwareFacts as LinuxAm
from tenken.collectors.linux.antimalware import Engine
from tenken.collectors.linux.backups import BackupFacts as LinuxBk
from tenken.collectors.linux.backups import BackupLocationFacts, Generation
from tenken.collectors.linux.password_policy import Lockout, LoginDefs, PwQuality
from tenken.collectors.linux.password_policy import PasswordPolicyFacts as LinuxPw
from tenken.collectors.linux.patches import PatchFacts
from tenken.collectors.linux.timesync import SyncStatus, TimeSource
from tenken.collectors.linux.timesync import TimeFacts as LinuxTime
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows.accounts import WinAccountsFacts, WinUser
from tenken.collectors.windows.antimalware import AntimalwareFacts as WinAm
from tenken.collectors.windows.antimalware import DefenderStatus
from tenken.collectors.windows.backups import BackupFacts as WinBk
from tenken.collectors.windows.backups import parse_locations
from tenken.collectors.windows.password_policy import PasswordPolicyFacts as WinPw
from tenken.collectors.windows.time import TimeFacts as WinTime
from tenken.collectors.windows.updates import HotFix, UpdatesFacts

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def verdicts(os: OsFamily, collector: str, facts: Facts, check_id: str, policy: Policy) -> list[tuple[str, tuple[str, ...], str]]:
    """(status, clauses, severity) of every finding: one outcome has one severity on every OS."""
    out = run_checks(os=os, target="t", facts={collector: facts}, evidence_ids={collector: "e-1"}, evidence_errors={},
                     policy=policy, now=NOW, only=[check_id])
    return sorted((f.status.value, tuple(sorted(f.clauses)), f.severity.value) for f in out)


# -- adapters: one value -> (Linux facts, Windows facts) -------------------------------------------------
def patch_age(age: timedelta) -> tuple[Facts, Facts]:
    return (PatchFacts(last_upgrade_at=NOW - age, last_upgrade_source="/var/log/apt/history.log"),
            # the patch level (newest cumulative update / hotfix), never LastInstallationSuccessDate, which
            # Defender definition installs also move
            UpdatesFacts(hotfixes=[HotFix(id="KB5044284", installed_on=NOW - age)], last_installation_success=NOW))


def signature_age(age: timedelta) -> tuple[Facts, Facts]:
    linux = LinuxAm(engines=[Engine(key="clamav", product="ClamAV", kind="antivirus", running=True,
                                    signature_time=NOW - age, signature_source="daily.cld header")])
    win = WinAm(defender=DefenderStatus(service_enabled=True, antivirus_enabled=True, realtime_enabled=True, running_mode="Normal",
                                        signature_last_updated=NOW - age, signature_age_days=int(age.days)))
    return linux, win


def lockout(threshold: int) -> tuple[Facts, Facts]:
    lk = None if threshold == 0 else Lockout(module="pam_faillock", where=["/etc/pam.d/common-auth:9"], deny=threshold, unlock_time=600)
    return (LinuxPw(entries=["common-auth"], lockout=lk),
            WinPw(min_length=14, complexity=True, lockout_threshold=threshold, reversible_encryption=False))


def password_rule(v: tuple[int, bool, int | None]) -> tuple[Facts, Facts]:
    """(minimum length, classes mixed, forced change period in days): pwquality minlen/minclass + login.defs
    PASS_MAX_DAYS on Linux; secedit MinimumPasswordLength/PasswordComplexity/MaximumPasswordAge on Windows."""
    length, mixed, max_age = v
    q = PwQuality(module="pam_pwquality", where="/etc/pam.d/common-password:25", control="requisite", minlen=length,
                  minclass=3 if mixed else 1, dcredit=0, ucredit=0, lcredit=0, ocredit=0, dictcheck=True, enforce_for_root=True)
    return (LinuxPw(entries=["common-password"], quality=q, login_defs=LoginDefs(encrypt_method="YESCRYPT", pass_max_days=max_age)),
            WinPw(min_length=length, complexity=mixed, max_age_days=max_age, lockout_threshold=5, reversible_encryption=False,
                  source="secedit"))


def stale(age: timedelta | None) -> tuple[Facts, Facts]:
    last = NOW - age if age is not None else None
    linux = AccountsFacts(lastlog_available=True, accounts=[
        Account(name="root", uid=0, gid=0, home="/root", shell="/bin/bash", login_shell=True),
        Account(name="nurse1", uid=1001, gid=1001, home="/home/nurse1", shell="/bin/bash", login_shell=True, last_login=last)])
    win = WinAccountsFacts(users=[
        WinUser(name="Administrator", sid="S-1-5-21-1-2-3-500", enabled=True, last_logon=None),
        WinUser(name="nurse1", sid="S-1-5-21-1-2-3-1001", enabled=True, last_logon=last)])
    return linux, win


def offset(seconds: float) -> tuple[Facts, Facts]:
    linux = LinuxTime(sources=[TimeSource(daemon="chrony", kind="server", host="ntp.nict.jp", origin="/etc/chrony/chrony.conf")],
                      status=SyncStatus(daemon="chrony", queried_with="chronyc tracking", synchronised=True,
                                        offset_seconds=seconds, stratum=2, reference_name="ntp.nict.jp"))
    win = WinTime(service_status="Running", stratum=2, source="ntp.nict.jp", source_kind="ntp", leap_indicator=0,
                  last_sync=NOW - timedelta(minutes=5), offset_seconds=seconds, config_type="NTP")
    return linux, win


def stratum(n: int) -> tuple[Facts, Facts]:
    linux, win = offset(0.01)
    assert isinstance(linux, LinuxTime) and linux.status is not None and isinstance(win, WinTime)
    return (linux.model_copy(update={"status": linux.status.model_copy(update={"stratum": n})}),
            win.model_copy(update={"stratum": n}))


def _linux_backup(count: int, newest_age: timedelta, *, path: str = "/srv/backup/emr", offline: bool = False,
                  mount_line: str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw", state: str = "present") -> LinuxBk:
    """One location as collectors/linux/backups.py records it: dated generations, the mount holding it."""
    gens = [Generation(name=f"emr-{(NOW - newest_age - timedelta(days=i)):%Y%m%d}.tar.gz", kind="file",
                       mtime=NOW - newest_age - timedelta(days=i), size=100) for i in range(count)]
    mount = parse_mountinfo(mount_line + "\n")[0]
    loc = BackupLocationFacts(path=path, origin="configured", offline_expected=offline, state=state, layout="plain",
                              generations=gens, count=count if state == "present" else None,
                              newest=gens[0].mtime if gens else None, mount=mount if state == "present" else None,
                              mount_table="mountinfo", same_device_as_root=mount.mount_point == "/")
    return LinuxBk(locations_configured=True, locations=[loc])


def _win_backup(count: int, newest_age: timedelta, *, path: str = "D:\\Backup\\EMR", offline: bool = False,
                exists: bool = True) -> WinBk:
    """The same location as collectors/windows/backups.py parses Get-ChildItem -Force: the backup images plus
    desktop.ini and Thumbs.db (hidden+system), which are never generations."""
    from tenken.collectors.settings import BackupLocation

    items = [{"N": f"emr-{(NOW - newest_age - timedelta(days=i)):%Y%m%d}.vhdx", "D": False, "A": 32,
              "T": (NOW - newest_age - timedelta(days=i)).isoformat()} for i in range(count)]
    items += [{"N": "desktop.ini", "D": False, "A": 38, "T": NOW.isoformat()}, {"N": "Thumbs.db", "D": False, "A": 6, "T": NOW.isoformat()}]
    row = ({"Path": path, "Exists": True, "Total": len(items), "Items": items, "Error": None} if exists else
           {"Path": path, "Exists": False, "Total": 0, "Items": [], "Error": "ItemNotFoundException", "ShareReachable": None})
    return WinBk(locations=parse_locations([row], [BackupLocation(path=path, offline=offline)]))


def backup_generations(count: int) -> tuple[Facts, Facts]:
    return _linux_backup(count, timedelta(days=1)), _win_backup(count, timedelta(days=1))


def backup_age(age: timedelta) -> tuple[Facts, Facts]:
    return _linux_backup(3, age), _win_backup(3, age)


def backup_offline(where: str) -> tuple[Facts, Facts]:
    """The registered offline copy: disconnected, connected read-write, or a folder on the system disk."""
    if where == "disconnected":
        return (_linux_backup(0, timedelta(days=1), path="/mnt/offline/emr", offline=True, state="not_mounted"),
                _win_backup(0, timedelta(days=1), path="\\\\nas01\\offline-emr", offline=True, exists=False))
    if where == "connected":
        return (_linux_backup(2, timedelta(days=1), path="/mnt/nas/emr", offline=True,
                              mount_line="31 22 0:50 / /mnt/nas rw,relatime shared:9 - nfs4 nas:/export rw,vers=4.2"),
                _win_backup(2, timedelta(days=1), path="\\\\nas01\\offline-emr", offline=True))
    return (_linux_backup(2, timedelta(days=1), path="/srv/offline", offline=True),
            _win_backup(2, timedelta(days=1), path="C:\\Backup\\Offline", offline=True))


def log_retention(weeks_kept: int) -> tuple[Facts, Facts]:
    """The same number of days of login records: logrotate `weekly` + `rotate N` on /var/log/auth.log (N+1
    weeks), and a full circular Security log whose oldest event is that many days old."""
    from tenken.collectors.linux.logs import LogFile, LogsFacts, SyslogFacts, expand_includes, rotation_for
    from tenken.collectors.windows.eventlog import EventLogFacts

    conf = "weekly\nrotate 4\ncreate\ninclude /etc/logrotate.d\n"
    stanza = f"/var/log/auth.log\n{{\n\trotate {weeks_kept - 1}\n\tmissingok\n}}\n"
    pieces = expand_includes("/etc/logrotate.conf", conf, lambda arg: [("/etc/logrotate.d/rsyslog", stanza)])
    rot = rotation_for("/var/log/auth.log", pieces)
    assert rot is not None
    linux = LogsFacts(syslog=SyslogFacts(daemons=["rsyslog"], running=["rsyslog"]), logrotate_present=True, processes_known=True,
                      rotation={"/var/log/auth.log": rot}, files=[LogFile(path="/var/log/auth.log", mode=0o640, uid=0, gid=4)])
    win = EventLogFacts(enabled=True, mode="Circular", max_size=1 << 30, file_size=(1 << 30) - 4096, records=10**6,
                        oldest=NOW - timedelta(days=7 * weeks_kept))
    return linux, win


def pending(v: tuple[int, int]) -> tuple[Facts, Facts]:
    """(security, other) updates pending: apt's pending packages from the security suite or not, and the
    Windows Update Agent's missing updates (MSRC-rated security updates or not)."""
    from tenken.collectors.linux.patches import PendingUpdate
    from tenken.collectors.windows.pending_updates import MissingUpdate, PendingUpdatesFacts

    sec, other = v
    linux = PatchFacts(security_known=True, pending_source="apt lists", index_refreshed_at=NOW - timedelta(days=1), pending=[
        *(PendingUpdate(name=f"libssl3-{i}", origin="Debian-Security:12/stable-security", security=True) for i in range(sec)),
        *(PendingUpdate(name=f"tzdata-{i}", origin="Debian:12/stable") for i in range(other))])
    win = PendingUpdatesFacts(enabled=True, searched=True, server="wsus", missing_updates=[
        *(MissingUpdate(title=f"累積更新プログラム (KB50442{i:02d})", kbs=[f"KB50442{i:02d}"], severity="Critical", security=True) for i in range(sec)),
        *(MissingUpdate(title=f"Microsoft Defender Antivirus マルウェア対策プラットフォームの更新プログラム - KB4052623-{i}") for i in range(other))])
    return linux, win


def screen_lock(v: tuple[int | None, bool]) -> tuple[Facts, Facts]:
    """(idle seconds or None for no setting, enforced): GNOME's dconf idle-delay + lock-enabled (locked or not)
    and Windows' machine inactivity limit (enforced) or a user's own password-protected screen saver."""
    from tenken.collectors.linux.protections import LockSetting, ProtectionFacts, ScreenLockFacts
    from tenken.collectors.windows.screen_lock import ScreenLockFacts as WinLock
    from tenken.collectors.windows.screen_lock import ScreenSaver

    idle, enforced = v
    settings = [] if idle is None else [LockSetting(desktop="gnome", source="/etc/dconf/db/local.d/00-screenlock", lock_enabled=True,
                                                    idle_seconds=idle, locked=enforced)]
    linux = ProtectionFacts(screen=ScreenLockFacts(desktop_present=True, display_managers=["gdm3"], sessions=["gnome"], settings=settings))
    if idle is None:
        win = WinLock(installation_type="Client")
    elif enforced:
        win = WinLock(installation_type="Client", inactivity_timeout_seconds=idle)
    else:
        win = WinLock(installation_type="Client", screensavers=[ScreenSaver(sid="S-1-5-21-1-2-3-1001", policy=False, active=True,
                                                                            secure=True, timeout_seconds=idle)])
    return linux, win


def listening(v: tuple[int, str]) -> tuple[Facts, Facts]:
    """One TCP listener (port, address) beside sshd/RDP: ss's view on Linux, Get-NetTCPConnection's on Windows."""
    from tenken.collectors.linux.services import Listener, ServicesFacts
    from tenken.collectors.windows.listeners import ListenersFacts, WinListener

    port, addr = v
    linux = ServicesFacts(listeners=[Listener(proto="tcp", address="0.0.0.0", port=22, process="sshd"),
                                     Listener(proto="tcp", address=addr, port=port, process="inetd")], listeners_source="ss -tulpn")
    win = ListenersFacts(listeners=[WinListener(proto="tcp", address="0.0.0.0", port=3389, process="svchost", services=["TermService"]),
                                    WinListener(proto="tcp", address=addr, port=port, process="svchost", services=["ftpsvc"])])
    return linux, win


def unneeded_service(state: str) -> tuple[Facts, Facts]:
    """Telnet running, only installed, or absent: a systemd socket unit enabled + in.telnetd process / the
    telnetd package only, and the TlntSvr service Running+Auto / registered Manual and stopped."""
    from tenken.collectors.linux.services import EnabledUnit, ServicesFacts
    from tenken.collectors.windows.services import WinService, WinServicesFacts

    base = [WinService(name="W32Time", display_name="Windows Time", state="Running", start_mode="Auto")]
    if state == "running":
        return (ServicesFacts(systemd_present=True, enabled_units=[EnabledUnit(name="telnet.socket", wanted_by="sockets.target.wants")],
                              processes=["in.telnetd"], packages={"telnetd": "0.17-44"}, package_manager="dpkg"),
                WinServicesFacts(services=[*base, WinService(name="TlntSvr", display_name="Telnet", state="Running", start_mode="Auto")]))
    if state == "installed":
        return (ServicesFacts(systemd_present=True, processes=["sshd"], packages={"telnetd": "0.17-44"}, package_manager="dpkg"),
                WinServicesFacts(services=[*base, WinService(name="TlntSvr", display_name="Telnet", state="Stopped", start_mode="Manual")]))
    return (ServicesFacts(systemd_present=True, processes=["sshd"], packages={}, package_manager="dpkg"), WinServicesFacts(services=base))


RULES: dict[str, tuple[Callable[..., tuple[Facts, Facts]], str, str, str, str]] = {
    # rule: (adapter, linux collector, linux check, windows collector, windows check)
    "patch_age": (patch_age, "linux.patches", "linux.patches.recency", "windows.updates", "windows.patches.age"),
    "signature_age": (signature_age, "linux.antimalware", "linux.antimalware.signatures", "windows.antimalware", "windows.antimalware.signatures"),
    "lockout": (lockout, "linux.password_policy", "linux.password.lockout", "windows.password_policy", "windows.password.lockout"),
    "password": (password_rule, "linux.password_policy", "linux.password.quality", "windows.password_policy", "windows.password.quality"),
    "stale": (stale, "linux.accounts", "linux.accounts.stale", "windows.accounts", "windows.accounts.stale"),
    "offset": (offset, "linux.timesync", "linux.time.sync", "windows.time", "windows.time.sync"),
    "stratum": (stratum, "linux.timesync", "linux.time.sync", "windows.time", "windows.time.sync"),
    "backup_generations": (backup_generations, "linux.backups", "linux.backup.generations", "windows.backups", "windows.backup.generations"),
    "backup_age": (backup_age, "linux.backups", "linux.backup.freshness", "windows.backups", "windows.backup.freshness"),
    "ports": (listening, "linux.services", "linux.services.ports", "windows.listeners", "windows.services.ports"),
    "screen_lock": (screen_lock, "linux.protections", "linux.host.screen_lock", "windows.screen_lock", "windows.screen_lock"),
    "pending": (pending, "linux.patches", "linux.patches.pending", "windows.pending_updates", "windows.patches.pending"),
    "log_retention": (log_retention, "linux.logs", "linux.logs.retention", "windows.eventlog", "windows.logs.retention"),
    "unneeded_service": (unneeded_service, "linux.services", "linux.services.unnecessary", "windows.services",
                         "windows.services.unnecessary"),
    "backup_offline": (backup_offline, "linux.backups", "linux.backup.offline", "windows.backups", "windows.backup.offline"),
}

CASES = [
    ("patch_age", timedelta(days=3), "pass"),
    ("patch_age", timedelta(days=30, hours=5), "warn"),  # Windows used to fail after 30 days
    ("patch_age", timedelta(days=91), "fail"),
    ("signature_age", timedelta(hours=20), "pass"),
    ("signature_age", timedelta(days=3, hours=2), "warn"),  # Windows had no warn band
    ("signature_age", timedelta(days=7, hours=22), "fail"),  # Windows rounded this down to 7 days and passed
    ("lockout", 5, "pass"),
    ("lockout", 11, "warn"),  # Windows used to fail
    ("lockout", 0, "fail"),
    ("password", (13, True, None), "pass"),  # シQ-54 (a)
    ("password", (14, False, None), "warn"),  # long but unmixed: Windows used to fail (complexity), Linux warned
    ("password", (8, True, 60), "pass"),  # (b) 8+ changed within two months
    ("password", (8, True, 90), "fail"),
    ("password", (10, False, 30), "fail"),  # Windows' length check used to pass this, ignoring classes
    ("stale", timedelta(days=10), "pass"),
    ("stale", timedelta(days=200), "warn"),
    ("stale", None, "warn"),
    ("offset", 0.2, "pass"),
    ("offset", 2.5, "warn"),  # Windows used to fail above 1 s
    ("offset", -75.0, "fail"),
    ("stratum", 3, "pass"),
    ("stratum", 7, "warn"),  # Windows used to fail
    ("ports", (8443, "0.0.0.0"), "pass"),
    ("ports", (21, "0.0.0.0"), "fail"),  # Windows had no listening-ports check
    ("ports", (21, "127.0.0.1"), "warn"),
    ("screen_lock", (300, True), "pass"),
    ("screen_lock", (3600, True), "fail"),  # beyond host.max_screen_lock_idle_seconds
    ("screen_lock", (300, False), "warn"),  # users can turn it off
    ("screen_lock", (None, False), "fail"),  # Windows had no screen lock check
    ("pending", (0, 0), "pass"),
    ("pending", (2, 0), "fail"),
    ("pending", (0, 3), "warn"),  # Windows had no pending-updates check
    ("log_retention", 53, "pass"),  # rotate 52 weekly: 53 weeks, 371 days
    ("log_retention", 5, "warn"),  # rotate 4 weekly: 35 days (Linux used to count 28)
    ("backup_generations", 3, "pass"),
    ("backup_generations", 1, "fail"),  # Windows counted desktop.ini and Thumbs.db and passed with 3
    ("backup_age", timedelta(days=2), "pass"),
    ("backup_age", timedelta(days=7, hours=6), "fail"),
    ("unneeded_service", "running", "fail"),  # Windows had no unneeded-services check
    ("unneeded_service", "installed", "warn"),
    ("unneeded_service", "absent", "pass"),
    ("backup_offline", "disconnected", "pass"),  # Windows asked for a manual check
    ("backup_offline", "connected", "warn"),  # Windows passed a reachable copy
    ("backup_offline", "system_disk", "fail"),
]


@pytest.mark.parametrize(("rule", "value", "expected"), CASES, ids=[f"{r}-{v}" for r, v, _ in CASES])
def test_same_numbers_same_verdict_on_both_oses(rule: str, value: object, expected: str) -> None:
    adapter, lc, lcheck, wc, wcheck = RULES[rule]
    linux_facts, win_facts = adapter(value)
    # the shipped policy's list of unneeded ports (config/policy.yaml); everything else at its defaults
    policy = Policy.model_validate({"services": {"unnecessary_ports": {21: "ftp", 23: "telnet"}, "unnecessary_services": ["telnet"],
                                                 "windows_unnecessary_services": {"TlntSvr": "telnet"}}})
    linux = verdicts(OsFamily.LINUX, lc, linux_facts, lcheck, policy)
    win = verdicts(OsFamily.WINDOWS, wc, win_facts, wcheck, policy)
    assert linux == win, f"{rule}={value}: Linux {linux} vs Windows {win}"
    assert {s for s, *_ in linux} == {expected}


def test_untrusted_time_source_warns_on_both_and_not_on_a_domain_member() -> None:
    policy = Policy.model_validate({"time": {"trusted_servers": ["ntp1.hosp.local"]}})
    linux, win = offset(0.01)
    lv = verdicts(OsFamily.LINUX, "linux.timesync", linux, "linux.time.sources", policy)
    wv = verdicts(OsFamily.WINDOWS, "windows.time", win, "windows.time.sync", policy)
    assert [v[:2] for v in lv] == [v[:2] for v in wv] == [("warn", ("SO-17-3",))]
    assert isinstance(win, WinTime)
    member = win.model_copy(update={"config_type": "NT5DS", "source": "dc01.hosp.local"})
    assert [v[:2] for v in verdicts(OsFamily.WINDOWS, "windows.time", member, "windows.time.sync", policy)] == [("pass", ("SO-17-3",))]


def test_no_login_account_is_not_applicable_on_both() -> None:
    linux = AccountsFacts(lastlog_available=True, accounts=[
        Account(name="root", uid=0, gid=0, home="/root", shell="/bin/bash", login_shell=True)])
    win = WinAccountsFacts(users=[WinUser(name="Administrator", sid="S-1-5-21-1-2-3-500", enabled=True, last_logon=None)])
    assert (verdicts(OsFamily.LINUX, "linux.accounts", linux, "linux.accounts.stale", Policy())
            == verdicts(OsFamily.WINDOWS, "windows.accounts", win, "windows.accounts.stale", Policy())
            == [("not_applicable", ("SO-14-7",), "info")])


def test_checks_never_read_the_wall_clock() -> None:
    """Ages are judged against the scan's clock (CheckContext.now), never datetime.now()/date.today()."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "checks"
    bad = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
           for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if "datetime.now(" in line or "date.today(" in line or ("utcnow()" in line and p.name != "registry.py")]
    assert not bad, bad


@pytest.mark.parametrize(("days_left", "expected"), [(-1, "fail"), (0, "warn"), (180, "warn"), (181, "pass")])
def test_end_of_support_same_days_left_same_verdict(days_left: int, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian 12 (os-release) and Windows Server 2022 (CurrentBuild 20348, InstallationType Server) with the
    same end-of-support date in the table: same status, clauses and severity (checks/rules/eos.py)."""
    from tenken.checks.eos_data import EosRelease, EosTable, WindowsRelease
    from tenken.collectors.linux.osrelease import os_release_from

    end = (NOW + timedelta(days=days_left)).date()
    table = EosTable(data_as_of=NOW.date(), windows_data_as_of=NOW.date(),
                     releases=[EosRelease(os="debian", version="12", name="Debian 12", eos=end, source="test")],
                     windows=[WindowsRelease.model_validate({"build": "20348", "class": "server", "name": "Windows Server 2022",
                                                             "eos": end, "source": "test"})])
    monkeypatch.setattr("tenken.checks.linux.eos.load_eos_table", lambda: table)
    monkeypatch.setattr("tenken.checks.windows.eos.load_eos_table", lambda: table)
    linux = PatchFacts(os=os_release_from('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'))
    win = UpdatesFacts(os_build="20348", ubr=3091, installation_type="Server", edition_id="ServerStandard")
    lv = verdicts(OsFamily.LINUX, "linux.patches", linux, "linux.os.eos", Policy())
    wv = verdicts(OsFamily.WINDOWS, "windows.updates", win, "windows.os.eos", Policy())
    assert lv == wv and [s for s, *_ in lv] == [expected]
