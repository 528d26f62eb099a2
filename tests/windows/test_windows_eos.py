"""Windows end of support (windows.os.eos) from the registry values a real host reports under
HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion, through the collector's parser and the shared rule
(checks/rules/eos.py). Values as Get-ItemProperty returns them on each release: Windows 11 still says
"Windows 10 Pro" in ProductName, LTSC editions say EditionID=EnterpriseS, Server says InstallationType=Server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tenken.checks.eos_data import load_eos_table
from tenken.checks.policy import Policy
from tenken.checks.registry import run_checks
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows.updates import load_build_table, parse_updates

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def cv(build: str, ubr: int, product: str, install: str, edition: str | None, display: str | None = None) -> dict[str, object]:
    """The collector's JSON for one host: Get-HotFix rows plus the CurrentVersion values."""
    return {"HotFixes": [{"HotFixID": "KB5050008", "Description": "Security Update", "InstalledOn": "/Date(1736812800000)/"}],
            "LastInstallationSuccessDate": None, "LastSearchSuccessDate": None, "AutoUpdateError": None,
            "CurrentBuild": build, "UBR": ubr, "ProductName": product, "DisplayVersion": display,
            "InstallationType": install, "EditionID": edition}


def eos(data: dict[str, object], **pol: object) -> tuple[str, list[str], str, str]:
    facts = parse_updates(data, load_build_table())
    out = run_checks(os=OsFamily.WINDOWS, target="t", facts={"windows.updates": facts}, evidence_ids={"windows.updates": "e-1"},
                     evidence_errors={}, policy=Policy.model_validate(pol), now=NOW, only=["windows.os.eos"])
    assert len(out) == 1
    return out[0].status.value, out[0].clauses, out[0].detail.en, out[0].detail.ja


HOSTS = [
    # (id, registry values, status, the release named in the verdict)
    ("server2019", cv("17763", 6775, "Windows Server 2019 Standard", "Server", "ServerStandard"), "pass", "Windows Server 2019"),
    ("server2016-within-lead-time", cv("14393", 7699, "Windows Server 2016 Datacenter", "Server", "ServerDatacenter"),
     "warn", "Windows Server 2016"),  # 2027-01-12: 40 days after NOW
    ("server2022-core", cv("20348", 3091, "Windows Server 2022 Datacenter", "Server Core", "ServerDatacenter", "21H2"),
     "pass", "Windows Server 2022"),
    ("server2012r2", cv("9600", 21563, "Windows Server 2012 R2 Standard", "Server", "ServerStandard"), "fail", "Windows Server 2012 R2"),
    ("server2025-shares-build-26100", cv("26100", 2894, "Windows Server 2025 Datacenter", "Server", "ServerDatacenter", "24H2"),
     "pass", "Windows Server 2025"),
    ("win10-22h2-pro", cv("19045", 6456, "Windows 10 Pro", "Client", "Professional", "22H2"), "fail", "Windows 10 22H2"),
    ("win10-22h2-enterprise", cv("19045", 6456, "Windows 10 Enterprise", "Client", "Enterprise", "22H2"),
     "fail", "Windows 10 Enterprise/Education 22H2"),
    ("win10-ltsc2021", cv("19044", 6456, "Windows 10 Enterprise LTSC 2021", "Client", "EnterpriseS", "21H2"),
     "warn", "Windows 10 Enterprise LTSC 2021"),  # 2027-01-12, where 21H2 Pro ended 2023-06-13
    ("win10-iot-ltsc2021", cv("19044", 6456, "Windows 10 IoT Enterprise LTSC 2021", "Client", "IoTEnterpriseS", "21H2"),
     "pass", "Windows 10 IoT Enterprise LTSC 2021"),  # 2032-01-13
    ("win10-ltsc2019", cv("17763", 6775, "Windows 10 Enterprise LTSC 2019", "Client", "EnterpriseS"), "pass", "Windows 10 Enterprise LTSC 2019"),
    ("win10-1809-pro", cv("17763", 6775, "Windows 10 Pro", "Client", "Professional"), "fail", "Windows 10 1809"),  # a Server 2019 build number
    ("win11-24h2-pro", cv("26100", 2894, "Windows 10 Pro", "Client", "Professional", "24H2"), "fail", "Windows 11 24H2"),  # 2026-10-13
    ("win11-24h2-enterprise", cv("26100", 2894, "Windows 10 Enterprise", "Client", "Enterprise", "24H2"),
     "pass", "Windows 11 Enterprise/Education 24H2"),  # 2027-10-12: 313 days
    ("win11-23h2-education", cv("22631", 4751, "Windows 10 Education", "Client", "Education", "23H2"),
     "fail", "Windows 11 Enterprise/Education 23H2"),  # 2026-11-10
    ("win7", cv("7601", 24544, "Windows 7 Professional", "Client", "Professional"), "fail", "Windows 7 SP1"),
]


@pytest.mark.parametrize(("data", "status", "name"), [h[1:] for h in HOSTS], ids=[h[0] for h in HOSTS])
def test_eos_from_real_registry_values(data: dict[str, object], status: str, name: str) -> None:
    got, clauses, en, ja = eos(data)
    assert (got, clauses) == (status, ["SO-8-3", "SO-8-7"]), en
    assert f"{name} " in en and "Source: https://learn.microsoft.com/lifecycle/" in en
    assert "data as of 2026-12-07" in en and "データ時点 2026-12-07" in ja
    assert f"EditionID={data['EditionID']}" in en  # the basis is shown, so an auditor can check the edition


def test_lead_time_is_policy_and_same_as_linux() -> None:
    server2016 = HOSTS[1][1]
    assert eos(server2016)[0] == "warn"
    assert eos(server2016, eos={"warn_days": 30})[0] == "pass"


def test_unlisted_edition_is_judged_as_home_pro_and_says_so() -> None:
    got, _, en, _ = eos(cv("26100", 2894, "Windows 10 Pro for Workstations", "Client", "SomeNewEdition", "24H2"))
    assert got == "fail" and "EditionID=SomeNewEdition not listed: judged as Home/Pro" in en


def test_ltsc_edition_on_a_build_without_ltsc_falls_back_to_the_client_date() -> None:
    got, _, en, _ = eos(cv("22631", 4751, "Windows 10 Enterprise", "Client", "EnterpriseS", "23H2"))
    assert got == "fail" and "no ltsc row for build 22631: judged as client" in en


def test_unknown_build_is_never_a_pass_and_missing_build_is_an_error() -> None:
    got, _, en, _ = eos(cv("27842", 1, "Windows 11 Pro Insider Preview", "Client", "Professional", "Canary"))
    assert got == "warn" and "not in tenken's end-of-support data (as of 2026-12-07" in en
    assert eos({"HotFixes": [], "CurrentBuild": None, "InstallationType": None, "EditionID": None})[0] == "error"


def test_edition_id_is_collected_and_the_table_is_consistent() -> None:
    """The collector reads EditionID; every class the edition map names exists, and no build has two rows of one class."""
    from tenken.collectors.windows.updates import SCRIPT

    assert "EditionID" in SCRIPT
    assert parse_updates(HOSTS[0][1]).edition_id == "ServerStandard"
    table = load_eos_table()
    keys = [(r.build, r.cls) for r in table.windows]
    assert len(keys) == len(set(keys))
    assert table.windows_data_as_of is not None and table.windows_data_as_of >= table.data_as_of
    assert all(r.source.startswith("https://learn.microsoft.com/lifecycle/products/") for r in table.windows)
