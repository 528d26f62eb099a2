"""First start, CA and enrollment through the real `tenken-hub` command line."""

from __future__ import annotations

import socket
import sqlite3
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hub_harness import Hub, make_agent, run_hub_cli, start_hub
from tenken.agent import dsse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh_hub(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    base = tmp_path_factory.mktemp("boot")
    h = start_hub(base / "data", extra=("--san", "hub.example-hospital.jp", "--san", "10.20.30.40"))
    yield h
    h.stop()


def test_first_start_creates_everything_and_prints_the_next_steps(fresh_hub: Hub) -> None:
    d = fresh_hub.data
    out = fresh_hub.log.read_text()
    token_file = d / "clients" / "admin" / "token"
    for needle in ("tenken agent init --dir", f"tenken-hub agent enroll tls.csr --pub agent.pub --data {d}", "ca_file:", "client_cert:", str(token_file)):
        assert needle in out, needle
    # the service's output goes to a journal: the token is only in a 0600 file
    assert fresh_hub.token not in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and token_file.read_text().strip() == fresh_hub.token
    assert stat.S_IMODE((d / "private" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "private" / "hub.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "hub.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    with sqlite3.connect(d / "hub.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        hashes = [r[0] for r in conn.execute("SELECT token_sha256 FROM tokens")]
    assert len(hashes) == 1 and fresh_hub.token not in hashes[0]
    assert fresh_hub.token.encode() not in (d / "hub.db").read_bytes()


def test_hub_certificate_names(fresh_hub: Hub) -> None:
    cert = x509.load_pem_x509_certificate((fresh_hub.data / "hub.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(n) for n in san.get_values_for_type(x509.DNSName)} | {str(n) for n in san.get_values_for_type(x509.IPAddress)}
    assert {"localhost", "127.0.0.1", socket.gethostname(), "hub.example-hospital.jp", "10.20.30.40"} <= names
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_only_tls_1_3(fresh_hub: Hub) -> None:
    d = fresh_hub.data / "clients" / "admin"
    ctx = ssl.create_default_context(cafile=str(fresh_hub.ca))
    ctx.load_cert_chain(str(d / "client.pem"), str(d / "client.key"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, OSError)), socket.create_connection(("127.0.0.1", fresh_hub.port)) as s, ctx.wrap_socket(s, server_hostname="localhost"):
        pass
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", fresh_hub.port)) as s, ctx.wrap_socket(s, server_hostname="localhost") as tls:
        assert tls.version() == "TLSv1.3"


def test_enroll_binds_certificate_to_signing_key(fresh_hub: Hub, tmp_path: Path) -> None:
    a = make_agent(fresh_hub, tmp_path / "a", enroll=False)
    out = fresh_hub.cli("agent", "enroll", str(a.dir / "tls.csr"), "--pub", str(a.dir / "agent.pub"))
    cert = x509.load_pem_x509_certificate(out.stdout.encode())  # printed when no --out
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == a.agent_id == dsse.agent_id(a.key.public_key())
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.UniformResourceIdentifier)
    assert f"urn:tenken:signing-key:sha256:{dsse.key_id(a.key.public_key())}" in uris
    assert a.agent_id in fresh_hub.cli("agent", "list").stdout


def test_enroll_refuses_a_csr_of_another_agent(fresh_hub: Hub, tmp_path: Path) -> None:
    x = make_agent(fresh_hub, tmp_path / "x", enroll=False)
    y = make_agent(fresh_hub, tmp_path / "y", enroll=False)
    res = fresh_hub.cli("agent", "enroll", str(x.dir / "tls.csr"), "--pub", str(y.dir / "agent.pub"), "--out", str(tmp_path / "c.pem"), check=False)
    assert res.returncode == 2 and "same agent" in res.stderr
    assert not (tmp_path / "c.pem").exists()
    listed = fresh_hub.cli("agent", "list").stdout
    assert x.agent_id not in listed and y.agent_id not in listed
    (tmp_path / "junk.csr").write_text("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    res = fresh_hub.cli("agent", "enroll", str(tmp_path / "junk.csr"), "--pub", str(y.dir / "agent.pub"), check=False)
    assert res.returncode == 2 and "CSR" in res.stderr


def test_commands_on_an_uninitialised_dir_say_what_to_do(tmp_path: Path) -> None:
    res = run_hub_cli("agent", "list", "--data", str(tmp_path / "empty"), check=False)
    assert res.returncode == 2 and "tenken-hub serve" in res.stderr
    ok = run_hub_cli("ca", "init", "--data", str(tmp_path / "ca"))
    assert "CA created" in ok.stdout
    assert stat.S_IMODE((tmp_path / "ca" / "private" / "ca.key").stat().st_mode) == 0o600
    again = run_hub_cli("ca", "init", "--data", str(tmp_path / "ca"), check=False)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def test_restart_keeps_ca_and_token_and_adds_new_names(fresh_hub: Hub) -> None:
    ca_before = (fresh_hub.data / "ca.pem").read_bytes()
    second = start_hub(fresh_hub.data, token=fresh_hub.token, extra=("--san", "new-name.example.jp"))
    try:
        assert (fresh_hub.data / "ca.pem").read_bytes() == ca_before
        assert "thub_" not in second.log.read_text()  # the token is printed on the very first start only
        cert = x509.load_pem_x509_certificate((fresh_hub.data / "hub.pem").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "new-name.example.jp" in san.get_values_for_type(x509.DNSName)
        with second.operator() as op:
            assert op.get("/api/v1/hosts").status_code == 200
    finally:
        second.stop()
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=False) as c:
        c.get(second.url)


def test_serve_refuses_a_bad_log_level_and_an_unusable_data_dir(tmp_path: Path) -> None:
    bad = run_hub_cli("serve", "--data", str(tmp_path / "d"), "--log-level", "verbose", check=False)
    assert bad.returncode == 2 and "--log-level must be" in bad.stderr and "Traceback" not in bad.stderr
    afile = tmp_path / "a-file"
    afile.write_text("x")
    bad = run_hub_cli("serve", "--data", str(afile), "--port", "1", check=False)
    assert bad.returncode == 2 and "cannot create or use the hub data directory" in bad.stderr and "Traceback" not in bad.stderr
