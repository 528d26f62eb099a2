"""Endpoints that require a client certificate and say so by closing the connection, without an alert.

A TLS 1.3 server that requires a client certificate learns that none was sent only after the client has
finished its side of the handshake. OpenSSL servers then send `certificate_required`; Python's asyncio
(hence uvicorn, hence the tenken hub) just closes the connection. sslyze sees "no connectivity" and the
endpoint used to read as `error` for the whole target, although refusing certificate-less clients is the
compliant case SO-13-6 asks for.

This module tells the two apart with one handshake of its own: the handshake completes (we read the
server's version and suite), the server then closes the connection before sending a byte. That is what a
server requiring a client certificate does; a server that merely failed would not complete the handshake,
and one that does not require a certificate waits for our request instead of closing.

Everything that needs a completed session (the full suite list, groups, certificate chain checks, known
weaknesses) is reported as "needs a client certificate" (`not_applicable`), and the legacy-version
single-handshake probes, which are refused before any certificate is asked for, are kept.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from tenken.collectors.evidence import Reason, Unavailable
from tenken.collectors.tls.facts import (
    CERTIFICATE,
    CURVES,
    LEGACY_VERSIONS,
    NEEDS_CLIENT_CERT_DETAIL,
    AcceptedSuite,
    ClientAuthFacts,
    ClientAuthRequirement,
    TlsFacts,
    TlsVersion,
    VersionSupport,
    Weakness,
    suites_probe,
)
from tenken.collectors.tls.preflight import is_ip
from tenken.collectors.tls.spec import TlsEndpoint

_VERSIONS = {"TLSv1.3": TlsVersion.TLS13, "TLSv1.2": TlsVersion.TLS12}
NEEDS_CERT = NEEDS_CLIENT_CERT_DETAIL


@dataclass(frozen=True)
class ClosedWithoutCert:
    version: TlsVersion
    suite: str  # IANA / OpenSSL name as Python's ssl reports it (TLS 1.3 names are the IANA names)


def probe_closes_without_cert(ip: str, port: int, server_name: str, timeout: float) -> ClosedWithoutCert | None:
    """One handshake without a client certificate: the negotiated version and suite when the server completes
    it and then closes the connection unprompted; None for anything else (including a server that waits)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        sni = None if is_ip(server_name) else server_name
        with socket.create_connection((ip, port), timeout=timeout) as raw, ctx.wrap_socket(raw, server_hostname=sni) as tls:
            version, cipher = tls.version(), tls.cipher()
            tls.settimeout(timeout)
            try:
                data = tls.recv(1)
            except TimeoutError:
                return None  # the server waits for a request: it did not require a certificate
            except (ssl.SSLError, ConnectionError):
                data = b""  # an alert or a reset after the handshake: refused
    except (OSError, ssl.SSLError):
        return None
    if data or version not in _VERSIONS or not cipher:
        return None
    return ClosedWithoutCert(version=_VERSIONS[version], suite=cipher[0])


def required_facts(ep: TlsEndpoint, seen: ClosedWithoutCert, single: dict[TlsVersion, object], scanner: str) -> tuple[TlsFacts, str]:
    """Facts for an endpoint that requires a client certificate and was scanned without one."""
    unavailable: dict[str, Unavailable] = {}
    versions: dict[TlsVersion, VersionSupport] = {}
    lines = [
        f"{scanner} scan of {ep.target} (SNI {ep.server_name or ep.host}), zone {ep.zone.value}",
        f"handshake without a client certificate: {seen.version.value} {seen.suite} completed, then the server closed the "
        "connection without an alert",
        "client certificate at the TLS layer: required (certificate-less connections are closed)",
    ]
    for version in (*LEGACY_VERSIONS, TlsVersion.TLS12):
        probe = single.get(version)
        offered = getattr(probe, "offered", None)
        if version is TlsVersion.SSL2:
            continue  # never probed by single handshakes (sslyze's own probe needs a session)
        if offered is None:
            why = getattr(probe, "error", None) or "not probed"
            unavailable[version.probe] = Unavailable(reason=Reason.FAILED, detail=f"single-handshake probe: {why}")
            lines.append(f"{version.value}: INCOMPLETE ({why})")
            continue
        if offered and version is TlsVersion.TLS12:
            # offered (known from one handshake), but its suites need completed sessions
            versions[version] = VersionSupport(offered=True)
            unavailable[suites_probe(version.value)] = Unavailable(reason=Reason.NEEDS_CLIENT_CERT, detail=NEEDS_CERT)
            lines.append(f"{version.value}: offered; suites not enumerated (needs a client certificate)")
            continue
        versions[version] = VersionSupport(offered=bool(offered))
        lines.append(f"{version.value}: {'offered' if offered else 'not offered'} [one handshake]")
    unavailable[TlsVersion.TLS13.probe] = Unavailable(reason=Reason.NEEDS_CLIENT_CERT, detail=NEEDS_CERT)
    unavailable[TlsVersion.SSL2.probe] = Unavailable(reason=Reason.NEEDS_CLIENT_CERT, detail=NEEDS_CERT)
    unavailable[CERTIFICATE] = Unavailable(reason=Reason.NEEDS_CLIENT_CERT, detail=NEEDS_CERT)
    unavailable[CURVES] = Unavailable(reason=Reason.NEEDS_CLIENT_CERT, detail=NEEDS_CERT)
    lines.append(f"{TlsVersion.TLS13.value}: offered (negotiated {seen.suite}); full suite list needs a client certificate")
    if seen.version is TlsVersion.TLS13:
        versions[TlsVersion.TLS13] = VersionSupport(offered=True, suites=[AcceptedSuite(name=seen.suite)])
        del unavailable[TlsVersion.TLS13.probe]  # offered: known; its full suite list is not
        unavailable[suites_probe(TlsVersion.TLS13.value)] = Unavailable(reason=Reason.NEEDS_CLIENT_CERT, detail=NEEDS_CERT)
    facts = TlsFacts(
        host=ep.host, port=ep.port, server_name=ep.server_name or ep.host, starttls=None, zone=ep.zone.value, scanner=scanner,
        client_certificate_used=False, highest_version=seen.version, versions=versions, supported_groups=None, certificate=None,
        client_auth=ClientAuthFacts(tls_layer=ClientAuthRequirement.REQUIRED), weaknesses={},
        needs_client_certificate=[w.probe for w in Weakness], unavailable=unavailable,
    )
    return facts, "\n".join(lines) + "\n"
