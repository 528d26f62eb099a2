"""Does the server choose the cipher suite itself, or follow the client's order? (reported, not judged hard)

Two handshakes offering the same two accepted suites in opposite orders: the same choice both times means
the server's order. Uses sslyze's preconfigured connection, so STARTTLS and SNI work as in the scan.
"""

from __future__ import annotations

import contextlib
import logging

from nassl.ssl_client import ClientCertificateRequested
from sslyze import ServerScanResult
from sslyze.server_connectivity import ServerConnectivityInfo, TlsVersionEnum
from tenken.collectors.tls.facts import TlsVersion

log = logging.getLogger(__name__)

_VERSIONS = {TlsVersion.TLS12: TlsVersionEnum.TLS_1_2, TlsVersion.TLS13: TlsVersionEnum.TLS_1_3}


def _chosen(info: ServerConnectivityInfo, version: TlsVersion, order: list[str]) -> str | None:
    conn = info.get_preconfigured_tls_connection(override_tls_version=_VERSIONS[version], should_use_legacy_openssl=False)
    client = conn.ssl_client
    try:
        if version is TlsVersion.TLS13:
            client.set_ciphersuites(":".join(order))  # type: ignore[union-attr]
        else:
            client.set_cipher_list(":".join(order))
        # the server hello (and its choice) comes before any certificate request
        with contextlib.suppress(ClientCertificateRequested):
            conn.connect(should_retry_connection=False)
        return client.get_current_cipher_name()
    except Exception as exc:  # any failure: undetermined, never a guess
        log.debug("suite-order probe failed: %s", exc)
        return None
    finally:
        conn.close()


def probe_server_preference(result: ServerScanResult, version: TlsVersion, accepted_openssl_names: list[str]) -> bool | None:
    """True: server order; False: client order; None: could not tell (fewer than 2 usable suites, errors)."""
    if result.connectivity_result is None or version not in _VERSIONS or len(accepted_openssl_names) < 2:
        return None
    info = ServerConnectivityInfo(server_location=result.server_location, network_configuration=result.network_configuration,
                                  tls_probing_result=result.connectivity_result)
    a, b = accepted_openssl_names[0], accepted_openssl_names[-1]
    first = _chosen(info, version, [a, b])
    second = _chosen(info, version, [b, a])
    if first is None or second is None:
        return None
    return first == second
