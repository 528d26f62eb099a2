"""A WS-Management responder that speaks the protocol pywinrm speaks, for tests without a Windows host.

It is a real HTTP(S) server on 127.0.0.1 (threaded stdlib http.server): pywinrm talks to it over the
network stack, with real Basic or NTLM authentication (NTLM through pyspnego's acceptor, including
channel binding over HTTPS and SPNEGO session encryption of every message over plain HTTP). It
implements the WinRS shell resource (Create, Command, Receive, Signal, Delete), decodes
`powershell -EncodedCommand` scripts and answers them with canned output in the shapes Windows Server
2019/2022 (Windows PowerShell 5.1) produce, including a Japanese-locale host. It is a fake Windows, not
a fake pywinrm: what it cannot know it answers as PowerShell would ("term not recognized").

Run: python tests/winrm_responder.py --scenario compliant --auth basic --user U [--tls-cert C --tls-key K]
     (the password is read from the environment variable named by --password-env). It prints one JSON
     line {"port": N} when listening.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import struct
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACT = {
    "create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
    "delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
    "command": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
    "receive": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
    "signal": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
    "send": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send",
}
DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
ENC_PROTOCOL = b"application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"


# ---------------------------------------------------------------------------------------------------
# What a Windows host answers: scenarios
# ---------------------------------------------------------------------------------------------------
@dataclass
class Output:
    stdout: str | bytes = ""
    stderr: str = ""
    exit_code: int = 0
    #: a console tool that ignores the shell's code page: "cp932" (OEM code page of Japanese Windows) or
    #: "utf-16" (tools writing Unicode to a pipe: `cmd /u`, wmic); None follows the shell's code page
    encoding: str | None = None


@dataclass
class Scenario:
    name: str
    hostname: str
    ps: dict[str, Any]  # topic -> JSON-able object (or Output)
    cmd: dict[str, Output]  # normalised command line -> output
    registry: dict[tuple[str, str], int] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    #: folder -> entries (name, mtime) or (name, mtime, FileAttributes, is_directory)
    dirs: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    slow_topics: tuple[str, ...] = ("updates",)  # answered only after one OperationTimeout fault
    #: topics whose job in a batch runs past its timeout (the wrapper kills it and says so)
    batch_timeouts: tuple[str, ...] = ()


def ms(dt: datetime) -> str:
    """Windows PowerShell 5.1's ConvertTo-Json date: /Date(milliseconds since the epoch)/."""
    return f"/Date({int(dt.timestamp() * 1000)})/"


def ps_date_obj(dt: datetime) -> dict[str, str]:
    """A DateTime carrying extended properties (Get-HotFix InstalledOn) serialises as value + DateTime."""
    return {"value": ms(dt), "DateTime": dt.strftime("%A, %B %d, %Y %I:%M:%S %p").replace(" 0", " ")}


def dotnet_o(dt: datetime) -> str:
    """DateTime.ToString('o') of a UTC time: seven fractional digits and Z."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def en_us(dt: datetime) -> str:
    return f"{dt.month}/{dt.day}/{dt.year} {dt.hour % 12 or 12}:{dt:%M:%S} {'PM' if dt.hour >= 12 else 'AM'}"


def ja_jp(dt: datetime) -> str:
    return f"{dt:%Y/%m/%d} {dt.hour}:{dt:%M:%S}"


SECEDIT_TEMPLATE = (
    "[Unicode]\r\nUnicode=yes\r\n[System Access]\r\nMinimumPasswordAge = {min_age}\r\nMaximumPasswordAge = {max_age}\r\n"
    "MinimumPasswordLength = {min_len}\r\nPasswordComplexity = {complexity}\r\nPasswordHistorySize = {history}\r\n"
    "LockoutBadCount = {lockout}\r\nResetLockoutCount = 15\r\nLockoutDuration = 15\r\nRequireLogonToChangePassword = 0\r\n"
    "ForceLogoffWhenHourExpire = 0\r\nNewAdministratorName = \"Administrator\"\r\nNewGuestName = \"Guest\"\r\n"
    "ClearTextPassword = {cleartext}\r\nLSAAnonymousNameLookup = 0\r\nEnableAdminAccount = {admin_on}\r\nEnableGuestAccount = {guest_on}\r\n"
    "[Event Audit]\r\nAuditSystemEvents = 0\r\nAuditLogonEvents = 0\r\n[Version]\r\nsignature=\"$CHICAGO$\"\r\nRevision=1\r\n"
)

NET_ACCOUNTS_EN = (
    "Force user logoff how long after time expires?:       Never\r\n"
    "Minimum password age (days):                          {min_age}\r\n"
    "Maximum password age (days):                          {max_age}\r\n"
    "Minimum password length:                              {min_len}\r\n"
    "Length of password history maintained:                {history}\r\n"
    "Lockout threshold:                                    {lockout}\r\n"
    "Lockout duration (minutes):                           15\r\n"
    "Lockout observation window (minutes):                 15\r\n"
    "Computer role:                                        SERVER\r\n"
    "The command completed successfully.\r\n\r\n"
)
NET_ACCOUNTS_JA = (
    "強制ログオフまでの時間 (分):                         なし\r\n"
    "パスワードの最短有効期間 (日):                       {min_age}\r\n"
    "パスワードの最長有効期間 (日):                       {max_age}\r\n"
    "パスワードの最小長:                                  {min_len}\r\n"
    "保持するパスワードの履歴の数:                        {history}\r\n"
    "ロックアウトのしきい値:                              {lockout}\r\n"
    "ロックアウト期間 (分):                               15\r\n"
    "ロックアウトのカウンターのリセット (分):             15\r\n"
    "コンピューターの役割:                                サーバー\r\n"
    "コマンドは正常に終了しました。\r\n\r\n"
)

W32TM_STATUS_EN = (
    "Leap Indicator: {leap}\r\nStratum: {stratum}\r\nPrecision: -23 (119.209ns per tick)\r\nRoot Delay: 0.0156250s\r\n"
    "Root Dispersion: 0.0413498s\r\nReferenceId: 0x85F3EEF3 (source IP:  133.243.238.243)\r\n"
    "Last Successful Sync Time: {last}\r\nSource: {source}\r\nPoll Interval: 10 (1024s)\r\n\r\n"
)
W32TM_STATUS_JA = (
    "閏インジケーター: {leap}\r\n階層: {stratum}\r\n精度: -23 (ティックごとに 119.209ns)\r\nルート遅延: 0.0156250s\r\n"
    "ルート分散: 0.0413498s\r\n参照 ID: 0x85F3EEF3 (ソース IP:  133.243.238.243)\r\n"
    "最終正常同期時刻: {last}\r\nソース: {source}\r\nポーリング間隔: 10 (1024s)\r\n\r\n"
)
# Real `w32tm /query /status` from a Japanese Windows Server 2019 (public Hugo memo "Windows Server 2019
# Install", 2022-01-10, search index code corpus file id 62231477300).
W32TM_JA_REAL = (
    "閏インジケーター: 0 (警告なし)\r\n階層: 3 (二次参照 - (S)NTP で同期)\r\n精度: -23 (ティックごとに 119.209ns)\r\n"
    "ルート遅延: 0.0216253s\r\nルート分散: 7.7938950s\r\n参照 ID: 0x0A000003 (ソース IP:  10.30.0.3)\r\n"
    "最終正常同期時刻: 2022/01/10 1:45:54\r\nソース: 10.30.0.3,8\r\nポーリング間隔: 10 (1024s)\r\n\r\n"
)
W32TM_CONFIG = (
    "[Configuration]\r\n\r\nEventLogFlags: 2 (Local)\r\nAnnounceFlags: 10 (Local)\r\nTimeJumpAuditOffset: 28800 (Local)\r\n"
    "MinPollInterval: 6 (Local)\r\nMaxPollInterval: 10 (Local)\r\nMaxNegPhaseCorrection: 172800 (Local)\r\n"
    "MaxPosPhaseCorrection: 172800 (Local)\r\nMaxAllowedPhaseOffset: 300 (Local)\r\n\r\nFrequencyCorrectRate: 4 (Local)\r\n"
    "PollAdjustFactor: 5 (Local)\r\nLargePhaseOffset: 50000000 (Local)\r\nSpikeWatchPeriod: 900 (Local)\r\n"
    "LocalClockDispersion: 10 (Local)\r\nHoldPeriod: 5 (Local)\r\nPhaseCorrectRate: 1 (Local)\r\nUpdateInterval: 100 (Local)\r\n\r\n\r\n"
    "[TimeProviders]\r\n\r\nNtpClient (Local)\r\nDllName: C:\\Windows\\system32\\w32time.dll (Local)\r\nEnabled: 1 (Local)\r\n"
    "InputProvider: 1 (Local)\r\nCrossSiteSyncFlags: 2 (Local)\r\nAllowNonstandardModeCombinations: 1 (Local)\r\n"
    "ResolvePeerBackoffMinutes: 15 (Local)\r\nResolvePeerBackoffMaxTimes: 7 (Local)\r\nCompatibilityFlags: 2147483648 (Local)\r\n"
    "EventLogFlags: 1 (Local)\r\nLargeSampleSkew: 3 (Local)\r\nSpecialPollInterval: 3600 (Local)\r\nType: {type} ({where})\r\n"
    "NtpServer: {servers} ({where})\r\n\r\n"
)

AUDIT_HEADER_EN = "Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting\r\n"
AUDIT_HEADER_JA = "コンピューター名,ポリシー ターゲット,サブカテゴリ,サブカテゴリ GUID,包含設定,除外設定\r\n"
AUDIT_ROWS = [  # (English name, Japanese name, GUID)
    ("Security System Extension", "セキュリティ システムの拡張", "{0CCE9211-69AE-11D9-BED3-505054503030}"),
    ("Logon", "ログオン", "{0CCE9215-69AE-11D9-BED3-505054503030}"),
    ("Logoff", "ログオフ", "{0CCE9216-69AE-11D9-BED3-505054503030}"),
    ("Account Lockout", "アカウント ロックアウト", "{0CCE9217-69AE-11D9-BED3-505054503030}"),
    ("Special Logon", "特殊なログオン", "{0CCE921B-69AE-11D9-BED3-505054503030}"),
    ("User Account Management", "ユーザー アカウントの管理", "{0CCE9235-69AE-11D9-BED3-505054503030}"),
    ("Credential Validation", "資格情報の確認", "{0CCE923F-69AE-11D9-BED3-505054503030}"),
]
# The Japanese inclusion settings are auditpolmsg.dll.mui's strings 1-4 (成功 / 失敗 / 成功および失敗 / 監査なし), as the
# Windows 10 MUI string table is listed at https://file-info.xyz/a3ec163aa454c19db4653d4e01e8c772/auditpolmsg.dll.mui.html;
# tenken reads the numeric Setting Value of `auditpol /backup`, never these words.
AUDIT_VALUES = {
    "en": {"sf": "Success and Failure", "s": "Success", "f": "Failure", "n": "No Auditing"},
    "ja": {"sf": "成功および失敗", "s": "成功", "f": "失敗", "n": "監査なし"},
}


def auditpol(host: str, lang: str, settings: dict[str, str]) -> str:
    rows = [AUDIT_HEADER_JA if lang == "ja" else AUDIT_HEADER_EN]
    for en, ja, guid in AUDIT_ROWS:
        v = AUDIT_VALUES[lang][settings.get(en, "s")]
        rows.append(f"{host},System,{ja if lang == 'ja' else en},{guid},{v},\r\n")
    return "".join(rows)


AUDIT_BACKUP_HEADER = "Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting,Setting Value\r\n"
AUDIT_NUMBERS = {"sf": 3, "s": 1, "f": 2, "n": 0}


def auditpol_backup(host: str, lang: str, settings: dict[str, str]) -> str:
    """`auditpol /backup` CSV: the header stays English on every edition, names and inclusion text are
    localised, Setting Value is the number (shape as in Microsoft's AuditPolicyDsc unit tests)."""
    rows = [AUDIT_BACKUP_HEADER]
    for en, ja, guid in AUDIT_ROWS:
        k = settings.get(en, "s")
        rows.append(f"{host},System,{ja if lang == 'ja' else en},{guid},{AUDIT_VALUES[lang][k]},,{AUDIT_NUMBERS[k]}\r\n")
    rows.append(",,Option:CrashOnAuditFail,,Disabled,,0\r\n,,RegistryGlobalSacl,,,,\r\n")
    return "".join(rows)


def wbadmin_versions(lang: str, times: list[datetime]) -> str:
    head = ("wbadmin 1.0 - バックアップ コマンドライン ツール\r\n" if lang == "ja" else "wbadmin 1.0 - Backup command-line tool\r\n")
    out = [head, "(C) Copyright Microsoft Corporation. All rights reserved.\r\n\r\n"]
    for t in times:
        if lang == "ja":
            out.append(f"バックアップ時間: {ja_jp(t + timedelta(hours=9))[:-3]}\r\nバックアップ先: 固定ディスク ラベル Backup(E:)\r\n"
                       f"バージョン識別子: {t:%m/%d/%Y-%H:%M}\r\n回復可能: ボリューム, ファイル, アプリケーション, ベア メタル回復, システム状態\r\n"
                       f"スナップショット ID: {{{uuid.uuid5(uuid.NAMESPACE_URL, str(t))}}}\r\n\r\n")
        else:
            out.append(f"Backup time: {en_us(t)}\r\nBackup location: Fixed Disk labeled Backup(E:)\r\n"
                       f"Version identifier: {t:%m/%d/%Y-%H:%M}\r\nCan recover: Volume(s), File(s), Application(s), Bare Metal Recovery, System State\r\n"
                       f"Snapshot ID: {{{uuid.uuid5(uuid.NAMESPACE_URL, str(t))}}}\r\n\r\n")
    return "".join(out)


def _user(name: str, rid: int, enabled: bool, last: datetime | None, pwset: datetime | None, required: bool = True,
          expires: datetime | None = None, iso: bool = False) -> dict[str, Any]:
    def d(x: datetime) -> str:
        return dotnet_o(x) if iso else ms(x)

    return {
        "Name": name, "Enabled": enabled, "LastLogon": d(last) if last else None,
        "PasswordLastSet": d(pwset) if pwset else None, "PasswordRequired": required,
        "PasswordExpires": d(expires) if expires else None,
        "SID": f"S-1-5-21-3623811015-3361044348-30300820-{rid}",
    }


COMMON_REG = {
    (r"hklm:\system\currentcontrolset\control\terminal server\winstations\rdp-tcp", "portnumber"): 3389,
}


def _svc(name: str, display: str, state: str, mode: str) -> dict[str, str]:
    """One Win32_Service row as the collector's ConvertTo-Json prints it (WMI's English State/StartMode on every locale)."""
    return {"Name": name, "DisplayName": display, "State": state, "StartMode": mode}


# a Windows Server 2022 member server: a sample of its services (names and default start modes as shipped),
# the SNMP *Trap* service present but not the SNMP Service itself
SERVER_SERVICES = [
    _svc("BITS", "Background Intelligent Transfer Service", "Stopped", "Manual"),
    _svc("Dnscache", "DNS Client", "Running", "Auto"),
    _svc("EventLog", "Windows Event Log", "Running", "Auto"),
    _svc("LanmanServer", "Server", "Running", "Auto"),
    _svc("mpssvc", "Windows Defender Firewall", "Running", "Auto"),
    _svc("RemoteRegistry", "Remote Registry", "Stopped", "Auto"),
    _svc("SNMPTRAP", "SNMP Trap", "Stopped", "Manual"),
    _svc("Spooler", "Print Spooler", "Stopped", "Disabled"),
    _svc("TermService", "Remote Desktop Services", "Running", "Manual"),
    _svc("W32Time", "Windows Time", "Running", "Auto"),
    _svc("WinDefend", "Microsoft Defender Antivirus Service", "Running", "Auto"),
    _svc("WinRM", "Windows Remote Management (WS-Management)", "Running", "Auto"),
    _svc("wuauserv", "Windows Update", "Stopped", "Manual"),
]


def _listen(proto: str, addr: str, port: int, pid: int, proc: str, *svcs: str) -> dict[str, Any]:
    return {"Proto": proto, "Address": addr, "Port": port, "Pid": pid, "Process": proc, "Services": list(svcs)}


#: A Windows Server 2022 member server's listeners, owners as Microsoft's "Service overview and network port
#: requirements for Windows" lists them (RpcSs 135, System/SMB 445 and NetBIOS 139, TermService 3389, WinRM
#: over http.sys 5985/47001, the dynamic RPC range 49664+ for lsass/wininit/EventLog/Schedule/spoolsv, W32Time 123).
SERVER_LISTENERS = [
    _listen("tcp", "0.0.0.0", 135, 948, "svchost", "RpcEptMapper", "RpcSs"), _listen("tcp", "10.20.0.15", 139, 4, "System"),
    _listen("tcp", "0.0.0.0", 445, 4, "System"), _listen("tcp", "0.0.0.0", 3389, 1212, "svchost", "TermService"),
    _listen("tcp", "0.0.0.0", 5985, 4, "System"), _listen("tcp", "0.0.0.0", 47001, 4, "System"),
    _listen("tcp", "0.0.0.0", 49664, 700, "lsass", "KeyIso", "SamSs"), _listen("tcp", "0.0.0.0", 49665, 560, "wininit"),
    _listen("tcp", "0.0.0.0", 49666, 1300, "svchost", "EventLog"), _listen("tcp", "0.0.0.0", 49667, 1544, "svchost", "Schedule"),
    _listen("tcp", "0.0.0.0", 49668, 2484, "spoolsv", "Spooler"), _listen("tcp", "::", 445, 4, "System"),
    _listen("udp", "0.0.0.0", 123, 1400, "svchost", "W32Time"), _listen("udp", "10.20.0.15", 137, 4, "System"),
    _listen("udp", "127.0.0.1", 59817, 1812, "svchost", "iphlpsvc"),
]


def compliant(now: datetime, *, lang: str = "en") -> Scenario:
    host = "SRV-EMR01" if lang == "en" else "SRV-DENKARU"
    ja = lang == "ja"
    admin = "山田管理者" if ja else "tanaka.admin"
    users = [
        _user("Administrator", 500, False, now - timedelta(days=400), now - timedelta(days=400), iso=ja),
        _user(admin, 1001, True, now - timedelta(days=3), now - timedelta(days=20), expires=now + timedelta(days=40), iso=ja),
        _user("svc_backup", 1002, True, now - timedelta(days=1), now - timedelta(days=30), iso=ja),
        _user("DefaultAccount", 503, False, None, None, required=False),
        _user("Guest", 501, False, None, None, required=False),
        _user("WDAGUtilityAccount", 504, False, None, now - timedelta(days=500)),
    ]
    admins = [
        {"Name": f"{host}\\{admin}", "ObjectClass": "ユーザー" if ja else "User", "PrincipalSource": "Local",
         "SID": "S-1-5-21-3623811015-3361044348-30300820-1001"},
        {"Name": "HOSPITAL\\Domain Admins", "ObjectClass": "グループ" if ja else "Group", "PrincipalSource": "ActiveDirectory",
         "SID": "S-1-5-21-1004336348-1177238915-682003330-512"},
    ]
    pw = {"min_age": 1, "max_age": 60, "min_len": 14, "complexity": 1, "history": 24, "lockout": 5, "cleartext": 0, "admin_on": 0, "guest_on": 0}
    last_sync = now - timedelta(minutes=20)
    updates = {
        "HotFixes": [
            {"HotFixID": "KB5031364", "Description": "Security Update", "InstalledOn": ps_date_obj(now - timedelta(days=40))},
            {"HotFixID": "KB5032198", "Description": "Security Update", "InstalledOn": ps_date_obj(now - timedelta(days=10))},
            {"HotFixID": "KB5012170", "Description": "Update", "InstalledOn": None},
        ],
        "LastInstallationSuccessDate": ms(now - timedelta(days=10)),
        "LastSearchSuccessDate": ms(now - timedelta(hours=5)),
        "AutoUpdateError": None,
        # a UBR newer than config/windows_builds.yaml: the check falls back to the newest hotfix date
        "CurrentBuild": "20348", "UBR": 9999, "ProductName": "Windows Server 2022 Standard", "DisplayVersion": "21H2",
        "InstallationType": "Server", "EditionID": "ServerStandard",
    }
    defender = {
        "Defender": {"AMServiceEnabled": True, "AntivirusEnabled": True, "RealTimeProtectionEnabled": True, "AntispywareEnabled": True,
                     "AntivirusSignatureLastUpdated": ms(now - timedelta(hours=7)), "AntivirusSignatureAge": 0,
                     "AntivirusSignatureVersion": "1.403.1289.0", "AMRunningMode": "Normal"},
        "DefenderError": None, "Products": None, "ProductsError": "無効な名前空間です " if ja else "Invalid namespace ",
    }
    backup_times = [now - timedelta(days=i, hours=3) for i in range(7, 0, -1)]
    return Scenario(
        name="compliant_ja" if ja else "compliant",
        hostname=host,
        ps={
            # MachineGuid (registry), NetBIOS name and the domain of a domain member: the host's stable identity
            "identity": {"guid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "name": host, "dns": host, "domain": "hospital.local",
                         "member": True},
            "accounts": {"Users": users, "Administrators": admins},
            "secedit": {"ExitCode": 0, "Inf": SECEDIT_TEMPLATE.format(**pw),
                        "Message": "タスクは正常に完了しました。" if ja else "The task has completed successfully."},
            "updates": updates,
            "antimalware": defender,
            # a Japanese host runs on JST: w32tm prints local wall time, the offset says how far from UTC
            "w32time": {"Status": "Running", "StartType": "Automatic", "UtcOffsetMinutes": 540 if ja else 0},
            "clixml_ja": Output(stderr=clixml_error("アクセスが拒否されました。\r\n発生場所 行:1 文字:1"), exit_code=1),
            "auditpol_backup": Output(auditpol_backup(host, lang, {"Logon": "sf", "Logoff": "s", "Account Lockout": "f",
                                                                   "Credential Validation": "sf", "Special Logon": "s"})),
            # one volume: ConvertTo-Json emits an object, not a one-element array
            "bitlocker": {"BitLockerAvailable": True, "Volumes": {
                "MountPoint": "C:", "VolumeType": "OperatingSystem", "ProtectionStatus": "On", "VolumeStatus": "FullyEncrypted",
                "EncryptionMethod": "XtsAes256", "EncryptionPercentage": 100}, "PCSystemType": 4, "ChassisTypes": [23]},
            "firewall": [
                {"Name": "Domain", "Enabled": "True", "DefaultInboundAction": "NotConfigured", "DefaultOutboundAction": "NotConfigured"},
                {"Name": "Private", "Enabled": "True", "DefaultInboundAction": "Block", "DefaultOutboundAction": "Allow"},
                {"Name": "Public", "Enabled": "True", "DefaultInboundAction": "Block", "DefaultOutboundAction": "Allow"},
            ],
            "smb": {"EnableSMB1Protocol": False, "EnableSMB2Protocol": True, "RequireSecuritySignature": True, "EncryptData": False},
            # Get-WinEvent -ListLog Security as Windows PowerShell 5.1 serialises it ([string] LogMode is the
            # EventLogMode name, Microsoft Learn "EventLogMode Enum"): a 1 GB circular log, full, reaching back 400 days
            "security_log": {"LogName": "Security", "IsEnabled": True, "LogMode": "Circular", "MaximumSizeInBytes": 1073741824,
                             "FileSize": 1073614848, "RecordCount": 2915406, "LogFilePath": "%SystemRoot%\\System32\\Winevt\\Logs\\Security.evtx",
                             "Oldest": dotnet_o(now - timedelta(days=400))},
            # Registry value names and REG_SZ "1"/"0" flags as the Group Policy ADMX (ControlPanelDisplay.admx) and the
            # security policy "Interactive logon: Machine inactivity limit" write them; one loaded hive (the auditor's)
            "screen_lock": {"InstallationType": "Server", "InactivityTimeoutSecs": 900, "Users": {
                "Sid": "S-1-5-21-1-2-3-1001", "PolicyActive": None, "PolicySecure": None, "PolicyTimeout": None,
                "Active": "1", "Secure": "0", "Timeout": "600"}},
            "listeners": SERVER_LISTENERS,
            "services": SERVER_SERVICES,
            # IUpdateSearcher.Search against the hospital's WSUS (ServerSelection 1 = ssManagedServer): nothing missing
            "wua_search": {"ResultCode": 2, "ServerSelection": 1, "Updates": []},
        },
        cmd={
            "net accounts": Output((NET_ACCOUNTS_JA if ja else NET_ACCOUNTS_EN).format(
                min_age=1, max_age=60, min_len=14, history=24, lockout=5)),
            "w32tm /query /status": Output((W32TM_STATUS_JA if ja else W32TM_STATUS_EN).format(
                leap="0(警告なし)" if ja else "0(no warning)",
                stratum="2 (二次参照 - (S)NTP で同期)" if ja else "2 (secondary reference - syncd by (S)NTP)",
                last=ja_jp(last_sync + timedelta(hours=9)) if ja else en_us(last_sync), source="ntp.nict.jp,0x8")),
            "w32tm /query /configuration": Output(W32TM_CONFIG.format(type="NTP", servers="ntp.nict.jp,0x8", where="ローカル" if ja else "Local")),
            "w32tm /stripchart /computer:ntp.nict.jp /dataonly /samples:1": Output(
                ("ntp.nict.jp [133.243.238.243:123] を追跡しています。\r\n1 サンプルを収集しています。\r\n"
                 f"現在の時刻は {ja_jp(now)} です。\r\n" if ja else
                 f"Tracking ntp.nict.jp [133.243.238.243:123].\r\nCollecting 1 samples.\r\nThe current time is {en_us(now)}.\r\n")
                + f"{now:%H:%M:%S}, +00.0012345s\r\n"),
            "auditpol /get /category:* /r": Output(auditpol(host, lang, {"Logon": "sf", "Logoff": "s", "Account Lockout": "f",
                                                                           "Credential Validation": "sf", "Special Logon": "s"})),
            "wbadmin get versions": Output(wbadmin_versions(lang, backup_times)),
            # the same real Japanese w32tm capture, from tools that ignore the shell's code page
            "w32tm-legacy /query /status": Output(W32TM_JA_REAL, encoding="cp932"),
            "cmd /u /c w32tm /query /status": Output(W32TM_JA_REAL, encoding="utf-16"),
        },
        registry={
            **COMMON_REG,
            (r"hklm:\system\currentcontrolset\control\terminal server", "fdenytsconnections"): 0,
            (r"hklm:\system\currentcontrolset\control\terminal server\winstations\rdp-tcp", "userauthentication"): 1,
            (r"hklm:\system\currentcontrolset\control\terminal server\winstations\rdp-tcp", "securitylayer"): 2,
            (r"hklm:\system\currentcontrolset\services\usbstor", "start"): 4,
        },
        files={"C:\\Windows\\System32\\drivers\\etc\\hosts": b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n127.0.0.1 localhost\r\n"},
        dirs={
            # seven nightly images, plus what Explorer and the job leave beside them (desktop.ini: Hidden|System|Archive
            # = 38, Thumbs.db: Hidden|System = 6, the job's log): never generations
            "D:\\Backup\\EMR": [*((f"emr-{(now - timedelta(days=i)):%Y%m%d}.vhdx", now - timedelta(days=i, hours=2)) for i in range(7, 0, -1)),
                                ("desktop.ini", now - timedelta(days=300), 38, False), ("Thumbs.db", now - timedelta(days=1), 6, False),
                                ("backup-job.log", now - timedelta(hours=20), 32, False)],
            # the offline NAS is disconnected between weekly copies: the path is not there, as expected
        },
    )


def weak(now: datetime) -> Scenario:
    host = "PC-NURSE01"
    users = [
        _user("Administrator", 500, True, now - timedelta(days=2), now - timedelta(days=900)),
        _user("Guest", 501, True, None, None, required=False),
        _user("kiosk", 1003, True, now - timedelta(days=1), None, required=False),
        _user("olduser", 1004, True, now - timedelta(days=400), now - timedelta(days=800)),
        _user("DefaultAccount", 503, False, None, None, required=False),
    ]
    pw = {"min_age": 0, "max_age": 42, "min_len": 0, "complexity": 0, "history": 0, "lockout": 0, "cleartext": 1, "admin_on": 1, "guest_on": 1}
    return Scenario(
        name="weak",
        hostname=host,
        ps={
            # a lone member: PowerShell hands ConvertTo-Json a single object, not a list
            "accounts": {"Users": users, "Administrators": {"Name": f"{host}\\Administrator", "ObjectClass": "User",
                                                            "PrincipalSource": 1, "SID": {"BinaryLength": 28, "Value": "S-1-5-21-1-2-3-500"}}},
            "secedit": {"ExitCode": 0, "Inf": SECEDIT_TEMPLATE.format(**pw), "Message": "The task has completed successfully."},
            "updates": {"HotFixes": {"HotFixID": "KB4577586", "Description": "Update", "InstalledOn": ps_date_obj(now - timedelta(days=120))},
                        "LastInstallationSuccessDate": ms(now - timedelta(days=118)), "LastSearchSuccessDate": None,
                        "AutoUpdateError": None,
                        # a Windows 10 Pro 22H2 laptop (past its end of support, 2025-10-14) on a UBR older than
                        # config/windows_builds.yaml: the patch age falls back to the hotfix date
                        "CurrentBuild": "19045", "UBR": 4291, "ProductName": "Windows 10 Pro", "DisplayVersion": "22H2",
                        "InstallationType": "Client", "EditionID": "Professional"},
            "antimalware": {"Defender": {"AMServiceEnabled": True, "AntivirusEnabled": True, "RealTimeProtectionEnabled": False,
                                         "AntispywareEnabled": True, "AntivirusSignatureLastUpdated": ms(now - timedelta(days=30)),
                                         "AntivirusSignatureAge": 30, "AntivirusSignatureVersion": "1.381.2403.0", "AMRunningMode": "Normal"},
                            "DefenderError": None,
                            "Products": [{"displayName": "Windows Defender", "productState": 393472, "timestamp": "Mon, 01 Jan 2024 00:00:00 GMT"}],
                            "ProductsError": None},
            "w32time": {"Status": "Running", "StartType": "Manual"},
            "bitlocker": {"BitLockerAvailable": True, "Volumes": [
                {"MountPoint": "C:", "VolumeType": 0, "ProtectionStatus": 0, "VolumeStatus": 0, "EncryptionMethod": 0, "EncryptionPercentage": 0},
                {"MountPoint": "E:", "VolumeType": 2, "ProtectionStatus": 0, "VolumeStatus": 0, "EncryptionMethod": 0, "EncryptionPercentage": 0},
            ], "PCSystemType": 2, "ChassisTypes": [10]},
            "firewall": [
                {"Name": "Domain", "Enabled": "True", "DefaultInboundAction": "NotConfigured", "DefaultOutboundAction": "NotConfigured"},
                {"Name": "Private", "Enabled": "True", "DefaultInboundAction": "Allow", "DefaultOutboundAction": "Allow"},
                {"Name": "Public", "Enabled": "False", "DefaultInboundAction": "Block", "DefaultOutboundAction": "Allow"},
            ],
            "smb": {"EnableSMB1Protocol": True, "EnableSMB2Protocol": True, "RequireSecuritySignature": False, "EncryptData": False},
            # the laptop also runs the IIS FTP service (ftpsvc in svchost) and a telnet server (tlntsvr.exe, TlntSvr);
            # a lone listener would be an object, here the array ConvertTo-Json -InputObject @() keeps
            # Telnet and IIS FTP running (they listen on 23 and 21), the SNMP Service installed but stopped
            "services": [*SERVER_SERVICES, _svc("TlntSvr", "Telnet", "Running", "Auto"),
                         _svc("ftpsvc", "Microsoft FTP Service", "Running", "Auto"), _svc("SNMP", "SNMP Service", "Stopped", "Manual")],
            "listeners": [_listen("tcp", "0.0.0.0", 21, 3120, "svchost", "ftpsvc"), _listen("tcp", "0.0.0.0", 23, 2204, "tlntsvr", "TlntSvr"),
                          _listen("tcp", "0.0.0.0", 135, 948, "svchost", "RpcSs"), _listen("tcp", "127.0.0.1", 111, 3300, "portmap")],
            # a nurse's laptop: no machine limit, the user's own screen saver without a password (ScreenSaverIsSecure=0)
            "screen_lock": {"InstallationType": "Client", "InactivityTimeoutSecs": None, "Users": [
                {"Sid": "S-1-5-21-1-2-3-1003", "PolicyActive": None, "PolicySecure": None, "PolicyTimeout": None,
                 "Active": "1", "Secure": "0", "Timeout": "600"}]},
            # the client default: 20 MB circular ("defaults to 20 megabytes", Group Policy's Event Log Service
            # help text), full after nine days of logons
            "security_log": {"LogName": "Security", "IsEnabled": True, "LogMode": "Circular", "MaximumSizeInBytes": 20971520,
                             "FileSize": 20975616, "RecordCount": 30112, "LogFilePath": "%SystemRoot%\\System32\\Winevt\\Logs\\Security.evtx",
                             "Oldest": dotnet_o(now - timedelta(days=9, hours=4))},
        },
        cmd={
            "net accounts": Output(NET_ACCOUNTS_EN.format(min_age=0, max_age=42, min_len=0, history="None", lockout="Never")),
            "w32tm /query /status": Output(W32TM_STATUS_EN.format(leap="3(not synchronized)", stratum="0 (unspecified)",
                                                                   last="unspecified", source="Local CMOS Clock")),
            "w32tm /query /configuration": Output(W32TM_CONFIG.format(type="NTP", servers="time.windows.com,0x9", where="Local")),
            "auditpol /get /category:* /r": Output(auditpol(host, "en", {"Logon": "s", "Logoff": "n"})),
            "wbadmin get versions": Output("wbadmin 1.0 - Backup command-line tool\r\n(C) Copyright Microsoft Corporation. All rights reserved.\r\n\r\n"
                                           "ERROR - No backup was found.\r\n", exit_code=-1),
        },
        registry={
            **COMMON_REG,
            (r"hklm:\system\currentcontrolset\control\terminal server", "fdenytsconnections"): 0,
            (r"hklm:\system\currentcontrolset\control\terminal server\winstations\rdp-tcp", "userauthentication"): 0,
            (r"hklm:\system\currentcontrolset\control\terminal server\winstations\rdp-tcp", "securitylayer"): 0,
            (r"hklm:\system\currentcontrolset\services\usbstor", "start"): 3,
        },
    )


SCENARIOS = {
    "compliant": lambda now: compliant(now, lang="en"),
    "compliant_ja": lambda now: compliant(now, lang="ja"),
    "weak": weak,
}


# ---------------------------------------------------------------------------------------------------
# Executing a command line the way a Windows host would (from the scenario)
# ---------------------------------------------------------------------------------------------------
PS_TOPICS = (  # first match wins
    ("Microsoft\\Cryptography", "identity"),
    ("Get-LocalUser", "accounts"),
    ("secedit.exe /export", "secedit"),
    ("Get-HotFix", "updates"),
    ("Get-MpComputerStatus", "antimalware"),
    ("Get-Service -Name W32Time", "w32time"),
    ("Get-BitLockerVolume", "bitlocker"),
    ("Get-NetFirewallProfile", "firewall"),
    ("Get-SmbServerConfiguration", "smb"),
    ("auditpol.exe /backup", "auditpol_backup"),
    ("Get-WinEvent -ListLog Security", "security_log"),
    ("Microsoft.Update.Session", "wua_search"),
    ("Get-NetTCPConnection -State Listen", "listeners"),
    ("Win32_Service -ErrorAction Stop", "services"),
    ("Write-Error", "clixml_ja"),
)


def ps_json_dumps(obj: Any) -> str:
    """ConvertTo-Json -Compress as Windows PowerShell 5.1 writes it (escaped slashes around dates)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return re.sub(r'"/Date\((-?\d+)\)/"', r'"\\/Date(\1)\\/"', text)


def clixml_error(message: str) -> str:
    esc = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r\n", "_x000D__x000A_")
    return ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
            f'<S S="Error">{esc}_x000D__x000A_</S></Objs>')


def _literal(script: str, var: str) -> str | None:
    m = re.search(rf"\${var}='((?:[^']|'')*)'", script)
    return m.group(1).replace("''", "'") if m else None


def run_powershell(sc: Scenario, script: str) -> tuple[str | None, Output]:
    """(topic, output) for a decoded script. Unknown scripts fail as PowerShell would."""
    if BATCH_MARKER in script and "FromBase64String($in)" in script:
        return "batch", Output()  # answered when its stdin ends (run_batch)
    if "ReadAllBytes" in script:
        path = _literal(script, "p") or ""
        data = _ci_get(sc.files, path)
        if data is None:
            return "read", Output(exit_code=2)
        return "read", Output(base64.b64encode(data).decode() + "\r\n")
    if "$paths=@(" in script and "Get-ChildItem" in script:
        m = re.search(r"\$paths=@\(([^)]*)\)", script)
        paths = [p.replace("''", "'") for p in re.findall(r"'((?:[^']|'')*)'", m.group(1))] if m else []
        rows = []
        for p in paths:
            items = _ci_get(sc.dirs, p)
            if items is None:
                rows.append({"Path": p, "Exists": False, "Count": 0, "Newest": None, "Oldest": None, "Error": "ItemNotFoundException"})
            else:
                listed = []
                for entry in items:
                    name, t, attrs, is_dir = (*entry, 32, False)[:4] if len(entry) == 2 else entry
                    listed.append({"N": name, "D": is_dir, "A": attrs, "T": dotnet_o(t)})
                # ConvertTo-Json: a one-element array stays an array (@()), an empty one is []
                rows.append({"Path": p, "Exists": True, "Total": len(items), "Items": listed, "Error": None})
        return "backup_dirs", Output(ps_json_dumps(rows) + "\r\n")
    if "Get-ChildItem -LiteralPath $p" in script:
        path = _literal(script, "p") or ""
        items = _ci_get(sc.dirs, path)
        if items is None:
            return "list_dir", Output(exit_code=2)
        return "list_dir", Output("\n".join(e[0] for e in items) + "\r\n")
    if "Get-Item -LiteralPath $p" in script:
        path = _literal(script, "p") or ""
        if _ci_get(sc.dirs, path) is not None:
            return "stat", Output(ps_json_dumps({"Length": 0, "Mtime": 1.7e12, "Dir": True, "Attributes": "Directory"}) + "\r\n")
        data = _ci_get(sc.files, path)
        if data is None:
            return "stat", Output(exit_code=2)
        return "stat", Output(ps_json_dumps({"Length": len(data), "Mtime": 1.7e12, "Dir": False, "Attributes": "Archive"}) + "\r\n")
    if "Registry::HKEY_USERS" in script:
        topic = "screen_lock"
        if topic not in sc.ps:
            return topic, Output(ps_json_dumps({"InstallationType": "Server", "InactivityTimeoutSecs": None, "Users": []}) + "\r\n")
        return topic, Output(ps_json_dumps(sc.ps[topic]) + "\r\n")
    if "function R($k,$n)" in script:
        obj: dict[str, int | None] = {}
        for name, key, value in re.findall(r"\$o\['((?:[^']|'')*)'\]=R '((?:[^']|'')*)' '((?:[^']|'')*)'", script):
            obj[name] = sc.registry.get((key.replace("''", "'").lower(), value.replace("''", "'").lower()))
        return "registry", Output(ps_json_dumps(obj) + "\r\n")
    for needle, topic in PS_TOPICS:
        if needle in script:
            if topic not in sc.ps:
                return topic, Output(stderr=clixml_error(f"The term '{needle.split()[0]}' is not recognized as the name of a cmdlet."), exit_code=1)
            val = sc.ps[topic]
            if isinstance(val, Output):
                return topic, val
            return topic, Output(ps_json_dumps(val) + "\r\n")
    word = re.findall(r"[A-Z][a-z]+-[A-Za-z]+", script)
    return None, Output(stderr=clixml_error(f"The term '{word[0] if word else 'x'}' is not recognized as the name of a cmdlet, function, script file, or operable program."), exit_code=1)


BATCH_MARKER = "TENKEN-BATCH-V1"


def run_batch(srv: Responder, shell: Shell, stdin: bytes) -> bytes:
    """What the batch wrapper prints: each job run as a single command would be, one JSON array.

    Stands in for the wrapper's PowerShell (which needs Windows): the same input format (gzip + base64,
    `kind TAB timeout-ms TAB base64` per line) and the same answer. A `batch_garbage` responder answers
    something else, to test that a damaged answer is never used.
    """
    import gzip

    if srv.behaviour == "batch_garbage":
        return f"{BATCH_MARKER}\n[{{\"i\":0,\"c\":0,\"t\":0,\"s\":0,\"o\":\"not base64!\",\"e\":\"\"}}]".encode()
    lines = gzip.decompress(base64.b64decode(stdin.strip())).decode("utf-8").split("\n")
    rows = []
    for i, line in enumerate(ln for ln in lines if ln):
        kind, _timeout_ms, arg = line.split("\t")
        if kind == "ps":
            topic, out = run_powershell(srv.scenario, base64.b64decode(arg).decode("utf-16-le"))
            is_text = False
        else:
            topic, out, is_text = run_command_line(srv.scenario, base64.b64decode(arg).decode("utf-8"), [])
        enc = out.encoding.replace("utf-16", "utf-16-le") if out.encoding else {65001: "utf-8", 932: "cp932"}.get(shell.codepage, "cp437")
        raw = out.stdout if isinstance(out.stdout, bytes) else out.stdout.encode(enc if is_text else "utf-8", "replace")
        err = out.stderr.encode(enc if is_text else "utf-8", "replace")
        timed_out = topic in srv.scenario.batch_timeouts
        srv.record(event="batch_job", topic=topic, timed_out=timed_out)
        rows.append({"i": i, "c": -1 if timed_out else out.exit_code, "t": int(timed_out), "s": 0,
                     "o": base64.b64encode(b"" if timed_out else raw).decode(), "e": base64.b64encode(err).decode()})
    return (BATCH_MARKER + "\n" + json.dumps(rows, separators=(",", ":"))).encode()


def _ci_get(d: dict[str, Any], key: str) -> Any:
    for k, v in d.items():
        if k.lower() == key.lower():
            return v
    return None


def run_command_line(sc: Scenario, command: str, arguments: list[str]) -> tuple[str | None, Output, bool]:
    """(topic, output, is_text) for a WinRS command: powershell -EncodedCommand, or a console program."""
    exe = command.strip().strip('"').lower()
    if exe in ("powershell", "powershell.exe") or exe.startswith("powershell"):
        args = arguments or command.split()[1:]
        lowered = [a.lower() for a in args]
        for flag in ("-encodedcommand", "-enc", "-e"):
            if flag in lowered:
                b64 = args[lowered.index(flag) + 1]
                script = base64.b64decode(b64).decode("utf-16-le")
                topic, out = run_powershell(sc, script)
                return topic, out, False
        return None, Output(stderr="unsupported powershell invocation", exit_code=1), False
    line = " ".join([command, *arguments]).strip()
    norm = " ".join(line.split()).lower()
    for key, out in sc.cmd.items():
        if key.lower() == norm:
            return key, out, True
    prog = line.split()[0] if line else ""
    return None, Output(stderr=f"'{prog}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
                        exit_code=9009), True


# ---------------------------------------------------------------------------------------------------
# WS-Management over HTTP
# ---------------------------------------------------------------------------------------------------
@dataclass
class Command:
    id: str
    topic: str | None
    stdout: bytes
    stderr: bytes
    exit_code: int
    timeouts_left: int
    sent: int = 0  # how many stdout bytes were already delivered
    #: the batch wrapper (tenken.collectors.transport.winrm_batch): its output is made when stdin ends
    stdin: bytearray | None = None


@dataclass
class Shell:
    id: str
    codepage: int
    commands: dict[str, Command] = field(default_factory=dict)


class Responder(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, scenario: Scenario, *, auth: str, username: str, password: str, tls: ssl.SSLContext | None,
                 cert_der: bytes | None, behaviour: str = "normal", log_path: Path | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.scenario = scenario
        self.auth = auth
        self.username = username
        self.password = password
        self.tls = tls
        self.cert_der = cert_der
        self.behaviour = behaviour
        self.shells: dict[str, Shell] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.log_path = log_path

    def finish_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        if self.tls is not None:
            try:
                request.settimeout(30)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate (or spoke plain HTTP): nothing to serve
        super().finish_request(request, client_address)

    def record(self, **event: Any) -> None:
        if self.log_path is None:
            return
        with self.lock, self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")


def envelope(action: str, relates_to: str | None, body: str) -> bytes:
    rel = f"<a:RelatesTo>{relates_to}</a:RelatesTo>" if relates_to else ""
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
        'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>{rel}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(relates_to: str | None, code: int, subcode: str, reason: str, machine: str) -> bytes:
    body = (
        '<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>' + subcode + "</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason><s:Detail>'
        f'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{code}" Machine="{machine}">'
        f"<f:Message>{reason}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Responder
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None  # the acceptor context of this connection (NTLM is connection-bound)
        self.authed = False

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the JSONL log instead
        pass

    # -- plumbing ---------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | list[tuple[str, str]] | None = None,
              content_type: str = "application/soap+xml;charset=UTF-8") -> None:
        self.send_response(status)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for k, v in items:
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _challenge(self) -> None:
        if self.server.auth == "basic":
            self._send(401, headers=[("WWW-Authenticate", 'Basic realm="WSMAN"'), ("WWW-Authenticate", "Negotiate")])
        else:
            self._send(401, headers=[("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "Kerberos")])

    def _auth(self) -> bool:
        """True when the request may proceed; otherwise the 401 (challenge or next NTLM leg) is sent."""
        if self.authed:
            return True
        header = self.headers.get("Authorization", "")
        if self.server.auth == "basic":
            if header.startswith("Basic "):
                try:
                    user, _, pw = base64.b64decode(header[6:]).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    user, pw = "", ""
                ok = hmac.compare_digest(user.lower().encode(), self.server.username.lower().encode()) and \
                    hmac.compare_digest(pw.encode(), self.server.password.encode())
                self.server.record(event="auth", scheme="basic", ok=ok)
                if ok:
                    return True  # Basic authenticates each request, not the connection
            self._challenge()
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("negotiate", "ntlm") or not token:
            self._challenge()
            return False
        import spnego
        from spnego.channel_bindings import GssChannelBindings
        from spnego.exceptions import SpnegoError

        raw = base64.b64decode(token)
        if self.ntlm is None or raw.startswith(b"NTLMSSP\x00\x01"):
            cbt = None
            if self.server.cert_der is not None:
                cbt = GssChannelBindings(application_data=b"tls-server-end-point:" + hashlib.sha256(self.server.cert_der).digest())
            self.ntlm = spnego.server(protocol="ntlm" if raw.startswith(b"NTLMSSP") else "negotiate", channel_bindings=cbt)
        try:
            out = self.ntlm.step(raw)
        except SpnegoError as exc:
            self.server.record(event="auth", scheme=scheme, ok=False, error=type(exc).__name__)
            self.ntlm = None
            self._challenge()
            return False
        if not self.ntlm.complete:
            self._send(401, headers=[("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")])
            return False
        self.server.record(event="auth", scheme=scheme, ok=True, user=str(self.ntlm.client_principal))
        self.authed = True
        return True

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _decrypt(self, body: bytes) -> bytes:
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        payload = parts[1]
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        data = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        sig_len = struct.unpack("<i", data[:4])[0]
        return self.ntlm.unwrap_winrm(data[4:4 + sig_len], data[4 + sig_len:])

    def _encrypt(self, message: bytes) -> bytes:
        res = self.ntlm.wrap_winrm(message)
        return (BOUNDARY + b"\r\n\tContent-Type: " + ENC_PROTOCOL + b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
                + str(len(message)).encode() + b"\r\n" + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
                + struct.pack("<i", len(res.header)) + res.header + res.data + BOUNDARY + b"--\r\n")

    # -- requests -----------------------------------------------------------------------------------
    def do_POST(self) -> None:
        body = self._read_body()
        if self.path.lower() != "/wsman":
            self._send(404)
            return
        if self.server.behaviour == "hang_auth":
            # the service takes the TCP connection and the request, then never answers authentication
            self.server.record(event="auth_hang")
            self.server.stopping.wait(600)
            self.close_connection = True
            return
        if not self._auth():
            return
        encrypted = "multipart/encrypted" in self.headers.get("Content-Type", "")
        if encrypted:
            if self.ntlm is None:
                self._send(400)
                return
            body = self._decrypt(body)
        elif self.server.tls is None and self.server.auth == "ntlm" and body:
            # Windows refuses unencrypted messages on the HTTP listener (AllowUnencrypted=false)
            self.server.record(event="refused_unencrypted")
            self._send(400)
            return
        if not body:  # pywinrm's empty POST that establishes the NTLM context before encrypting
            self._send(200)
            return
        status, reply = self.dispatch(body)
        if reply is None:
            return  # the connection was dropped on purpose (hang scenario)
        if encrypted:
            self._send(status, self._encrypt(reply),
                       content_type=f'multipart/encrypted;protocol="{ENC_PROTOCOL.decode()}";boundary="Encrypted Boundary"')
        else:
            self._send(status, reply)

    def dispatch(self, body: bytes) -> tuple[int, bytes | None]:
        srv = self.server
        root = ET.fromstring(body)
        action = (root.findtext("s:Header/a:Action", namespaces=NS) or "").strip()
        msg_id = (root.findtext("s:Header/a:MessageID", namespaces=NS) or "").strip()
        resource = (root.findtext("s:Header/w:ResourceURI", namespaces=NS) or "").strip()
        selector = root.find("s:Header/w:SelectorSet/w:Selector[@Name='ShellId']", NS)
        shell_id = selector.text if selector is not None else None
        if resource != SHELL_URI:
            return 400, fault(msg_id, 2150858778, "w:DestinationUnreachable", "The WS-Management service cannot process the request. The resource URI is not supported.", srv.scenario.hostname)
        if action == ACT["create"] and srv.behaviour == "hang_create":
            srv.record(event="create_hang")  # authenticated, but the shell never comes (WinRM quota/hung WMI)
            srv.stopping.wait(600)
            self.close_connection = True
            return 0, None
        if action == ACT["create"]:
            cp = 437
            for opt in root.findall("s:Header/w:OptionSet/w:Option", NS):
                if opt.get("Name") == "WINRS_CODEPAGE" and (opt.text or "").isdigit():
                    cp = int(opt.text or "437")
            sid = str(uuid.uuid4()).upper()
            with srv.lock:
                srv.shells[sid] = Shell(sid, cp)
            srv.record(event="create", shell=sid, codepage=cp)
            body_xml = (f"<x:ResourceCreated><a:Address>http://{srv.scenario.hostname}:5985/wsman</a:Address><a:ReferenceParameters>"
                        f"<w:ResourceURI>{SHELL_URI}</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">{sid}</w:Selector>"
                        f"</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
                        f"<rsp:Shell><rsp:ShellId>{sid}</rsp:ShellId><rsp:ResourceUri>{SHELL_URI}</rsp:ResourceUri>"
                        f"<rsp:Owner>{srv.scenario.hostname}\\{srv.username}</rsp:Owner><rsp:InputStreams>stdin</rsp:InputStreams>"
                        "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
            return 200, envelope(ACT["create"] + "Response", msg_id, body_xml)
        shell = srv.shells.get(shell_id or "")
        if shell is None:
            return 500, fault(msg_id, 2150858843, "w:InvalidSelectors", "The request for the Windows Remote Shell with ShellId failed because the shell was not found on the server.", srv.scenario.hostname)
        if action == ACT["delete"]:
            with srv.lock:
                srv.shells.pop(shell.id, None)
            srv.record(event="delete", shell=shell.id)
            return 200, envelope(ACT["delete"] + "Response", msg_id, "")
        if action == ACT["command"]:
            cmd = root.findtext("s:Body/rsp:CommandLine/rsp:Command", namespaces=NS) or ""
            args_text = root.findtext("s:Body/rsp:CommandLine/rsp:Arguments", namespaces=NS) or ""
            topic, out, is_text = run_command_line(srv.scenario, cmd, args_text.split() if args_text else [])
            enc = out.encoding.replace("utf-16", "utf-16-le") if out.encoding else {65001: "utf-8", 932: "cp932"}.get(shell.codepage, "cp437")
            raw = out.stdout if isinstance(out.stdout, bytes) else (
                out.stdout.encode(enc, "replace") if is_text else out.stdout.encode("utf-8"))
            cid = str(uuid.uuid4()).upper()
            shell.commands[cid] = Command(cid, topic, raw, out.stderr.encode(enc if is_text else "utf-8", "replace"), out.exit_code,
                                          1 if topic in srv.scenario.slow_topics else 0,
                                          stdin=bytearray() if topic == "batch" else None)
            srv.record(event="command", shell=shell.id, command=cid, topic=topic, line=(cmd + " " + args_text)[:80])
            return 200, envelope(ACT["command"] + "Response", msg_id, f"<rsp:CommandResponse><rsp:CommandId>{cid}</rsp:CommandId></rsp:CommandResponse>")
        if action == ACT["receive"]:
            ds = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
            cid = ds.get("CommandId") if ds is not None else None
            c = shell.commands.get(cid or "")
            if c is None:
                return 500, fault(msg_id, 2150858843, "w:InvalidSelectors", "The command was not found.", srv.scenario.hostname)
            srv.record(event="receive", command=c.id, topic=c.topic)
            if srv.behaviour == "hang":
                srv.stopping.wait(600)  # never answer: the client's read timeout must fire
                self.close_connection = True
                return 0, None
            if c.stdin is not None:  # still waiting for its input: the OperationTimeout passes
                return 500, fault(msg_id, 2150858793, "w:TimedOut", "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.", srv.scenario.hostname)
            if c.timeouts_left > 0:  # a slow cmdlet: the server's OperationTimeout passes first
                c.timeouts_left -= 1
                return 500, fault(msg_id, 2150858793, "w:TimedOut", "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.", srv.scenario.hostname)
            # deliver large output over two Receives, as Windows does for long streams
            if srv.behaviour == "split":  # a slow producer: every Receive carries only a few bytes
                chunk = c.stdout[c.sent:c.sent + 61]
            else:
                chunk = c.stdout[c.sent:] if len(c.stdout) <= 2048 or c.sent else c.stdout[: len(c.stdout) // 2]
            c.sent += len(chunk)
            done = c.sent >= len(c.stdout)
            streams = "".join(f'<rsp:Stream Name="stdout" CommandId="{c.id}">{base64.b64encode(chunk[i:i + 1024]).decode()}</rsp:Stream>'
                              for i in range(0, len(chunk), 1024))
            if done:
                streams += f'<rsp:Stream Name="stdout" CommandId="{c.id}" End="true"></rsp:Stream>'
                if c.stderr:
                    streams += f'<rsp:Stream Name="stderr" CommandId="{c.id}">{base64.b64encode(c.stderr).decode()}</rsp:Stream>'
                streams += f'<rsp:Stream Name="stderr" CommandId="{c.id}" End="true"></rsp:Stream>'
                state = f'<rsp:CommandState CommandId="{c.id}" State="{DONE}"><rsp:ExitCode>{c.exit_code}</rsp:ExitCode></rsp:CommandState>'
            else:
                state = f'<rsp:CommandState CommandId="{c.id}" State="{RUNNING}"></rsp:CommandState>'
            return 200, envelope(ACT["receive"] + "Response", msg_id, f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>")
        if action == ACT["send"]:
            st = root.find("s:Body/rsp:Send/rsp:Stream", NS)
            cid = st.get("CommandId") if st is not None else None
            c = shell.commands.get(cid or "")
            if c is None or c.stdin is None:
                return 500, fault(msg_id, 2150858843, "w:InvalidSelectors", "The command was not found.", srv.scenario.hostname)
            c.stdin += base64.b64decode((st.text or "") if st is not None else "")
            srv.record(event="send", command=c.id, bytes=len(c.stdin))
            if st is not None and st.get("End", "").lower() == "true":
                c.stdout = run_batch(srv, shell, bytes(c.stdin))
                c.stdin = None
            return 200, envelope(ACT["send"] + "Response", msg_id, "<rsp:SendResponse/>")
        if action == ACT["signal"]:
            sig = root.find("s:Body/rsp:Signal", NS)
            cid = sig.get("CommandId") if sig is not None else None
            shell.commands.pop(cid or "", None)
            srv.record(event="signal", command=cid)
            return 200, envelope(ACT["signal"] + "Response", msg_id, "<rsp:SignalResponse/>")
        return 500, fault(msg_id, 2150858817, "w:ActionNotSupported", "The action is not supported by the service.", srv.scenario.hostname)


# ---------------------------------------------------------------------------------------------------
# Test PKI (cryptography) and the command-line entry point
# ---------------------------------------------------------------------------------------------------
def make_test_pki(directory: Path, hostname: str = "localhost") -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost, as a hospital's internal CA would issue."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Hospital Internal CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="compliant")
    ap.add_argument("--auth", choices=("basic", "ntlm"), default="basic")
    ap.add_argument("--user", default="auditor")
    ap.add_argument("--password-env", default="RESPONDER_PASSWORD")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--behaviour", choices=("normal", "hang", "hang_auth", "hang_create", "split", "batch_garbage", "batch_timeout"), default="normal")
    ap.add_argument("--log", type=Path)
    a = ap.parse_args(argv)
    password = os.environ.get(a.password_env, "")
    tls = None
    cert_der = None
    if a.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(a.tls_cert, a.tls_key)
        cert_der = ssl.PEM_cert_to_DER_cert(Path(a.tls_cert).read_text())
    if a.auth == "ntlm":
        # pyspnego's NTLM acceptor reads accounts from the file named by NTLM_USER_FILE (DOMAIN:USER:PASSWORD)
        import tempfile

        fd, path = tempfile.mkstemp(prefix="responder-ntlm-")
        with os.fdopen(fd, "w") as fh:
            fh.write(f":{a.user}:{password}\n")
        os.environ["NTLM_USER_FILE"] = path
    scenario = SCENARIOS[a.scenario](datetime.now(UTC).replace(microsecond=0))
    if a.behaviour == "batch_timeout":  # the Windows Update history query runs past its timeout inside a batch
        scenario.batch_timeouts = ("updates",)
    srv = Responder(scenario, auth=a.auth, username=a.user, password=password, tls=tls, cert_der=cert_der,
                    behaviour=a.behaviour, log_path=a.log)
    print(json.dumps({"port": srv.server_address[1]}), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping.set()
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
