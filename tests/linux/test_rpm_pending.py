"""The dnf pending-updates computation (collectors/linux/rpm_pending.py) and its parsers, case by case.

The same computation is checked against real dnf on real repodata in test_rpm_vs_dnf.py; here each rule
dnf applies (modular filtering, excludes, priority, obsoletes, arch, advisories) is pinned on its own, and
rpm's own version comparison (rpm's Lua `rpm.vercmp`) is the reference for the ordering.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.collectors.linux.rpm_pending import RepoInput, compute
from tenken.collectors.linux.rpm_repodata import (
    Dep,
    Modules,
    ModuleStream,
    Nevra,
    RepodataError,
    RepoPackage,
    UpdateAdvisory,
    parse_modules,
    parse_primary,
    parse_repomd,
    parse_updateinfo,
)
from tenken.collectors.linux.rpm_repos import (
    MainConf,
    ModuleState,
    RepoConf,
    parse_dnf_ini,
    parse_main,
    parse_repo_file,
)
from tenken.collectors.linux.rpmvercmp import vercmp


def N(s: str) -> Nevra:
    """`name-[e:]v-r.arch` -> Nevra."""
    rest, _, arch = s.rpartition(".")
    name, ver, rel = rest.rsplit("-", 2)
    epoch, _, ver = ver.rpartition(":")
    return Nevra(name, int(epoch or 0), ver, rel, arch)


def repo(rid: str, *pkgs: str | RepoPackage, priority: int = 99, modules: Modules | None = None,
         advisories: list[UpdateAdvisory] | None = None, **opts: object) -> RepoInput:
    packages = [p if isinstance(p, RepoPackage) else RepoPackage(N(p)) for p in pkgs]
    return RepoInput(RepoConf(rid, True, f"/etc/yum.repos.d/{rid}.repo", priority=priority, **opts), packages,  # type: ignore[arg-type]
                     advisories or [], modules)


def pending(installed: list[str], repos: list[RepoInput], main: MainConf | None = None,
            modules: dict[str, ModuleState] | None = None) -> dict[str, str]:
    comp = compute([N(i) for i in installed], repos, main or MainConf(), modules or {})
    return {f"{u.installed.name}.{u.installed.arch}": str(u.candidate) for u in comp.upgrades}


# -- version ordering against rpm itself --------------------------------------------------------------------

_VERSION = st.text(alphabet="0123456789abcz.~^_+", min_size=1, max_size=8)


@pytest.mark.skipif(shutil.which("rpm") is None, reason="needs rpm (Debian package rpm)")
@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(_VERSION, _VERSION), min_size=200, max_size=200))
def test_vercmp_orders_as_rpm_itself(pairs: list[tuple[str, str]]) -> None:
    lua = " ".join(f"%{{lua: print(rpm.vercmp('{a}', '{b}'))}}" for a, b in pairs)
    out = subprocess.run(["rpm", "--eval", lua], capture_output=True, text=True, check=True).stdout.split()
    ours = [str(vercmp(a, b)) for a, b in pairs]
    assert ours == out, [(p, o, r) for p, o, r in zip(pairs, ours, out, strict=True) if o != r][:5]


# -- the rules ------------------------------------------------------------------------------------------------


def test_newest_candidate_of_the_same_arch_or_noarch_is_pending() -> None:
    got = pending(
        ["bash-5.1.8-6.el9.x86_64", "glibc-2.34-60.el9.x86_64", "glibc-2.34-60.el9.i686", "tzdata-2023c-1.el9.noarch",
         "kernel-5.14.0-362.el9.x86_64", "kernel-5.14.0-427.el9.x86_64"],
        [repo("baseos", "bash-5.1.8-9.el9.x86_64", "bash-5.1.8-8.el9.x86_64", "glibc-2.34-100.el9.x86_64",
              "glibc-2.34-100.el9.i686", "tzdata-2024a-1.el9.noarch", "kernel-5.14.0-427.el9.x86_64",
              "bash-6.0-1.el9.i686")],
    )
    assert got == {
        "bash.x86_64": "bash-5.1.8-9.el9.x86_64",  # not the newer i686 build
        "glibc.x86_64": "glibc-2.34-100.el9.x86_64", "glibc.i686": "glibc-2.34-100.el9.i686",
        "tzdata.noarch": "tzdata-2024a-1.el9.noarch",
    }  # kernel: the newest installed equals the newest available


def test_epoch_outranks_version_and_a_noarch_switch_is_an_upgrade() -> None:
    got = pending(["perl-Foo-2.0-1.el9.x86_64", "bar-1:1.0-1.el9.noarch"],
                  [repo("appstream", "perl-Foo-2.1-1.el9.noarch", "bar-9.0-1.el9.noarch", "bar-1:1.1-1.el9.noarch")])
    assert got == {"perl-Foo.x86_64": "perl-Foo-2.1-1.el9.noarch", "bar.noarch": "bar-1:1.1-1.el9.noarch"}


def test_excludes_of_main_and_of_the_repository_and_includepkgs() -> None:
    inst = ["kernel-5.14.0-1.el9.x86_64", "openssl-3.0.7-1.el9.x86_64", "curl-7.76-1.el9.x86_64"]
    avail = ["kernel-5.14.0-2.el9.x86_64", "openssl-3.0.7-2.el9.x86_64", "curl-7.76-2.el9.x86_64"]
    assert set(pending(inst, [repo("baseos", *avail)])) == {"kernel.x86_64", "openssl.x86_64", "curl.x86_64"}
    assert set(pending(inst, [repo("baseos", *avail)], MainConf(excludes=("kernel*",)))) == {"openssl.x86_64", "curl.x86_64"}
    assert set(pending(inst, [repo("baseos", *avail, excludes=("openssl-3.0.7-2*",))])) == {"kernel.x86_64", "curl.x86_64"}
    assert set(pending(inst, [repo("baseos", *avail, includes=("curl",))])) == {"curl.x86_64"}


def test_a_better_priority_repository_hides_newer_versions_elsewhere() -> None:
    inst = ["nginx-1.20-1.el9.x86_64"]
    repos = [repo("vendor", "nginx-1.22-1.el9.x86_64", priority=10), repo("epel", "nginx-1.26-1.el9.x86_64")]
    assert pending(inst, repos) == {"nginx.x86_64": "nginx-1.22-1.el9.x86_64"}
    assert pending(inst, [repo("vendor", "nginx-1.22-1.el9.x86_64"), repo("epel", "nginx-1.26-1.el9.x86_64")]) == {
        "nginx.x86_64": "nginx-1.26-1.el9.x86_64"}


def test_obsoletes_replace_an_installed_package_within_the_version_range() -> None:
    new = RepoPackage(N("python3-dnf-4.14-1.el9.noarch"), (Dep("dnf-python3", "LT", 0, "4.0"),))
    inst = ["dnf-python3-3.9-1.el9.noarch"]
    comp = compute([N(i) for i in inst], [repo("baseos", new)], MainConf())
    assert [(u.installed.name, u.candidate.name, u.obsoletes) for u in comp.upgrades] == [("dnf-python3", "python3-dnf", True)]
    assert compute([N("dnf-python3-4.1-1.el9.noarch")], [repo("baseos", new)], MainConf()).upgrades == []  # outside the range
    assert compute([N(i) for i in inst], [repo("baseos", new)], MainConf(obsoletes=False)).upgrades == []


def _nodejs_modules() -> Modules:
    a = ModuleStream("nodejs", "18", "1", "c1", frozenset({"nodejs-1:18.19.0-1.module+el9.x86_64", "nodejs-1:18.20.0-1.module+el9.x86_64"}))
    b = ModuleStream("nodejs", "20", "1", "c1", frozenset({"nodejs-1:20.11.0-1.module+el9.x86_64"}))
    return Modules([a, b], {})


def test_modular_filtering_shows_only_the_active_stream() -> None:
    pkgs = ("nodejs-1:16.20.2-1.el9.x86_64", "nodejs-1:18.19.0-1.module+el9.x86_64", "nodejs-1:18.20.0-1.module+el9.x86_64",
            "nodejs-1:20.11.0-1.module+el9.x86_64")
    plain = ["nodejs-1:16.20.1-1.el9.x86_64"]
    mods = _nodejs_modules()
    # no stream enabled (RHEL 9 has no default streams): only the non-modular build is offered
    assert pending(plain, [repo("appstream", *pkgs, modules=mods)]) == {"nodejs.x86_64": "nodejs-1:16.20.2-1.el9.x86_64"}
    # stream 18 enabled: its newest build; the non-modular nodejs and stream 20 are hidden
    inst18 = ["nodejs-1:18.19.0-1.module+el9.x86_64"]
    on18 = {"nodejs": ModuleState("nodejs", "18", "enabled")}
    assert pending(inst18, [repo("appstream", *pkgs, modules=mods)], modules=on18) == {
        "nodejs.x86_64": "nodejs-1:18.20.0-1.module+el9.x86_64"}
    # a default stream counts as active while the module has no recorded state, not once it is disabled
    with_default = Modules(mods.streams, {"nodejs": "20"})
    assert pending(inst18, [repo("appstream", *pkgs, modules=with_default)]) == {"nodejs.x86_64": "nodejs-1:20.11.0-1.module+el9.x86_64"}
    off = {"nodejs": ModuleState("nodejs", None, "disabled")}
    assert pending(plain, [repo("appstream", *pkgs, modules=with_default)], modules=off) == {
        "nodejs.x86_64": "nodejs-1:16.20.2-1.el9.x86_64"}
    # module_hotfixes: that repository's packages are never filtered
    hot = repo("hotfix", "nodejs-1:18.20.9-1.el9.x86_64", module_hotfixes=True)
    assert pending(inst18, [repo("appstream", *pkgs, modules=mods), hot], modules=on18) == {"nodejs.x86_64": "nodejs-1:18.20.9-1.el9.x86_64"}


def test_security_advisories_apply_only_to_older_installed_packages() -> None:
    adv = [UpdateAdvisory("RHSA-2024:0001", "security", "Important", (N("openssl-1:3.0.7-27.el9.x86_64"),)),
           UpdateAdvisory("RHSA-2023:0002", "security", "Low", (N("openssl-1:3.0.7-20.el9.x86_64"),)),
           UpdateAdvisory("RHSA-2024:0003", "security", "Moderate", (N("nodejs-1:20.11.0-1.module+el9.x86_64"),), ("nodejs", "20"))]
    comp = compute([N("openssl-1:3.0.7-24.el9.x86_64"), N("nodejs-1:16.20.1-1.el9.x86_64")],
                   [repo("baseos", "openssl-1:3.0.7-27.el9.x86_64", advisories=adv)], MainConf(), {})
    assert [a.id for a in comp.advisories] == ["RHSA-2024:0001"]  # already-installed fix and inactive stream left out
    assert [(u.installed.name, u.security) for u in comp.upgrades] == [("openssl", True)]


# -- parsers ----------------------------------------------------------------------------------------------------

PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>a</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="1.0" rel="1.el9"/>
  <packager>Someone &lt;a@example.org&gt;</packager>
  <format>
    <rpm:provides><rpm:entry name="a" flags="EQ" epoch="0" ver="1.0" rel="1.el9"/></rpm:provides>
    <rpm:obsoletes>
      <rpm:entry name="old-a" flags="LT" epoch="0" ver="1.0"/>
    </rpm:obsoletes>
  </format>
</package>
<package type="rpm">
  <name>b</name>
  <arch>noarch</arch>
  <version epoch="2" ver="3" rel="4"/>
</package>
</metadata>
"""


def test_primary_parses_in_any_pieces_and_refuses_a_wrong_count() -> None:
    whole = parse_primary([PRIMARY])
    assert [str(p.nevra) for p in whole.packages] == ["a-1.0-1.el9.x86_64", "b-2:3-4.noarch"]
    assert whole.packages[0].obsoletes == (Dep("old-a", "LT", 0, "1.0", None),)
    pieces = [PRIMARY[i:i + 7] for i in range(0, len(PRIMARY), 7)]
    assert parse_primary(pieces).packages == whole.packages
    assert [p.nevra.name for p in parse_primary([PRIMARY], {"old-a"}).packages] == ["a"]  # kept as an obsoleter
    with pytest.raises(RepodataError, match="declares 3 packages but holds 2"):
        parse_primary([PRIMARY.replace(b'packages="2"', b'packages="3"')])
    with pytest.raises(RepodataError, match="no <metadata"):
        parse_primary([PRIMARY[PRIMARY.index(b"<package"):]])


def test_no_entity_of_a_hostile_file_is_ever_expanded() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    doc = bomb + PRIMARY.split(b"?>", 1)[1].replace(b"<name>b</name>", b"<name>&b;</name>")
    got = parse_primary([doc])
    assert got.packages[1].nevra.name == "&b;"  # left as written, never expanded


def test_repomd_hrefs_must_stay_inside_the_repository() -> None:
    md = b'<repomd><data type="primary"><location href="repodata/x-primary.xml.gz"/></data></repomd>'
    assert parse_repomd(md) == {"primary": "repodata/x-primary.xml.gz"}
    with pytest.raises(RepodataError):
        parse_repomd(md.replace(b"repodata/x", b"../../etc/x"))
    with pytest.raises(RepodataError):
        parse_repomd(b"<repomd></repomd>")


def test_updateinfo_keeps_security_advisories_of_wanted_names() -> None:
    xml = b"""<updates>
  <update from="security@redhat.com" status="final" type="security" version="2">
    <id>RHSA-2024:1234</id>
    <title>Important: openssl security update</title>
    <severity>Important</severity>
    <pkglist>
      <collection short="rhel-9">
        <name>rhel-9</name>
        <package name="openssl" version="3.0.7" release="27.el9" epoch="1" arch="x86_64" src="openssl.src.rpm">
          <filename>openssl-3.0.7-27.el9.x86_64.rpm</filename>
        </package>
        <package name="openssl-perl" version="3.0.7" release="27.el9" epoch="1" arch="x86_64"><filename/></package>
      </collection>
    </pkglist>
  </update>
  <update from="x" status="final" type="bugfix" version="2"><id>RHBA-1</id><pkglist><collection><package name="openssl" version="9" release="1" epoch="0" arch="x86_64"/></collection></pkglist></update>
</updates>"""
    got = parse_updateinfo([gzip.decompress(gzip.compress(xml))], {"openssl"})
    assert got == [UpdateAdvisory("RHSA-2024:1234", "security", "Important", (N("openssl-1:3.0.7-27.el9.x86_64"),), None)]


MODULES = """---
document: modulemd
version: 2
data:
  name: nodejs
  stream: "18"
  version: 9040020240101
  context: rhel9
  arch: x86_64
  summary: Javascript runtime
  description: >-
    Node.js is a platform
    name: not-a-key
  api:
    rpms:
    - nodejs
  artifacts:
    rpms:
    - nodejs-1:18.19.0-1.module+el9.4.0+1.x86_64
    - 'npm-1:10.2.3-1.18.19.0.1.module+el9.4.0+1.x86_64'
...
---
document: modulemd-defaults
version: 1
data:
  module: nodejs
  stream: 18
  profiles:
    18: [common]
...
"""


def test_modules_yaml_streams_artifacts_and_defaults() -> None:
    got = parse_modules(MODULES.splitlines())
    assert got.defaults == {"nodejs": "18"}
    assert got.streams == [ModuleStream("nodejs", "18", "9040020240101", "rhel9", frozenset({
        "nodejs-1:18.19.0-1.module+el9.4.0+1.x86_64", "npm-1:10.2.3-1.18.19.0.1.module+el9.4.0+1.x86_64"}))]


def test_dnf_ini_keeps_section_case_and_continued_values() -> None:
    text = "[AppStream]\nname=CentOS\nbaseurl=http://a/\n  http://b/\n#enabled=0\nexcludepkgs=kernel*, php*\n  mysql*\n[main]\nx=1\n"
    assert parse_dnf_ini(text)["AppStream"]["baseurl"] == "http://a/ http://b/"
    (r,) = parse_repo_file(text, "/etc/yum.repos.d/c.repo")
    assert (r.id, r.enabled, r.excludes) == ("AppStream", True, ("kernel*", "php*", "mysql*"))
    main = parse_main("[main]\nexclude=kernel*\nobsoletes=False\n", "/etc/dnf/dnf.conf")
    assert main.excludes == ("kernel*",) and main.obsoletes is False


def test_the_reboot_rule_parsers() -> None:
    from tenken.collectors.linux.rpm_reboot import boot_time, parse_btime, parse_install_times, updated_since_boot

    times = parse_install_times("kernel\t100\nkernel\t300\npackage dbus is not installed\nglibc\t50\nbad\tx\n")
    assert times == {"kernel": 300, "glibc": 50}
    assert parse_btime("cpu 1 2\nbtime 200\n") == 200 and parse_btime("btime x\n") is None and parse_btime("") is None
    assert boot_time(210.7, 200) == 210 and boot_time(None, 200) == 200 and boot_time(None, None) is None
    assert updated_since_boot(times, 200, ["kernel", "glibc", "dbus"]) == ["kernel"]
    assert updated_since_boot(times, 300, ["kernel"]) == []  # installed at the very second of the boot: not after
