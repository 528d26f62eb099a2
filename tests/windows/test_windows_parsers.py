"""Windows output parsers: the real shapes (PowerShell 5.1 JSON, English and Japanese console text), and
property tests that any input gives typed facts or a ParseError, never another exception."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tenken.collectors.settings import BackupLocation
from tenken.collectors.transport.winrm import clixml_to_text, encode_powershell
from tenken.collectors.windows._ps import ParseError, as_list, decode_text, loads, parse_local_datetime, parse_ps_date
from tenken.collectors.windows._registry import parse_registry_ints
from tenken.collectors.windows.accounts import parse_accounts
from tenken.collectors.windows.antimalware import decode_product_state, parse_antimalware
from tenken.collectors.windows.auditpol import parse_auditpol_csv
from tenken.collectors.windows.backups import is_windows_path, parse_locations, parse_wbadmin_versions
from tenken.collectors.windows.bitlocker import parse_bitlocker_report
from tenken.collectors.windows.firewall import parse_firewall
from tenken.collectors.windows.password_policy import merge_policy, parse_net_accounts, parse_secedit_inf
from tenken.collectors.windows.rdp import resolve_rdp
from tenken.collectors.windows.smb import parse_smb
from tenken.collectors.windows.time import parse_stripchart, parse_w32tm_configuration, parse_w32tm_status, source_kind
from tenken.collectors.windows.updates import parse_updates

# -- dates ------------------------------------------------------------------------------------------


def test_ps_dates_in_every_shape() -> None:
    may1 = datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_ps_date("/Date(1714521600000)/") == may1
    assert parse_ps_date("\\/Date(1714521600000)\\/") == may1
    assert parse_ps_date("/Date(1714521600000+0900)/") == may1  # the offset only says how it was displayed
    assert parse_ps_date({"value": "/Date(1714521600000)/", "DateTime": "Wednesday, May 1, 2024 12:00:00 AM"}) == may1
    assert parse_ps_date("2024-05-01T09:00:00.0000000+09:00") == may1
    assert parse_ps_date("2024-05-01T09:00:00.1234567+09:00").microsecond == 123456
    assert parse_ps_date("2024-05-01T00:00:00.0000000Z") == may1
    assert parse_ps_date("2024-05-01T00:00:00") == may1  # unzoned: taken as UTC
    assert parse_ps_date(None) is None and parse_ps_date("") is None
    assert parse_ps_date("/Date(-62135596800000)/") is None  # DateTime.MinValue means "never"
    assert parse_ps_date("1601-01-01T00:00:00Z") is None  # FILETIME 0
    with pytest.raises(ParseError):
        parse_ps_date("yesterday")
    with pytest.raises(ParseError):
        parse_ps_date(12345)


def test_localised_console_dates() -> None:
    assert parse_local_datetime("2024/05/01 9:30:15") == datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC)
    assert parse_local_datetime("5/1/2024 9:30:15 PM") == datetime(2024, 5, 1, 21, 30, 15, tzinfo=UTC)
    assert parse_local_datetime("5/1/2024 12:05:00 AM") == datetime(2024, 5, 1, 0, 5, tzinfo=UTC)
    assert parse_local_datetime("2024/05/01 午後 1:02:03") == datetime(2024, 5, 1, 13, 2, 3, tzinfo=UTC)
    with pytest.raises(ParseError):
        parse_local_datetime("13/45/2024 1:00:00")


@given(st.one_of(st.none(), st.text(max_size=60), st.integers(), st.floats(), st.booleans(),
                 st.dictionaries(st.sampled_from(["value", "DateTime", "x"]), st.text(max_size=30), max_size=2)))
def test_parse_ps_date_is_total(v: object) -> None:
    try:
        r = parse_ps_date(v)
    except ParseError:
        return
    assert r is None or (isinstance(r, datetime) and r.tzinfo is not None)


@given(st.text(max_size=80))
def test_parse_local_datetime_is_total(s: str) -> None:
    try:
        r = parse_local_datetime(s)
    except ParseError:
        return
    assert r is None or r.tzinfo is not None


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_ms_dates_round_trip(n: int) -> None:
    try:
        r = parse_ps_date(f"/Date({n})/")
    except ParseError:
        return
    if r is not None:
        assert abs(r.timestamp() * 1000 - n) < 1


# -- JSON collectors: any JSON value -> facts or ParseError ------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["Users", "Administrators", "Name", "Enabled", "LastLogon", "SID", "PasswordRequired", "HotFixes",
                         "HotFixID", "InstalledOn", "LastInstallationSuccessDate", "Defender", "Products", "productState",
                         "displayName", "AntivirusSignatureAge", "Volumes", "MountPoint", "VolumeType", "ProtectionStatus",
                         "ChassisTypes", "PCSystemType", "DefaultInboundAction", "EnableSMB1Protocol", "Path", "Count",
                         "Exists", "Newest", "ObjectClass", "PrincipalSource", "value", "fDenyTSConnections"]),
        inner, max_size=6),
    max_leaves=25,
)

PARSERS = [
    parse_accounts, parse_updates, parse_antimalware, parse_bitlocker_report, parse_firewall, parse_smb,
    lambda d: parse_locations(d, [BackupLocation(path="D:\\Backup")]),
    lambda d: parse_registry_ints(d, ["fDenyTSConnections", "Start"]),
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, st.integers(0, len(PARSERS) - 1))
def test_json_parsers_are_total(data: object, which: int) -> None:
    with contextlib.suppress(ParseError):
        PARSERS[which](data)


@given(st.binary(max_size=200))
def test_loads_is_total(b: bytes) -> None:
    with contextlib.suppress(ParseError):
        loads(b)


# -- text collectors: any text -> facts (they skip what they do not understand) ----------------------
TEXT_PARSERS = [parse_net_accounts, parse_secedit_inf, parse_w32tm_status, parse_w32tm_configuration, parse_stripchart,
                parse_auditpol_csv, parse_wbadmin_versions, lambda s: decode_text(s.encode("utf-8"))]

LINEISH = st.lists(st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["Stratum", "階層", "Source", "ソース", "Last Successful Sync Time",
                                                         "最終正常同期時刻", "Lockout threshold", "パスワードの最小長", "Type", "NtpServer",
                                                         "Poll Interval", "Version identifier", "バージョン識別子"]), st.text(max_size=25)),
    st.builds(lambda a, b: f"X,System,{a},{{0CCE9215-69AE-11D9-BED3-505054503030}},{b},", st.text(max_size=10), st.text(max_size=12)),
), max_size=12).map("\r\n".join)


@settings(max_examples=300)
@given(LINEISH, st.integers(0, len(TEXT_PARSERS) - 1))
def test_text_parsers_are_total(text: str, which: int) -> None:
    TEXT_PARSERS[which](text)


# -- real shapes ---------------------------------------------------------------------------------------
NET_EN = """Force user logoff how long after time expires?:       Never
Minimum password age (days):                          0
Maximum password age (days):                          Unlimited
Minimum password length:                              8
Length of password history maintained:                None
Lockout threshold:                                    Never
Lockout duration (minutes):                           30
Lockout observation window (minutes):                 30
Computer role:                                        WORKSTATION
The command completed successfully.
"""
NET_JA = """強制ログオフまでの時間 (分):                         なし
パスワードの最短有効期間 (日):                       1
パスワードの最長有効期間 (日):                       無制限
最小パスワード長:                                    12
保持するパスワードの履歴の数:                        24
ロックアウトのしきい値:                              10
ロックアウト期間 (分):                               30
ロックアウトのカウンターのリセット (分):             30
コンピューターの役割:                                ワークステーション
コマンドは正常に終了しました。
"""


def test_net_accounts_english_and_japanese() -> None:
    en = parse_net_accounts(NET_EN)
    assert en == {"min_age": 0, "max_age": None, "min_length": 8, "history": None, "lockout_threshold": None,
                  "lockout_duration": 30, "lockout_window": 30}
    f = merge_policy(None, en)
    assert f.min_length == 8 and f.max_age_days is None and f.lockout_threshold == 0 and f.complexity is None
    ja = parse_net_accounts(NET_JA)
    assert ja["min_length"] == 12 and ja["max_age"] is None and ja["lockout_threshold"] == 10 and ja["history"] == 24
    # the same through cp932, as a Japanese console without code page 65001 prints it
    assert parse_net_accounts(decode_text(NET_JA.encode("cp932"))) == ja


def test_secedit_wins_over_net_accounts() -> None:
    inf = "\ufeff[Unicode]\r\nUnicode=yes\r\n[System Access]\r\nMinimumPasswordLength = 14\r\nMaximumPasswordAge = -1\r\n" \
          "PasswordComplexity = 1\r\nLockoutBadCount = 0\r\nClearTextPassword = 0\r\nNewGuestName = \"Guest\"\r\n[Event Audit]\r\nLockoutBadCount = 9\r\n"
    s = parse_secedit_inf(inf)
    assert s == {"MinimumPasswordLength": 14, "MaximumPasswordAge": -1, "PasswordComplexity": 1, "LockoutBadCount": 0, "ClearTextPassword": 0}
    f = merge_policy(s, parse_net_accounts(NET_JA))
    assert (f.min_length, f.max_age_days, f.complexity, f.lockout_threshold, f.reversible_encryption) == (14, None, True, 0, False)
    assert f.source == "secedit+net accounts"


W32TM_JA = """閏インジケーター: 0(警告なし)
階層: 4 (二次参照 - (S)NTP で同期)
精度: -23 (ティックごとに 119.209ns)
参照 ID: 0x85F3EEF3 (ソース IP:  133.243.238.243)
最終正常同期時刻: 2024/05/01 9:30:15
ソース: ntp.nict.jp,0x9
ポーリング間隔: 10 (1024s)
"""
W32TM_FREE = """Leap Indicator: 3(not synchronized)
Stratum: 0 (unspecified)
Precision: -23 (119.209ns per tick)
Last Successful Sync Time: unspecified
Source: Free-running System Clock
Poll Interval: 10 (1024s)
"""


def test_w32tm_status_japanese_and_unsynchronised() -> None:
    s = parse_w32tm_status(W32TM_JA)
    assert s == {"leap": 0, "stratum": 4, "last_sync": datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC), "source": "ntp.nict.jp", "poll": 1024}
    u = parse_w32tm_status(W32TM_FREE)
    assert u["leap"] == 3 and u["stratum"] == 0 and u["last_sync"] is None
    assert source_kind(u["source"]) == "local_clock"  # type: ignore[arg-type]
    assert source_kind("VM IC Time Synchronization Provider") == "vm_host"
    assert parse_w32tm_configuration("Type: NT5DS (ポリシー)\r\nNtpServer: ntp1.hosp.local,0x8 ntp2.hosp.local,0x8 (Local)\r\n") == \
        ("NT5DS", ["ntp1.hosp.local", "ntp2.hosp.local"])
    assert parse_stripchart("Tracking x.\r\n09:00:01, -01.2500000s\r\n") == -1.25
    assert parse_stripchart("09:00:01, error: 0x800705B4\r\n") is None


def test_auditpol_csv_japanese() -> None:
    text = ("コンピューター名,ポリシー ターゲット,サブカテゴリ,サブカテゴリ GUID,包含設定,除外設定\r\n"
            "SRV,System,ログオン,{0CCE9215-69AE-11D9-BED3-505054503030},成功および失敗,\r\n"
            "SRV,System,ログオフ,{0cce9216-69ae-11d9-bed3-505054503030},成功,\r\n"
            "SRV,System,特殊なログオン,{0CCE921B-69AE-11D9-BED3-505054503030},監査なし,\r\n")
    got = parse_auditpol_csv(text)
    assert got["{0CCE9215-69AE-11D9-BED3-505054503030}"].success and got["{0CCE9215-69AE-11D9-BED3-505054503030}"].failure
    assert got["{0CCE9216-69AE-11D9-BED3-505054503030}"].success and not got["{0CCE9216-69AE-11D9-BED3-505054503030}"].failure
    assert not got["{0CCE921B-69AE-11D9-BED3-505054503030}"].success
    assert len(got) == 3  # the header row is not a subcategory


def test_wbadmin_versions_in_japanese() -> None:
    text = ("バックアップ時間: 2024/04/30 21:00\r\nバックアップ先: 固定ディスク ラベル Backup(E:)\r\nバージョン識別子: 04/30/2024-12:00\r\n"
            "回復可能: ボリューム, ファイル\r\n\r\nバックアップ時間: 2024/05/01 21:00\r\nバックアップ先: ネットワーク共有 \\\\nas\\wsb\r\n"
            "バージョン識別子: 05/01/2024-12:00\r\n")
    v = parse_wbadmin_versions(text)
    assert [x.time for x in v] == [datetime(2024, 4, 30, 12, 0, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, tzinfo=UTC)]
    assert v[1].target == "ネットワーク共有 \\\\nas\\wsb"
    assert parse_wbadmin_versions("ERROR - No backup was found.\r\n") == []


def test_single_object_or_list_and_numeric_enums() -> None:
    users, admins = parse_accounts({"Users": {"Name": "a", "Enabled": True, "LastLogon": None, "SID": "S-1-5-21-1-2-3-501"},
                                    "Administrators": {"Name": "H\\a", "ObjectClass": "User", "PrincipalSource": 1,
                                                       "SID": {"BinaryLength": 28, "Value": "S-1-5-21-1-2-3-500"}}})
    assert users[0].rid == 501 and admins[0].source == "Local" and admins[0].sid == "S-1-5-21-1-2-3-500"
    bl = parse_bitlocker_report({"BitLockerAvailable": True, "PCSystemType": 2, "ChassisTypes": 10,
                                 "Volumes": {"MountPoint": "C:", "VolumeType": 0, "ProtectionStatus": 1, "VolumeStatus": 1,
                                             "EncryptionMethod": 7, "EncryptionPercentage": 100}})
    v = bl.volumes[0]
    assert (v.volume_type, v.protection, v.volume_status, v.encryption_method, v.protected) == ("OperatingSystem", "On", "FullyEncrypted", "XtsAes256", True)
    assert bl.portable is True and bl.chassis_types == [10]
    fw = parse_firewall([{"Name": "Domain", "Enabled": 1, "DefaultInboundAction": 0}, {"Name": "Public", "Enabled": 0, "DefaultInboundAction": 2}])
    assert [(p.enabled, p.default_inbound) for p in fw] == [(True, "Block"), (False, "Allow")]
    assert as_list(None) == [] and as_list({"a": 1}) == [{"a": 1}]
    with pytest.raises(ParseError):
        as_list("x")


def test_security_center_product_state() -> None:
    assert decode_product_state(0x061100) == (True, True)  # on, up to date
    assert decode_product_state(393472) == (False, True)  # 0x060100: off
    assert decode_product_state(0x061110) == (True, False)  # on, out of date
    f = parse_antimalware({"Defender": None, "DefenderError": "absent", "ProductsError": None,
                           "Products": [{"displayName": "Trend Micro Apex One", "productState": 266240}]})
    assert f.products[0].enabled is True and f.security_center_available


def test_rdp_policy_overrides_local() -> None:
    local_on_no_nla = {"fDenyTSConnections": 0, "UserAuthentication": 0}
    assert (resolve_rdp(local_on_no_nla).enabled, resolve_rdp(local_on_no_nla).nla_required) == (True, False)
    gp = resolve_rdp({**local_on_no_nla, "PolicyUserAuthentication": 1})
    assert gp.nla_required and gp.from_policy
    assert resolve_rdp({}).enabled is False  # absent value: Windows' default denies connections


def test_windows_paths_and_transport_encodings() -> None:
    assert is_windows_path("D:\\Backup") and is_windows_path("\\\\nas01\\emr") and not is_windows_path("/srv/backup")
    script = "Get-Date # 日本語"
    assert json.loads(json.dumps(encode_powershell(script)))
    import base64

    assert base64.b64decode(encode_powershell(script)).decode("utf-16-le") == script
    clixml = (b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              b'<S S="Error">Access is denied &lt;x&gt;_x000D__x000A_</S><S S="Progress">noise</S></Objs>')
    assert clixml_to_text(clixml) == b"Access is denied <x>\r\n"
    assert clixml_to_text(b"plain") == b"plain"
    assert decode_text("ロックアウト".encode("cp932")) == "ロックアウト"


@given(st.binary(max_size=300))
def test_clixml_and_decode_are_total(b: bytes) -> None:
    clixml_to_text(b"#< CLIXML\r\n" + b)
    decode_text(b)


def test_backup_generations_are_backup_sets_not_every_file() -> None:
    """A Windows Server Backup target folder as Explorer leaves it: WindowsImageBackup\\<host>\\Backup <date> sets
    (the layout wbadmin writes, e.g. Microsoft Learn "wbadmin start backup"), desktop.ini and Thumbs.db (Hidden|System),
    a job log, a partial copy and a junction. Only the sets and the archive count."""
    from tenken.collectors.windows.backups import count_generations, parse_items

    items = parse_items([
        {"N": "WindowsImageBackup", "D": True, "A": 16, "T": "2026-12-02T21:00:00.0000000Z"},
        {"N": "WindowsImageBackup\\EMR-DB01\\Backup 2026-11-30 210012", "D": True, "A": 16, "T": "2026-11-30T21:40:00.0000000Z"},
        {"N": "WindowsImageBackup\\EMR-DB01\\Backup 2026-12-01 210009", "D": True, "A": 16, "T": "2026-12-01T21:41:00.0000000Z"},
        {"N": "desktop.ini", "D": False, "A": 38, "T": "2025-01-01T00:00:00.0000000Z"},
        {"N": "Thumbs.db", "D": False, "A": 6, "T": "2026-12-02T00:00:00.0000000Z"},
        {"N": "robocopy-job.log", "D": False, "A": 32, "T": "2026-12-02T22:00:00.0000000Z"},
        {"N": "emr-20261202.zip.partial", "D": False, "A": 32, "T": "2026-12-02T22:00:00.0000000Z"},
        {"N": "latest", "D": True, "A": 1040, "T": "2026-12-02T22:00:00.0000000Z"},  # Directory|ReparsePoint
        {"N": "emr-20261201.zip", "D": False, "A": 32, "T": "2026-12-01T22:00:00.0000000Z"},
    ])
    gens, skipped = count_generations(items)
    assert [g.name for g in gens] == ["WindowsImageBackup\\EMR-DB01\\Backup 2026-11-30 210012",
                                      "WindowsImageBackup\\EMR-DB01\\Backup 2026-12-01 210009", "emr-20261201.zip"]
    assert skipped == ["desktop.ini", "Thumbs.db", "robocopy-job.log", "emr-20261202.zip.partial", "latest"]
    # an old-style listing with only a count cannot tell backup sets from desktop.ini: a named error, never a count
    import pytest
    from tenken.collectors.windows._ps import ParseError

    with pytest.raises(ParseError, match="Items"):
        parse_locations([{"Path": "E:\\", "Exists": True, "Count": 9, "Error": None}], [BackupLocation(path="E:\\")])


def test_net_accounts_observation_window_under_both_japanese_labels() -> None:
    """The observation window is printed as ロックアウトのカウンターのリセット (分) in the responder's text and as
    ロックアウトの監視ウィンドウ (分) in net accounts output quoted in public Japanese notes (not verified against
    a host here): both read as the same fact."""
    from tenken.collectors.windows.password_policy import parse_net_accounts

    for label in ("ロックアウトのカウンターのリセット (分)", "ロックアウトの監視ウィンドウ (分)", "ロックアウトの監視期間 (分)",
                  "ロックアウトの観察期間 (分)", "ロックアウト監視期間 (分)"):
        got = parse_net_accounts(f"ロックアウトのしきい値:                              5\r\n{label}:             30\r\n")
        assert got == {"lockout_threshold": 5, "lockout_window": 30}
