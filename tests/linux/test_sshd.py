"""sshd settings: the sshd_config parser checked against the real `sshd -T`, Include/first-value-wins/Match
semantics, version defaults, the collector over local, --root and a real SSH connection, and totality."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clihelp import run_tenken
from hypothesis import given, settings
from hypothesis import strategies as st
from roots import make_good_root
from sshd_fixture import SshServer, keygen, ssh_client_key, sshd  # noqa: F401 - fixtures
from tenken.checks.policy import load_policy
from tenken.collectors.linux.sshd import (
    build_facts,
    default_settings,
    effective_list,
    parse_sshd_config,
    parse_sshd_t,
    parse_version,
    split_args,
)
from tenken.collectors.registry import COLLECTORS, load_all, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.local import LocalTransport
from tenken.collectors.transport.root import RootTransport
from tenken.collectors.transport.ssh import SSHTransport

SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin:/bin")
KEYS = ("permit_root_login", "password_authentication", "kbd_interactive_authentication", "permit_empty_passwords",
        "pubkey_authentication", "use_pam", "authentication_methods", "ciphers", "macs", "kex_algorithms",
        "allow_users", "allow_groups", "deny_users", "max_auth_tries")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _glob(pattern: str) -> list[str]:
    import glob

    return sorted(glob.glob(pattern))


def test_include_first_value_wins_match_and_accumulation(tmp_path: Path) -> None:
    d = tmp_path / "ssh"
    (d / "sshd_config.d").mkdir(parents=True)
    (d / "sshd_config.d/20-b.conf").write_text("PermitRootLogin no\nAllowUsers carol\n")
    (d / "sshd_config.d/10-a.conf").write_text("permitrootlogin=prohibit-password\nAllowUsers alice bob\n")
    (d / "sshd_config.d/.hidden.conf").write_text("PasswordAuthentication yes\n")
    main = """# main file
Include sshd_config.d/*.conf
PermitRootLogin yes
PasswordAuthentication no   # trailing comment token
ChallengeResponseAuthentication no
Ciphers "aes256-gcm@openssh.com,aes128-ctr"
Match User backup Address 10.0.0.0/8
    PasswordAuthentication yes
    PermitRootLogin yes
Match all
    X11Forwarding no
"""
    cfg = parse_sshd_config(main, path=str(d / "sshd_config"), read=_read, expand_glob=_glob, base_dir=str(d))
    assert cfg.values["permitrootlogin"] == ["prohibit-password"]  # 10-a.conf sorts first and wins
    assert cfg.origin["permitrootlogin"] == f"{d}/sshd_config.d/10-a.conf:1"
    assert cfg.values["allowusers"] == ["alice", "bob", "carol"]  # AllowUsers accumulates
    assert cfg.values["passwordauthentication"] == ["no"]  # hidden files do not match *.conf
    assert cfg.values["kbdinteractiveauthentication"] == ["no"]  # the old keyword is an alias
    assert cfg.values["ciphers"] == ["aes256-gcm@openssh.com,aes128-ctr"]
    assert [(m.criteria, m.settings) for m in cfg.matches] == [
        ("User backup Address 10.0.0.0/8", {"passwordauthentication": "yes", "permitrootlogin": "yes"}),
        ("all", {"x11forwarding": "no"}),
    ]
    assert cfg.files == [f"{d}/sshd_config", f"{d}/sshd_config.d/10-a.conf", f"{d}/sshd_config.d/20-b.conf"]


def test_list_modifiers_and_version_defaults() -> None:
    dflt = ["a", "b-cbc", "c"]
    assert effective_list("+x,a", dflt) == ["a", "b-cbc", "c", "x"]
    assert effective_list("-*-cbc", dflt) == ["a", "c"]
    assert effective_list("^x", dflt) == ["x", "a", "b-cbc", "c"]
    assert effective_list("x,y", dflt) == ["x", "y"]
    assert default_settings((6, 9))["permitrootlogin"] == ["yes"]
    assert default_settings((7, 4))["permitrootlogin"] == ["prohibit-password"]
    assert "diffie-hellman-group14-sha1" in default_settings((7, 4))["kexalgorithms"][0]
    assert "diffie-hellman-group14-sha1" not in default_settings((8, 2))["kexalgorithms"][0]
    assert "aes128-cbc" in default_settings((6, 6))["ciphers"][0]
    assert parse_version("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15") == (9, 2)
    facts = build_facts({}, {}, from_sshd_t=False, version=(9, 2))
    assert facts["permit_root_login"] == "prohibit-password" and facts["password_authentication"] is True


CROSS_CONFIG = """Include {d}/conf.d/*.conf
PermitRootLogin without-password
PasswordAuthentication=no
KbdInteractiveAuthentication yes
UsePAM yes
PermitEmptyPasswords no
Ciphers -*-cbc,3des*
MACs +hmac-sha2-512
KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha256
AuthenticationMethods publickey,password publickey,keyboard-interactive
AllowUsers alice bob
DenyUsers mallory
MaxAuthTries 3
Match User alice
    PasswordAuthentication yes
"""


@pytest.mark.skipif(SSHD is None or os.geteuid() != 0, reason="needs sshd and root for sshd -T")
def test_config_parser_agrees_with_real_sshd_T(tmp_path: Path) -> None:
    """What we compute from the file is what sshd itself reports (OpenSSH on this machine)."""
    d = tmp_path
    (d / "conf.d").mkdir()
    (d / "conf.d/01-first.conf").write_text("AllowGroups staff\nPermitRootLogin no\n")
    (d / "conf.d/02-second.conf").write_text("PermitRootLogin yes\nPermitEmptyPasswords yes\n")
    host_key = keygen(d / "hostkey")
    cfg_text = f"HostKey {host_key}\n" + CROSS_CONFIG.format(d=d)
    (d / "sshd_config").write_text(cfg_text)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd -T insists on its privilege-separation dir
    res = subprocess.run([SSHD, "-T", "-f", str(d / "sshd_config")], capture_output=True, text=True, check=True)
    real = build_facts(parse_sshd_t(res.stdout), {}, from_sshd_t=True, version=None)
    version = parse_version(subprocess.run([SSHD, "-V"], capture_output=True, text=True).stderr)
    cfg = parse_sshd_config(cfg_text, path=str(d / "sshd_config"), read=_read, expand_glob=_glob, base_dir=str(d))
    mine = build_facts(cfg.values, cfg.origin, from_sshd_t=False, version=version)
    assert {k: mine[k] for k in KEYS} == {k: real[k] for k in KEYS}
    assert mine["permit_root_login"] == "no" and mine["allow_groups"] == ["staff"]
    assert [m.criteria for m in cfg.matches] == ["User alice"]


@pytest.mark.skipif(SSHD is None or os.geteuid() != 0, reason="needs sshd and root for sshd -T")
def test_collector_sshd_T_and_offline_fallback_agree_on_this_host() -> None:
    """This machine's own configuration: `sshd -T` (local) and the file parser (--root /) say the same."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    load_all()
    spec = COLLECTORS["linux.sshd"]
    live = run_collector(spec, LocalTransport(), CollectSettings())
    offline = run_collector(spec, RootTransport("/"), CollectSettings())
    assert live.facts is not None and offline.facts is not None
    assert live.facts.source == "sshd -T", live.facts.sshd_t_error
    assert offline.facts.source == "config"
    assert offline.facts.unavailable["sshd_running"].reason.value == "offline"
    # Distributions backport algorithm names (Debian 12's 9.2 offers sntrup761x25519-sha512 from 9.9) without
    # changing the version, so the default KexAlgorithms list is compared for what the checks judge: weak ones.
    for k in KEYS:
        if k != "kex_algorithms":
            assert getattr(live.facts, k) == getattr(offline.facts, k), k
    weak = set(load_policy().ssh.weak_kex)
    assert weak & set(live.facts.kex_algorithms) == weak & set(offline.facts.kex_algorithms)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="real sshd fixture needs root")
def test_collector_over_real_ssh_sees_running_sshd(sshd: SshServer) -> None:  # noqa: F811 - fixture
    """Over a real SSH connection: sshd -T runs through the transport, `ps` shows sshd running."""
    load_all()
    t = SSHTransport(sshd.host, port=sshd.port, username="root", identity=str(sshd.client_key),
                     known_hosts=str(sshd.known_hosts), use_agent=False).connect()
    try:
        got = run_collector(COLLECTORS["linux.sshd"], t, CollectSettings())
    finally:
        t.close()
    assert got.facts is not None, got.evidence.error
    assert got.facts.installed and got.facts.running is True
    assert got.facts.source in ("sshd -T", "config")
    assert got.facts.permit_root_login in ("no", "prohibit-password", "yes", "forced-commands-only")


def test_not_installed_is_not_applicable(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    shutil.rmtree(root / "etc/ssh")
    (root / "usr/sbin/sshd").unlink()
    rep = run_tenken("scan", "local", "--root", str(root), "-f", "json").json()
    sshd_findings = [f for f in rep["findings"] if f["check_id"].startswith("linux.sshd.")]
    assert len(sshd_findings) == 5
    assert {f["status"] for f in sshd_findings} == {"not_applicable"}


def test_no_config_file_judges_compiled_in_defaults(tmp_path: Path) -> None:
    """sshd without sshd_config runs on defaults: root login prohibit-password, passwords allowed."""
    root = make_good_root(tmp_path / "root")
    shutil.rmtree(root / "etc/ssh")
    rep = run_tenken("scan", "local", "--root", str(root), "-f", "json").json()
    got = {f["check_id"]: f["status"] for f in rep["findings"] if f["check_id"].startswith("linux.sshd.")}
    assert got["linux.sshd.root_login"] == "fail"  # prohibit-password is not in the default allowed list ["no"]
    assert got["linux.sshd.password_auth"] == "warn"
    assert got["linux.sshd.crypto"] == "fail"  # OpenSSH 9.2's default MACs include hmac-sha1 and umac-64


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("IncludeMatchPermitRootLogin =\"'#\\\t\n*/a,b+-^yesno")), max_size=300))
def test_sshd_parsers_are_total(text: str) -> None:
    cfg = parse_sshd_config(text, read=lambda p: text if len(p) < 40 else None, expand_glob=lambda p: [p])
    facts = build_facts(cfg.values, cfg.origin, from_sshd_t=False, version=None)
    assert isinstance(facts["ciphers"], list)
    build_facts(parse_sshd_t(text), {}, from_sshd_t=True, version=(7, 4))
    split_args(text)
    effective_list(text.split("\n")[0] or None, ["a", "b"])
