"""RFC 3161 client against a real `openssl ts -reply` TSA started by the test; cross-checked with openssl ts -verify."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tenken.agent.bundle.tsa import TimestampError, request_timestamp, verify_timestamp
from tsa_server import TSA, make_tsa_pki, start_tsa

DATA = b'{"manifest": "tenken bundle"}\n'


@pytest.fixture(scope="module")
def tsa() -> Iterator[TSA]:
    with start_tsa() as t:
        yield t


def test_request_and_verify_and_openssl_agrees(tsa: TSA, tmp_path) -> None:
    tsa.mode["mode"] = "ok"
    tsr = request_timestamp(DATA, tsa.url, timeout=10)
    info = verify_timestamp(tsr, DATA, tsa_certs=tsa.der_certs())
    assert info.hash_algorithm == "sha256" and info.policy == "1.2.3.4.1"
    assert "tenken test TSA" in info.tsa_name and info.gen_time.tzinfo is not None
    assert info.certificates  # certReq=true: the token carries the TSA cert for the bundle
    (tmp_path / "d").write_bytes(DATA)
    (tmp_path / "t.tsr").write_bytes(tsr)
    r = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "d"), "-in", str(tmp_path / "t.tsr"),
                        "-CAfile", str(tsa.ca_pem), "-untrusted", str(tsa.tsa_pem)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # only the CA as anchor (offline, chain from the token) also verifies
    verify_timestamp(tsr, DATA, tsa_certs=[tsa.der_certs()[0]])


def test_other_data_tampering_and_foreign_anchor_refused(tsa: TSA, tmp_path) -> None:
    tsa.mode["mode"] = "ok"
    tsr = request_timestamp(DATA, tsa.url, timeout=10)
    with pytest.raises(TimestampError, match="imprint"):
        verify_timestamp(tsr, DATA + b"x", tsa_certs=tsa.der_certs())
    # flip a byte inside the genTime digits of the TSTInfo ("20" of the year): content no longer matches the signature
    i = tsr.find(b"\x18\x0f20")
    assert i > 0
    bad = tsr[: i + 2] + b"19" + tsr[i + 4 :]
    with pytest.raises(TimestampError, match=r"altered|signature"):
        verify_timestamp(bad, DATA, tsa_certs=tsa.der_certs())

    # a different CA as the only anchor: the token's own cert does not make it trusted
    other_ca, _, _ = make_tsa_pki(tmp_path)
    der = x509.load_pem_x509_certificate(other_ca.read_bytes()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(TimestampError, match="issued"):
        verify_timestamp(tsr, DATA, tsa_certs=[der])


@pytest.mark.parametrize(("mode", "match"), [("garbage", "not a DER"), ("500", "HTTP 500"), ("stall", "no answer")])
def test_bad_tsa_answers_are_clear_errors(tsa: TSA, mode: str, match: str) -> None:
    tsa.mode["mode"] = mode
    try:
        with pytest.raises(TimestampError, match=match):
            request_timestamp(DATA, tsa.url, timeout=1)
    finally:
        tsa.mode["mode"] = "ok"
