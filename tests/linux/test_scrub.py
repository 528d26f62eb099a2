"""Secrets reach reports through other files: a configuration file that is a symlink to /etc/shadow or a copy
of a private key must not carry a hash or a key into any report, whichever collector read it.

The hashes are made by the real crypt(3) of this machine (libxcrypt: yescrypt, SHA-crypt, MD5-crypt, bcrypt,
DES) and by `openssl passwd`, the keys by the real `ssh-keygen` and `openssl genpkey`.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pytest
from clihelp import run_tenken
from roots import make_good_root, symlink, write_file
from tenken.collectors.evidence import Source, SourceKind, build_evidence
from tenken.collectors.scrub import scrub_text

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # the system's crypt(3); deprecated in Python 3.11, still the real libxcrypt


def _crypt(password: str, salt: str) -> str:
    out = crypt.crypt(password, salt)
    assert out and (out.startswith(salt[:3]) or len(out) == 13), (salt, out)
    return out


def real_hashes() -> dict[str, str]:
    hashes = {
        "sha512": _crypt("Shiryo#2024", "$6$rounds=5000$Qm9rZXJ1c2FsdA$"),
        "sha256": _crypt("Shiryo#2024", "$5$Qm9rZXJ1c2FsdA$"),
        "md5": _crypt("Shiryo#2024", "$1$Wq7eRt9Y$"),
        "des": _crypt("Shiryo24", "aZ"),
        "bcrypt": _crypt("Shiryo#2024", "$2b$05$" + "abcdefghijklmnopqrstuu"),
        "yescrypt": _crypt("Shiryo#2024", "$y$j9T$Mx4dW0Lr7q8nB1s2c3d4e/$"),
        "gost": _crypt("Shiryo#2024", "$gy$j9T$Mx4dW0Lr7q8nB1s2c3d4e/$"),
        "scrypt": _crypt("Shiryo#2024", "$7$CU..../....Mx4dW0Lr7q8nB1s2c3d4e/$"),
        "apr1": subprocess.run(["openssl", "passwd", "-apr1", "-salt", "Wq7eRt9Y", "Shiryo#2024"],
                               capture_output=True, text=True, check=True).stdout.strip(),
        # RFC 2307 / slappasswd forms (the digest itself is what OpenLDAP stores)
        "ssha": "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g9O1Rp",
        "argon2": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    }
    return {k: v for k, v in hashes.items() if v and v not in ("*0", "*1")}


def real_keys(tmp: Path) -> dict[str, str]:
    keys: dict[str, str] = {}
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@ris01", "-f", str(tmp / "id_ed25519")], check=True)
    keys["openssh"] = (tmp / "id_ed25519").read_text()
    keys["pkcs8"] = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                                   capture_output=True, text=True, check=True).stdout
    keys["rsa"] = subprocess.run(["openssl", "genrsa", "-traditional", "1024"], capture_output=True, text=True,
                                 check=True).stdout
    keys["putty"] = PPK
    return keys


# A PuTTY-User-Key-File-3 (puttygen's format): the Private-Lines are the secret.
PPK = """PuTTY-User-Key-File-3: ssh-ed25519
Encryption: none
Comment: vendor-support
Public-Lines: 2
AAAAC3NzaC1lZDI1NTE5AAAAIFz4mS0kmvwYFRiGv3eCf0wB3jW5oGL3uhZ5tGk1
mQqv
Private-Lines: 1
AAAAIBnT4dqVY8pWQOMzXm2rT9gHsYh3vKx0cQJfLr7bWzPuQkSsCcretpriv
Private-MAC: 6d4c0b9e1b5f0f2c8d7a3e4b1a9c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c
"""
PPK_SECRET = "AAAAIBnT4dqVY8pWQOMzXm2rT9gHsYh3vKx0cQJfLr7bWzPuQkSsCcretpriv"

AWS = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def key_bodies(pem: str) -> list[str]:
    """The base64 lines of a key: what must never appear."""
    if pem.startswith("PuTTY"):
        return [PPK_SECRET]
    return [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]


def shadow_text(hashes: dict[str, str]) -> str:
    lines = ["root:" + hashes["yescrypt"] + ":19700:0:99999:7:::", "daemon:*:19700:0:99999:7:::"]
    lines += [f"u{k}:{v}:19700:0:99999:7:::" for k, v in hashes.items()]
    lines.append("ulocked:!" + hashes["des"] + ":19700:0:99999:7:::")
    return "\n".join(lines) + "\n"


def test_scrub_text_every_format(tmp_path: Path) -> None:
    hashes = real_hashes()
    assert {"sha512", "md5", "des", "yescrypt"} <= set(hashes)  # libxcrypt on Debian has them all
    keys = real_keys(tmp_path)
    text = shadow_text(hashes) + "\n" + "\n".join(keys.values())
    text += f"\n[default]\naws_access_key_id = {AWS}\naws_secret_access_key = {AWS_SECRET}\n"
    text += "olduser:" + hashes["des"] + ":1001:1001:old:/home/old:/bin/sh\n"  # passwd(5) without shadow
    out = scrub_text(text)
    for name, h in hashes.items():
        assert h not in out, name
    for pem in keys.values():
        for body in key_bodies(pem):
            assert body not in out
    assert AWS not in out and AWS_SECRET not in out
    # what is not a secret stays readable for the auditor
    assert "daemon:*:19700:0:99999:7:::" in out and "aws_access_key_id = " in out
    assert "PuTTY-User-Key-File-3: ssh-ed25519" in out


def test_scrub_keeps_ordinary_text() -> None:
    text = ("root:x:0:0:root:/root:/bin/bash\nPASS_MAX_DAYS   99999\nENCRYPT_METHOD SHA512\n"
            "echo $1 $2\nserver ntp.nict.jp iburst\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert scrub_text(text) == text


def test_build_evidence_scrubs_raw_facts_and_sources() -> None:
    from tenken.collectors.evidence import Facts

    class F(Facts):
        line: str
        lines: list[str]

    h = real_hashes()["sha512"]
    ev = build_evidence(collector="x", target="t", raw=f"alice:{h}:19700:0:99999:7:::",
                        sources=[Source(kind=SourceKind.COMMAND, ref=f"echo {AWS}", error=f"bad {h}")],
                        facts=F(line=f"{{CRYPT}}{h}", lines=[f"token {AWS}"]), error=f"parse error near {h}")
    dumped = ev.model_dump_json()
    assert h not in dumped and AWS not in dumped
    assert ev.sha256 and "<redacted hash>" in ev.raw


@pytest.mark.parametrize("fmt", ["json", "html", "csv"])
def test_symlinked_shadow_and_copied_key_never_reach_a_report(tmp_path: Path, fmt: str) -> None:
    root = make_good_root(tmp_path / "root")
    hashes = real_hashes()
    keys = real_keys(tmp_path)
    write_file(root, "/etc/shadow", shadow_text(hashes), 0o640)
    # a vendor "backed up" the shadow file as the pwquality configuration; a key pasted over crypttab; an
    # auditd.conf that is a copy of a PuTTY key; a logrotate.conf with AWS credentials in a comment
    symlink(root, "/etc/security/pwquality.conf", "/etc/shadow")
    write_file(root, "/etc/crypttab", keys["openssh"] + keys["pkcs8"])
    write_file(root, "/etc/audit/auditd.conf", keys["putty"] + keys["rsa"])
    write_file(root, "/etc/logrotate.conf", f"# s3 upload: AWS_ACCESS_KEY_ID={AWS} AWS_SECRET_ACCESS_KEY={AWS_SECRET}\nweekly\nrotate 4\n")
    out = tmp_path / f"report.{fmt}"
    res = run_tenken("scan", "local", "--root", str(root), "-f", fmt, "-o", str(out))
    assert res.exit_code in (0, 1), res.stderr
    text = out.read_text(encoding="utf-8")
    if fmt != "csv":  # CSV carries findings only; JSON and HTML carry the evidence excerpts too
        assert "/etc/security/pwquality.conf" in text  # the file was read and reported on
    leaked = [k for k, h in hashes.items() if h in text]
    leaked += [k for k, pem in keys.items() for body in key_bodies(pem) if body in text]
    leaked += [s for s in (AWS, AWS_SECRET) if s in text]
    assert not leaked, f"secrets in the {fmt} report: {leaked}"


def _scrub_without_hints(text: str) -> str:
    """The scrubber's patterns applied unconditionally, as before the literal prefilter."""
    from tenken.collectors import scrub as s

    out = s._PEM.sub(s.KEY_MARK, text)
    out = s._SSH2.sub(s.KEY_MARK, out)
    out = s._putty(out)
    out = s._CRYPT.sub(s.HASH_MARK, out)
    out = s._LDAP.sub(s.HASH_MARK, out)
    out = s._SHADOW_LINE.sub(s._pw_field, out)
    out = s._PASSWD_LINE.sub(s._pw_field, out)
    for rx in s._TOKENS:
        out = rx.sub(s._token, out)
    return out


def test_literal_prefilter_changes_no_result() -> None:
    """The fast path (skip a pattern when its literal hint is absent) scrubs exactly what the full pattern set
    does: real hashes, keys and tokens in many surroundings, every file of the test roots, and lines near each
    hint's edge (a shadow line with exactly the colons it needs, a lower-case AWS secret name)."""
    import random

    key = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519"], capture_output=True, text=True,
                         check=True).stdout
    secrets = [
        _crypt("pw", "$6$saltsalt$"), _crypt("pw", "$1$saltsalt$"), _crypt("pw", "ab"), key,
        "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{crypt}$6$x$" + "a" * 20, "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "ghp_" + "a1" * 18,
        "xoxb-1234567890-abcdef", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
        "root:$y$j9T$abcdefgh$ijklmnopqrstuvwxyz0123456789ABCDEF:19000:0:99999:7:::",
        "olduser:abcdEFGH12345:1000:1000:Old User:/home/old:/bin/sh", "svc:Xy7.ab/cdEF1:19000::::::",
    ]
    fillers = ["", "x", "path=/etc/ssh/sshd_config", "a:b:c", "PasswordAuthentication no\n", "{", "$", "::::::",
               "日本語のテキスト", "key: value\n"]
    rng = random.Random(20261204)
    cases = list(secrets) + fillers
    for _ in range(400):
        parts = [rng.choice(fillers + secrets) for _ in range(rng.randint(1, 5))]
        cases.append(rng.choice(["", "\n", " ", ":"]).join(parts))
    root_files = [p for p in (Path(__file__).parent.parent / "data").rglob("*") if p.is_file()]
    for p in root_files[:300]:
        cases.append(p.read_bytes()[:65536].decode("utf-8", "replace"))
    for case in cases:
        assert scrub_text(case) == _scrub_without_hints(case), case[:200]
    for s in secrets[3:]:  # a bare DES string has no shape to know it by; it is scrubbed in its shadow line
        assert s not in scrub_text(s), s
