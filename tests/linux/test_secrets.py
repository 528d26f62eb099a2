"""Plaintext secrets: formats found (kv, fstab, chap, pgpass, netrc, whole-file, PEM), permissions judged,
values never emitted (hypothesis over the redactor), unreadable files are errors (real permission denial)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from clihelp import run_tenken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from roots import make_good_root, write_file
from tenken.collectors.linux.secrets import (
    REDACTED,
    excerpt_for,
    find_spans,
    fstab_credential_files,
    redact_config,
    root_only,
)
from tenken.collectors.registry import COLLECTORS, load_all, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.root import RootTransport

WPA_PSK = "Wifi-Ward3-Key"
SSSD_TOK = "sssdBindT0ken"
LDAP_BINDPW = "ldapBindPw-77"
NETRC_PW = "ftpUserPw%42"
CHAP = "chap s3cret spaced"
APP_PW = "app-db-pass-9"


def _pem(encrypted: bool) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(b"passphrase") if encrypted else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc).decode()


def _openssh(encrypted: bool) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(b"passphrase") if encrypted else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc).decode()


def secret_tree(root: Path) -> tuple[Path, list[str]]:
    make_good_root(root)
    plain_key = _openssh(False)
    write_file(root, "/etc/wpa_supplicant/wpa_supplicant-wlan0.conf",
               f'network={{\n\tssid="ward3"\n\tpsk="{WPA_PSK}"\n}}\n', 0o600)
    write_file(root, "/etc/sssd/sssd.conf", f"[domain/hospital]\nldap_default_authtok_type = password\n"
               f"ldap_default_authtok = {SSSD_TOK}\n", 0o600)
    write_file(root, "/etc/ldap.conf", f"base dc=hospital,dc=local\n#bindpw example\nbindpw {LDAP_BINDPW}\n"
               "rootpw {SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 0o644)
    write_file(root, "/home/alice/.netrc", f"machine ftp.hospital.local login alice password {NETRC_PW}\n", 0o600)
    os.chown(root / "home/alice/.netrc", 1000, 1000)
    write_file(root, "/etc/ppp/chap-secrets", f'# client server secret IP\nward3 * "{CHAP}" *\n', 0o600)
    write_file(root, "/etc/myapp/app.conf", f"db_host = db.local\ndb_password = ${{DB_PASSWORD}}\n{plain_key}", 0o644)
    write_file(root, "/etc/myapp/tls.conf", _pem(True), 0o644)  # passphrase-protected: not plaintext
    write_file(root, "/etc/myapp/other.conf", f"--password={APP_PW} --verbose\n", 0o640)
    os.chown(root / "etc/myapp/other.conf", 0, 0)
    body = [ln for ln in plain_key.splitlines() if "PRIVATE KEY" not in ln]
    return root, [WPA_PSK, SSSD_TOK, LDAP_BINDPW, NETRC_PW, CHAP, APP_PW, *body]


def test_secret_findings_exact_and_no_value_anywhere(tmp_path: Path) -> None:
    root, secrets = secret_tree(tmp_path / "root")
    pol = tmp_path / "site.yaml"
    pol.write_text("secrets:\n  paths: [/etc/myapp/*.conf]\n")
    res = run_tenken("scan", "local", "--root", str(root), "-f", "json", "--policy", str(pol))
    rep = res.json()
    got = {(f["status"], f["subject"]) for f in rep["findings"] if f["check_id"] == "linux.secrets.plaintext"}
    assert got == {
        ("fail", "/etc/wpa_supplicant/wpa_supplicant-wlan0.conf:3"),  # root-only 0600: SO-14-6 still fails
        ("fail", "/etc/sssd/sssd.conf:3"),
        ("fail", "/etc/ldap.conf:3"),  # world-readable; the commented example and the {SSHA} hash are not hits
        ("fail", "/home/alice/.netrc:1"),  # 0600 but owned by alice: not root-only
        ("fail", "/etc/ppp/chap-secrets:2"),  # the quoted secret with spaces
        ("fail", "/etc/myapp/other.conf:1"),  # 0640 root:root is root-only: a mitigating note only
        ("fail", "/etc/myapp/app.conf:3"),  # an unencrypted OpenSSH key, reported once at its BEGIN line
    }  # /etc/myapp/tls.conf holds a passphrase-protected key: not plaintext, no finding
    assert all(s not in res.stdout for s in secrets), [s for s in secrets if s in res.stdout]
    ev = next(e for e in rep["evidence"] if e["collector"] == "linux.secrets")
    assert f"bindpw {REDACTED}" in ev["raw"] and "ldap_default_authtok = <redacted>" in ev["raw"]
    assert "DB_PASSWORD" not in ev["raw"]  # a variable reference is not a finding, and its line is not shown
    sssd = next(f for f in rep["findings"] if f["subject"] == "/etc/sssd/sssd.conf:3")
    assert "mitigating" in sssd["detail"]["en"] and "緩和要因" in sssd["detail"]["ja"] and sssd["severity"] == "medium"
    ldap = next(f for f in rep["findings"] if f["subject"] == "/etc/ldap.conf:3")
    assert "mitigating" not in ldap["detail"]["en"] and ldap["severity"] == "high"


def test_root_only_cannot_be_downgraded_to_warn(tmp_path: Path) -> None:
    pol = tmp_path / "site.yaml"
    pol.write_text("secrets:\n  root_only_status: warn\n")
    res = run_tenken("scan", "local", "--root", str(make_good_root(tmp_path / "root")), "-f", "json", "--policy", str(pol))
    assert res.exit_code not in (0, 1) and "root_only_status" in res.stderr + res.stdout


def test_credentials_file_named_in_fstab_is_scanned(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    write_file(root, "/root/.smbcredentials", "username=clerk\npassword=Cred3ntial!\n", 0o644)
    rep = run_tenken("scan", "local", "--root", str(root), "-f", "json").json()
    got = {(f["status"], f["subject"]) for f in rep["findings"] if f["check_id"] == "linux.secrets.plaintext"}
    assert got == {("fail", "/root/.smbcredentials:2")}


def test_recursive_globs_find_nested_mysql_configs(tmp_path: Path) -> None:
    root = make_good_root(tmp_path / "root")
    write_file(root, "/etc/mysql/mariadb.conf.d/nested/50-client.cnf", "[client]\npassword = N3sted-pw\n", 0o644)
    write_file(root, "/etc/mysql/debian.cnf", "[client]\nhost = localhost\nuser = debian-sys-maint\npassword = Deb1an-pw\n", 0o600)
    res = run_tenken("scan", "local", "--root", str(root), "-f", "json")
    got = {(f["status"], f["subject"]) for f in res.json()["findings"] if f["check_id"] == "linux.secrets.plaintext"}
    assert got == {("fail", "/etc/mysql/mariadb.conf.d/nested/50-client.cnf:2"), ("fail", "/etc/mysql/debian.cnf:4")}
    assert "N3sted-pw" not in res.stdout and "Deb1an-pw" not in res.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_unreadable_file_is_an_error_not_a_pass() -> None:
    """A real permission denial: the collector runs in a child that dropped to `nobody`."""
    base = Path(tempfile.mkdtemp(prefix="tenken-secrets-"))
    try:
        base.chmod(0o755)
        root = make_good_root(base / "root")
        write_file(root, "/etc/sssd/sssd.conf", f"ldap_default_authtok = {SSSD_TOK}\n", 0o600)
        for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
            d.chmod(0o755)
        load_all()
        spec = COLLECTORS["linux.secrets"]
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: drop privileges for real, collect, report through the pipe
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                got = run_collector(spec, RootTransport(root), CollectSettings())
                os.write(wfd, json.dumps(got.evidence.model_dump(mode="json")).encode())
            finally:
                os._exit(0)
        os.close(wfd)
        data = b""
        while chunk := os.read(rfd, 65536):
            data += chunk
        os.waitpid(pid, 0)
        ev = json.loads(data)
        assert "/etc/sssd/sssd.conf" in ev["facts"]["unreadable"]
        assert ev["facts"]["unreadable"]["/etc/sssd/sssd.conf"].startswith("denied")
        assert SSSD_TOK not in json.dumps(ev)
        from tenken.checks.policy import load_policy
        from tenken.checks.registry import run_checks
        from tenken.collectors.linux.secrets import SecretsFacts
        from tenken.collectors.transport.base import OsFamily

        findings = run_checks(os=OsFamily.LINUX, target="t", facts={"linux.secrets": SecretsFacts.model_validate(ev["facts"])},
                              evidence_ids={"linux.secrets": ev["id"]}, evidence_errors={}, policy=load_policy(),
                              only={"linux.secrets.plaintext"})
        # the good tree's 0600 /root/.smbcredentials is just as unreadable to nobody
        assert [(f.status.value, f.subject) for f in findings] == [("error", "/etc/sssd/sssd.conf"),
                                                                   ("error", "/root/.smbcredentials")]
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------
# the redactor never emits a secret

SECRET = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="\\"), min_size=6, max_size=40)
SPACED = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\\\""), min_size=6, max_size=40)
KEYS = st.sampled_from(["password", "passwd", "bindpw", "ldap_default_authtok", "psk", "db_password", "client-secret",
                        "wep_key0", "Passphrase", "rootpw", "mysql.pwd"])


def _never_leaks(template: str, secret: str, fmt: str, path: str) -> None:
    """`template` holds {S} where the secret goes; the secret must not occur in the rest of it."""
    assume(secret.strip() and secret.strip() not in template.replace("{S}", "\x00"))
    assume(secret.strip() not in "<redacted>")  # the marker itself is not a leak
    text = template.replace("{S}", secret)
    assert secret.strip() not in excerpt_for(text, fmt)
    assert secret.strip() not in redact_config(text, path)


@settings(max_examples=400, deadline=None)
@given(key=KEYS, sep=st.sampled_from(["=", " = ", ": ", ":", "\t=\t"]), secret=SPACED, quote=st.sampled_from(["", '"', "'"]),
       indent=st.sampled_from(["", "  ", "\t"]), comment=st.booleans())
def test_kv_redaction(key: str, sep: str, secret: str, quote: str, indent: str, comment: bool) -> None:
    assume(not secret.startswith(("#", ";")) and "'" not in secret)
    line = f"{indent}{'# ' if comment else ''}{key}{sep}{quote}{{S}}{quote}"
    template = f"[section]\nuser = admin\n{line}\nother = 1\n"
    _never_leaks(template, secret, "kv", "/etc/app.conf")
    if not comment:
        assert any(s.line == 3 for s in find_spans(template.replace("{S}", secret), "kv"))


@settings(max_examples=300, deadline=None)
@given(key=KEYS, secret=SECRET, prefix=st.sampled_from(["ExecStart=/usr/bin/app --", "url = jdbc:x://h/db;", "opts: a=1,", "cmd -u x -"]))
def test_embedded_redaction(key: str, secret: str, prefix: str) -> None:
    _never_leaks(f"{prefix}{key}={{S}} --tail\n", secret, "kv", "/etc/app.conf")


@settings(max_examples=300, deadline=None)
@given(secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=",\\#"), min_size=6, max_size=30),
       key=st.sampled_from(["password", "pass"]))
def test_fstab_redaction(secret: str, key: str) -> None:
    _never_leaks(f"UUID=1 / ext4 defaults 0 1\n//srv/share /mnt/s cifs username=u,{key}={{S}},uid=0 0 0\n", secret, "fstab",
                 "/etc/fstab")


@settings(max_examples=300, deadline=None)
@given(secret=SECRET, quoted=st.booleans())
def test_chap_pgpass_netrc_redaction(secret: str, quoted: bool) -> None:
    assume('"' not in secret)
    s = '"{S}"' if quoted else "{S}"
    _never_leaks(f"# client server secret IP\nward * {s} *\n", secret, "chap", "/etc/ppp/chap-secrets")
    _never_leaks("db.local:5432:emr:emr_app:{S}\n", secret, "pgpass", "/root/.pgpass")
    _never_leaks("machine h login u password {S}\n", secret, "netrc", "/root/.netrc")
    _never_leaks("machine h login u password\n   {S}\n", secret, "netrc", "/root/.netrc")
    _never_leaks("{S}\n", secret, "whole", "/etc/ldap.secret")


def test_private_keys_plain_and_encrypted() -> None:
    for text, plain in ((_openssh(False), True), (_pem(False), True), (_openssh(True), False), (_pem(True), False)):
        spans = find_spans(text, "kv")
        assert spans and all(s.kind == "private_key" for s in spans)
        assert all(s.plaintext is plain for s in spans)
        body = [ln for ln in text.splitlines() if "PRIVATE KEY" not in ln]
        red = redact_config(text)
        assert not any(b in red for b in body)


def test_helpers() -> None:
    assert fstab_credential_files("//s/x /m cifs credentials=/root/.smb,uid=0 0 0\n#//s/y /n cifs cred=/x 0 0\n") == ["/root/.smb"]
    assert root_only(0o600, 0, 0) and root_only(0o640, 0, 0) and not root_only(0o640, 0, 4) and not root_only(0o604, 0, 0)
    assert not root_only(0o600, 1000, 1000)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["kv", "fstab", "chap", "pgpass", "netrc", "sasl_passwd", "whole"]))
def test_finders_are_total(text: str, fmt: str) -> None:
    for s in find_spans(text, fmt):
        assert s.line >= 1 and 0 <= s.start <= s.end
    excerpt_for(text, fmt)
    redact_config(text, "/etc/fstab")
    fstab_credential_files(text)
