"""The hub's TLS: TLS 1.3 only, client certificate required and verified against the hub's own CA.

OpenSSL does the chain check during the handshake (a certificate from any other CA never reaches the
application); which *issued* certificates are still good (not revoked, still enrolled) is the
application's decision, made from the database on every request (see `tenken.hub.app`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID


def server_context(cert_file: Path, key_file: Path, ca_file: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.load_verify_locations(cafile=str(ca_file))
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


@dataclass(frozen=True)
class PeerCert:
    """The verified client certificate, reduced to what authorisation needs."""

    common_name: str
    serial: str  # lowercase hex, as stored in the `certs` table
    not_after: str


@lru_cache(maxsize=4096)
def parse_peer(der: bytes) -> PeerCert:
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    return PeerCert(common_name=cn, serial=format(cert.serial_number, "x"), not_after=cert.not_valid_after_utc.isoformat())
