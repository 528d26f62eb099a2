"""Password policy: login.defs and PAM parsers (Debian and RHEL layouts), and the real CLI over good and
weak root trees with the exact findings of this feature's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import run_tenken
from hypothesis import given, settings
from hypothesis import strategies as st
from roots import SECRETS, make_good_root, make_weak_root, write_file
from tenken.checks.linux.passwords import effective_length, enforcing, required_classes
from tenken.collectors.linux.password_policy import (
    flatten,
    lockout_from,
    parse_kv_conf,
    parse_login_defs,
    parse_pam_file,
    quality_from,
    stacks,
)

# The checks of this feature, as (check_id, status, subject, clauses) over `scan local --root`.
FEATURE = ("linux.password.hash_method", "linux.password.nullok", "linux.password.quality", "linux.password.dictionary",
           "linux.password.lockout", "linux.sshd.", "linux.services.", "linux.secrets.")
OFFLINE_SERVICES = {
    ("linux.services.ports", "error", None, ("SO-8-3", "SO-7-6")),
    ("linux.services.listeners", "error", None, ("SO-8-3", "SO-7-6")),
}
GOOD = {
    ("linux.password.hash_method", "pass", None, ("SO-14-6",)),
    ("linux.password.nullok", "pass", None, ("SO-14-6", "SO-8-5")),
    ("linux.password.quality", "pass", None, ("SO-14-6", "SO-8-5")),
    ("linux.password.dictionary", "pass", None, ("SO-14-6",)),
    ("linux.password.lockout", "pass", None, ("SO-14-6",)),
    ("linux.sshd.root_login", "pass", None, ("SO-7-12",)),
    ("linux.sshd.password_auth", "pass", None, ("SO-7-12", "SO-14-6")),
    ("linux.sshd.empty_passwords", "pass", None, ("SO-7-12", "SO-8-5")),
    ("linux.sshd.crypto", "pass", None, ("SO-13-10", "SO-13-9")),
    ("linux.sshd.login_scope", "manual", None, ("SO-7-12",)),
    ("linux.services.unnecessary", "pass", None, ("SO-8-3", "SO-7-6")),
    ("linux.secrets.plaintext", "pass", None, ("SO-14-6", "SO-14-2")),
} | OFFLINE_SERVICES
WEAK_COMMON = {
    ("linux.password.hash_method", "fail", "/etc/login.defs", ("SO-14-6",)),
    ("linux.password.hash_method", "fail", "pam_unix", ("SO-14-6",)),
    ("linux.password.quality", "fail", None, ("SO-14-6", "SO-8-5")),
    ("linux.password.dictionary", "warn", None, ("SO-14-6",)),
    ("linux.password.lockout", "fail", None, ("SO-14-6",)),
    ("linux.sshd.root_login", "fail", None, ("SO-7-12",)),
    ("linux.sshd.password_auth", "warn", None, ("SO-7-12", "SO-14-6")),
    ("linux.sshd.empty_passwords", "fail", None, ("SO-7-12", "SO-8-5")),
    ("linux.sshd.crypto", "fail", "ciphers", ("SO-13-10",)),
    ("linux.sshd.crypto", "fail", "kex_algorithms", ("SO-13-10", "SO-13-9")),
    ("linux.sshd.crypto", "fail", "macs", ("SO-13-9",)),
    ("linux.sshd.login_scope", "manual", None, ("SO-7-12",)),
    ("linux.services.unnecessary", "fail", "telnet", ("SO-8-3", "SO-7-6")),
    ("linux.secrets.plaintext", "fail", "/etc/fstab:4", ("SO-14-6", "SO-14-2")),
    ("linux.secrets.plaintext", "fail", "/root/.my.cnf:3", ("SO-14-6", "SO-14-2")),
} | OFFLINE_SERVICES
WEAK_DEBIAN = WEAK_COMMON | {
    ("linux.password.nullok", "warn", "/etc/pam.d/common-auth:2", ("SO-14-6", "SO-8-5")),
    ("linux.services.unnecessary", "fail", "inetd", ("SO-8-3", "SO-7-6")),  # openbsd-inetd enabled, runs telnet
    ("linux.services.unnecessary", "warn", "tftp", ("SO-8-3", "SO-7-6")),  # tftpd-hpa installed, not started
}
WEAK_RHEL = WEAK_COMMON | {
    ("linux.password.nullok", "warn", "/etc/pam.d/system-auth:4", ("SO-14-6", "SO-8-5")),
    ("linux.password.nullok", "warn", "/etc/pam.d/password-auth:4", ("SO-14-6", "SO-8-5")),
}


def scan_root(root: Path) -> tuple[dict, str]:
    res = run_tenken("scan", "local", "--root", str(root), "-f", "json")
    assert res.exit_code in (0, 1, 2), res.stderr
    return res.json(), res.stdout


def feature_set(report: dict) -> set[tuple]:
    return {(f["check_id"], f["status"], f["subject"], tuple(f["clauses"]))
            for f in report["findings"] if f["check_id"].startswith(FEATURE)}


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secret values in output: {leaked}"


@pytest.mark.parametrize("layout", ["debian", "rhel"])
def test_good_tree_exact_findings(tmp_path: Path, layout: str) -> None:
    report, out = scan_root(make_good_root(tmp_path / "root", layout))
    assert feature_set(report) == GOOD
    for f in report["findings"]:
        if f["check_id"].startswith(FEATURE) and f["status"] == "pass":
            assert f["evidence"], f["check_id"]
    assert_no_secret(out)


@pytest.mark.parametrize(("layout", "expected"), [("debian", WEAK_DEBIAN), ("rhel", WEAK_RHEL)])
def test_weak_tree_exact_findings(tmp_path: Path, layout: str, expected: set) -> None:
    report, _out = scan_root(make_weak_root(tmp_path / "root", layout))
    assert feature_set(report) == expected
    mine = [f for f in report["findings"] if f["check_id"].startswith(FEATURE)]
    for f in mine:
        assert f["title"]["ja"] and f["detail"]["ja"] and f["remediation"]["ja"]
    # this feature's findings and evidence never carry a secret or a hash
    my_evidence = [e for e in report["evidence"] if e["collector"] in
                   ("linux.password_policy", "linux.sshd", "linux.services", "linux.secrets")]
    assert_no_secret(json.dumps(mine, ensure_ascii=False) + json.dumps(my_evidence, ensure_ascii=False))
    secret_ev = next(e for e in my_evidence if e["collector"] == "linux.secrets")
    assert "password=<redacted>" in secret_ev["raw"]
    assert all(s["sha256"] is None for s in secret_ev["sources"] if s["sensitive"])


def test_weak_tree_whole_report_has_no_secret(tmp_path: Path) -> None:
    _, out = scan_root(make_weak_root(tmp_path / "root"))
    assert_no_secret(out)


def test_short_password_passes_only_with_rotation_or_mfa(tmp_path: Path) -> None:
    """Q&A シQ-54 (b)/(c): 8+ mixed characters need a change within 2 months or two-factor authentication."""
    root = make_good_root(tmp_path / "root")
    write_file(root, "/etc/security/pwquality.conf", "minlen = 10\nminclass = 3\n")

    def quality_status(policy: Path | None = None) -> str:
        args = ["scan", "local", "--root", str(root), "-f", "json"] + (["--policy", str(policy)] if policy else [])
        rep = run_tenken(*args).json()
        return next(f["status"] for f in rep["findings"] if f["check_id"] == "linux.password.quality")

    assert quality_status() == "fail"
    mfa = tmp_path / "mfa.yaml"
    mfa.write_text("passwords:\n  mfa_in_place: true\n")
    assert quality_status(mfa) == "pass"
    login_defs = (root / "etc/login.defs").read_text().replace("PASS_MAX_DAYS   99999", "PASS_MAX_DAYS   60")
    write_file(root, "/etc/login.defs", login_defs)
    assert quality_status() == "pass"


def test_unreadable_pam_dir_is_an_error_never_a_pass(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    for p in (root / "etc/pam.d").iterdir():
        p.unlink()
    (root / "etc/pam.d").rmdir()
    rep = run_tenken("scan", "local", "--root", str(root), "-f", "json").json()
    got = {f["check_id"]: f["status"] for f in rep["findings"] if f["check_id"].startswith("linux.password.")
           and f["check_id"] in ("linux.password.quality", "linux.password.nullok", "linux.password.lockout")}
    assert got == {"linux.password.quality": "not_applicable", "linux.password.nullok": "not_applicable",
                   "linux.password.lockout": "not_applicable"}


# ---------------------------------------------------------------------------------------------------
# parsers

DEBIAN_COMMON_PASSWORD = """# comment
password\trequisite\t\t\tpam_pwquality.so retry=3 minlen=12 \\
        dcredit=-1
password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt # trailing comment
password\trequisite\t\t\tpam_deny.so
"""


def test_pam_line_continuation_brackets_and_comments() -> None:
    parsed = parse_pam_file(DEBIAN_COMMON_PASSWORD, "/etc/pam.d/common-password")
    assert [(ln.line, ln.module, ln.control) for ln in parsed.lines] == [
        (2, "pam_pwquality", "requisite"), (4, "pam_unix", "[success=1 default=ignore]"), (5, "pam_deny", "requisite")]
    assert parsed.lines[0].args == ["retry=3", "minlen=12", "dcredit=-1"]
    assert parsed.lines[1].args == ["obscure", "use_authtok", "try_first_pass", "yescrypt"]


def test_includes_debian_and_rhel_substack() -> None:
    files = {
        "passwd": parse_pam_file("@include common-password\n", "/etc/pam.d/passwd"),
        "common-password": parse_pam_file(DEBIAN_COMMON_PASSWORD, "/etc/pam.d/common-password"),
        "sshd": parse_pam_file("auth substack password-auth\n-auth optional pam_gnome_keyring.so\n", "/etc/pam.d/sshd"),
        "password-auth": parse_pam_file("auth required pam_faillock.so preauth deny=4\nauth sufficient pam_unix.so nullok\n"
                                        "password requisite pam_pwquality.so\n", "/etc/pam.d/password-auth"),
        "loop": parse_pam_file("@include loop\n", "/etc/pam.d/loop"),
    }
    assert [ln.module for ln in flatten(files, "passwd", "password")] == ["pam_pwquality", "pam_unix", "pam_deny"]
    auth = flatten(files, "sshd", "auth")
    assert [ln.module for ln in auth] == ["pam_faillock", "pam_unix", "pam_gnome_keyring"]
    assert auth[2].optional_module
    assert flatten(files, "loop", "auth") == []  # an include cycle ends, it does not recurse forever
    entries, pw, au = stacks(files)
    assert entries == ["common-password", "password-auth", "passwd", "sshd"]
    assert {ln.module for ln in pw} == {"pam_pwquality", "pam_unix", "pam_deny"}
    lk = lockout_from(au, {"deny": "6", "unlock_time": "never"}, "/etc/security/faillock.conf")
    assert lk is not None and lk.deny == 4 and lk.unlock_time == 0  # module arguments override faillock.conf


def test_pwquality_precedence_and_defaults() -> None:
    line = parse_pam_file("password requisite pam_pwquality.so minlen=15 enforce_for_root\n", "/etc/pam.d/x").lines[0]
    q = quality_from(line, parse_kv_conf("minlen = 9\nminclass=2\n  dictcheck = 0  # off\n"), ["conf"])
    assert (q.minlen, q.minclass, q.dictcheck, q.enforce_for_root) == (15, 2, False, True)
    q2 = quality_from(parse_pam_file("password requisite pam_pwquality.so\n", "/x").lines[0], {}, [])
    assert (q2.minlen, q2.minclass, q2.dictcheck) == (8, 0, True)  # pwquality.conf(5) defaults
    q3 = quality_from(parse_pam_file("password requisite pam_pwquality.so minlen=3\n", "/x").lines[0], {}, [])
    assert q3.minlen == 6  # "Cannot be set to lower value than 6"
    crack = quality_from(parse_pam_file("password required pam_cracklib.so minlen=12 dcredit=-1 ucredit=-1\n", "/x").lines[0],
                         {"minlen": "20"}, [])
    assert crack.minlen == 12  # pam_cracklib ignores pwquality.conf
    assert effective_length(crack) == 10  # lcredit/ocredit default +1 each let two characters count double
    assert required_classes(crack) == 2
    assert enforcing("requisite") and enforcing("[success=ok default=die]") and not enforcing("optional")


def test_login_defs_last_value_wins() -> None:
    ld = parse_login_defs("ENCRYPT_METHOD SHA512\n#ENCRYPT_METHOD MD5\nPASS_MAX_DAYS 60\nencrypt_method yescrypt\nSHA_CRYPT_MIN_ROUNDS x\n")
    assert ld.encrypt_method == "YESCRYPT" and ld.pass_max_days == 60 and ld.sha_crypt_min_rounds is None


PAMISH = st.text(alphabet=st.sampled_from(list("ap uthswordincle@-[]=#\\\t\n.soxy_0123456789")), max_size=300)


@settings(max_examples=300, deadline=None)
@given(PAMISH)
def test_pam_parser_is_total(text: str) -> None:
    parsed = parse_pam_file(text, "/etc/pam.d/x")
    files = {"common-password": parsed, "common-auth": parsed, "x": parsed}
    for typ in ("auth", "password"):
        flatten(files, "common-password", typ)
    stacks(files)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_conf_parsers_are_total(text: str) -> None:
    parse_login_defs(text)
    conf = parse_kv_conf(text)
    line = parse_pam_file("password requisite pam_pwquality.so " + text.replace("\n", " ")[:80] + "\n", "/x").lines
    if line:
        q = quality_from(line[0], conf, [])
        assert 0 <= q.minclass <= 4 and q.minlen >= 6
        effective_length(q)
    lockout_from(parse_pam_file("auth required pam_faillock.so " + text.replace("\n", " ")[:80] + "\n", "/x").lines, conf, "/f")


def test_hash_method_undetermined_is_not_a_pass(tmp_path: Path) -> None:
    """No login.defs and a pam_unix line naming no method: nothing says how new passwords are hashed."""
    root = make_good_root(tmp_path / "root")
    (root / "etc/login.defs").unlink()
    pw = root / "etc/pam.d/common-password"
    pw.write_text("\n".join(ln.replace(" yescrypt", "").replace(" sha512", "") for ln in pw.read_text().splitlines()) + "\n")
    _, out = scan_root(root)
    hm = [f for f in json.loads(out)["findings"] if f["check_id"] == "linux.password.hash_method"]
    assert [f["status"] for f in hm] == ["warn"]


@pytest.mark.parametrize("remove", [("common-auth", "login", "sshd"), ("common-auth",)])
def test_nullok_is_not_a_pass_without_an_auth_stack(tmp_path: Path, remove: tuple[str, ...]) -> None:
    """A pass without evidence: with the auth entries removed (or sshd/login including a common-auth that is
    gone), nothing shows that empty passwords are refused."""
    root = make_good_root(tmp_path / "root")
    for name in remove:
        (root / "etc/pam.d" / name).unlink()
    report, _out = scan_root(root)
    got = [(f["status"], f["subject"]) for f in report["findings"] if f["check_id"] == "linux.password.nullok"]
    assert got == [("error", "/etc/pam.d")]
    detail = next(f["detail"]["en"] for f in report["findings"] if f["check_id"] == "linux.password.nullok")
    assert "/etc/pam.d/common-password" in detail
    if "login" not in remove:
        assert "included but absent: /etc/pam.d/common-auth" in detail
