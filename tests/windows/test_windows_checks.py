"""Windows checks as pure functions of facts and policy: the thresholds shared with Linux, and the
edges (Q&A シQ-54's 8-character alternatives, portable vs stationary machines, trusted time servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tenken.checks.policy import Policy
from tenken.checks.registry import run_checks
from tenken.collectors.evidence import Facts, Reason, Unavailable
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows.accounts import WinAccountsFacts, WinUser
from tenken.collectors.windows.antimalware import AntimalwareFacts, AvProduct, DefenderStatus
from tenken.collectors.windows.bitlocker import BitLockerFacts, BitLockerVolume
from tenken.collectors.windows.password_policy import PasswordPolicyFacts
from tenken.collectors.windows.smb import SmbFacts
from tenken.collectors.windows.time import TimeFacts

NOW = datetime.now(UTC)


def run(name: str, facts: Facts, policy: Policy | None = None, **policy_over: Any) -> list[tuple[str, str, str | None]]:
    pol = policy or Policy.model_validate(policy_over)
    out = run_checks(os=OsFamily.WINDOWS, target="h:5986", facts={name: facts}, evidence_ids={name: "e-1"},
                     evidence_errors={}, policy=pol)
    return sorted((f.check_id, f.status.value, f.subject) for f in out)


def status_of(results: list[tuple[str, str, str | None]], check_id: str) -> list[str]:
    return [s for c, s, _ in results if c == check_id]


def test_password_length_follows_qa_54() -> None:
    def length(n: int, age: int | None, **pol: Any) -> list[str]:
        f = PasswordPolicyFacts(min_length=n, max_age_days=age, complexity=True, lockout_threshold=5, reversible_encryption=False)
        return status_of(run("windows.password_policy", f, **pol), "windows.password.quality")

    assert length(13, None) == ["pass"]  # (a) 13+: no rotation needed
    assert length(8, 60) == ["pass"]  # (b) 8+ changed within 2 months
    assert length(8, 90) == ["fail"]
    assert length(8, None) == ["fail"]
    assert length(8, None, passwords={"mfa_in_place": True}) == ["pass"]  # (c) 8+ with two-factor
    assert length(7, 30, passwords={"mfa_in_place": True}) == ["fail"]
    assert length(10, None, passwords={"min_length": 10}) == ["pass"]  # a site's own policy

    def unmixed(n: int, age: int | None, **pol: Any) -> list[str]:
        f = PasswordPolicyFacts(min_length=n, max_age_days=age, complexity=False, lockout_threshold=5, reversible_encryption=False)
        return status_of(run("windows.password_policy", f, **pol), "windows.password.quality")

    # complexity off: long enough warns as on Linux (it used to fail on Windows only); short fails even with rotation
    assert unmixed(14, None) == ["warn"]
    assert unmixed(14, None, passwords={"unmixed_status": "fail"}) == ["fail"]
    assert unmixed(8, 30) == ["fail"]


def test_lockout_and_unknown_complexity() -> None:
    f = PasswordPolicyFacts(min_length=14, lockout_threshold=0, unavailable={
        "secedit": Unavailable(reason=Reason.DENIED, detail="secedit: Access is denied"),
        "complexity": Unavailable(reason=Reason.DENIED, detail="needs an administrator")})
    res = run("windows.password_policy", f)
    assert status_of(res, "windows.password.lockout") == ["fail"]
    assert status_of(res, "windows.password.quality") == ["error"]  # could not look at complexity is never a pass
    short = PasswordPolicyFacts(min_length=6, unavailable={"complexity": Unavailable(reason=Reason.DENIED, detail="needs an administrator")})
    assert status_of(run("windows.password_policy", short), "windows.password.quality") == ["fail"]  # too short whatever it mixes
    assert status_of(res, "windows.password.reversible") == ["error"]
    assert status_of(run("windows.password_policy", f, passwords={"lockout_required": False}), "windows.password.lockout") == ["warn"]
    f11 = PasswordPolicyFacts(min_length=14, lockout_threshold=11, complexity=True, reversible_encryption=False)
    # too many tries allowed warns, as on Linux (the guideline gives no number; checks/rules/passwords.py)
    assert status_of(run("windows.password_policy", f11), "windows.password.lockout") == ["warn"]


def test_bitlocker_portable_vs_stationary() -> None:
    off = [BitLockerVolume(mount_point="C:", volume_type="OperatingSystem", protection="Off", volume_status="FullyDecrypted"),
           BitLockerVolume(mount_point="F:", volume_type="Removable", protection="Off", volume_status="FullyDecrypted")]
    server = BitLockerFacts(volumes=off, pc_system_type=4, chassis_types=[23])
    laptop = BitLockerFacts(volumes=off, pc_system_type=2, chassis_types=[10])
    assert run("windows.bitlocker", server) == [("windows.bitlocker", "warn", "C:")]
    assert run("windows.bitlocker", laptop) == [("windows.bitlocker", "fail", "C:")]
    assert run("windows.bitlocker", server, host={"disk_encryption_scope": "all"}) == [("windows.bitlocker", "fail", "C:")]
    assert run("windows.bitlocker", server, host={"portable": True}) == [("windows.bitlocker", "fail", "C:")]
    no_feature = BitLockerFacts(available=False, pc_system_type=2)
    assert run("windows.bitlocker", no_feature) == [("windows.bitlocker", "fail", "BitLocker")]


def test_time_trusted_servers_vm_and_offset() -> None:
    ok = TimeFacts(service_status="Running", stratum=2, source="ntp.nict.jp", source_kind="ntp", leap_indicator=0,
                   last_sync=NOW - timedelta(minutes=5), offset_seconds=0.01)
    assert run("windows.time", ok) == [("windows.time.sync", "pass", None)]
    # an untrusted source warns as on Linux; a domain member follows its DC by design and is not judged on it
    assert run("windows.time", ok, time={"trusted_servers": ["ntp1.hosp.local"]}) == [("windows.time.sync", "warn", "trusted")]
    member = ok.model_copy(update={"config_type": "NT5DS", "source": "dc01.hospital.local"})
    assert run("windows.time", member, time={"trusted_servers": ["ntp1.hosp.local"]}) == [("windows.time.sync", "pass", None)]
    assert run("windows.time", ok, time={"trusted_servers": ["NTP.NICT.JP"]}) == [("windows.time.sync", "pass", None)]
    drift = ok.model_copy(update={"offset_seconds": -2.5})
    assert run("windows.time", drift) == [("windows.time.sync", "warn", "offset")]  # warn beyond 1 s, fail beyond 60 s
    assert run("windows.time", ok.model_copy(update={"offset_seconds": 75.0})) == [("windows.time.sync", "fail", "offset")]
    weekly = ok.model_copy(update={"last_sync": NOW - timedelta(days=6)})
    assert run("windows.time", weekly) == [("windows.time.sync", "warn", "last_sync")]
    vm = ok.model_copy(update={"source": "VM IC Time Synchronization Provider", "source_kind": "vm_host"})
    assert run("windows.time", vm) == [("windows.time.sync", "warn", "source")]
    stopped = ok.model_copy(update={"service_status": "Stopped"})
    assert run("windows.time", stopped) == [("windows.time.sync", "fail", "W32Time")]
    unmeasured = ok.model_copy(update={"offset_seconds": None,
                                       "unavailable": {"offset": Unavailable(reason=Reason.FAILED, detail="w32tm /stripchart failed")}})
    assert run("windows.time", unmeasured) == [("windows.time.sync", "error", "offset")]


def test_antimalware_third_party_and_required() -> None:
    third = AntimalwareFacts(defender=DefenderStatus(service_enabled=True, antivirus_enabled=False, realtime_enabled=False,
                                                     running_mode="Passive Mode", signature_age_days=90),
                             products=[AvProduct(name="Trend Micro Apex One", product_state=266240, enabled=True, up_to_date=True)],
                             security_center_available=True)
    res = run("windows.antimalware", third)
    assert status_of(res, "windows.antimalware.enabled") == ["pass"]
    assert status_of(res, "windows.antimalware.signatures") == ["pass"]  # the third-party product's own state is judged
    none = AntimalwareFacts(defender=None, defender_error="absent", security_center_available=False)
    assert status_of(run("windows.antimalware", none), "windows.antimalware.enabled") == ["fail"]
    assert status_of(run("windows.antimalware", none, antimalware={"required": False}), "windows.antimalware.enabled") == ["warn"]
    assert status_of(run("windows.antimalware", none), "windows.antimalware.signatures") == ["not_applicable"]


def test_smb1_allowed_by_policy_and_unknown() -> None:
    assert run("windows.smb", SmbFacts(smb1_enabled=True)) == [("windows.smb1", "fail", None)]
    assert run("windows.smb", SmbFacts(smb1_enabled=True), windows={"allow_smb1": True}) == [("windows.smb1", "warn", None)]
    absent = SmbFacts(unavailable={"smb": Unavailable(reason=Reason.ABSENT, detail="SMB server cmdlets not available")})
    assert run("windows.smb", absent) == [("windows.smb1", "not_applicable", None)]


def test_stale_accounts_ignore_builtin_disabled_and_system() -> None:
    users = [
        WinUser(name="a", sid="S-1-5-21-1-2-3-1001", enabled=True, last_logon=NOW - timedelta(days=10)),
        WinUser(name="b", sid="S-1-5-21-1-2-3-1002", enabled=True, last_logon=NOW - timedelta(days=200)),
        WinUser(name="c", sid="S-1-5-21-1-2-3-1003", enabled=False, last_logon=None),
        WinUser(name="DefaultAccount", sid="S-1-5-21-1-2-3-503", enabled=True, last_logon=None),
    ]
    res = run("windows.accounts", WinAccountsFacts(users=users))
    assert [r for r in res if r[0] == "windows.accounts.stale"] == [("windows.accounts.stale", "warn", "b")]
    assert status_of(run("windows.accounts", WinAccountsFacts(users=users), accounts={"stale_days": 365}), "windows.accounts.stale") == ["pass"]


def test_security_log_retention_by_mode_and_fill() -> None:
    """Get-WinEvent -ListLog Security: AutoBackup/Retain keep everything; Circular keeps what MaxSize holds."""
    import pytest
    from tenken.collectors.windows._ps import ParseError
    from tenken.collectors.windows.eventlog import parse_eventlog

    def st(**kw: Any) -> list[tuple[str, str, str | None]]:
        base = {"LogName": "Security", "IsEnabled": True, "LogMode": "Circular", "MaximumSizeInBytes": 20971520,
                "FileSize": 20971520, "RecordCount": 30000, "Oldest": (NOW - timedelta(days=9)).isoformat()}
        return run("windows.eventlog", parse_eventlog(base | kw))

    assert status_of(st(), "windows.logs.retention") == ["warn"]  # the 20 MB default, full after 9 days
    assert status_of(st(LogMode=1), "windows.logs.retention") == ["pass"]  # AutoBackup as a number
    assert status_of(st(LogMode="Retain"), "windows.logs.retention") == ["pass"]
    # a quarter full after 100 days: projected 400 days
    assert status_of(st(FileSize=20971520 // 4, Oldest=(NOW - timedelta(days=100)).isoformat()), "windows.logs.retention") == ["pass"]
    assert status_of(run("windows.eventlog", parse_eventlog({"LogMode": "Circular", "MaximumSizeInBytes": 20971520, "FileSize": 20971520,
                                                             "Oldest": (NOW - timedelta(days=9)).isoformat()}),
                         logging={"enforce_retention": True}), "windows.logs.retention") == ["fail"]
    assert status_of(st(IsEnabled=False), "windows.logs.retention") == ["fail"]
    with pytest.raises(ParseError):
        parse_eventlog({"LogMode": "Sometimes", "MaximumSizeInBytes": 1})


def test_pending_updates_from_a_wsus_search() -> None:
    """IUpdateSearcher results as the collector's script serialises them, titles in the Japanese form
    Microsoft publishes (support.microsoft.com/ja-jp KB pages, e.g. KB5042349 for .NET on Server 2022)."""
    from tenken.collectors.windows.pending_updates import PendingUpdatesFacts, parse_pending

    data = {"ResultCode": 2, "ServerSelection": 1, "Updates": [
        {"Title": "2024-10 Microsoft server operating system version 21H2 x64 ベース システム用累積更新プログラム (KB5044281)",
         "KB": "5044281", "Severity": "Critical", "Security": True},
        {"Title": "2024-08 x64 用 Microsoft server operating system version 21H2 用 .NET Framework 3.5、4.8 の累積的な更新プログラム (KB5042349)",
         "KB": "5042349", "Severity": "", "Security": False},
    ]}
    f = parse_pending(data).model_copy(update={"enabled": True})
    got = run("windows.pending_updates", f)
    assert sorted(s for c, s, _ in got if c == "windows.patches.pending") == ["fail", "warn"]
    assert status_of(run("windows.pending_updates", f, patches={"max_pending_total": 5}), "windows.patches.pending") == ["fail"]
    none = parse_pending({"ResultCode": 2, "ServerSelection": 1, "Updates": []}).model_copy(update={"enabled": True})
    assert status_of(run("windows.pending_updates", none), "windows.patches.pending") == ["pass"]
    assert status_of(run("windows.pending_updates", PendingUpdatesFacts()), "windows.patches.pending") == ["not_applicable"]
    failed = PendingUpdatesFacts(enabled=True, unavailable={"search": Unavailable(reason=Reason.TIMEOUT, detail="300 s")})
    assert status_of(run("windows.pending_updates", failed), "windows.patches.pending") == ["error"]


def test_screen_lock_from_registry_values() -> None:
    """REG_SZ flags and timeouts as ControlPanelDisplay.admx writes them; a lone hive is an object, not a list."""
    from tenken.collectors.windows.screen_lock import parse_screen_lock

    def st(data: dict) -> list[str]:
        return status_of(run("windows.screen_lock", parse_screen_lock(data)), "windows.screen_lock")

    gpo = {"Sid": "S-1-5-21-1-2-3-1001", "PolicyActive": "1", "PolicySecure": "1", "PolicyTimeout": "600",
           "Active": "1", "Secure": "0", "Timeout": "60"}
    assert st({"InstallationType": "Client", "InactivityTimeoutSecs": None, "Users": gpo}) == ["pass"]  # Group Policy wins
    own = {k: (None if k.startswith("Policy") else v) for k, v in gpo.items()} | {"Secure": "1"}
    assert st({"InstallationType": "Client", "InactivityTimeoutSecs": None, "Users": [own]}) == ["warn"]  # the user can undo it
    assert st({"InstallationType": "Client", "InactivityTimeoutSecs": 1800, "Users": []}) == ["fail"]
    assert st({"InstallationType": "Server Core", "InactivityTimeoutSecs": None, "Users": []}) == ["not_applicable"]
    assert st({"InstallationType": "Client", "InactivityTimeoutSecs": 0, "Users": []}, ) == ["fail"]  # 0: never locks


# Process names and ports of a real Windows Server domain controller's `Get-NetTCPConnection -State Listen`
# (a public Markdown note in the search index's code corpus, "PS C:\> Get-NetTCPConnection -State Listen |
# Select-Object ... ProcessName, LocalPort"); addresses are the cmdlet's usual 0.0.0.0/:: rows.
DC_LISTEN = [("dfsrs", 49731), ("dns", 49694), ("services", 49682), ("lsass", 49674), ("lsass", 49673), ("lsass", 49667),
             ("svchost", 49666), ("svchost", 49665), ("wininit", 49664), ("System", 47001), ("Microsoft.ActiveDirectory.WebServices", 9389),
             ("System", 8000), ("System", 5985), ("lsass", 3269), ("lsass", 3268), ("lsass", 636), ("svchost", 593), ("lsass", 464),
             ("System", 445), ("httpd", 443), ("lsass", 389), ("svchost", 135), ("lsass", 88), ("httpd", 80), ("dns", 53)]


def test_real_domain_controller_listeners() -> None:
    from tenken.collectors.windows.listeners import parse_listeners

    rows = [{"Proto": "tcp", "Address": "0.0.0.0", "Port": port, "Pid": 1000 + i, "Process": proc, "Services": None}
            for i, (proc, port) in enumerate(DC_LISTEN)]
    rows.append(dict(rows[-1]))  # dns:53 is listed once per address in the capture: duplicates collapse
    facts = parse_listeners(rows)
    assert len(facts.listeners) == len(DC_LISTEN)
    got = run("windows.listeners", facts, services={"unnecessary_ports": {21: "ftp", 23: "telnet", 111: "rpcbind"}})
    assert status_of(got, "windows.services.ports") == ["pass"] and status_of(got, "windows.services.listeners") == ["manual"]
    # the same host with the DC's port 88 listed as unneeded by a (strange) site policy: the rule fires on it
    assert status_of(run("windows.listeners", facts, services={"unnecessary_ports": {88: "kerberos"}}), "windows.services.ports") == ["fail"]


def test_security_log_retention_falls_back_to_the_registry() -> None:
    """Get-WinEvent -ListLog can fail (event log service broken, a restricted endpoint): the same settings from
    the registry, Group Policy's key first (MaxSize in KB, REG_SZ flags), then the log's own key (MaxSize in
    bytes, Retention DWORD; 0xFFFFFFFF reads as -1 through Get-ItemProperty). Never a pass on nothing."""
    from tenken.collectors.windows.eventlog import parse_eventlog

    err = "There are no more endpoints available from the endpoint mapper."
    base = {"Source": "registry", "ListLogError": err, "PolicyMaxSizeKB": None, "PolicyRetention": None, "PolicyAutoBackup": None,
            "MaxSize": None, "Retention": None, "AutoBackup": None, "File": "%SystemRoot%\\System32\\Winevt\\Logs\\Security.evtx"}

    def st(**kw: Any) -> list[tuple[str, str, str | None]]:
        return run("windows.eventlog", parse_eventlog(base | kw))

    gpo = st(PolicyMaxSizeKB=4194240, PolicyRetention="0", PolicyAutoBackup="1")  # "Back up log automatically when full"
    assert status_of(gpo, "windows.logs.retention") == ["pass"]
    facts = parse_eventlog(base | {"PolicyMaxSizeKB": 4194240, "PolicyRetention": "0", "PolicyAutoBackup": "1"})
    assert facts.mode == "AutoBackup" and facts.max_size == 4194240 * 1024 and "endpoint mapper" in facts.source
    assert status_of(st(MaxSize=20971520, Retention=0), "windows.logs.retention") == ["warn"]  # circular, size only
    assert status_of(st(MaxSize=20971520, Retention=-1), "windows.logs.retention") == ["pass"]  # do not overwrite
    assert parse_eventlog(base | {"MaxSize": 20971520, "Retention": 4294967295, "AutoBackup": 1}).mode == "AutoBackup"
    assert status_of(st(PolicyRetention="1", MaxSize=20971520, Retention=0), "windows.logs.retention") == ["pass"]  # policy wins
    import pytest
    from tenken.collectors.windows._ps import ParseError

    with pytest.raises(ParseError):  # nothing set anywhere: the collector records a failure (error), never a guess
        parse_eventlog(base)
