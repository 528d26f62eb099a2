"""Pending yum updates (RHEL 7) from yum's sqlite cache, queried on the target (collectors/linux/yum_remote.py).

No yum exists on Debian, so the reference is real dnf on the very same repositories: each root is built with
createrepo_c --database (the sqlite files yum reads, from the same packages as the XML dnf reads), dnf's
cache by a real `dnf makecache`, and yum's cache laid out as yum 3 leaves it (rpm_fixture.yum_cache). The
script runs for real (sh, awk, sqlite3, gzip) in a private mount namespace where the root's /var/cache is
/var/cache, with `rpm` reading the root's database.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import test_rpm_vs_dnf as dnfcase
from rpm_fixture import RHEL7_OS_RELEASE, Advisory, Pkg, Repo, _env, build_root, yum_cache
from tenken.collectors.linux.rpm_repodata import RepodataError
from tenken.collectors.linux.yum_remote import collect_yum_remote, parse_primary_rows
from tenken.collectors.probe import Probe
from tenken.collectors.registry import COLLECTORS, load_all, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.base import CommandResult
from tenken.collectors.transport.local import run_subprocess

pytestmark = [
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpm", "rpmbuild", "createrepo_c", "dnf", "sqlite3")),
                       reason="needs rpm, createrepo-c, dnf and sqlite3 (tests/run-all.sh installs them)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the script runs in a mount namespace over /var/cache: needs root"),
]

X = "x86_64"


class Rhel7Host(dnfcase.RootedHost):
    """A remote RHEL 7 target: the script sees the root's /var/cache (yum's cache included) at /var/cache."""

    def __init__(self, root: Path, shim: Path) -> None:
        super().__init__(root, shim, remote=True)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        self.commands.append(list(argv))
        args = list(argv)
        if argv[:2] == ["sh", "-c"]:
            args = ["unshare", "-m", "--", "sh", "-c", 'mount --bind "$0" /var/cache && exec "$@"', f"{self.root}/var/cache", *argv]
        res = run_subprocess(args, timeout, env={**_env(), "PATH": f"{self.shim}:{os.environ['PATH']}"})
        self.stdout_bytes += len(res.stdout)
        return res


def rhel7(tmp_path: Path, *, priorities: bool = True, with_updateinfo: bool = True) -> Path:
    """A RHEL 7 root; epel's database is the one yum builds itself (gen/primary.xml.sqlite)."""
    installed = [
        Pkg("bash", "4.2.46", "34.el7", arch=X), Pkg("openssl", "1.0.2k", "19.el7", epoch=1, arch=X),
        Pkg("glibc", "2.17", "317.el7", arch=X), Pkg("glibc", "2.17", "317.el7", arch="i686"),
        Pkg("kernel", "3.10.0", "1160.el7", arch=X), Pkg("oldtool", "1.0"), Pkg("curl", "7.29.0", "57.el7", arch=X),
        Pkg("vendor-agent", "1.0", "1", arch=X), Pkg("tzdata", "2023c", "1.el7"),
    ]
    server = Repo("rhel-7-server-rpms", (
        Pkg("bash", "4.2.46", "35.el7_9", arch=X), Pkg("openssl", "1.0.2k", "26.el7_9", epoch=1, arch=X),
        Pkg("glibc", "2.17", "326.el7_9", arch=X), Pkg("glibc", "2.17", "326.el7_9", arch="i686"),
        Pkg("kernel", "3.10.0", "1160.119.1.el7", arch=X), Pkg("newtool", "2.0", obsoletes=("oldtool < 2.0",)),
        Pkg("curl", "7.29.0", "59.el7_9.2", arch=X), Pkg("tzdata", "2024a", "1.el7"),
    ), advisories=(
        Advisory("RHSA-2023:1234", packages=(Pkg("openssl", "1.0.2k", "26.el7_9", epoch=1, arch=X),)),
        Advisory("RHSA-2024:0001", severity="Moderate", packages=(Pkg("glibc", "2.17", "326.el7_9", arch=X),)),
        Advisory("RHBA-2024:0002", type="bugfix", packages=(Pkg("tzdata", "2024a", "1.el7"),)),
    ))
    vendor = Repo("vendor", (Pkg("vendor-agent", "1.5", "1", arch=X),), options={"priority": "10"})
    epel = Repo("epel", (Pkg("vendor-agent", "2.0", "1", arch=X), Pkg("curl", "8.0", "1.el7", arch=X)),
                options={"exclude": "curl*"})
    root = build_root(tmp_path / "root", installed=installed, repos=[server, vendor, epel], os_release=RHEL7_OS_RELEASE,
                      database=True, dnf_conf={"exclude": "kernel*"})
    yum_cache(root, with_updateinfo=with_updateinfo, built_by_yum={"epel"})
    shutil.copyfile(root / "etc/yum.repos.d/tenken-test.repo", root / "etc/yum.repos.d/redhat.repo")
    (root / "etc/yum.repos.d/tenken-test.repo").unlink()
    (root / "etc/yum.conf").write_text("[main]\ncachedir=/var/cache/yum/$basearch/$releasever\nkeepcache=0\n"
                                       "exactarch=1\nobsoletes=1\ngpgcheck=1\nplugins=1\nexclude=kernel*\n", encoding="utf-8")
    if priorities:
        (root / "etc/yum/pluginconf.d").mkdir(parents=True)
        (root / "etc/yum/pluginconf.d/priorities.conf").write_text("[main]\nenabled = 1\n", encoding="utf-8")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/yum").write_text("#!/usr/bin/python\n", encoding="utf-8")
    return root


def test_pending_and_advisories_match_dnf_on_the_same_repositories(tmp_path: Path) -> None:
    root = rhel7(tmp_path)
    want, want_adv = dnfcase.dnf_upgrades(root), dnfcase.dnf_advisories(root)
    assert "kernel.x86_64" not in want and "curl.x86_64" in want and want["vendor-agent.x86_64"] == "1.5-1"
    t = Rhel7Host(root, tmp_path / "shim")
    got = collect_yum_remote(Probe(t))
    assert got.computation is not None, got.fallback
    assert dnfcase.ours(got.computation) == want
    assert dnfcase.our_advisories(got.computation) == want_adv
    assert [c[:2] for c in t.commands] == [["sh", "-c"]]  # one command, no yum
    assert got.config is not None and len(got.config.cache_mtime) == 3 and not got.no_advisories


def test_priorities_count_only_with_the_plugin(tmp_path: Path) -> None:
    """yum (unlike dnf) ignores priority= unless yum-plugin-priorities is enabled: then the newest wins."""
    root = rhel7(tmp_path, priorities=False)
    got = collect_yum_remote(Probe(Rhel7Host(root, tmp_path / "shim")))
    assert got.computation is not None, got.fallback
    assert dnfcase.ours(got.computation)["vendor-agent.x86_64"] == "2.0-1"


def test_the_patches_collector_on_a_remote_rhel7_host(tmp_path: Path) -> None:
    root = rhel7(tmp_path)
    load_all()
    t = Rhel7Host(root, tmp_path / "shim")
    f = run_collector(COLLECTORS["linux.patches"], t, CollectSettings()).facts
    assert f is not None and f.package_manager == "yum" and f.pending_method == "yum-cache-remote", f
    # no check-update / updateinfo (`yum history list` may run: this root has no yum.log or history)
    assert not any(c[0] == "yum" and {"check-update", "updateinfo"} & set(c) for c in t.commands), t.commands
    assert {u.name: u.security for u in f.pending or []} == {
        "bash": False, "openssl": True, "glibc": True, "curl": False, "tzdata": False, "vendor-agent": False, "oldtool": False}
    assert f.security_known and f.index_refreshed_at is not None
    assert (f.pending_source or "").startswith("yum cache (3 enabled repositories") and "sqlite3" in (f.pending_source or "")
    local = Rhel7Host(root, tmp_path / "shim")
    local.is_local = True  # type: ignore[misc]  # a local scan of the RHEL 7 host: the same script, run here
    fl = run_collector(COLLECTORS["linux.patches"], local, CollectSettings()).facts
    assert fl is not None and fl.pending_method == "yum-cache" and fl.pending == f.pending


def test_updateinfo_never_downloaded_is_security_unknown_not_none(tmp_path: Path) -> None:
    root = rhel7(tmp_path, with_updateinfo=False)
    load_all()
    f = run_collector(COLLECTORS["linux.patches"], Rhel7Host(root, tmp_path / "shim"), CollectSettings()).facts
    assert f is not None and f.pending_method == "yum-cache-remote" and f.pending
    assert f.security_known is False and not any(u.security for u in f.pending)
    assert "rhel-7-server-rpms" in f.unavailable["pending_security"].detail


def test_a_damaged_database_falls_back_and_is_never_an_empty_list(tmp_path: Path) -> None:
    root = rhel7(tmp_path)
    db = next((root / "var/cache/yum").glob("*/*/rhel-7-server-rpms/gen/primary_db.sqlite"))
    data = db.read_bytes()
    db.write_bytes(data[:4096] + b"\x00" * 64 + data[4160 : len(data) // 2])  # cut and scribbled over
    got = collect_yum_remote(Probe(Rhel7Host(root, tmp_path / "shim")))
    assert got.computation is None and got.fallback and "primary_db.sqlite" in got.fallback, got.fallback


def test_a_primary_database_cut_at_a_page_boundary_is_refused(tmp_path: Path) -> None:
    """Cut on a page boundary: the target's sqlite3 refuses it (the header's page count), and so does the
    offline path, which checks that count itself before opening its copy."""
    from tenken.collectors.linux.yum_files import collect_yum_files
    from tenken.collectors.transport.root import RootTransport

    root = rhel7(tmp_path)
    db = next((root / "var/cache/yum").glob("*/*/rhel-7-server-rpms/gen/primary_db.sqlite"))
    data = db.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    assert len(data) // page >= 4
    db.write_bytes(data[: len(data) // page // 2 * page])
    for label, got in (("remote", collect_yum_remote(Probe(Rhel7Host(root, tmp_path / "shim")))),
                       ("offline", collect_yum_files(Probe(RootTransport(root))))):
        assert got.computation is None and "primary_db.sqlite" in (got.fallback or ""), (label, got.fallback)
        assert ("truncated" if label == "offline" else "database damaged") in (got.fallback or ""), got.fallback


def test_an_uncached_repository_with_skip_if_unavailable_is_left_out_and_named(tmp_path: Path) -> None:
    root = rhel7(tmp_path)
    with (root / "etc/yum.repos.d/redhat.repo").open("a", encoding="utf-8") as f:
        f.write("\n[rhel-7-server-optional-rpms]\nname=optional\nbaseurl=file:///nowhere\nenabled=1\nskip_if_unavailable=1\n")
    got = collect_yum_remote(Probe(Rhel7Host(root, tmp_path / "shim")))
    assert got.computation is not None, got.fallback
    assert got.config is not None and got.config.skipped == ["rhel-7-server-optional-rpms"]
    assert [r.id for r in got.config.repos] == ["rhel-7-server-rpms", "vendor", "epel"]


def test_an_enabled_repository_never_cached_falls_back(tmp_path: Path) -> None:
    root = rhel7(tmp_path)
    shutil.rmtree(next((root / "var/cache/yum").glob("*/*/epel")))
    got = collect_yum_remote(Probe(Rhel7Host(root, tmp_path / "shim")))
    assert got.computation is None and "epel" in (got.fallback or "") and "makecache" in (got.fallback or "")


def test_rows_without_the_count_are_refused() -> None:
    assert [p.nevra.name for p in parse_primary_rows("P\tbash\tx86_64\t0\t4.2\t1\nN\t10\n")] == ["bash"]
    with pytest.raises(RepodataError, match="row count"):
        parse_primary_rows("P\tbash\tx86_64\t0\t4.2\t1\n")
    with pytest.raises(RepodataError, match="unexpected row"):
        parse_primary_rows("P\tbash\tx86_64\n")
    obs = parse_primary_rows("O\tnew\tnoarch\t0\t2\t1\told\tLT\t0\t2.0\t\nN\t3\n")
    assert obs[0].obsoletes[0].name == "old" and obs[0].obsoletes[0].flags == "LT" and obs[0].obsoletes[0].release is None


def test_an_offline_rhel7_image_reads_yums_cache_and_the_berkeley_db(tmp_path: Path) -> None:
    """RHEL 7 keeps its rpm database in Berkeley DB: the image's Packages (written by real libdb) and yum's
    cache, read in-process, give what dnf says of the same repositories."""
    from tenken.collectors.linux.yum_files import collect_yum_files
    from tenken.collectors.transport.root import RootTransport
    from test_rpmdb_bdb import DB_LOAD, blobs_of, write_bdb

    if not DB_LOAD:
        pytest.skip("needs db5.3-util")
    root = rhel7(tmp_path)
    want, want_adv = dnfcase.dnf_upgrades(root), dnfcase.dnf_advisories(root)
    write_bdb(blobs_of(root), root / "var/lib/rpm")
    (root / "var/lib/rpm/rpmdb.sqlite").unlink()
    got = collect_yum_files(Probe(RootTransport(root)))
    assert got.computation is not None, got.fallback
    assert dnfcase.ours(got.computation) == want and dnfcase.our_advisories(got.computation) == want_adv
    load_all()
    f = run_collector(COLLECTORS["linux.patches"], RootTransport(root), CollectSettings()).facts
    assert f is not None and f.package_manager == "yum" and f.pending_method == "yum-cache" and f.security_known
    assert {u.name for u in f.pending or []} == {k.rsplit(".", 1)[0] for k in want}
    db = next((root / "var/cache/yum").glob("*/*/rhel-7-server-rpms/gen/primary_db.sqlite"))
    db.write_bytes(db.read_bytes()[:2048])  # cut: never an empty list
    f = run_collector(COLLECTORS["linux.patches"], RootTransport(root), CollectSettings()).facts
    assert f is not None and f.pending is None and "primary_db.sqlite" in f.unavailable["pending"].detail
