"""Which of SSL 3.0, TLS 1.0, TLS 1.1 and TLS 1.2 are accepted? One handshake each, offering every suite.

The checks only need "offered or not" for the legacy versions (offered is a fail whatever the suite), so
one handshake per version replaces sslyze's one-per-suite enumeration (about 300 handshakes per endpoint,
most of a scan's CPU). For TLS 1.2 the same probe decides whether sslyze's suite-by-suite enumeration is
worth running at all (a TLS 1.3-only server rejects ~150 TLS 1.2 handshakes otherwise). It uses sslyze's
own connection class (nassl's legacy and modern OpenSSL, STARTTLS, SNI), as sslyze's connectivity test
does. A timeout or connection error is "could not tell", never "not offered".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from nassl.ssl_client import ClientCertificateRequested
from sslyze import ServerNetworkConfiguration, ServerNetworkLocation
from sslyze.connection_helpers.tls_connection import SslConnection
from sslyze.errors import ServerRejectedTlsHandshake, ServerTlsConfigurationNotSupported, TlsHandshakeTimedOut
from sslyze.server_connectivity import TlsVersionEnum
from tenken.collectors.tls.facts import TlsVersion

SINGLE_HANDSHAKE: dict[TlsVersion, TlsVersionEnum] = {
    TlsVersion.SSL3: TlsVersionEnum.SSL_3_0,
    TlsVersion.TLS10: TlsVersionEnum.TLS_1_0,
    TlsVersion.TLS11: TlsVersionEnum.TLS_1_1,
    TlsVersion.TLS12: TlsVersionEnum.TLS_1_2,
}
#: Judged by the single handshake alone; TLS 1.2 is then enumerated by sslyze when offered.
LEGACY_PROBED = (TlsVersion.SSL3, TlsVersion.TLS10, TlsVersion.TLS11)


@dataclass(frozen=True)
class VersionProbe:
    offered: bool | None  # None: could not tell (error)
    suite: str | None = None  # OpenSSL name of the suite negotiated when offered
    error: str | None = None


def _attempt(location: ServerNetworkLocation, config: ServerNetworkConfiguration, version: TlsVersion, legacy: bool) -> VersionProbe:
    conn = SslConnection(server_location=location, network_configuration=config, tls_version=SINGLE_HANDSHAKE[version],
                         should_ignore_client_auth=False, should_use_legacy_openssl=legacy)
    try:
        conn.ssl_client.set_cipher_list("ALL:COMPLEMENTOFALL:@SECLEVEL=0" if not legacy else "ALL:COMPLEMENTOFALL")
        # a certificate request or a DH group nassl refuses still means the server hello came back
        with contextlib.suppress(ClientCertificateRequested, ServerTlsConfigurationNotSupported):
            conn.connect(should_retry_connection=False)
        return VersionProbe(offered=True, suite=conn.ssl_client.get_current_cipher_name())
    except ServerRejectedTlsHandshake:
        return VersionProbe(offered=False)
    except TlsHandshakeTimedOut as exc:
        return VersionProbe(offered=None, error=f"handshake timed out: {exc}"[:200])
    except Exception as exc:  # connection errors and anything else: undetermined
        return VersionProbe(offered=None, error=f"{type(exc).__name__}: {exc}"[:200])
    finally:
        conn.close()


def probe_version(location: ServerNetworkLocation, config: ServerNetworkConfiguration, version: TlsVersion) -> VersionProbe:
    """SSL 3.0 and TLS 1.0/1.1 with nassl's legacy OpenSSL (it has every suite of those versions); TLS 1.2
    with the legacy client, then the modern one if refused (each has suites the other lacks: RC4/3DES/export
    vs ChaCha20/CCM)."""
    first = _attempt(location, config, version, legacy=True)
    if first.offered is False and version is TlsVersion.TLS12:
        return _attempt(location, config, version, legacy=False)
    return first
