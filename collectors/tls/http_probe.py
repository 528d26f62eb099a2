"""Does an HTTPS server refuse a request made without a client certificate?

nginx `ssl_verify_client on` (and IIS, Apache with some set-ups) completes the TLS handshake without a
certificate and refuses at the HTTP layer (nginx: 400 "No required SSL certificate was sent"), so a TLS
scanner sees the certificate as OPTIONAL. One plain request tells "required at the HTTP layer" from
"asked for but not enforced". `classify_http_response` is pure and total (property-tested).
"""

from __future__ import annotations

import re
import socket
import ssl

from tenken.collectors.tls.facts import HttpOutcome, HttpProbe
from tenken.collectors.tls.preflight import is_ip

MAX_READ = 16384
_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:[ \t]+([^\r\n]*))?", re.ASCII)
#: Words a refusal for a missing client certificate carries (nginx, Apache, IIS 403.7, Japanese pages).
_CERT_WORDS = re.compile(rb"certificate|\xe8\xa8\xbc\xe6\x98\x8e\xe6\x9b\xb8", re.IGNORECASE)  # 証明書 in UTF-8
#: nginx's own codes for a missing / invalid client certificate (sent to the client as 400 with this text)
_CERT_STATUS = {495, 496}


def classify_http_response(data: bytes) -> HttpProbe:
    """Classify the first bytes of an HTTP response to a request sent without a client certificate."""
    if not data:
        return HttpProbe(outcome=HttpOutcome.UNKNOWN, detail="no HTTP response (connection closed)")
    m = _STATUS.match(data)
    if m is None:
        return HttpProbe(outcome=HttpOutcome.UNKNOWN, detail="not an HTTP response")
    code = int(m.group(1))
    line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0][:200].decode("latin-1")
    mentions_cert = _CERT_WORDS.search(data) is not None
    if code in _CERT_STATUS or (code in (400, 401, 403) and mentions_cert):
        return HttpProbe(outcome=HttpOutcome.REFUSED, status_code=code, status_line=line,
                         detail="the request without a client certificate was refused")
    if 200 <= code < 400:
        return HttpProbe(outcome=HttpOutcome.SERVED, status_code=code, status_line=line,
                         detail="the request without a client certificate was answered")
    return HttpProbe(outcome=HttpOutcome.UNKNOWN, status_code=code, status_line=line,
                     detail="the status does not say whether a client certificate is required")


def _client_context() -> ssl.SSLContext:
    # Only the HTTP answer matters here: the certificate is judged elsewhere, so no verification, and any
    # version/suite the server offers is accepted for this one request.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return ctx


def probe_http_client_auth(ip: str, port: int, server_name: str, timeout: float) -> HttpProbe:
    """Send `GET /` without a client certificate and classify the answer. Network errors become UNKNOWN."""
    request = (f"GET / HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: tenken-tls-audit\r\n"
               "Accept: */*\r\nConnection: close\r\n\r\n").encode("ascii", "replace")
    try:
        with socket.create_connection((ip, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            sni = server_name if not is_ip(server_name) else None
            with _client_context().wrap_socket(raw, server_hostname=sni) as tls:
                tls.sendall(request)
                data = b""
                while len(data) < MAX_READ:
                    try:
                        chunk = tls.recv(MAX_READ - len(data))
                    except TimeoutError:
                        if data:
                            break  # keep-alive server: what arrived is enough to classify
                        raise
                    if not chunk:
                        break
                    data += chunk
    except ssl.SSLError as exc:
        text = str(exc).lower()
        if "certificate required" in text or "certificate_required" in text or "handshake failure" in text:
            return HttpProbe(outcome=HttpOutcome.REFUSED, detail=f"TLS alert after the handshake: {exc.reason or exc}")
        return HttpProbe(outcome=HttpOutcome.UNKNOWN, detail=f"TLS error: {exc.reason or exc}")
    except TimeoutError:
        return HttpProbe(outcome=HttpOutcome.UNKNOWN, detail=f"no HTTP answer within {timeout:g}s")
    except OSError as exc:
        return HttpProbe(outcome=HttpOutcome.UNKNOWN, detail=f"connection error: {exc}")
    return classify_http_response(data)


