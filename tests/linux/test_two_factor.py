"""Two-factor evidence (SO-14-5) from real PAM and sshd_config files in an offline root."""

from __future__ import annotations

from pathlib import Path

from clihelp import details, outcomes, scan_root
from roots import make_good_root, write_file

CHECK = ("linux.auth.two_factor",)


def _sshd_pam(extra: str) -> str:
    return "# PAM configuration for the Secure Shell service\n@include common-auth\n" + extra + "account    required     pam_nologin.so\n@include common-account\n"


def test_password_only_login_warns(tmp_path: Path) -> None:
    rep = scan_root(make_good_root(tmp_path / "r"))
    assert outcomes(rep, CHECK) == [("linux.auth.two_factor", "warn", "/etc/pam.d, sshd_config", ["SO-14-5"])]


def test_a_required_totp_module_in_the_sshd_stack_passes(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "r")
    write_file(root, "/etc/pam.d/sshd", _sshd_pam("auth       required     pam_google_authenticator.so nullok_secret\n"))
    rep = scan_root(root)
    assert [o[1] for o in outcomes(rep, CHECK)] == ["pass"]
    assert "pam_google_authenticator" in details(rep, "linux.auth.two_factor")


def test_an_optional_module_is_not_a_second_factor(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "r")
    write_file(root, "/etc/pam.d/sshd", _sshd_pam("auth       optional     pam_u2f.so\n"))
    rep = scan_root(root)
    assert [o[1] for o in outcomes(rep, CHECK)] == ["warn"]
    assert "optional" in details(rep, "linux.auth.two_factor")


def test_sshd_requiring_two_methods_passes(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "r")
    cfg = root / "etc/ssh/sshd_config"
    cfg.write_text("AuthenticationMethods publickey,keyboard-interactive\n" + cfg.read_text())  # before any Match block
    rep = scan_root(root)
    assert [o[1] for o in outcomes(rep, CHECK)] == ["pass"]
    assert "publickey,keyboard-interactive" in details(rep, "linux.auth.two_factor")


def test_a_site_declared_second_factor_is_left_to_a_person(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "r")
    pol = tmp_path / "policy.yaml"
    pol.write_text("passwords:\n  mfa_in_place: true\n")
    rep = scan_root(root, pol)
    assert [o[1] for o in outcomes(rep, CHECK)] == ["manual"]
    assert "mfa_in_place" in details(rep, "linux.auth.two_factor")
