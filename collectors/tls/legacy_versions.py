"""Are SSL 3.0, TLS 1.0 and TLS 1.1 accepted? One handshake each, offering every suite the legacy client has.

The checks only need "offered or not" for these versions (offered is a fail whatever the suite), so one
handshake per version replaces sslyze's one-per-suite enumeration (about 300 handshakes per endpoint,
most of a scan's CPU). It uses sslyze's own preconfigured connection (legacy OpenSSL, STARTTLS, SNI),
like sslyze's connectivity test does. A timeout or connection error is "could not tell", never "refused".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from nassl.ssl_client import ClientCertificateRequested
from sslyze import ServerScanResult
from sslyze.errors import ServerRejectedTlsHandshake, ServerTlsConfigurationNotSupported, TlsHandshakeTimedOut
from sslyze.server_connectivity import ServerConnectivityInfo, TlsVersionEnum
from tenken.collectors.tls.facts import TlsVersion

LEGACY_PROBED: dict[TlsVersion, TlsVersionEnum] = {
    TlsVersion.SSL3: TlsVersionEnum.SSL_3_0,
    TlsVersion.TLS10: TlsVersionEnum.TLS_1_0,
    TlsVersion.TLS11: TlsVersionEnum.TLS_1_1,
}


@dataclass(frozen=True)
class VersionProbe:
    offered: bool | None  # None: could not tell (error)
    suite: str | None = None  # OpenSSL name of the suite negotiated when offered
    error: str | None = None


def probe_version(result: ServerScanResult, version: TlsVersion) -> VersionProbe:
    assert result.connectivity_result is not None
    info = ServerConnectivityInfo(server_location=result.server_location, network_configuration=result.network_configuration,
                                  tls_probing_result=result.connectivity_result)
    try:
        conn = info.get_preconfigured_tls_connection(override_tls_version=LEGACY_PROBED[version], should_use_legacy_openssl=True)
    except Exception as exc:
        return VersionProbe(offered=None, error=f"{type(exc).__name__}: {exc}"[:200])
    try:
        conn.ssl_client.set_cipher_list("ALL:COMPLEMENTOFALL")
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
