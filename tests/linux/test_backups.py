"""Backups (SO-11-1, SO-12-4, SO-18-1): real root trees through the real CLI, real mount tables, parsers.

The trees are built in tmp_path and aged with os.utime; `tenken scan local --root DIR` runs the real
collector and checks. Mount facts come from the image's fstab (offline) or this machine's mountinfo (live).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from clihelp import details, outcomes, scan_root
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.collectors.linux._mounts import (
    mount_for,
    parse_crypttab,
    parse_fstab,
    parse_lsattr,
    parse_mountinfo,
    parse_mounts,
    root_mount,
    unescape,
)
from tenken.collectors.linux.backups import (
    backup_lines,
    collect_backups,
    name_date,
    parse_rsnapshot,
    redact_line,
)
from tenken.collectors.probe import Probe
from tenken.collectors.settings import BackupLocation, CollectSettings
from tenken.collectors.transport.local import LocalTransport
from tenken.collectors.transport.root import RootTransport

DAY = 86400
CHECKS = ("linux.backup.found", "linux.backup.generations", "linux.backup.freshness", "linux.backup.offline", "linux.backup.restore")


def write(root: Path, rel: str, text: str = "", *, age_days: float | None = None, mode: int | None = None) -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    if mode is not None:
        p.chmod(mode)
    if age_days is not None:
        age(p, age_days)
    return p


def age(p: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(p, (t, t))


def base_tree(root: Path, fstab: str = "/dev/sda1 / ext4 defaults 0 1\n") -> Path:
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(root, "etc/group", "root:x:0:\n")
    write(root, "etc/fstab", fstab)
    return root


def good_tree(root: Path) -> tuple[Path, Path]:
    """7 daily dated backup dirs in /srv/backup; an offline NAS mount point marked noauto in fstab."""
    base_tree(root, "/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /mnt/offline ext4 noauto,nofail 0 2\n")
    for i in range(7):
        d = date.fromtimestamp(time.time() - i * DAY).isoformat()
        f = write(root, f"srv/backup/emr-{d}/emr.sql.gz", "x" * (1000 + i), age_days=i + 0.1)
        age(f.parent, i + 0.1)
    write(root, "etc/cron.d/emr-backup", "30 2 * * * root /usr/local/bin/emr-backup --password=hunter2 /srv/backup\n")
    pol = root.parent / "good-policy.yaml"
    pol.write_text(
        "backups:\n  locations:\n"
        "    - {path: /srv/backup, expected_generations: 7, label: EMR daily}\n"
        "    - {path: /mnt/offline/emr, offline: true}\n"
    )
    return root, pol


def weak_tree(root: Path) -> Path:
    """ONE backup, 40 days old, in a default location; nothing configured."""
    base_tree(root)
    write(root, "backup/emr-full.tar.gz", "x" * 4096, age_days=40)
    return root


scan = scan_root
detail = details


def got(report: dict, checks: tuple[str, ...] = CHECKS) -> list[tuple[str, str, str | None, list[str]]]:
    return outcomes(report, checks)


def test_good_tree_seven_daily_generations_and_offline_copy_pass(tmp_path: Path) -> None:
    root, pol = good_tree(tmp_path / "good")
    report = scan(root, pol)
    assert got(report) == [
        ("linux.backup.found", "pass", "/srv/backup", ["SO-11-1", "SO-12-4", "SO-18-1"]),
        ("linux.backup.freshness", "pass", "/srv/backup", ["SO-12-4", "SO-11-1"]),
        ("linux.backup.generations", "pass", "/srv/backup", ["SO-11-1", "SO-18-1"]),
        ("linux.backup.offline", "pass", "/mnt/offline/emr", ["SO-11-1", "SO-18-1"]),
        ("linux.backup.restore", "manual", None, ["SO-12-4"]),
    ]
    assert "7 generations (required 7)" in detail(report, "linux.backup.generations")
    assert "not mounted (noauto in fstab)" in detail(report, "linux.backup.offline")
    restore = next(f for f in report["findings"] if f["check_id"] == "linux.backup.restore")
    assert restore["kind"] == "prompt" and restore["evidence"], "the prompt must cite the evidence it summarises"
    assert "cron:/etc/cron.d/emr-backup" in restore["detail"]["en"]
    # the cron job's password never reaches the report
    assert "hunter2" not in str(report)


def test_weak_tree_single_40_day_old_backup_fails_generations_and_age(tmp_path: Path) -> None:
    report = scan(weak_tree(tmp_path / "weak"))
    assert got(report) == [
        ("linux.backup.found", "pass", None, ["SO-11-1", "SO-12-4", "SO-18-1"]),
        ("linux.backup.freshness", "fail", "/backup", ["SO-12-4", "SO-11-1"]),
        ("linux.backup.generations", "fail", "/backup", ["SO-11-1", "SO-18-1"]),
        ("linux.backup.offline", "warn", None, ["SO-11-1", "SO-18-1"]),
        ("linux.backup.restore", "manual", None, ["SO-12-4"]),
    ]
    assert "(40 days ago)" in detail(report, "linux.backup.freshness")
    assert "1 generation(s)" in detail(report, "linux.backup.generations")
    offline = next(f for f in report["findings"] if f["check_id"] == "linux.backup.offline")
    assert "backups.locations with offline: true" in offline["remediation"]["en"]
    assert report["findings"] and report["targets"][0]["state"] == "scanned"


def test_no_backup_anywhere_fails_and_dependent_checks_are_not_applicable(tmp_path: Path) -> None:
    report = scan(base_tree(tmp_path / "none"))
    assert got(report, CHECKS[:3]) == [
        ("linux.backup.found", "fail", None, ["SO-11-1", "SO-12-4", "SO-18-1"]),
        ("linux.backup.freshness", "not_applicable", None, ["SO-12-4", "SO-11-1"]),
        ("linux.backup.generations", "not_applicable", None, ["SO-11-1", "SO-18-1"]),
    ]


def test_policy_min_generations_and_age_are_honoured(tmp_path: Path) -> None:
    root = weak_tree(tmp_path / "weak")
    pol = tmp_path / "lenient.yaml"
    pol.write_text("backups:\n  min_generations: 1\n  max_newest_age_days: 45\n")
    assert got(scan(root, pol), CHECKS[1:3]) == [
        ("linux.backup.freshness", "pass", "/backup", ["SO-12-4", "SO-11-1"]),
        ("linux.backup.generations", "pass", "/backup", ["SO-11-1", "SO-18-1"]),
    ]


def test_offline_copy_that_is_a_writable_dir_on_the_system_disk_fails(tmp_path: Path) -> None:
    root = base_tree(tmp_path / "r")
    write(root, "srv/backup/2024-01-01.tar.gz", "x", age_days=1)
    write(root, "srv/offline/2024-01-01.tar.gz", "x", age_days=1)
    pol = tmp_path / "p.yaml"
    pol.write_text("backups:\n  locations:\n    - {path: /srv/backup, expected_generations: 1}\n    - {path: /srv/offline, offline: true}\n")
    report = scan(root, pol)
    assert got(report, ("linux.backup.offline",)) == [("linux.backup.offline", "fail", "/srv/offline", ["SO-11-1", "SO-18-1"])]
    assert "writable directory on the system disk" in detail(report, "linux.backup.offline")


def test_offline_copy_on_a_separate_device_mounted_rw_warns_and_ro_passes(tmp_path: Path) -> None:
    for opts, status in (("defaults", "warn"), ("ro,noexec", "pass")):
        root = base_tree(tmp_path / opts, f"/dev/sda1 / ext4 defaults 0 1\nnas:/export /mnt/nas nfs4 {opts} 0 0\n")
        write(root, "mnt/nas/emr/2024-01-01.tar.gz", "x", age_days=1)
        pol = tmp_path / f"{opts}.yaml"
        pol.write_text("backups:\n  locations:\n    - {path: /mnt/nas/emr, offline: true}\n")
        report = scan(root, pol)
        assert got(report, ("linux.backup.offline",)) == [("linux.backup.offline", status, "/mnt/nas/emr", ["SO-11-1", "SO-18-1"])]
        assert "network share" in detail(report, "linux.backup.offline")


def test_configured_online_location_that_is_missing_fails(tmp_path: Path) -> None:
    root = base_tree(tmp_path / "r")
    pol = tmp_path / "p.yaml"
    pol.write_text("backups:\n  locations:\n    - {path: /srv/emr-backup}\n")
    report = scan(root, pol)
    assert got(report, ("linux.backup.found",)) == [("linux.backup.found", "fail", "/srv/emr-backup", ["SO-11-1", "SO-12-4", "SO-18-1"])]


def _collect(root: Path, *locs: BackupLocation):
    p = Probe(RootTransport(root), CollectSettings(backup_locations=list(locs)))
    facts = collect_backups(p)
    return facts, p


def test_restic_and_borg_repositories_are_recognised(tmp_path: Path) -> None:
    root = base_tree(tmp_path / "r")
    write(root, "srv/restic/config", "opaque")
    for i in range(4):
        write(root, f"srv/restic/snapshots/{i:064x}", "s", age_days=i + 1)
    write(root, "srv/restic/data/00/abc", "y" * 500)
    write(root, "srv/borg/README", "This is a Borg Backup repository.\nSee https://borgbackup.readthedocs.io/\n")
    write(root, "srv/borg/config", "[repository]\n")
    write(root, "srv/borg/data/0/1", "z" * 300)
    write(root, "srv/borg/index.12", "i", age_days=2)
    write(root, "srv/borg/hints.12", "h", age_days=2)
    facts, _ = _collect(root, BackupLocation(path="/srv/restic"), BackupLocation(path="/srv/borg"))
    restic, borg = facts.locations
    assert (restic.layout, restic.count, restic.total_size) == ("restic", 4, 500)
    assert restic.newest is not None and 0.9 < (datetime.now(UTC) - restic.newest).total_seconds() / DAY < 1.1
    assert (borg.layout, borg.count, borg.total_size) == ("borg", None, 300)
    assert borg.newest is not None and 1.9 < (datetime.now(UTC) - borg.newest).total_seconds() / DAY < 2.1


def test_single_container_dir_is_descended_and_symlinks_not_counted(tmp_path: Path) -> None:
    root = base_tree(tmp_path / "r")
    for d in ("daily.0", "daily.1", "daily.2"):
        write(root, f"backup/emr/{d}/db.dump", "d")
    (root / "backup/emr/latest").symlink_to("daily.0")
    facts, _ = _collect(root, BackupLocation(path="/backup"))
    loc = facts.locations[0]
    assert loc.container == "/backup/emr"
    assert loc.count == 3 and loc.skipped == ["latest"]
    assert sorted(g.name for g in loc.generations) == ["daily.0", "daily.1", "daily.2"]


def test_rsnapshot_snapshot_root_is_searched_when_nothing_is_configured(tmp_path: Path) -> None:
    root = base_tree(tmp_path / "r")
    write(root, "etc/rsnapshot.conf", "config_version\t1.2\nsnapshot_root\t/data/snapshots/\nretain\tdaily\t7\n")
    for i in range(3):
        write(root, f"data/snapshots/daily.{i}/x", "x")
    facts, _ = _collect(root)
    found = [loc for loc in facts.locations if loc.origin == "rsnapshot"]
    assert [(x.path, x.count) for x in found] == [("/data/snapshots", 3)]
    assert any(t.kind == "rsnapshot" and "retain={'daily': 7}" in t.detail for t in facts.tools)


# -- the live mount table of this machine -------------------------------------------------------------------

def test_real_mountinfo_parses_and_matches_stat(tmp_path: Path) -> None:
    text = Path("/proc/self/mountinfo").read_text()
    mounts = parse_mountinfo(text)
    assert len(mounts) == len([ln for ln in text.splitlines() if " - " in ln])
    root = root_mount(mounts)
    assert root is not None
    st = os.stat("/")
    assert root.device == f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    m = mount_for(str(tmp_path), mounts)
    t = os.stat(tmp_path)
    assert m is not None and m.device == f"{os.major(t.st_dev)}:{os.minor(t.st_dev)}"


def test_live_collection_uses_mountinfo_and_lsattr(tmp_path: Path) -> None:
    loc = tmp_path / "bk"
    for i in range(3):
        write(loc, f"2024-01-0{i + 1}.tar.gz", "x" * 10, age_days=i)
    p = Probe(LocalTransport(), CollectSettings(backup_locations=[BackupLocation(path=str(loc), offline=True)]))
    facts = collect_backups(p)
    f = facts.locations[0]
    assert f.mount_table == "mountinfo" and f.mount is not None
    st = os.stat(loc)
    assert f.mount.device == f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    assert f.count == 3 and f.total_size == 30
    if shutil.which("lsattr") is None:
        pytest.skip("lsattr not installed")
    assert f.immutable is False or f.attrs is None
    if subprocess.run(["chattr", "+i", str(loc)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not permitted here")
    try:
        facts = collect_backups(Probe(LocalTransport(), CollectSettings(backup_locations=[BackupLocation(path=str(loc), offline=True)])))
        assert facts.locations[0].immutable is True
    finally:
        subprocess.run(["chattr", "-i", str(loc)], check=True)


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 8:17 / /mnt/offline ro,nosuid,noexec,relatime shared:5 - ext4 /dev/sdb1 rw
31 22 0:50 / /mnt/nas\\040share rw,relatime shared:9 - nfs4 nas:/export rw,vers=4.2
32 22 8:33 / /srv/backup rw,relatime - xfs /dev/sdc1 ro
"""


def test_mountinfo_fixture_ro_noexec_network_and_escapes() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    off = mount_for("/mnt/offline/emr/2024", mounts)
    assert off is not None and off.read_only and off.noexec and off.device == "8:17"
    nas = mount_for("/mnt/nas share/x", mounts)
    assert nas is not None and nas.network and nas.mount_point == "/mnt/nas share" and not nas.read_only
    # read-only at the superblock counts even when the mount itself says rw
    srv = mount_for("/srv/backup", mounts)
    assert srv is not None and srv.read_only
    assert mount_for("/srv/backupX", mounts).mount_point == "/"


def test_fstab_and_proc_mounts_and_crypttab_and_lsattr() -> None:
    fs = parse_fstab("# c\nUUID=1 / ext4 errors=remount-ro 0 1\nUUID=2 none swap sw 0 0\n/dev/sdb1 /mnt/off\\040line ext4 noauto,ro\nbad\n")
    assert [(m.mount_point, m.noauto, m.read_only) for m in fs] == [("/", False, False), ("/mnt/off line", True, True)]
    pm = parse_mounts("/dev/sda1 / ext4 rw,relatime 0 0\nnas:/x /mnt/nas cifs ro 0 0\n")
    assert [(m.mount_point, m.network, m.read_only) for m in pm] == [("/", False, False), ("/mnt/nas", True, True)]
    ct = parse_crypttab("# x\ncryptroot UUID=abc none luks,discard\nswap /dev/sda3 /dev/urandom swap\n")
    assert [(c.name, c.keyfile, c.options) for c in ct] == [("cryptroot", None, ["luks", "discard"]), ("swap", "/dev/urandom", ["swap"])]
    assert parse_lsattr("----i---------e------- /srv/b\nlsattr: Operation not supported While reading flags on /x\n") == {"/srv/b": "----i---------e-------"}
    assert unescape("a\\040b\\011c\\134") == "a b\tc\\"


def test_name_dates_rsnapshot_and_redaction() -> None:
    assert name_date("emr-2024-05-01.tar.gz") == date(2024, 5, 1)
    assert name_date("daily-20240229") == date(2024, 2, 29)
    assert name_date("daily.0") is None and name_date("2024-02-30") is None
    assert parse_rsnapshot("snapshot_root\t/.snapshots/\nretain\thourly\t6\n#retain x 1\n") == ("/.snapshots", {"hourly": 6})
    line = redact_line("mysqldump -uroot -pS3cret emr | gzip > /backup/x; RESTIC_PASSWORD=abc restic backup; borg --passphrase 'zz'")
    assert "S3cret" not in line and "abc" not in line and "zz" not in line
    assert backup_lines("# borg create\n0 1 * * * root /usr/bin/restic backup /srv\nls -l\n") == ["0 1 * * * root /usr/bin/restic backup /srv"]


# -- properties: every parser is total ----------------------------------------------------------------------

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600)
mountish = st.lists(st.sampled_from(["22", "1", "8:1", "/", "/mnt", "-", "ext4", "rw,ro", "\\040", "nfs", " ", "\n", "noauto"]), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(text, mountish))
def test_mount_parsers_are_total(s: str) -> None:
    for parser in (parse_mountinfo, parse_mounts, parse_fstab):
        mounts = parser(s)
        for m in mounts:
            assert isinstance(m.mount_point, str)
        mount_for("/srv/backup", mounts)
        root_mount(mounts)
    parse_crypttab(s)
    parse_lsattr(s)
    unescape(s)


@settings(max_examples=300, deadline=None)
@given(text)
def test_backup_text_helpers_are_total(s: str) -> None:
    name_date(s)
    parse_rsnapshot(s)
    for line in backup_lines(s):
        assert len(line) <= 240
    assert "hunter2" not in redact_line(s + " --password=hunter2")
