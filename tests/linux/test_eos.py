"""End of support from real os-release files (as the distributions ship them) and the shipped table."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from tenken.checks.eos_data import load_eos_table
from tenken.checks.policy import Policy
from tenken.checks.registry import run_checks
from tenken.collectors.linux.osrelease import os_release_from
from tenken.collectors.linux.patches import PatchFacts
from tenken.collectors.transport.base import OsFamily

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

DEBIAN_10 = '''PRETTY_NAME="Debian GNU/Linux 10 (buster)"
NAME="Debian GNU/Linux"
VERSION_ID="10"
VERSION="10 (buster)"
VERSION_CODENAME=buster
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
'''
DEBIAN_12 = DEBIAN_10.replace("10 (buster)", "12 (bookworm)").replace('"10"', '"12"').replace("=buster", "=bookworm")
UBUNTU_2204 = '''PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
'''
CENTOS_7 = '''NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
'''
ROCKY_93 = '''NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
'''
UNKNOWN = 'NAME="Example OS"\nID=exampleos\nVERSION_ID=1\n'


def eos(text: str, **pol: object) -> tuple[str, list[str], str]:
    facts = PatchFacts(os=os_release_from(text))
    out = run_checks(os=OsFamily.LINUX, target="t", facts={"linux.patches": facts}, evidence_ids={"linux.patches": "e-1"},
                     evidence_errors={}, policy=Policy.model_validate(pol), now=NOW, only=["linux.os.eos"])
    assert len(out) == 1
    return out[0].status.value, out[0].clauses, out[0].detail.en


@pytest.mark.parametrize(("text", "status"), [
    (DEBIAN_10, "fail"),  # LTS ended 2024-06-30
    (DEBIAN_12, "pass"),  # until 2028-06-30
    (UBUNTU_2204, "warn"),  # standard support ends 2027-06-01: 180 days after NOW
    (CENTOS_7, "fail"),
    (ROCKY_93, "pass"),  # VERSION_ID 9.3 falls back to Rocky Linux 9
    (UNKNOWN, "warn"),  # never a pass on an OS tenken knows nothing about
])
def test_eos_from_real_os_release(text: str, status: str) -> None:
    got, clauses, detail = eos(text)
    assert got == status
    assert clauses == ["SO-8-3", "SO-8-7"] or (status == "warn" and "not in tenken" in detail)
    if status != "warn" or "not in tenken" not in detail:
        assert "data as of 2026-12-03" in detail and "Source:" in detail


def test_lead_time_is_policy() -> None:
    assert eos(UBUNTU_2204, eos={"warn_days": 90})[0] == "pass"


DISTRO_INFO = Path("/usr/share/distro-info")


@pytest.mark.skipif(not (DISTRO_INFO / "debian.csv").exists(), reason="distro-info-data not installed (tests/run-all.sh PKGS)")
def test_shipped_debian_and_ubuntu_dates_match_distro_info_data() -> None:
    """The shipped table was built from distro-info-data; a newer package with changed dates shows here."""
    table = load_eos_table()
    deb = {r["version"]: r for r in csv.DictReader((DISTRO_INFO / "debian.csv").open(encoding="utf-8"))}
    ubu = {r["version"].split()[0]: r for r in csv.DictReader((DISTRO_INFO / "ubuntu.csv").open(encoding="utf-8"))}
    for row in table.releases:
        if row.os == "debian" and row.version in deb:
            assert row.eos == date.fromisoformat(deb[row.version]["eol-lts"]), row.name
        if row.os == "ubuntu" and row.version in ubu:
            assert row.eos == date.fromisoformat(ubu[row.version]["eol"]), row.name
