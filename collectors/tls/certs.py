"""Certificate facts from a parsed leaf certificate: key, signature hash, validity, names, hostname match.

Pure functions over `cryptography` objects, so they are tested without a server. The chain's trust is
decided by sslyze's path validation (the Rust X.509 verifier) and passed in.
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from tenken.collectors.tls.facts import CertificateFacts


def key_info(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    """(key type, size in bits, curve name) of the certificate's public key."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, None, None


def signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algo = cert.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know (e.g. MD2): report its OID
        return cert.signature_algorithm_oid.dotted_string
    return algo.name if algo is not None else None


def names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    except ValueError:  # malformed extension
        return [], []
    dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    return dns, ips


def _common_names(cert: x509.Certificate) -> list[str]:
    try:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    except ValueError:
        return []


def dns_name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching: exact (case-insensitive), or one leading `*.` label covering exactly one label."""
    p, h = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if not p or not h:
        return False
    if p == h:
        return True
    if p.startswith("*.") and "*" not in p[2:]:
        first, _, rest = h.partition(".")
        return bool(first) and rest == p[2:] and rest.count(".") >= 1
    return False


def hostname_matches(hostname: str, dns_names: list[str], ip_addresses: list[str], common_names: list[str] | None = None) -> bool:
    """Does the certificate cover `hostname`? IPs match IP SANs only; CN is used only when there are no SANs."""
    try:
        ip = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(_same_ip(ip, a) for a in ip_addresses)
    candidates = dns_names if (dns_names or ip_addresses) else (common_names or [])
    return any(dns_name_matches(n, hostname) for n in candidates)


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def certificate_facts(
    chain: list[x509.Certificate], *, hostname: str, trust_store: str, trusted: bool, validation_error: str | None
) -> CertificateFacts:
    leaf = chain[0]
    ktype, kbits, curve = key_info(leaf)
    dns, ips = names(leaf)
    return CertificateFacts(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        serial=format(leaf.serial_number, "x"),
        sha256_fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        key_type=ktype,
        key_bits=kbits,
        curve=curve,
        signature_hash=signature_hash(leaf),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        dns_names=dns,
        ip_addresses=ips,
        hostname=hostname,
        hostname_matches=hostname_matches(hostname, dns, ips, _common_names(leaf)),
        chain_length=len(chain),
        trust_store=trust_store,
        chain_trusted=trusted,
        validation_error=validation_error,
    )
