"""An agent's identity: an Ed25519 signing key (who wrote a report) and a TLS key + CSR (who may send it).

Both are made on the agent and never leave it. The hub learns the agent's name from the CSR's CN, which is
derived from the signing key (`dsse.agent_id`), and the CSR also carries the signing key's id in a SAN URI,
so the certificate the hub issues and the key that signs reports are bound to one another.

Private keys are created with O_CREAT|O_EXCL under umask 077 and mode 0600: they are never, even briefly,
readable by another user, and an existing key is never overwritten (re-keying an agent is a deliberate act:
move the old files away first).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from tenken.agent.dsse import agent_id, key_id

SIGNING_KEY = "agent.key"
SIGNING_PUB = "agent.pub"
TLS_KEY = "tls.key"
TLS_CSR = "tls.csr"
#: Where the operator (or the Ansible role) puts the certificate the hub issued, by convention.
TLS_CERT = "tls.crt"

AGENT_URI_PREFIX = "urn:tenken:agent:"
KEYID_URI_PREFIX = "urn:tenken:signing-key:sha256:"


class IdentityExists(Exception):
    """Refusing to overwrite an existing key."""


@dataclass(frozen=True)
class Identity:
    agent_id: str
    key_id: str
    directory: Path

    @property
    def files(self) -> dict[str, Path]:
        return {n: self.directory / n for n in (SIGNING_KEY, SIGNING_PUB, TLS_KEY, TLS_CSR)}


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def write_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode`, failing if it exists; fsync so a crash cannot leave a truncated key."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    with _umask(0o077):
        fd = os.open(path, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    if os.name != "nt":
        os.chmod(path, mode)  # in case the file system ignored the creation mode


def build_csr(tls_key: ec.EllipticCurvePrivateKey, signing_pub_raw_id: str, aid: str) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, aid), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tenken agent")]))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(AGENT_URI_PREFIX + aid),
                    x509.UniformResourceIdentifier(KEYID_URI_PREFIX + signing_pub_raw_id),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(tls_key, hashes.SHA256())
    )


def init_identity(directory: Path) -> Identity:
    """Create agent.key, agent.pub, tls.key and tls.csr in `directory`; IdentityExists if any is there."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = [n for n in (SIGNING_KEY, SIGNING_PUB, TLS_KEY, TLS_CSR) if (directory / n).exists()]
    if existing:
        raise IdentityExists(
            f"{directory}: {', '.join(existing)} already exist(s); refusing to overwrite an agent identity. "
            "Move the old files away first if you really mean to re-key this agent (it must then be enrolled again)."
        )
    sk = Ed25519PrivateKey.generate()
    pub = sk.public_key()
    aid, kid = agent_id(pub), key_id(pub)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    # Private keys first, each exclusively: a concurrent `init` loses the race cleanly instead of mixing keys.
    write_exclusive(directory / SIGNING_KEY, sk.private_bytes(pem, pkcs8, none), 0o600)
    write_exclusive(directory / TLS_KEY, tls_key.private_bytes(pem, pkcs8, none), 0o600)
    write_exclusive(directory / SIGNING_PUB, pub.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    csr = build_csr(tls_key, kid, aid)
    write_exclusive(directory / TLS_CSR, csr.public_bytes(pem), 0o644)
    return Identity(agent_id=aid, key_id=kid, directory=directory)


def csr_agent_id(csr_pem: bytes) -> tuple[str, str | None]:
    """(CN, signing key id from the SAN) of an agent CSR: what the hub checks against agent.pub at enrolment."""
    csr = x509.load_pem_x509_csr(csr_pem)
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    kid = None
    with contextlib.suppress(x509.ExtensionNotFound):
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith(KEYID_URI_PREFIX):
                kid = uri[len(KEYID_URI_PREFIX) :]
    return str(cn), kid
