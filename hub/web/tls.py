"""TLS of the web listener: TLS 1.3 only, the hub's own server certificate, and no client certificate.

Browsers authenticate with an account (password, TOTP for admins) instead; the agent API keeps its mutual-TLS
listener (tenken.hub.tls.server_context) unchanged, and neither listener serves the other's routes.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def web_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_NONE  # people log in with an account; no certificate is asked of a browser
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx
