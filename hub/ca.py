"""The hub's own certificate authority: the only thing that makes certificates, so nobody does it by hand.

One ECDSA P-256 CA signs three kinds of leaf certificate, told apart by their Extended Key Usage:
- the hub's TLS server certificate (serverAuth only),
- agent client certificates (clientAuth only, CN = agent_id = tenken.agent.dsse.agent_id(signing key)),
- operator client certificates (clientAuth only, CN = "user:<name>").
P-256 rather than Ed25519 because browsers (the later web UI) do not accept Ed25519 certificates. EKUs
keep an agent certificate from ever serving as the hub, and the hub's from ever acting as a client.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tenken.agent import dsse

CA_DAYS = 3650
SERVER_DAYS = 825
CLIENT_DAYS = 825
USER_PREFIX = "user:"
# The agent's CSR names its agent id and signing key id in SAN URIs (tenken.agent.identity); checked if present.
AGENT_URI_PREFIX = "urn:tenken:agent:"
KEYID_URI_PREFIX = "urn:tenken:signing-key:sha256:"
# The machine the agent was initialised on (tenken.agent.identity): what its local scans must be about.
HOST_URI_PREFIX = "urn:tenken:host:"
HOSTNAME_URI_PREFIX = "urn:tenken:hostname:"


class CAError(Exception):
    """The CA is missing or unusable, or a request to it (CSR, key) is invalid."""


@dataclass(frozen=True)
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _now() -> datetime:
    return datetime.now(UTC)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file created 0600 from the start (no window where it is world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def create_ca(key_path: Path, cert_path: Path, *, org: str = "tenken hub") -> CA:
    """Create the CA key (0600) and self-signed certificate. Refuses to overwrite an existing CA."""
    if key_path.exists() or cert_path.exists():
        raise CAError(f"a CA already exists in {key_path.parent}; refusing to overwrite it")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, f"{org} agent CA")])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, key_pem(key))
    write_public(cert_path, pem(cert))
    return CA(key, cert)


def load_ca(key_path: Path, cert_path: Path) -> CA:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except FileNotFoundError as exc:
        raise CAError(f"no CA at {key_path.parent}: run `tenken-hub ca init --data DIR` or `tenken-hub serve`") from exc
    except ValueError as exc:
        raise CAError(f"the CA files in {key_path.parent} are unreadable: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError("the CA key is not an ECDSA key")
    return CA(key, cert)


def _leaf(ca: CA, subject: x509.Name, public_key: object, days: int, eku: x509.ObjectIdentifier, sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=days), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def default_sans(extra: list[str] | None = None) -> list[str]:
    """localhost, 127.0.0.1, ::1, this machine's host names, plus operator-given extras (deduplicated)."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn(), *(extra or [])]
    seen: list[str] = []
    for n in names:
        n = n.strip()
        if n and n not in seen:
            seen.append(n)
    return seen


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def cert_sans(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def issue_server_cert(ca: CA, key_path: Path, cert_path: Path, sans: list[str]) -> x509.Certificate:
    """(Re)issue the hub's TLS certificate with a fresh key for every name the hub is reached by."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0] if sans else "localhost")])
    cert = _leaf(ca, subject, key.public_key(), SERVER_DAYS, ExtendedKeyUsageOID.SERVER_AUTH, _general_names(sans))
    write_private(key_path, key_pem(key))
    write_public(cert_path, pem(cert) + pem(ca.cert))
    return cert


def server_cert_needs_renewal(cert_path: Path, sans: list[str]) -> bool:
    if not cert_path.is_file():
        return True
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return True
    if cert.not_valid_after_utc - _now() < timedelta(days=30):
        return True
    have = cert_sans(cert)
    return not all(str(ipaddress.ip_address(n)) in have if _is_ip(n) else n in have for n in sans)


def _is_ip(n: str) -> bool:
    try:
        ipaddress.ip_address(n)
    except ValueError:
        return False
    return True


def issue_agent_cert(ca: CA, csr_pem: bytes, signing_key: Ed25519PublicKey, days: int = CLIENT_DAYS) -> tuple[str, x509.Certificate]:
    """Issue the agent's TLS client certificate, bound to its signing key through CN = agent_id(key).

    The CSR must be self-consistent (its signature verifies) and, if it names a CN, name that same
    agent_id: a CSR made for one agent can never be enrolled with another agent's signing key.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CAError(f"the CSR is not a PEM certificate signing request: {exc}") from exc
    if not csr.is_signature_valid:
        raise CAError("the CSR's signature does not verify (corrupted or forged request)")
    aid = dsse.agent_id(signing_key)
    cns = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns and cns != [aid]:
        raise CAError(f"the CSR names CN={cns[0]!r} but the signing key belongs to {aid}: the certificate and the signing key must be the same agent's")
    kid = dsse.key_id(signing_key)
    for uri in _csr_uris(csr):
        if uri.startswith(KEYID_URI_PREFIX) and uri[len(KEYID_URI_PREFIX) :] != kid:
            raise CAError("the CSR names a different signing key id than the public key given with --pub")
        if uri.startswith(AGENT_URI_PREFIX) and uri[len(AGENT_URI_PREFIX) :] != aid:
            raise CAError(f"the CSR names agent {uri[len(AGENT_URI_PREFIX):]!r} but the signing key belongs to {aid}")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, aid), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "tenken agent")])
    uris: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(AGENT_URI_PREFIX + aid),
        x509.UniformResourceIdentifier(KEYID_URI_PREFIX + kid),
    ]
    host_id, _ = csr_host(csr_pem)
    if host_id:
        uris.append(x509.UniformResourceIdentifier(HOST_URI_PREFIX + host_id))
    return aid, _leaf(ca, subject, csr.public_key(), days, ExtendedKeyUsageOID.CLIENT_AUTH, uris)


_HOST_ID = re.compile(r"^(machine-id|machine-guid):[0-9A-Za-z-]{8,64}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")


def csr_host(csr_pem: bytes) -> tuple[str | None, str | None]:
    """(host id, host name) an agent CSR names, or (None, None). CAError for a malformed value."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CAError(f"the CSR is not a PEM certificate signing request: {exc}") from exc
    host_id = hostname = None
    for uri in _csr_uris(csr):
        if uri.startswith(HOST_URI_PREFIX):
            host_id = uri[len(HOST_URI_PREFIX) :]
            if not _HOST_ID.fullmatch(host_id):
                raise CAError(f"the CSR names a malformed host id {host_id[:80]!r}")
        elif uri.startswith(HOSTNAME_URI_PREFIX):
            hostname = uri[len(HOSTNAME_URI_PREFIX) :]
            if not _HOSTNAME.fullmatch(hostname):
                raise CAError(f"the CSR names a malformed host name {hostname[:80]!r}")
    return host_id, hostname


def _csr_uris(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(u) for u in san.get_values_for_type(x509.UniformResourceIdentifier)]


def issue_user_cert(ca: CA, name: str, days: int = CLIENT_DAYS) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A client certificate for a person (CN user:<name>): it opens the TLS connection; the token authorises."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, USER_PREFIX + name), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "tenken operator")])
    return key, _leaf(ca, subject, key.public_key(), days, ExtendedKeyUsageOID.CLIENT_AUTH)
