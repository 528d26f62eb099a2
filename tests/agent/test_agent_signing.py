"""Signed reports end to end through the real CLI: init -> scan --sign -> verify, and every way it must fail."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
import rfc8785
from agent_fixtures import *  # noqa: F403  (fixtures)
from agent_fixtures import run_tenken
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tenken.agent.dsse import agent_id, key_id, load_public_key, sign_payload, verify_envelope


@pytest.fixture
def ident(tmp_path: Path) -> Path:
    d = tmp_path / "id"
    res = run_tenken("agent", "init", "--dir", str(d))
    assert res.exit_code == 0, res.stderr
    return d


def _signed(tmp_path: Path, ident: Path, root: Path) -> Path:
    out = tmp_path / "env.json"
    res = run_tenken("scan", "local", "--root", str(root), "--sign", str(ident / "agent.key"), "-o", str(out))
    assert res.exit_code in (0, 1), res.stderr
    return out


def _rewrite_payload(env_path: Path, mutate) -> None:
    env = json.loads(env_path.read_bytes())
    payload = bytearray(base64.b64decode(env["payload"]))
    mutate(payload)
    env["payload"] = base64.b64encode(bytes(payload)).decode()
    env_path.write_text(json.dumps(env))


def test_sign_then_verify_roundtrip(tmp_path: Path, ident: Path, small_root: Path) -> None:
    env_path = _signed(tmp_path, ident, small_root)
    env = json.loads(env_path.read_bytes())
    assert env["payloadType"] == "application/vnd.tenken.report.v1+json"
    pub = load_public_key((ident / "agent.pub").read_bytes())
    assert env["signatures"][0]["keyid"] == key_id(pub)
    payload = base64.b64decode(env["payload"])
    report = json.loads(payload)
    # The signed bytes are the RFC 8785 canonical form, so any party re-serialising agrees on them.
    assert payload == rfc8785.dumps(report)
    assert report["schema"] == "tenken.report/v1"

    res = run_tenken("verify", str(env_path), "--key", str(ident / "agent.pub"))
    assert res.exit_code == 0, res.stderr
    assert "signature valid" in res.stdout
    assert report["id"] in res.stdout
    assert f"root:{small_root} (root, scanned)" in res.stdout
    n_pass = sum(f["status"] == "pass" for f in report["findings"])
    assert f"pass={n_pass}," in res.stdout

    res = run_tenken("verify", str(env_path), "--key", str(ident / "agent.pub"), "--json")
    summary = json.loads(res.stdout)
    assert summary["id"] == report["id"] and summary["counts"]["pass"] == n_pass
    assert sum(summary["counts"].values()) == len(report["findings"])


def test_tampered_payload_is_a_bad_signature(tmp_path: Path, ident: Path, small_root: Path) -> None:
    env_path = _signed(tmp_path, ident, small_root)

    def flip(p: bytearray) -> None:
        i = p.index(b'"status":"') + len(b'"status":"')
        p[i] ^= 0x01  # one byte of one finding's status

    _rewrite_payload(env_path, flip)
    res = run_tenken("verify", str(env_path), "--key", str(ident / "agent.pub"))
    assert res.exit_code == 1
    assert "bad signature" in res.stderr
    assert "signature valid" not in res.stdout


def test_wrong_key(tmp_path: Path, ident: Path, small_root: Path) -> None:
    env_path = _signed(tmp_path, ident, small_root)
    other = tmp_path / "other"
    assert run_tenken("agent", "init", "--dir", str(other)).exit_code == 0
    res = run_tenken("verify", str(env_path), "--key", str(other / "agent.pub"))
    assert res.exit_code == 1
    assert "wrong key" in res.stderr


def test_signature_swapped_under_right_keyid_is_bad_signature(tmp_path: Path, ident: Path, small_root: Path) -> None:
    """An attacker who keeps our keyid but signs with their own key gets "bad signature", not acceptance."""
    env_path = _signed(tmp_path, ident, small_root)
    env = json.loads(env_path.read_bytes())
    forged = sign_payload(base64.b64decode(env["payload"]), Ed25519PrivateKey.generate())
    env["signatures"][0]["sig"] = forged["signatures"][0]["sig"]
    env_path.write_text(json.dumps(env))
    res = run_tenken("verify", str(env_path), "--key", str(ident / "agent.pub"))
    assert res.exit_code == 1 and "bad signature" in res.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json at all", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"payloadType": "application/vnd.tenken.report.v1+json", "payload": "e30=", "signatures": []}).encode(), "no signatures"),
        (json.dumps({"payloadType": "application/vnd.tenken.report.v1+json", "payload": "%%%", "signatures": [{"sig": "AA=="}]}).encode(), "base64"),
        (json.dumps({"payload": "e30=", "signatures": [{"sig": "AA=="}]}).encode(), "payloadType"),
        (json.dumps({"payloadType": "text/plain", "payload": "e30=", "signatures": [{"sig": "AA=="}]}).encode(), "payloadType is 'text/plain'"),
    ],
)
def test_malformed_envelope(tmp_path: Path, ident: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    res = run_tenken("verify", str(p), "--key", str(ident / "agent.pub"))
    assert res.exit_code == 1
    assert "malformed envelope" in res.stderr and reason in res.stderr


def test_validly_signed_payload_that_is_not_a_report(tmp_path: Path, ident: Path) -> None:
    from tenken.agent.signing import load_signing_key

    key = load_signing_key(ident / "agent.key")
    for doc, reason in (({"hello": "world"}, "not a tenken.report/v1"), ({"schema": "tenken.report/v1", "id": "x"}, "not a valid tenken.report/v1")):
        p = tmp_path / "other.json"
        p.write_text(json.dumps(sign_payload(rfc8785.dumps(doc), key)))
        res = run_tenken("verify", str(p), "--key", str(ident / "agent.pub"))
        assert res.exit_code == 1
        assert "signature valid but" in res.stderr and reason in res.stderr


def test_group_readable_key_is_refused(tmp_path: Path, ident: Path, small_root: Path) -> None:
    key = ident / "agent.key"
    for mode in (0o644, 0o640, 0o604):
        key.chmod(mode)
        out = tmp_path / "env.json"
        res = run_tenken("scan", "local", "--root", str(small_root), "--sign", str(key), "-o", str(out))
        assert res.exit_code == 2
        assert f"chmod 600 {key}" in res.stderr and f"{mode:04o}" in res.stderr
        assert not out.exists()
        assert "PRIVATE KEY" not in res.stderr + res.stdout


def test_non_ed25519_key_is_refused(tmp_path: Path, ident: Path, small_root: Path) -> None:
    res = run_tenken("scan", "local", "--root", str(small_root), "--sign", str(ident / "tls.key"), "-o", str(tmp_path / "e.json"))
    assert res.exit_code == 2 and "not an Ed25519 key" in res.stderr


def test_init_writes_private_keys_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        res = run_tenken("agent", "init", "--dir", str(tmp_path / "id"))
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.stderr
    d = tmp_path / "id"
    assert stat.S_IMODE((d / "agent.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "tls.key").stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in (d / "agent.key").read_bytes()  # PKCS#8 PEM

    pub = load_public_key((d / "agent.pub").read_bytes())
    csr = x509.load_pem_x509_csr((d / "tls.csr").read_bytes())
    assert csr.is_signature_valid
    cn = csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert cn == agent_id(pub)
    assert cn in res.stdout
    uris = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.UniformResourceIdentifier)
    assert f"urn:tenken:agent:{cn}" in uris
    assert f"urn:tenken:signing-key:sha256:{key_id(pub)}" in uris
    from cryptography.hazmat.primitives.asymmetric import ec

    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey) and csr.public_key().curve.name == "secp256r1"
    # the signing key in agent.key and the public key in agent.pub belong together
    from tenken.agent.signing import load_signing_key

    env = sign_payload(b"{}", load_signing_key(d / "agent.key"))
    assert verify_envelope(env, [pub]) == b"{}"


def test_init_twice_is_refused_and_keeps_the_keys(tmp_path: Path, ident: Path) -> None:
    before = {p.name: p.read_bytes() for p in ident.iterdir()}
    res = run_tenken("agent", "init", "--dir", str(ident))
    assert res.exit_code == 2
    assert "refusing to overwrite" in res.stderr and "agent.key" in res.stderr
    assert {p.name: p.read_bytes() for p in ident.iterdir()} == before


def test_init_refuses_when_only_one_file_exists(tmp_path: Path) -> None:
    d = tmp_path / "id"
    d.mkdir()
    (d / "tls.key").write_text("old")
    res = run_tenken("agent", "init", "--dir", str(d))
    assert res.exit_code == 2 and "tls.key" in res.stderr
    assert not (d / "agent.key").exists()
    assert (d / "tls.key").read_text() == "old"
