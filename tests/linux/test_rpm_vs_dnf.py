"""Pending dnf updates computed from files (collectors/linux/rpm_files.py, rpm_remote.py) against real dnf.

Each case builds a real RHEL 9 root (tests/linux/rpm_fixture.py: rpmbuild packages, rpm database, createrepo_c
repodata, `dnf makecache`) and asks the very same root twice: real `dnf -C check-update` / `updateinfo list
--security`, and tenken's computation through each of its paths — read in-process on a live host, filtered
by the POSIX sh/awk script on a "remote" target, and read from an offline image. All must agree.

The "remote" target here is this machine running the real script, with two pieces of test plumbing: the
script runs in a private mount namespace (`unshare -m`) where the root's /var/cache is bind-mounted at
/var/cache, so it reads the real absolute paths a host has; and `rpm` on its PATH is real rpm pointed
at the root's database (`rpm --root ROOT`). awk, gzip, xz, bzip2 and the framing are real.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from rpm_fixture import Advisory, Pkg, Repo, _env, build_root, dnf_check_update, dnf_updateinfo_security, modulemd
from sshd_fixture import SSHD, ssh_client_key, sshd_factory  # noqa: F401  (fixtures)
from tenken.agent.report import TargetKind
from tenken.agent.scan import scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.linux.rpm_files import collect_rpm_files
from tenken.collectors.linux.rpm_remote import collect_rpm_remote
from tenken.collectors.probe import Probe
from tenken.collectors.registry import COLLECTORS, load_all, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.base import CommandResult
from tenken.collectors.transport.local import run_subprocess
from tenken.collectors.transport.root import RootTransport
from tenken.collectors.transport.ssh import SSHTransport

pytestmark = [
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpm", "rpmbuild", "createrepo_c", "modifyrepo_c", "dnf")),
                       reason="needs rpm, createrepo-c and dnf (tests/run-all.sh installs them)"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="the remote path's script runs in a mount namespace over /var/cache: needs root"),
]


class RootedHost(RootTransport):
    """An image root that can run commands: the files are the root's, `rpm` reads the root's database."""

    can_run = True

    def __init__(self, root: Path, shim: Path, *, remote: bool) -> None:
        super().__init__(root)
        self.is_local = not remote  # type: ignore[misc]
        self.shim = shim
        self.commands: list[list[str]] = []
        self.stdout_bytes = 0
        shim.mkdir(exist_ok=True)
        rpm = shim / "rpm"
        rpm.write_text(f'#!/bin/sh\nexec {shutil.which("rpm")} --root {self.root} "$@"\n', encoding="utf-8")
        rpm.chmod(0o755)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        self.commands.append(list(argv))
        args = list(argv)
        if argv[:2] == ["sh", "-c"]:  # the filter script: the root's dnf cache at the host's path
            args = ["unshare", "-m", "--", "sh", "-c", 'mount --bind "$0" /var/cache && exec "$@"',
                    f"{self.root}/var/cache", *argv]
        env = {**_env(), "PATH": f"{self.shim}:{os.environ['PATH']}"}
        res = run_subprocess(args, timeout, env=env)
        self.stdout_bytes += len(res.stdout)
        return res


# -- what dnf says ----------------------------------------------------------------------------------------------


def dnf_upgrades(root: Path) -> dict[str, str]:
    """{name.arch: candidate EVR} of check-update, obsoleted packages as `name.arch: <obsoleter>`."""
    out: dict[str, str] = {}
    lines = dnf_check_update(root).splitlines()
    obsoleting = False
    last = None
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("Obsoleting Packages"):
            obsoleting = True
            continue
        cols = line.split()
        if not obsoleting:
            out[cols[0]] = cols[1]
        elif line.startswith("    "):
            assert last is not None
            out[cols[0]] = f"<{last}>"
        else:
            last = cols[0].rsplit(".", 1)[0]
    return out


def dnf_advisories(root: Path) -> set[tuple[str, str]]:
    got = set()
    for line in dnf_updateinfo_security(root).splitlines():
        cols = line.split()
        if len(cols) == 3:
            got.add((cols[0], cols[2]))
    return got


def ours(comp) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f"{u.installed.name}.{u.installed.arch}": f"<{u.candidate.name}>" if u.obsoletes else u.candidate.evr
            for u in comp.upgrades}


def our_advisories(comp) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(a.id, re.sub(r"-0:", "-", str(a.package))) for a in comp.advisories}


def every_path(root: Path, tmp: Path) -> dict[str, object]:
    results = {}
    for label, t in (("live host", RootedHost(root, tmp / "shim", remote=False)),
                     ("remote, filtered on the target", RootedHost(root, tmp / "shim", remote=True)),
                     ("offline image", RootTransport(root))):
        p = Probe(t)
        got = collect_rpm_files(p) if label != "remote, filtered on the target" else collect_rpm_remote(p)
        assert got.computation is not None, (label, got.fallback)
        results[label] = got.computation
    return results


def assert_agrees(root: Path, tmp: Path) -> dict[str, str]:
    want, want_adv = dnf_upgrades(root), dnf_advisories(root)
    for label, comp in every_path(root, tmp).items():
        assert ours(comp) == want, label
        assert our_advisories(comp) == want_adv, label
    return want


# -- the cases ----------------------------------------------------------------------------------------------------

X = "x86_64"


def base_case(tmp_path: Path, **kw: object) -> Path:
    installed = [
        Pkg("bash", "5.1.8", "6.el9", arch=X), Pkg("openssl", "3.0.7", "25.el9", epoch=1, arch=X),
        Pkg("glibc", "2.34", "100.el9", arch=X), Pkg("glibc", "2.34", "100.el9", arch="i686"),
        Pkg("kernel", "5.14.0", "362.el9", arch=X), Pkg("kernel", "5.14.0", "427.el9", arch=X),
        Pkg("tzdata", "2024a", "1.el9"), Pkg("oldtool", "1.0"), Pkg("curl", "7.76.1", "26.el9", arch=X),
        Pkg("vendor-agent", "1.0", "1", arch=X),
    ]
    baseos = Repo("baseos", (
        Pkg("bash", "5.1.8", "9.el9", arch=X), Pkg("bash", "5.1.8", "8.el9", arch=X), Pkg("bash", "6.0", "1.el9", arch="i686"),
        Pkg("openssl", "3.0.7", "27.el9", epoch=1, arch=X), Pkg("glibc", "2.34", "105.el9", arch=X),
        Pkg("glibc", "2.34", "105.el9", arch="i686"), Pkg("kernel", "5.14.0", "427.el9", arch=X),
        Pkg("tzdata", "2024b", "1.el9"), Pkg("newtool", "2.0", obsoletes=("oldtool < 2.0",)),
        Pkg("curl", "7.76.1", "29.el9", arch=X),
    ), advisories=(
        Advisory("RHSA-2024:1234", packages=(Pkg("openssl", "3.0.7", "27.el9", epoch=1, arch=X),)),
        Advisory("RHSA-2023:0001", severity="Low", packages=(Pkg("bash", "5.1.8", "5.el9", arch=X),)),  # already fixed
        Advisory("RHBA-2024:0002", type="bugfix", packages=(Pkg("curl", "7.76.1", "29.el9", arch=X),)),
        Advisory("RHSA-2024:2000", severity="Moderate", packages=(Pkg("glibc", "2.34", "105.el9", arch=X),
                                                                   Pkg("glibc", "2.34", "105.el9", arch="i686"))),
    ))
    vendor = Repo("vendor", (Pkg("vendor-agent", "1.5", "1", arch=X),), options={"priority": "10"})
    epel = Repo("epel", (Pkg("vendor-agent", "2.0", "1", arch=X), Pkg("curl", "8.0", "1.el9", arch=X)),
                options={"excludepkgs": "curl*"})
    disabled = Repo("testing", (Pkg("bash", "9.9", "1.el9", arch=X),), enabled=False)
    return build_root(tmp_path / "root", installed=installed, repos=[baseos, vendor, epel, disabled], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("compress", ["gz", "xz", "bz2"])
def test_upgrades_obsoletes_priority_excludes_and_advisories_match_dnf(tmp_path: Path, compress: str) -> None:
    root = base_case(tmp_path, compress=compress, dnf_conf={"excludepkgs": "kernel*"})
    want = assert_agrees(root, tmp_path)
    # what the case is about, so an agreement on nothing cannot pass
    assert want["openssl.x86_64"] == "1:3.0.7-27.el9" and want["vendor-agent.x86_64"] == "1.5-1"
    assert want["oldtool.noarch"] == "<newtool>" and "kernel.x86_64" not in want and "curl.x86_64" in want
    assert want["bash.x86_64"] == "5.1.8-9.el9"


def test_priority_counts_per_name_whatever_the_arch(tmp_path: Path) -> None:
    """A better-priority repository with the name only for x86_64 hides another repository's newer i686
    build of it: dnf lists nothing (and so must tenken)."""
    root = build_root(tmp_path / "root", installed=[Pkg("foo", "1.0", "1", arch="i686")],
                      repos=[Repo("a", (Pkg("foo", "2.0", "1", arch=X),), options={"priority": "10"}),
                             Repo("b", (Pkg("foo", "3.0", "1", arch="i686"),))])
    assert assert_agrees(root, tmp_path) == {}


def test_without_the_main_exclude_the_kernel_is_still_current(tmp_path: Path) -> None:
    root = base_case(tmp_path)
    assert "kernel.x86_64" not in assert_agrees(root, tmp_path)  # the newest installed kernel equals the repo's


def _nodejs_repos() -> list[Repo]:
    n18 = [Pkg("nodejs", "18.19.0", "1.module+el9.4.0+1", epoch=1, arch=X), Pkg("nodejs", "18.20.2", "1.module+el9.4.0+2", epoch=1, arch=X)]
    n20 = [Pkg("nodejs", "20.12.2", "1.module+el9.4.0+3", epoch=1, arch=X)]
    plain = Pkg("nodejs", "16.20.2", "4.el9", epoch=1, arch=X)
    yaml = modulemd("nodejs", "18", "9040020240101", "rhel9", X, n18) + modulemd("nodejs", "20", "9040020240102", "rhel9", X, n20)
    adv = Advisory("RHSA-2024:3000", packages=(n20[0],), module=("nodejs", "20", "9040020240102", "rhel9", X))
    return [Repo("appstream", (*n18, *n20, plain), modules_yaml=yaml, advisories=(adv,))]


@pytest.mark.parametrize("state", [None, ("18", "enabled"), ("20", "enabled"), ("", "disabled")])
def test_module_streams_filter_as_dnf_does(tmp_path: Path, state: tuple[str, str] | None) -> None:
    installed = [Pkg("nodejs", "18.19.0", "1.module+el9.4.0+1", epoch=1, arch=X) if state and state[0] == "18"
                 else Pkg("nodejs", "16.20.1", "1.el9", epoch=1, arch=X)]
    root = build_root(tmp_path / "root", installed=installed, repos=_nodejs_repos(),
                      module_state={"nodejs": state} if state else None)
    want = assert_agrees(root, tmp_path)
    expected = {None: "1:16.20.2-4.el9", ("18", "enabled"): "1:18.20.2-1.module+el9.4.0+2",
                ("20", "enabled"): "1:20.12.2-1.module+el9.4.0+3", ("", "disabled"): "1:16.20.2-4.el9"}[state]
    assert want.get("nodejs.x86_64") == expected


def test_the_patches_collector_uses_the_files_and_never_runs_dnf(tmp_path: Path) -> None:
    root = base_case(tmp_path)
    load_all()
    spec = COLLECTORS["linux.patches"]
    for remote in (False, True):
        t = RootedHost(root, tmp_path / "shim", remote=remote)
        got = run_collector(spec, t, CollectSettings())
        f = got.facts
        assert f is not None and f.pending_method == ("dnf-repodata-remote" if remote else "dnf-repodata"), f
        # no check-update / updateinfo (`dnf history list` may run: this root has no dnf log or history db)
        assert not any(c[0] in ("dnf", "yum") and {"check-update", "updateinfo"} & set(c) for c in t.commands), t.commands
        assert {u.name: u.security for u in f.pending or []}["openssl"] is True
        assert {a.id for a in f.advisories} == {"RHSA-2024:1234", "RHSA-2024:2000"}
        assert "baseos, vendor, epel" in (f.pending_source or "")
        # the index age comes from the caches the list was computed from
        newest = max(d.stat().st_mtime for d in (root / "var/cache/dnf").glob("*-*/repodata/repomd.xml")
                     if not d.parts[-3].startswith("testing-"))
        assert f.index_refreshed_at is not None and abs(f.index_refreshed_at.timestamp() - newest) < 1, f.index_source
    offline = run_collector(spec, RootTransport(root), CollectSettings()).facts
    assert offline is not None and offline.pending_method == "dnf-repodata" and offline.pending


def test_remote_filtering_sends_back_a_fraction_of_the_metadata(tmp_path: Path) -> None:
    many = tuple(Pkg(f"pkg{i:04d}", "1.0", "1.el9", arch=X) for i in range(400))
    root = build_root(tmp_path / "root", installed=[Pkg("bash", "5.1.8", "6.el9", arch=X)],
                      repos=[Repo("baseos", (*many, Pkg("bash", "5.1.8", "9.el9", arch=X)))], cache=True)
    t = RootedHost(root, tmp_path / "shim", remote=True)
    got = collect_rpm_remote(Probe(t))
    assert got.computation is not None and ours(got.computation) == {"bash.x86_64": "5.1.8-9.el9"}
    assert [c[:2] for c in t.commands] == [["sh", "-c"]]  # one command: no dnf, no second round trip
    primary = next((root / "var/cache/dnf").glob("baseos-*/repodata/*-primary.xml.gz"))
    assert t.stdout_bytes < primary.stat().st_size / 3, (t.stdout_bytes, primary.stat().st_size)


def test_damaged_metadata_is_never_an_empty_pending_list(tmp_path: Path) -> None:
    root = base_case(tmp_path)
    primary = next((root / "var/cache/dnf").glob("baseos-*/repodata/*-primary.xml.gz"))
    data = primary.read_bytes()
    primary.write_bytes(data[: len(data) // 2])  # cut, as by a full disk
    for label, t in (("remote", RootedHost(root, tmp_path / "shim", remote=True)), ("offline", RootTransport(root))):
        got = (collect_rpm_remote if label == "remote" else collect_rpm_files)(Probe(t))
        assert got.computation is None and got.fallback, label
        assert "primary" in got.fallback, (label, got.fallback)
    offline = run_collector(COLLECTORS["linux.patches"], RootTransport(root), CollectSettings())
    assert offline.facts is not None and offline.facts.pending is None
    assert "primary" in offline.facts.unavailable["pending"].detail


def test_an_enabled_repository_never_cached_is_reported_not_skipped(tmp_path: Path) -> None:
    root = build_root(tmp_path / "root", installed=[Pkg("bash", "5.1.8", "6.el9", arch=X)],
                      repos=[Repo("baseos", (Pkg("bash", "5.1.8", "9.el9", arch=X),))], cache=False)
    got = collect_rpm_files(Probe(RootTransport(root)))
    assert got.computation is None and "baseos" in (got.fallback or "") and "makecache" in (got.fallback or "")


# -- over real SSH, through the whole scan ------------------------------------------------------------------------

# sshd runs in its own mount namespace where this machine looks like the RHEL root: the root's /etc over
# the host's (a read-only overlay: os-release, yum.repos.d), exactly its /etc/dnf, /var/lib (rpm database,
# dnf history), /var/cache (dnf's cache) and /var/log, and its rpm database also where this machine's rpm
# reads it (Debian's rpm: /root/.rpmdb, then on a tmpfs /root). Every session sshd starts
# inherits that view; the scan itself is the real agent path: planning pass, one script, real framing.
NAMESPACE = """set -e
mount -t overlay tenken-rhel -o "lowerdir=$ROOT/etc:/etc" /etc
for d in etc/dnf var/lib var/cache var/log; do mount --bind "$ROOT/$d" "/$d"; done
db=$(rpm --eval %_dbpath)
case $db in
/var/lib/rpm) ;;
/root/*) mount -t tmpfs tenken-home /root && mkdir -p "$db" && mount --bind "$ROOT/var/lib/rpm" "$db" ;;
*) mount --bind "$ROOT/var/lib/rpm" "$db" ;;
esac
exec "$@"
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path(SSHD).exists(), reason="needs OpenSSH sshd")
def test_an_ssh_scan_computes_dnf_updates_on_the_scanner_in_three_round_trips(tmp_path: Path, sshd_factory) -> None:  # noqa: F811
    root = base_case(tmp_path)
    want = dnf_upgrades(root)
    (root / "var/log/dnf.rpm.log").write_text("2024-03-01T10:15:03+0000 SUBDEBUG Upgrade: bash-5.1.8-6.el9.x86_64\n",
                                              encoding="utf-8")
    server = sshd_factory(prefix=("env", f"ROOT={root}", "unshare", "-m", "--propagation", "private", "--",
                                  "sh", "-c", NAMESPACE, "sh"))
    t = SSHTransport(server.host, port=server.port, username="root", identity=str(server.client_key),
                     known_hosts=str(server.known_hosts), use_agent=False).connect()
    try:
        result = scan_host(t, load_policy(), kind=TargetKind.SSH)
    finally:
        t.close()
    assert result.ok
    f = result.facts["linux.patches"]
    assert f is not None and f.package_manager == "dnf" and f.pending_method == "dnf-repodata-remote", f
    got = {u.name: u.candidate for u in f.pending or []}
    assert got.keys() == {k.rsplit(".", 1)[0] for k in want}, (got, want)
    assert got["openssl"] == want["openssl.x86_64"] and got["oldtool"] is not None
    assert {a.id for a in f.advisories} == {"RHSA-2024:1234", "RHSA-2024:2000"}
    assert result.info.round_trips <= 3, result.info.collection
    # the packages were installed (rpm --justdb) after this machine booted: needs-restarting -r's rule says reboot
    assert f.kernel.needs_restarting is True and {"glibc", "kernel"} <= set(f.kernel.updated_since_boot), f.kernel
    assert f.last_upgrade_source == "/var/log/dnf.rpm.log"
    assert any(x.check_id.startswith("linux.patches") and x.status.value == "fail" for x in result.findings)


def test_reboot_is_needed_when_a_core_package_was_installed_after_the_boot(tmp_path: Path) -> None:
    """needs-restarting -r's rule on real rpm install times: the boot time decides, site additions count."""
    root = build_root(tmp_path / "root", installed=[Pkg("glibc", "2.34", "100.el9", arch=X), Pkg("bash", "5.1.8", "6.el9", arch=X)],
                      repos=[], cache=False)
    (root / "proc/1").mkdir(parents=True)
    load_all()
    spec = COLLECTORS["linux.patches"]

    def kernel(boot: int):  # type: ignore[no-untyped-def]
        (root / "proc/stat").write_text(f"cpu  1 2 3\nbtime {boot}\nprocesses 9\n", encoding="utf-8")
        os.utime(root / "proc/1", (boot - 5, boot - 5))
        f = run_collector(spec, RootedHost(root, tmp_path / "shim", remote=False), CollectSettings()).facts
        assert f is not None
        return f.kernel

    later = kernel(int(time.time()) + 3600)  # booted after the packages were installed
    assert later.needs_restarting is False and later.updated_since_boot == []
    earlier = kernel(1_000_000)
    assert earlier.needs_restarting is True and earlier.updated_since_boot == ["glibc"]  # bash is no core package
    conf = root / "etc/dnf/plugins/needs-restarting.d"
    conf.mkdir(parents=True)
    (conf / "site.conf").write_text("bash\nnot-installed-here\n", encoding="utf-8")
    assert kernel(1_000_000).updated_since_boot == ["bash", "glibc"]
    (root / "proc/stat").unlink()
    # /proc/1 alone still gives a boot time (the later of the two sources: here the only one)
    f = run_collector(spec, RootedHost(root, tmp_path / "shim", remote=False), CollectSettings()).facts
    assert f is not None and f.kernel.needs_restarting is True


def test_zstd_repodata_is_read_like_gzip(tmp_path: Path) -> None:
    """createrepo_c 1.0+ writes zstd by default (Fedora 39+, newer RHEL-family mirrors). This createrepo_c is
    older, so the cached gzip metadata is re-encoded as zstd (libzstd) and repomd.xml pointed at it: every path
    (libzstd through ctypes in process, the target's `zstd` in the remote script) must still agree with what dnf
    said of the same content."""
    from test_apt_lists import zstd_compress

    if not shutil.which("zstd"):
        pytest.skip("needs zstd (tests/run-all.sh installs it)")
    root = base_case(tmp_path)
    want, want_adv = dnf_upgrades(root), dnf_advisories(root)
    n = 0
    for gz in (root / "var/cache/dnf").glob("*-*/repodata/*.gz"):
        zst = gz.with_name(gz.name.removesuffix(".gz") + ".zst")
        zst.write_bytes(zstd_compress(gzip.decompress(gz.read_bytes())))
        gz.unlink()
        repomd = gz.parent / "repomd.xml"
        repomd.write_text(repomd.read_text(encoding="utf-8").replace(gz.name, zst.name), encoding="utf-8")
        n += 1
    assert n >= 4  # primary and updateinfo of baseos at least, primaries of the others
    for label, comp in every_path(root, tmp_path).items():
        assert ours(comp) == want, label
        assert our_advisories(comp) == want_adv, label


EDGES = {
    "noarch becomes x86_64": ([Pkg("a", "1.0", "1")], [Repo("r", (Pkg("a", "2.0", "1", arch=X),))], {}),
    "x86_64 becomes noarch": ([Pkg("b", "1.0", "1", arch=X)], [Repo("r", (Pkg("b", "2.0", "1"),))], {}),
    "only another arch is newer": ([Pkg("c", "1.0", "1", arch=X)], [Repo("r", (Pkg("c", "2.0", "1", arch="i686"),))], {}),
    "epoch beats version": ([Pkg("d", "2.0", "1", arch=X)], [Repo("r", (Pkg("d", "1.0", "1", epoch=1, arch=X),))], {}),
    "exclude by arch glob": ([Pkg("e", "1.0", "1", arch=X), Pkg("e", "1.0", "1", arch="i686")],
                             [Repo("r", (Pkg("e", "2.0", "1", arch=X), Pkg("e", "2.0", "1", arch="i686")),
                                   options={"exclude": "*.i686"})], {}),
    "exclude by version glob": ([Pkg("f", "1.0", "1", arch=X)],
                                [Repo("r", (Pkg("f", "2.0", "1", arch=X), Pkg("f", "1.5", "1", arch=X)), options={"exclude": "f-2*"})], {}),
    "includepkgs": ([Pkg("g", "1.0", "1", arch=X), Pkg("h", "1.0", "1", arch=X)],
                    [Repo("r", (Pkg("g", "2.0", "1", arch=X), Pkg("h", "2.0", "1", arch=X)), options={"includepkgs": "g"})], {}),
    "unversioned obsoletes": ([Pkg("old", "1.0", "1", arch=X)], [Repo("r", (Pkg("new", "1.0", "1", arch=X, obsoletes=("old",)),))], {}),
    "obsoletes not matching": ([Pkg("old2", "3.0", "1", arch=X)],
                               [Repo("r", (Pkg("new2", "1.0", "1", arch=X, obsoletes=("old2 < 2.0",)),))], {}),
    "obsoletes=0": ([Pkg("old3", "1.0", "1", arch=X)], [Repo("r", (Pkg("new3", "1.0", "1", arch=X, obsoletes=("old3",)),))],
                    {"obsoletes": "0"}),
    "tilde is older": ([Pkg("t", "1.0", "1", arch=X)], [Repo("r", (Pkg("t", "1.0~rc1", "1", arch=X),))], {}),
    "caret is newer": ([Pkg("u", "1.0", "1", arch=X)], [Repo("r", (Pkg("u", "1.0^git1", "1", arch=X),))], {}),
    "equal priorities: the newest": ([Pkg("v", "1.0", "1", arch=X)],
                                     [Repo("r", (Pkg("v", "2.0", "1", arch=X),)), Repo("q", (Pkg("v", "3.0", "1", arch=X),))], {}),
}


@pytest.mark.parametrize("case", list(EDGES))
def test_edge_cases_agree_with_dnf(tmp_path: Path, case: str) -> None:
    installed, repos, conf = EDGES[case]
    root = build_root(tmp_path / "root", installed=installed, repos=repos, dnf_conf=conf)
    want = {k.rsplit(".", 1)[0]: v for k, v in dnf_upgrades(root).items()}  # dnf names the candidate's arch
    for label, comp in every_path(root, tmp_path).items():
        assert {k.rsplit(".", 1)[0]: v for k, v in ours(comp).items()} == want, label


ADVISORY_EDGES = {
    "the installed build itself": ([Pkg("a", "1.0", "2", arch=X)], (Pkg("a", "1.0", "3", arch=X),),
                                   (Advisory("RHSA-1", packages=(Pkg("a", "1.0", "2", arch=X),)),), {}),
    "another arch only": ([Pkg("b", "1.0", "1", arch=X)], (Pkg("b", "2.0", "1", arch=X),),
                          (Advisory("RHSA-2", packages=(Pkg("b", "2.0", "1", arch="i686"),)),), {}),
    "fixed build not in the repository": ([Pkg("c", "1.0", "1", arch=X)], (Pkg("c", "1.5", "1", arch=X),),
                                          (Advisory("RHSA-3", packages=(Pkg("c", "2.0", "1", arch=X),)),), {}),
    "older than the candidate": ([Pkg("d", "1.0", "1", arch=X)], (Pkg("d", "3.0", "1", arch=X),),
                                 (Advisory("RHSA-4", packages=(Pkg("d", "2.0", "1", arch=X),)),), {}),
    "a package not installed": ([Pkg("e", "1.0", "1", arch=X)], (Pkg("e", "1.0", "1", arch=X), Pkg("z", "2.0", "1", arch=X)),
                                (Advisory("RHSA-5", packages=(Pkg("z", "2.0", "1", arch=X),)),), {}),
    "noarch": ([Pkg("f", "1.0", "1")], (Pkg("f", "2.0", "1"),), (Advisory("RHSA-6", packages=(Pkg("f", "2.0", "1"),)),), {}),
    "epoch": ([Pkg("g", "2.0", "1", arch=X)], (Pkg("g", "1.0", "1", epoch=1, arch=X),),
              (Advisory("RHSA-7", packages=(Pkg("g", "1.0", "1", epoch=1, arch=X),)),), {}),
    "the candidate excluded": ([Pkg("h", "1.0", "1", arch=X)], (Pkg("h", "2.0", "1", arch=X),),
                               (Advisory("RHSA-8", packages=(Pkg("h", "2.0", "1", arch=X),)),), {"exclude": "h"}),
}


@pytest.mark.parametrize("case", list(ADVISORY_EDGES))
def test_advisory_edge_cases_agree_with_dnf(tmp_path: Path, case: str) -> None:
    installed, packages, advisories, options = ADVISORY_EDGES[case]
    root = build_root(tmp_path / "root", installed=installed, repos=[Repo("r", packages, advisories=advisories, options=options)])
    want = dnf_advisories(root)
    for label, comp in every_path(root, tmp_path).items():
        assert our_advisories(comp) == want, label
