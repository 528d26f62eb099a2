"""One quick handshake per endpoint before it goes to sslyze: refused, silent and non-TLS ports end here.

Why: sslyze's Scanner yields no result until *every* server's connectivity test has finished, and a port
that accepts but never answers costs a socket timeout for each version it tries (about ten). Without this
gate one hung endpoint would hold every other endpoint's result past the deadline. One permissive
handshake (any version, any suite, STARTTLS first when asked) tells "speaks TLS" apart in one timeout.
"""

from __future__ import annotations

import socket
import ssl

from sslyze import ProtocolWithOpportunisticTlsEnum
from sslyze.connection_helpers.opportunistic_tls_helpers import OpportunisticTlsError, get_opportunistic_tls_helper

#: OpenSSL reasons that mean the peer did not answer with TLS records at all.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL")


def _context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return ctx


def preflight(ip: str, port: int, server_name: str, timeout: float,
              starttls: ProtocolWithOpportunisticTlsEnum | None = None) -> str | None:
    """None when the endpoint answers a TLS handshake (even with an alert); otherwise why it cannot be scanned."""
    try:
        sock = socket.create_connection((ip, port), timeout=timeout)
    except ConnectionRefusedError:
        return "connection refused (nothing listening, or a firewall rejects it)"
    except TimeoutError:
        return f"TCP connection timed out after {timeout:g}s"
    except OSError as exc:
        return f"connection failed: {exc}"
    with sock:
        sock.settimeout(timeout)
        if starttls is not None:
            try:
                helper = get_opportunistic_tls_helper(starttls, xmpp_to_hostname=server_name, smtp_ehlo_hostname="tenken.scan")
                helper.prepare_socket_for_tls_handshake(sock)
            except TimeoutError:
                return f"no STARTTLS answer within {timeout:g}s"
            except (OpportunisticTlsError, OSError, ValueError) as exc:
                return f"STARTTLS ({starttls.value}) failed: {exc}"
        try:
            sni = None if is_ip(server_name) else server_name
            with _context().wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False) as tls:
                tls.do_handshake()
        except TimeoutError:
            return f"no TLS answer within {timeout:g}s (the service hangs or is not TLS)"
        except ssl.SSLError as exc:
            reason = exc.reason or ""
            if reason in _NOT_TLS:
                return f"not a TLS service ({reason})"
            return None  # a TLS alert: the server speaks TLS and refused this particular hello
        except ConnectionResetError:
            return None  # some servers reset on a hello they dislike; sslyze tries the others
        except OSError as exc:
            return f"TLS handshake failed: {exc}"
    return None


def is_ip(name: str) -> bool:
    """An IP literal (SNI must not be sent for one), with or without IPv6 brackets."""
    import ipaddress

    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
