"""Windows evidence that must hold on real (Japanese, domain-joined, hardened) hosts: output encodings,
Constrained Language Mode, the effective/domain password policy and UNC shares behind the double hop.

Console outputs below are copied from public captures of real Windows hosts; each names its source."""

from __future__ import annotations

from tenken.collectors.evidence import Reason
from tenken.collectors.settings import BackupLocation
from tenken.collectors.transport.base import CommandResult
from tenken.collectors.transport.winrm import PS_PRELUDE
from tenken.collectors.windows._ps import constrained_detail, decode_text, failure_reason, is_constrained
from tenken.collectors.windows.backups import BackupFacts, parse_locations
from tenken.collectors.windows.time import parse_w32tm_status

# Real `w32tm /query /status` from a Japanese Windows Server 2019 (public Hugo memo "Windows Server 2019
# Install", 2022-01-10, in the search index's code corpus, file id 62231477300).
W32TM_JA_REAL = (
    "閏インジケーター: 0 (警告なし)\r\n階層: 3 (二次参照 - (S)NTP で同期)\r\n精度: -23 (ティックごとに 119.209ns)\r\n"
    "ルート遅延: 0.0216253s\r\nルート分散: 7.7938950s\r\n参照 ID: 0x0A000003 (ソース IP:  10.30.0.3)\r\n"
    "最終正常同期時刻: 2022/01/10 1:45:54\r\nソース: 10.30.0.3,8\r\nポーリング間隔: 10 (1024s)\r\n\r\n"
)


def test_real_japanese_w32tm_status_in_every_encoding() -> None:
    for raw in (W32TM_JA_REAL.encode("utf-8"), W32TM_JA_REAL.encode("cp932"),
                W32TM_JA_REAL.encode("utf-16-le"), b"\xff\xfe" + W32TM_JA_REAL.encode("utf-16-le")):
        text = decode_text(raw)
        assert text == W32TM_JA_REAL
        st = parse_w32tm_status(text)
        assert st["stratum"] == 3 and st["leap"] == 0 and st["poll"] == 1024
        assert st["source"] == "10.30.0.3,8"


def test_utf16_detection_leaves_utf8_and_cp932_alone() -> None:
    assert decode_text("成功および失敗".encode("cp932")) == "成功および失敗"
    assert decode_text(b"abc") == "abc"
    assert decode_text(b"") == ""


def test_prelude_guards_encoding_and_detects_constrained_language() -> None:
    assert "try { [Console]::OutputEncoding" in PS_PRELUDE
    # the language-mode test comes before anything CLM forbids, and before Stop makes errors terminating
    assert PS_PRELUDE.index("LanguageMode") < PS_PRELUDE.index("[Console]::OutputEncoding") < PS_PRELUDE.index("'Stop'")
    res = CommandResult(argv=("powershell", "x"), exit_code=126, stdout=b"TENKEN-LANGUAGE-MODE:ConstrainedLanguage\r\n", stderr=b"")
    assert is_constrained(res)
    assert failure_reason(res) is Reason.UNSUPPORTED
    assert "ConstrainedLanguage" in constrained_detail(res, "Get-HotFix")
    other = CommandResult(argv=("powershell", "x"), exit_code=126, stdout=b"", stderr=b"boom")
    assert not is_constrained(other) and failure_reason(other) is Reason.FAILED


def test_no_native_tool_redirected_under_stop() -> None:
    from tenken.collectors.windows import password_policy

    assert "2>&1" not in password_policy.SECEDIT_SCRIPT
    assert "/mergedpolicy" in password_policy.SECEDIT_SCRIPT


def test_unc_share_behind_double_hop_is_unverifiable_not_missing() -> None:
    cfg = [BackupLocation(path="\\\\nas01\\emr\\daily"), BackupLocation(path="D:\\Backup")]
    locs = parse_locations([
        {"Path": "\\\\nas01\\emr\\daily", "Exists": False, "Count": 0, "Newest": None, "Oldest": None,
         "Error": "UnauthorizedAccessException", "ShareReachable": False},
        {"Path": "D:\\Backup", "Exists": False, "Count": 0, "Newest": None, "Oldest": None,
         "Error": "ItemNotFoundException", "ShareReachable": None},
    ], cfg)
    assert locs[0].unc and locs[0].unverifiable
    assert not locs[1].unc and not locs[1].unverifiable
    reachable = parse_locations([{"Path": "\\\\nas01\\emr\\daily", "Exists": False, "Count": 0, "Error": "ItemNotFoundException",
                                  "ShareReachable": True}], cfg)
    assert not reachable[0].unverifiable  # the share answered and the folder is not there: a real absence


def test_unc_double_hop_check_is_error_with_delegation_advice() -> None:
    from tenken.checks.policy import Policy
    from tenken.checks.registry import run_checks
    from tenken.collectors.transport.base import OsFamily

    cfg = [BackupLocation(path="\\\\nas01\\emr\\daily")]
    facts = BackupFacts(locations=parse_locations([{"Path": "\\\\nas01\\emr\\daily", "Exists": False, "Count": 0,
                                                    "Error": "UnauthorizedAccessException", "ShareReachable": False}], cfg))
    findings = run_checks(os=OsFamily.WINDOWS, target="h:5986", facts={"windows.backups": facts},
                          evidence_ids={"windows.backups": "e-1"}, evidence_errors={}, policy=Policy())
    found = [f for f in findings if f.check_id == "windows.backup.found" and f.subject == "\\\\nas01\\emr\\daily"]
    assert [f.status.value for f in found] == ["error"]
    assert "CredSSP or Kerberos delegation" in found[0].remediation.en
    assert "does not exist" not in found[0].detail.en


def test_third_party_products_found_by_service_on_server() -> None:
    from tenken.collectors.windows.antimalware import build_script, load_catalogue, parse_antimalware

    cat = load_catalogue()
    names = {p.name for p in cat.products}
    assert {"Trend Micro Apex One / OfficeScan", "Trend Micro Deep Security Agent", "CrowdStrike Falcon"} <= names
    assert "'ds_agent'" in build_script(cat) and "'CSFalconService'" in build_script(cat)
    # Windows Server: no SecurityCenter2, Defender removed, Deep Security Agent running; a lone process is a bare string
    data = {"Defender": None, "DefenderError": "absent", "Products": None, "ProductsError": "Invalid namespace ",
            "Services": {"Name": "ds_agent", "Status": "Running"}, "Processes": "ds_agent"}
    f = parse_antimalware(data, cat)
    assert [d.name for d in f.third_party_running] == ["Trend Micro Deep Security Agent"]
    assert f.third_party_running[0].processes == ["ds_agent"] and f.catalogue_as_of
    # installed but stopped is not protection
    stopped = parse_antimalware({**data, "Services": [{"Name": "ntrtscan", "Status": "Stopped"}], "Processes": None}, cat)
    assert stopped.third_party_running == [] and stopped.detected[0].services_stopped == ["ntrtscan"]
    # Defender's own services are recognised but are not "third party"
    ms = parse_antimalware({**data, "Services": [{"Name": "WinDefend", "Status": "Running"}]}, cat)
    assert ms.detected and ms.third_party_running == []


def test_bad_product_catalogue_names_file_and_field(tmp_path) -> None:
    import pytest
    from tenken.collectors.windows.antimalware import load_catalogue

    bad = tmp_path / "p.yaml"
    bad.write_text("data_as_of: x\nproducts:\n  - name: A\n    vendor: B\n    services: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.yaml: products\.0\.services"):
        load_catalogue(bad)


def test_server_with_third_party_product_is_protected() -> None:
    from tenken.checks.policy import Policy
    from tenken.checks.registry import run_checks
    from tenken.collectors.transport.base import OsFamily
    from tenken.collectors.windows.antimalware import load_catalogue, parse_antimalware

    data = {"Defender": None, "DefenderError": "absent", "Products": None, "ProductsError": "Invalid namespace ",
            "Services": [{"Name": "ntrtscan", "Status": "Running"}, {"Name": "TmListen", "Status": "Running"}], "Processes": ["PccNTMon"]}
    facts = parse_antimalware(data, load_catalogue())
    res = {f.check_id: f.status.value for f in run_checks(
        os=OsFamily.WINDOWS, target="h:5986", facts={"windows.antimalware": facts},
        evidence_ids={"windows.antimalware": "e"}, evidence_errors={}, policy=Policy())}
    assert res["windows.antimalware.enabled"] == "pass"
    assert res["windows.antimalware.signatures"] == "warn"  # age not exposed: never a silent pass


def test_audit_policy_from_setting_value_not_display_text() -> None:
    from tenken.collectors.windows.auditpol import parse_auditpol_backup

    # header and option rows as in Microsoft's AuditPolicyDsc unit tests (auditpol /backup output);
    # the inclusion text is Japanese and deliberately contradicts nothing the parser reads
    text = ("\ufeffMachine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting,Setting Value\r\n"
            "SRV,System,ログオン,{0cce9215-69ae-11d9-bed3-505054503030},成功および失敗,,3\r\n"
            "SRV,System,ログオフ,{0CCE9216-69AE-11D9-BED3-505054503030},成功,,1\r\n"
            "SRV,System,アカウント ロックアウト,{0CCE9217-69AE-11D9-BED3-505054503030},失敗,,2\r\n"
            "SRV,System,特殊なログオン,{0CCE921B-69AE-11D9-BED3-505054503030},監査なし,,0\r\n"
            "SRV,System,謎,{0CCE9299-69AE-11D9-BED3-505054503030},成功,,7\r\n"
            ",,Option:CrashOnAuditFail,,Disabled,,0\r\n,,RegistryGlobalSacl,,,,\r\n")
    got = {g: (a.success, a.failure) for g, a in parse_auditpol_backup(text).items()}
    assert got == {"{0CCE9215-69AE-11D9-BED3-505054503030}": (True, True), "{0CCE9216-69AE-11D9-BED3-505054503030}": (True, False),
                   "{0CCE9217-69AE-11D9-BED3-505054503030}": (False, True), "{0CCE921B-69AE-11D9-BED3-505054503030}": (False, False)}
    # an unknown translation of the display text changes nothing: the number decides
    assert parse_auditpol_backup(text.replace("成功および失敗", "成功と失敗の両方"))["{0CCE9215-69AE-11D9-BED3-505054503030}"].failure
    # UTF-16 as auditpol writes the file, decoded by the shared decoder
    assert len(parse_auditpol_backup(decode_text(text.encode("utf-16-le")))) == 4


def test_w32tm_last_sync_converted_with_the_hosts_offset() -> None:
    from datetime import UTC, datetime

    from tenken.collectors.windows.time import to_utc

    wall = parse_w32tm_status(W32TM_JA_REAL)["last_sync"]  # 2022/01/10 1:45:54 on a JST host
    assert to_utc(wall, 540) == datetime(2022, 1, 9, 16, 45, 54, tzinfo=UTC)
    assert to_utc(wall, None) == wall and to_utc(None, 540) is None


def test_patch_level_from_build_revision_not_windows_update_log() -> None:
    from datetime import UTC, date, datetime

    from tenken.collectors.windows.updates import load_build_table, parse_updates, parse_wmi_install_date, patch_level

    table = load_build_table()
    assert {"14393", "17763", "19045", "20348", "22631", "26100"} <= set(table.builds)
    # Server 2022 stuck on the October 2024 CU, while Defender definitions installed yesterday
    data = {"HotFixes": [{"HotFixID": "KB5044281", "Description": "Security Update", "InstalledOn": None,
                          "InstalledOnRaw": "10/9/2024"}],
            "LastInstallationSuccessDate": "/Date(1796083200000)/",  # 2026-12-01: a definition update
            "LastSearchSuccessDate": None, "AutoUpdateError": None,
            "CurrentBuild": "20348", "UBR": 2762, "ProductName": "Windows Server 2022 Standard", "DisplayVersion": "21H2",
            "InstallationType": "Server"}
    f = parse_updates(data, table)
    assert f.patch is not None and f.patch.kb == "KB5044281" and f.patch.release_date == date(2024, 10, 8)
    assert f.patch_level_date == datetime(2024, 10, 8, tzinfo=UTC)
    assert f.last_update is not None and f.last_update.year == 2026  # the misleading log, kept only as evidence
    # InstalledOn empty (culture parse failed): the raw WMI string gives the date
    assert f.hotfixes[0].installed_on == datetime(2024, 10, 9, tzinfo=UTC)
    # between two rows: the older row's level; beyond the table: flagged, hotfix date used instead
    mid = patch_level("20348", 2800, table)
    assert mid is not None and mid.kb == "KB5044281" and not mid.newer_than_table
    new = parse_updates({**data, "UBR": 99999}, table)
    assert new.patch is not None and new.patch.newer_than_table and new.patch_level_date == datetime(2024, 10, 9, tzinfo=UTC)
    assert patch_level("99999", 1, table) is None
    assert parse_wmi_install_date("2023/10/12") == datetime(2023, 10, 12, tzinfo=UTC)
    assert parse_wmi_install_date("01d9fd2b7e8c4000") is not None and parse_wmi_install_date("garbage") is None


def test_patch_check_reads_the_build_not_the_definition_install_log() -> None:
    from tenken.checks.policy import Policy
    from tenken.checks.registry import run_checks
    from tenken.collectors.transport.base import OsFamily
    from tenken.collectors.windows.updates import load_build_table, parse_updates

    data = {"HotFixes": [{"HotFixID": "KB5044281", "Description": "Security Update", "InstalledOnRaw": "10/9/2024"}],
            "LastInstallationSuccessDate": "/Date(1796083200000)/", "CurrentBuild": "20348", "UBR": 2762}
    facts = parse_updates(data, load_build_table())
    found = [f for f in run_checks(os=OsFamily.WINDOWS, target="h:5986", facts={"windows.updates": facts},
                                   evidence_ids={"windows.updates": "e"}, evidence_errors={}, policy=Policy())
             if f.check_id == "windows.patches.age"]
    assert [f.status.value for f in found] == ["fail"]
    assert "KB5044281" in found[0].detail.en and "2024-10-08" in found[0].detail.en


def test_windows_update_search_parse_and_failed_search_is_not_nothing_missing() -> None:
    import pytest
    from tenken.collectors.settings import CollectSettings
    from tenken.collectors.windows._ps import ParseError
    from tenken.collectors.windows.pending_updates import parse_pending

    assert CollectSettings().windows_update_search is False  # off by default
    f = parse_pending({"ResultCode": 2, "ServerSelection": 1, "Updates": {
        "Title": "2024-11 Cumulative Update for Microsoft server operating system version 21H2 for x64-based Systems (KB5046616)",
        "KB": "5046616", "Severity": "Critical", "Security": True}})
    assert f.searched and f.server == "wsus" and f.missing_updates[0].kbs == ["KB5046616"] and f.missing_updates[0].security
    assert parse_pending({"ResultCode": 2, "ServerSelection": 0, "Updates": []}).missing_updates == []
    with pytest.raises(ParseError):
        parse_pending({"ResultCode": 4, "Updates": []})
