"""Damaged input passes: a shadow or passwd line with a wrong field count or a truncated hash must never be
read as a valid hash; the verdicts that rest on it become warnings that name the file and the line."""

from __future__ import annotations

from pathlib import Path

from clihelp import run_tenken
from roots import YESCRYPT_ALICE, YESCRYPT_ROOT, make_good_root, write_file
from tenken.collectors.evidence import BadRecord
from tenken.collectors.linux.accounts import parse_group, parse_passwd, parse_shadow


def _scan(root: Path) -> dict:
    res = run_tenken("scan", "local", "--root", str(root), "-f", "json")
    assert res.exit_code in (0, 1), res.stderr
    return res.json()


def _hash_findings(rep: dict) -> list[dict]:
    return [f for f in rep["findings"] if f["check_id"].startswith(("linux.accounts.", "linux.password.storage", "linux.password.empty"))
            and f["status"] == "pass"]


def test_truncated_hash_and_wrong_field_count_are_named(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    good = _scan(root)
    assert _hash_findings(good), "the good tree has passing account checks to begin with"
    # a copy cut short by a full disk: alice's hash lost its last 10 characters; a line lost its tail
    write_file(root, "/etc/shadow", f"root:{YESCRYPT_ROOT}:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\n"
               f"sshd:!:19700::::::\nalice:{YESCRYPT_ALICE[:-10]}:19700:0:99999:7:::\nbob:$6$abc\n", 0o640)
    write_file(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
               "sshd:x:105:65534::/run/sshd:/usr/sbin/nologin\nalice:x:1000:1000:Alice Sato:/home/alice:/bin/bash\n"
               "bob:x:1001\n")
    rep = _scan(root)
    hash_checks = [f for f in rep["findings"] if f["check_id"] in {g["check_id"] for g in _hash_findings(good)}]
    assert hash_checks and all(f["status"] != "pass" for f in hash_checks), [(f["check_id"], f["status"]) for f in hash_checks]
    text = " ".join(f["detail"]["en"] for f in hash_checks)
    assert "/etc/shadow:4: yescrypt hash with a digest of 33 characters" in text
    assert "/etc/shadow:5: 2 fields, shadow(5) has 9" in text
    assert "/etc/passwd:5: 3 fields, passwd(5) has 7" in text
    assert YESCRYPT_ALICE[:-10] not in rep.__repr__()


def test_parsers_record_each_bad_line() -> None:
    bad: list[BadRecord] = []
    rows = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbroken:x:zero:0::/:/bin/sh\nshort:x\n", bad)
    assert [r[0] for r in rows] == ["root"]
    shadow = parse_shadow("root:$1$Wq7eRt9Y$3kL0pZ8xV6nB4mC2aS1dF/:19700:0:99999:7:::\nalice:$1$Wq7eRt9Y$3kL0p:19700:0:99999:7:::\n"
                          "carol::19700:0:99999:7::\n", bad)
    assert shadow["root"][0].state == "hashed" and shadow["alice"][0].state == "unknown" and shadow["carol"][0].state == "unknown"
    groups = parse_group("root:x:0:\nsudo:x:27\nwheel:x:ten:alice\n", bad)
    assert list(groups) == ["root"]
    assert [(b.path, b.line) for b in bad] == [("/etc/passwd", 2), ("/etc/passwd", 3), ("/etc/shadow", 2),
                                               ("/etc/shadow", 3), ("/etc/group", 2), ("/etc/group", 3)]


def test_damaged_pam_sshd_login_defs_and_fstab_lines_are_named(tmp_path: Path) -> None:
    """The same for the other line-oriented files: each damaged line is named and nothing resting on it passes."""
    root = make_good_root(tmp_path / "root")
    with (root / "etc/pam.d/common-auth").open("a") as f:
        f.write("auth\tpam_unix.so\n")  # the control field lost
    with (root / "etc/ssh/sshd_config.d/10-hardening.conf").open("a") as f:
        f.write("PermitEmptyPasswords\n")  # sshd: missing argument
    with (root / "etc/login.defs").open("a") as f:
        f.write("PASS_MIN_LEN eight\n")
    with (root / "etc/fstab").open("a") as f:
        f.write("/dev/mapper/vg0-data /srv/data\n")
    rep = _scan(root)
    damaged = {
        "/etc/pam.d/common-auth:8: 2 fields": "linux.password.",
        "/etc/ssh/sshd_config.d/10-hardening.conf:9: permitemptypasswords without a value": "linux.sshd.",
        "/etc/login.defs:10: PASS_MIN_LEN is not a number": "linux.password.",
    }
    for needle, prefix in damaged.items():
        named = [f for f in rep["findings"] if needle in f["detail"]["en"] and f["check_id"].startswith(prefix)]
        assert named, needle
        assert all(f["status"] == "warn" for f in named), [(f["check_id"], f["status"]) for f in named]
    # fstab feeds no passing check on this tree: the damaged line is still in the evidence of both readers
    for collector in ("linux.backups", "linux.protections"):
        ev = next(e for e in rep["evidence"] if e["collector"] == collector)
        assert {"path": "/etc/fstab", "line": 5, "reason": "2 fields, fstab(5) has 3 to 6"} in ev["facts"]["malformed"]
