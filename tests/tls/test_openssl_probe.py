"""Parsing `openssl s_client` output and the raw SSLv2 hello (collectors/tls/openssl_probe.py), on output
captured from this machine's OpenSSL 3.0.19 against `openssl s_server -tls1_3 -ciphersuites
TLS_AES_128_CCM_8_SHA256` (certificate body shortened; the parser only needs its PEM armour)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from tenken.collectors.tls.openssl_probe import SSL2_CLIENT_HELLO, is_ssl2_server_hello, parse_s_client

ACCEPTED = """CONNECTED(00000003)
---
Certificate chain
 0 s:CN = localhost
   i:CN = localhost
   a:PKEY: id-ecPublicKey, 256 (bit); sigalg: ecdsa-with-SHA256
   v:NotBefore: Dec  7 00:44:21 2026 GMT; NotAfter: Jan  6 00:44:21 2027 GMT
-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUQ
-----END CERTIFICATE-----
---
Server certificate
subject=CN = localhost
issuer=CN = localhost
---
No client certificate CA names sent
Peer signing digest: SHA256
Peer signature type: ECDSA
Server Temp Key: X25519, 253 bits
---
SSL handshake has read 728 bytes and written 295 bytes
Verification error: self-signed certificate
---
New, TLSv1.3, Cipher is TLS_AES_128_CCM_8_SHA256
Server public key is 256 bit
Secure Renegotiation IS NOT supported
Compression: NONE
Expansion: NONE
No ALPN negotiated
Early data was not sent
Verify return code: 18 (self-signed certificate)
---
DONE
"""
REFUSED = """80CB4D24FC7E0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../ssl/record/rec_layer_s3.c:1601:SSL alert number 40
CONNECTED(00000003)
---
no peer certificate available
---
No client certificate CA names sent
---
SSL handshake has read 7 bytes and written 247 bytes
Verification: OK
---
New, (NONE), Cipher is (NONE)
Secure Renegotiation IS NOT supported
Compression: NONE
Expansion: NONE
No ALPN negotiated
Early data was not sent
Verify return code: 0 (ok)
---
"""


def test_accepted_and_refused_handshakes() -> None:
    hs = parse_s_client(ACCEPTED)
    assert (hs.version, hs.suite, hs.temp_key) == ("TLSv1.3", "TLS_AES_128_CCM_8_SHA256", ("ECDH", "X25519", 253))
    assert hs.verify_code == 18 and hs.verify_text == "self-signed certificate" and len(hs.chain_pem) == 1
    assert not hs.cert_requested
    no = parse_s_client(REFUSED)
    assert (no.version, no.suite, no.chain_pem) == (None, None, ())


def test_temp_key_shapes() -> None:
    p256 = parse_s_client(ACCEPTED.replace("X25519, 253 bits", "ECDH, prime256v1, 256 bits"))
    assert p256.temp_key == ("ECDH", "secp256r1", 256)  # sslyze's name for the curve
    dh = parse_s_client(ACCEPTED.replace("X25519, 253 bits", "DH, 2048 bits"))
    assert dh.temp_key == ("DH", None, 2048)


def test_ssl2_hello_and_answers() -> None:
    assert SSL2_CLIENT_HELLO[0] & 0x80 and SSL2_CLIENT_HELLO[2] == 0x01  # CLIENT-HELLO
    assert SSL2_CLIENT_HELLO[3:5] == b"\x00\x02"  # version 2
    assert is_ssl2_server_hello(b"\x83\x5e\x04\x00\x01")  # an SSLv2 SERVER-HELLO record
    assert not is_ssl2_server_hello(b"\x15\x03\x01\x00\x02\x02\x28")  # a TLS handshake_failure alert
    assert not is_ssl2_server_hello(b"")


@given(st.text())
def test_parse_s_client_is_total(text: str) -> None:
    parse_s_client(text)
