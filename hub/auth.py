"""Who is calling: the verified TLS client certificate (from the scope, see `tenken.hub.server`) and, for
people, a bearer token.

The hub's access rule, in one place:
- every connection needs a client certificate from the hub's CA (TLS 1.3, enforced in the handshake);
- a certificate that is not in the hub's registry, or is revoked, is refused on every route (403);
- agent certificates may only POST reports; their signing key is the one enrolled for that agent;
- the read API (and its OpenAPI description) needs an operator certificate (`tenken-hub token create` issues
  one) AND a bearer token issued for THAT certificate.
So a leaked token is useless without its operator certificate and key, and an agent can read nothing.
"""

from __future__ import annotations

import ssl
from typing import Any

from fastapi import HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from tenken.hub.db import cert_record, check_token
from tenken.hub.tls import PeerCert, parse_peer

bearer = HTTPBearer(auto_error=False, description="Operator API token from `tenken-hub token create`")


def peer_of(scope: dict[str, Any]) -> PeerCert | None:
    """The client certificate the TLS layer verified for this connection, if any."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    return parse_peer(ssl.PEM_cert_to_DER_cert(chain[0]))


def require_peer(request: Request) -> PeerCert:
    peer = peer_of(request.scope)
    if peer is None:
        raise HTTPException(403, "a client certificate issued by this hub is required")
    return peer


def require_operator(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """Operator certificate (registered, not revoked) plus a live bearer token; returns the token owner."""
    peer = require_peer(request)
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        rec = cert_record(conn, peer.serial)
        if rec is None or rec.revoked:
            raise HTTPException(403, f"client certificate {peer.serial} is revoked or unknown to this hub")
        if rec.kind != "user":
            raise HTTPException(403, "agent certificates may only upload reports")
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "an API token is required (Authorization: Bearer ...)", headers={"WWW-Authenticate": "Bearer"})
        owner = check_token(conn, credentials.credentials)
    if owner is None:
        raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    if not owner.allows(rec):
        raise HTTPException(403, "this API token was issued for another operator certificate")
    return owner.name
