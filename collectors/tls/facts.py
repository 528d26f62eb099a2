"""Typed facts about one TLS endpoint, as negotiated by the scanner. No judgement here: checks judge.

Anything a probe could not establish is absent from its field and named in `unavailable` (an error or a
timeout: "incomplete", never "not offered"), or in `needs_client_certificate` (the probe needs a completed
handshake and the server requires a client certificate we were not given).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts
from tenken.collectors.tls.spec import Tls12Exception

#: Scanner probe names (keys of `unavailable` / `needs_client_certificate` / `weaknesses`).
CERTIFICATE = "certificate"
CURVES = "curves"
CLIENT_AUTH_HTTP = "client_auth.http"
#: The detail of every probe skipped because the server requires a client certificate none was given for.
NEEDS_CLIENT_CERT_DETAIL = "the server requires a client certificate (it closes certificate-less connections); scan with --client-cert/--client-key"


def suites_probe(version_value: str) -> str:
    """Probe name of the full suite enumeration of one version (apart from 'is the version offered')."""
    return f"suites.{version_value}"


class TlsVersion(StrEnum):
    SSL2 = "SSLv2"
    SSL3 = "SSLv3"
    TLS10 = "TLSv1.0"
    TLS11 = "TLSv1.1"
    TLS12 = "TLSv1.2"
    TLS13 = "TLSv1.3"

    @property
    def probe(self) -> str:
        return f"versions.{self.value}"


LEGACY_VERSIONS = (TlsVersion.SSL2, TlsVersion.SSL3, TlsVersion.TLS10, TlsVersion.TLS11)


class Weakness(StrEnum):
    """Known weaknesses sslyze probes. Each is a fact `vulnerable: bool`."""

    HEARTBLEED = "heartbleed"
    ROBOT = "robot"
    CCS_INJECTION = "ccs_injection"
    INSECURE_RENEGOTIATION = "insecure_renegotiation"
    CLIENT_RENEGOTIATION = "client_renegotiation"  # client-initiated renegotiation accepted (DoS)
    COMPRESSION = "compression"  # CRIME
    NO_FALLBACK_SCSV = "no_fallback_scsv"  # downgrade protection missing

    @property
    def probe(self) -> str:
        return f"weakness.{self.value}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeyExchange(_Model):
    """The ephemeral key the server chose for a suite: kind ECDH/DH, group name and size in bits."""

    kind: str  # "ECDH", "DH", or "none" (static RSA key exchange: no ephemeral key)
    group: str | None = None  # X25519, secp256r1, ... (ECDH only)
    bits: int | None = None


class AcceptedSuite(_Model):
    name: str  # IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    key_exchange: KeyExchange | None = None


class VersionSupport(_Model):
    offered: bool
    suites: list[AcceptedSuite] = Field(default_factory=list)
    #: True: the server picks its own order; False: it follows the client's; None: not determined
    server_preference: bool | None = None


class CertificateFacts(_Model):
    subject: str
    issuer: str
    serial: str
    sha256_fingerprint: str
    key_type: str  # RSA, EC, Ed25519, Ed448, DSA
    key_bits: int | None = None
    curve: str | None = None
    signature_hash: str | None = None  # sha256, sha1, ... (None for Ed25519/Ed448, which hash internally)
    not_before: datetime
    not_after: datetime
    dns_names: list[str] = Field(default_factory=list)
    ip_addresses: list[str] = Field(default_factory=list)
    hostname: str
    hostname_matches: bool
    chain_length: int
    #: path validation against the configured trust store (or sslyze's public stores)
    trust_store: str
    chain_trusted: bool
    validation_error: str | None = None


class ClientAuthRequirement(StrEnum):
    DISABLED = "disabled"  # the server never asked for a client certificate
    OPTIONAL = "optional"  # asked, but the handshake completes without one
    REQUIRED = "required"  # the handshake fails without one


class HttpOutcome(StrEnum):
    """What an HTTPS request without a client certificate got (nginx `ssl_verify_client on` refuses here)."""

    REFUSED = "refused"  # 4xx naming the missing certificate, or a certificate_required alert
    SERVED = "served"  # an ordinary response: the certificate is not enforced
    UNKNOWN = "unknown"  # another status, or no answer: enforcement could not be told


class HttpProbe(_Model):
    outcome: HttpOutcome
    status_code: int | None = None
    status_line: str | None = None
    detail: str = ""


class ClientAuthFacts(_Model):
    tls_layer: ClientAuthRequirement
    http: HttpProbe | None = None  # probed for HTTPS endpoints when the TLS layer says OPTIONAL


class TlsFacts(Facts):
    host: str
    port: int
    server_name: str
    starttls: str | None = None
    zone: str
    scanner: str
    client_certificate_used: bool = False
    highest_version: TlsVersion | None = None
    versions: dict[TlsVersion, VersionSupport] = Field(default_factory=dict)
    supported_groups: list[str] | None = None
    certificate: CertificateFacts | None = None
    client_auth: ClientAuthFacts | None = None
    weaknesses: dict[Weakness, bool] = Field(default_factory=dict)  # True = vulnerable
    #: probes that could not run because the server requires a client certificate we were not given
    needs_client_certificate: list[str] = Field(default_factory=list)
    #: when the endpoint was scanned: the clock a check judges an exception's expiry by
    scanned_at: datetime | None = None
    #: the endpoint's declared TLS 1.2 exception (inventory / spec), as given: the check judges it
    tls12_exception: Tls12Exception | None = None
