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
from tenken.collectors.evidence import HostIdentity

SIGNING_KEY = "agent.key"
SIGNING_PUB = "agent.pub"
TLS_KEY = "tls.key"
TLS_CSR = "tls.csr"
#: Where the operator (or the Ansible role) puts the certificate the hub issued, by convention.
TLS_CERT = "tls.crt"

AGENT_URI_PREFIX = "urn:tenken:agent:"
KEYID_URI_PREFIX = "urn:tenken:signing-key:sha256:"
HOST_URI_PREFIX = "urn:tenken:host:"
HOSTNAME_URI_PREFIX = "urn:tenken:hostname:"
#: The machine the agent was initialised on, as the hub will know it (written by `init_identity`).
HOST_FILE = "host.json"


class IdentityExists(Exception):
    """Refusing to overwrite an existing key."""


@dataclass(frozen=True)
class Identity:
    agent_id: str
    key_id: str
    directory: Path
    host: HostIdentity | None = None

    @property
    def files(self) -> dict[str, Path]:
        names = (SIGNING_KEY, SIGNING_PUB, TLS_KEY, TLS_CSR) + ((HOST_FILE,) if self.host else ())
        return {n: self.directory / n for n in names}


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


def build_csr(tls_key: ec.EllipticCurvePrivateKey, signing_pub_raw_id: str, aid: str, host: HostIdentity | None = None) -> x509.CertificateSigningRequest:
    uris = [
        x509.UniformResourceIdentifier(AGENT_URI_PREFIX + aid),
        x509.UniformResourceIdentifier(KEYID_URI_PREFIX + signing_pub_raw_id),
    ]
    if host is not None:
        uris.append(x509.UniformResourceIdentifier(HOST_URI_PREFIX + host.host_id))
        uris.append(x509.UniformResourceIdentifier(HOSTNAME_URI_PREFIX + (host.fqdn or host.hostname)))
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, aid), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tenken agent")]))
        .add_extension(x509.SubjectAlternativeName(uris), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(tls_key, hashes.SHA256())
    )


def this_host() -> HostIdentity | None:
    """This machine's identity (machine-id / MachineGuid, host name, FQDN), read as a local scan reads it."""
    from tenken.collectors.identity import read_identity

    if os.name == "nt":
        import subprocess

        from tenken.collectors.identity import WINDOWS_SCRIPT, parse_windows_identity

        res = subprocess.run(["powershell", "-NoProfile", "-NonInteractive", "-Command", WINDOWS_SCRIPT], capture_output=True, text=True, timeout=60)
        return parse_windows_identity(res.stdout) if res.returncode == 0 else None
    from tenken.collectors.transport.local import LocalTransport

    with LocalTransport() as t:
        return read_identity(t)


def load_host(directory: Path) -> HostIdentity | None:
    """The host recorded at `agent init` (None for an identity made before hosts were recorded, or without one)."""
    p = directory / HOST_FILE
    if not p.is_file():
        return None
    return HostIdentity.model_validate_json(p.read_bytes())


_UNSET = object()


def init_identity(directory: Path, host: HostIdentity | object | None = _UNSET) -> Identity:
    """Create agent.key, agent.pub, tls.key, tls.csr (and host.json) in `directory`; IdentityExists if any is there.

    `host` defaults to this machine's identity; the CSR names it so that enrollment binds the agent to it.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = [n for n in (SIGNING_KEY, SIGNING_PUB, TLS_KEY, TLS_CSR, HOST_FILE) if (directory / n).exists()]
    if existing:
        raise IdentityExists(
            f"{directory}: {', '.join(existing)} already exist(s); refusing to overwrite an agent identity. "
            "Move the old files away first if you really mean to re-key this agent (it must then be enrolled again)."
        )
    machine: HostIdentity | None = this_host() if host is _UNSET else host  # type: ignore[assignment]
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
    csr = build_csr(tls_key, kid, aid, machine)
    write_exclusive(directory / TLS_CSR, csr.public_bytes(pem), 0o644)
    if machine is not None:
        write_exclusive(directory / HOST_FILE, machine.model_dump_json(indent=2).encode() + b"\n", 0o644)
    return Identity(agent_id=aid, key_id=kid, directory=directory, host=machine)


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
