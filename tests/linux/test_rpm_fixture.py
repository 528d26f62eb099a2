"""rpm_fixture builds real RHEL 9 roots: real rpm database, real repodata, a real dnf cache. These tests run
the real dnf against them and pin what it does (installed set, updates, excludes, priority, obsoletes,
updateinfo, modular filtering), so the files-only computation can be checked against the same roots."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import rpm_fixture as rf
from rpm_fixture import Advisory, Pkg, Repo

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("rpm", "rpmbuild", "createrepo_c", "modifyrepo_c", "dnf")),
                                reason="needs rpm, rpmbuild, createrepo_c, modifyrepo_c and dnf (tests/run-all.sh installs them)")

BASH_OLD = Pkg("bash", "5.1.8", "6.el9", arch="x86_64")
BASH_NEW = Pkg("bash", "5.1.8", "9.el9", arch="x86_64")
SSL_OLD = Pkg("openssl", "3.0.7", "25.el9", epoch=1, arch="x86_64")
SSL_NEW = Pkg("openssl", "3.0.7", "27.el9", epoch=1, arch="x86_64")
GLIBC32_OLD = Pkg("glibc", "2.34", "100.el9", arch="i686")
GLIBC32_NEW = Pkg("glibc", "2.34", "105.el9", arch="i686")
TZDATA = Pkg("tzdata", "2024a", "1.el9")


def updates(out: str) -> list[tuple[str, str, str]]:
    """(name.arch, [epoch:]version-release, repo) of check-update's update lines, before "Obsoleting Packages"."""
    rows = []
    for line in out.split("Obsoleting Packages")[0].splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def installed(root: Path) -> list[str]:
    res = rf.dnf(root, "list", "--installed")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "Installed Packages", res.stdout
    return sorted(" ".join(line.split()) for line in lines[1:])


def test_dnf_sees_exactly_the_installed_set(tmp_path):
    root = rf.build_root(tmp_path / "root", installed=[BASH_OLD, SSL_OLD, GLIBC32_OLD, TZDATA], repos=[Repo("baseos", ())])
    assert (root / "var/lib/rpm/rpmdb.sqlite").is_file()
    assert not (root / "root/.rpmdb").exists()  # Debian's default dbpath, inside the root: not used
    assert installed(root) == ["bash.x86_64 5.1.8-6.el9 @System", "glibc.i686 2.34-100.el9 @System",
                               "openssl.x86_64 1:3.0.7-25.el9 @System", "tzdata.noarch 2024a-1.el9 @System"]
    assert rf.dnf_installed(root) == ["bash-0:5.1.8-6.el9.x86_64", "glibc-0:2.34-100.el9.i686",
                                      "openssl-1:3.0.7-25.el9.x86_64", "tzdata-0:2024a-1.el9.noarch"]
    # rpm itself reads the same database
    res = subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa", "--qf", "%{NEVRA}\\n"],
                         capture_output=True, text=True, check=True)
    assert sorted(res.stdout.split()) == ["bash-5.1.8-6.el9.x86_64", "glibc-2.34-100.el9.i686",
                                          "openssl-1:3.0.7-25.el9.x86_64", "tzdata-2024a-1.el9.noarch"]


def test_layout_is_a_rhel9_host(tmp_path):
    root = rf.build_root(tmp_path / "root", installed=[BASH_OLD], repos=[Repo("baseos", (BASH_NEW,)),
                                                                          Repo("extra", (), enabled=False)],
                         module_state={"nodejs": ("18", "enabled")})
    assert 'VERSION_ID="9.4"' in (root / "etc/os-release").read_text()
    assert (root / "etc/dnf/dnf.conf").read_text().startswith("[main]\ngpgcheck=0\n")
    repo_file = (root / rf.REPO_FILE).read_text()
    assert f"[baseos]\nname=tenken test repository baseos\nbaseurl={rf.repos_dir(root).as_uri()}/baseos\nenabled=1\n" in repo_file
    assert "[extra]\n" in repo_file and "enabled=0\n" in repo_file
    assert not rf.repos_dir(root).is_relative_to(root)
    assert (root / "etc/dnf/modules.d/nodejs.module").read_text() == (
        "[nodejs]\nname=nodejs\nstream=18\nprofiles=\nstate=enabled\n")
    caches = sorted(p.name for p in (root / "var/cache/dnf").iterdir() if p.is_dir())
    assert len(caches) == 1 and caches[0].startswith("baseos-") and len(caches[0]) == len("baseos-") + 16, caches
    repodata = root / "var/cache/dnf" / caches[0] / "repodata"
    names = sorted(p.name.split("-", 1)[-1] for p in repodata.iterdir())
    assert names == ["filelists.xml.gz", "primary.xml.gz", "repomd.xml"], names  # what dnf fetches by default


def test_check_update_offers_the_newer_packages(tmp_path):
    root = rf.build_root(tmp_path / "root", installed=[BASH_OLD, SSL_OLD, GLIBC32_OLD, TZDATA],
                         repos=[Repo("baseos", (BASH_NEW, SSL_NEW, GLIBC32_NEW, TZDATA))])
    assert updates(rf.dnf_check_update(root)) == [("bash.x86_64", "5.1.8-9.el9", "baseos"),
                                                  ("glibc.i686", "2.34-105.el9", "baseos"),
                                                  ("openssl.x86_64", "1:3.0.7-27.el9", "baseos")]


def test_nothing_to_update_is_empty(tmp_path):
    root = rf.build_root(tmp_path / "root", installed=[BASH_NEW], repos=[Repo("baseos", (BASH_OLD, BASH_NEW))])
    assert rf.dnf_check_update(root).strip() == ""


def test_excluded_not_offered(tmp_path):
    inst = [Pkg("a", "1.0"), Pkg("b", "1.0"), Pkg("c", "1.0"), Pkg("d", "1.0")]
    root = rf.build_root(tmp_path / "root", installed=inst, dnf_conf={"excludepkgs": "b"},
                         repos=[Repo("baseos", (Pkg("a", "1.1"), Pkg("b", "1.1"), Pkg("c", "1.1")), options={"excludepkgs": "c*"}),
                                Repo("appstream", (Pkg("d", "1.1"), Pkg("a", "1.2")), options={"includepkgs": "d"}),
                                Repo("off", (Pkg("a", "9.0"),), enabled=False)])
    assert updates(rf.dnf_check_update(root)) == [("a.noarch", "1.1-1.el9", "baseos"), ("d.noarch", "1.1-1.el9", "appstream")]


def test_priority_repo_wins(tmp_path):
    root = rf.build_root(tmp_path / "root", installed=[Pkg("a", "1.0"), Pkg("b", "1.0")],
                         repos=[Repo("rhel", (Pkg("a", "1.1"),), options={"priority": "10"}),
                                Repo("epel", (Pkg("a", "2.0"), Pkg("b", "2.0")), options={"priority": "99"})])
    # the priority-10 repo carries a, so epel's higher a is not offered; b only exists in epel
    assert updates(rf.dnf_check_update(root)) == [("a.noarch", "1.1-1.el9", "rhel"), ("b.noarch", "2.0-1.el9", "epel")]


def test_updateinfo_security(tmp_path):
    adv = (Advisory("RHSA-2024:1234", packages=(SSL_NEW,)),
           Advisory("RHSA-2024:2000", severity="Moderate", packages=(BASH_NEW,)),
           Advisory("RHBA-2024:3000", type="bugfix", severity="None", packages=(GLIBC32_NEW,)),
           Advisory("RHSA-2024:0100", packages=(Pkg("tzdata", "2023c"),)))  # older than installed: not applicable
    root = rf.build_root(tmp_path / "root", installed=[BASH_OLD, SSL_OLD, GLIBC32_OLD, TZDATA],
                         repos=[Repo("baseos", (BASH_NEW, SSL_NEW, GLIBC32_NEW), advisories=adv)])
    out = rf.dnf_updateinfo_security(root)
    assert [" ".join(line.split()) for line in out.splitlines() if line.strip()] == [
        "RHSA-2024:2000 Moderate/Sec. bash-5.1.8-9.el9.x86_64",
        "RHSA-2024:1234 Important/Sec. openssl-1:3.0.7-27.el9.x86_64"]
    every = rf.dnf(root, "-q", "updateinfo", "list", "--all")
    assert "RHBA-2024:3000" in every.stdout and "RHSA-2024:0100" in every.stdout


def test_obsoleting_package_listed(tmp_path):
    new = Pkg("newtool", "2.0", obsoletes=("oldtool < 2.0",), provides=("oldtool = 2.0",))
    root = rf.build_root(tmp_path / "root", installed=[Pkg("oldtool", "1.0")], repos=[Repo("baseos", (new,))])
    out = rf.dnf_check_update(root)
    after = out.split("Obsoleting Packages\n", 1)[1]
    assert [line.split() for line in after.splitlines() if line.strip()] == [
        ["newtool.noarch", "2.0-1.el9", "baseos"], ["oldtool.noarch", "1.0-1.el9", "@System"]]
    assert after.splitlines()[1].startswith("    oldtool")  # the obsoleted installed package, indented


NODE_INST = Pkg("nodejs", "18.19.0", "1.module+el9.3.0+1+a1b2c3d4", epoch=1, arch="x86_64")
NODE_18 = Pkg("nodejs", "18.20.2", "1.module+el9.4.0+2+a1b2c3d4", epoch=1, arch="x86_64")
NODE_20 = Pkg("nodejs", "20.12.2", "1.module+el9.4.0+3+a1b2c3d4", epoch=1, arch="x86_64")
MODULES = (rf.modulemd("nodejs", "18", "9040020240401000000", "rhel9", "x86_64", [NODE_INST, NODE_18])
           + rf.modulemd("nodejs", "20", "9040020240402000000", "rhel9", "x86_64", [NODE_20]))


@pytest.mark.parametrize(("state", "offered"), [
    ({"nodejs": ("18", "enabled")}, [("nodejs.x86_64", "1:18.20.2-1.module+el9.4.0+2+a1b2c3d4", "appstream")]),
    ({"nodejs": ("20", "enabled")}, [("nodejs.x86_64", "1:20.12.2-1.module+el9.4.0+3+a1b2c3d4", "appstream")]),
    ({"nodejs": ("18", "disabled")}, []),
    (None, []),  # no stream enabled and no default: every modular package is hidden
], ids=["18-enabled", "20-enabled", "disabled", "no-state"])
def test_two_streams_only_enabled_stream_offered(tmp_path, state, offered):
    """Debian's dnf does modular filtering: only the enabled stream's artifacts are offered."""
    root = rf.build_root(tmp_path / "root", installed=[NODE_INST], repos=[Repo("appstream", (NODE_18, NODE_20), modules_yaml=MODULES)],
                         module_state=state)
    assert updates(rf.dnf_check_update(root)) == offered
    listing = rf.dnf(root, "-q", "module", "list", "nodejs").stdout
    mark = {"enabled": "[e]", "disabled": "[x]"}
    for stream in ("18", "20"):
        line = next(" ".join(x.split()) for x in listing.splitlines() if x.startswith(f"nodejs {stream} "))
        if state and (state["nodejs"][0] == stream or state["nodejs"][1] == "disabled"):
            assert mark[state["nodejs"][1]] in line, listing


def test_default_stream_and_module_hotfixes(tmp_path):
    yaml = MODULES + rf.module_defaults("nodejs", "18")
    root = rf.build_root(tmp_path / "d", installed=[NODE_INST], repos=[Repo("appstream", (NODE_18, NODE_20), modules_yaml=yaml)])
    # a default stream counts as enabled for filtering
    assert updates(rf.dnf_check_update(root)) == [("nodejs.x86_64", "1:18.20.2-1.module+el9.4.0+2+a1b2c3d4", "appstream")]
    hot = Pkg("nodejs", "20.99.0", "1.el9", epoch=1, arch="x86_64")
    root = rf.build_root(tmp_path / "h", installed=[NODE_INST], module_state={"nodejs": ("18", "enabled")},
                         repos=[Repo("appstream", (NODE_18, NODE_20), modules_yaml=MODULES),
                                Repo("hotfix", (hot,), options={"module_hotfixes": "1"}),
                                Repo("plain", (Pkg("nodejs", "21.0.0", "1.el9", epoch=1, arch="x86_64"),))])
    # the non-modular nodejs of a plain repo is masked by the module; module_hotfixes=1 lifts that mask
    assert updates(rf.dnf_check_update(root)) == [("nodejs.x86_64", "1:20.99.0-1.el9", "hotfix")]


@pytest.mark.parametrize("compress", ["gz", "xz", "bz2", "zst"])
def test_compression(tmp_path, compress):
    if not rf.compression_supported(compress):
        with pytest.raises(RuntimeError, match="cannot write"):
            rf.build_root(tmp_path / "root", installed=[], repos=[Repo("baseos", ())], compress=compress)
        pytest.skip(f"this createrepo_c cannot write {compress} repodata")
    root = rf.build_root(tmp_path / "root", installed=[SSL_OLD], compress=compress,
                         repos=[Repo("baseos", (SSL_NEW,), advisories=(Advisory("RHSA-2024:1234", packages=(SSL_NEW,)),),
                                     modules_yaml=MODULES)])
    ext = f".{compress}"
    src = sorted(p.name.split("-", 1)[1] for p in (rf.repos_dir(root) / "baseos/repodata").iterdir() if p.name != "repomd.xml")
    assert src == [f"{t}.{'yaml' if t == 'modules' else 'xml'}{ext}" for t in ("filelists", "modules", "other", "primary", "updateinfo")]
    assert updates(rf.dnf_check_update(root)) == [("openssl.x86_64", "1:3.0.7-27.el9", "baseos")]
    assert "RHSA-2024:1234" in rf.dnf_updateinfo_security(root)
    cached = next((root / "var/cache/dnf").glob("baseos-*/repodata"))
    assert any(p.name.endswith(f"primary.xml{ext}") for p in cached.iterdir())


def test_cache_only_and_host_untouched(tmp_path):
    watched = [Path("/var/cache/dnf"), Path("/var/lib/dnf"), Path("/var/log/dnf.log")]

    def snapshot():
        return {str(p): sorted(str(x) for x in p.rglob("*")) if p.is_dir() else p.exists() for p in watched}

    before = snapshot()
    root = rf.build_root(tmp_path / "root", installed=[BASH_OLD], repos=[Repo("baseos", (BASH_NEW,))])
    rf.dnf_check_update(root)
    assert snapshot() == before
    assert (root / "var/log/dnf.log").is_file()
    # -C never reaches the repository: with it gone, the cache alone still answers
    shutil.rmtree(rf.repos_dir(root))
    assert updates(rf.dnf_check_update(root)) == [("bash.x86_64", "5.1.8-9.el9", "baseos")]


def test_uncached_root_has_no_answer_from_dnf_c(tmp_path):
    root = rf.build_root(tmp_path / "root", installed=[BASH_OLD], repos=[Repo("baseos", (BASH_NEW,))], cache=False)
    assert not list((root / "var/cache/dnf").iterdir())
    res = rf.dnf(root, "-q", "check-update")
    assert res.returncode == 1 and "Cache-only enabled but no cache for 'baseos'" in res.stderr, res.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch to nobody")
def test_dnf_works_unprivileged():
    """dnf -C and dnf makecache against a root owned by an unprivileged user, run as that user."""
    top = Path(tempfile.mkdtemp(prefix="tenken-rpm-nobody-"))
    tmp_before = set(Path("/var/tmp").glob("dnf-nobody-*"))
    try:
        os.chmod(top, 0o755)
        root = rf.build_root(top / "root", installed=[BASH_OLD], repos=[Repo("baseos", (BASH_NEW,))], cache=False)
        home = top / "home"
        home.mkdir()
        (home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        conf = home / "makecache.conf"
        conf.write_text((root / "etc/dnf/dnf.conf").read_text().replace("[main]\n", "[main]\ncachedir=/var/cache/dnf\n"))
        subprocess.run(["chown", "-R", "nobody:", str(top)], check=True)
        env = {"HOME": str(home), "PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        make = rf.dnf_command(root, "makecache", cacheonly=False)
        make[make.index("-c") + 1] = str(conf)
        res = subprocess.run([*as_nobody, *make], capture_output=True, text=True, env=env, check=False)
        assert res.returncode == 0, res.stderr
        assert list((root / "var/cache/dnf").glob("baseos-*/repodata/repomd.xml"))
        res = subprocess.run([*as_nobody, *rf.dnf_command(root, "-q", "check-update")], capture_output=True, text=True,
                             env=env, check=False)
        assert res.returncode == 100, res.stderr
        assert updates(res.stdout) == [("bash.x86_64", "5.1.8-9.el9", "baseos")]
    finally:
        for d in set(Path("/var/tmp").glob("dnf-nobody-*")) - tmp_before:  # dnf's per-user lock dir on the host
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)
