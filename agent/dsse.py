"""DSSE envelopes (in-toto/Sigstore) over RFC 8785 canonical JSON, signed with Ed25519.

A leaf module (cryptography + rfc8785 only) shared by the agent, `tenken verify` and the hub: the bytes
that are signed are DSSE's pre-authentication encoding of the canonical report, so two parties that
serialise JSON differently still agree on what was signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.tenken.report.v1+json"


class EnvelopeError(Exception):
    """Malformed envelope: not JSON, missing fields, bad base64, wrong payload type."""


class SignatureError(Exception):
    """The envelope is well formed but no signature verifies with the given key(s)."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """sha256 of the raw public key, hex: the same key always has the same id, on every machine."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()


def agent_id(key: Ed25519PublicKey) -> str:
    """The agent's name everywhere (certificate CN, hub records): derived from its signing key."""
    return "ag-" + key_id(key)[:24]


def canonical(obj: Any) -> bytes:
    return rfc8785.dumps(obj)


def sign_payload(payload: bytes, key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    sig = key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode()}],
    }


def parse_envelope(data: bytes | str | dict[str, Any]) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """Return (payloadType, payload, [(keyid, sig)]) or raise EnvelopeError with the exact problem."""
    if isinstance(data, bytes | str):
        try:
            env = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"envelope is not valid JSON: {exc}") from exc
    else:
        env = data
    if not isinstance(env, dict):
        raise EnvelopeError("envelope is not a JSON object")
    for field, typ in (("payloadType", str), ("payload", str), ("signatures", list)):
        if not isinstance(env.get(field), typ):
            raise EnvelopeError(f"envelope field `{field}` missing or not a {typ.__name__}")
    try:
        payload = base64.b64decode(env["payload"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"envelope payload is not valid base64: {exc}") from exc
    sigs = []
    for i, s in enumerate(env["signatures"]):
        if not isinstance(s, dict) or not isinstance(s.get("sig"), str):
            raise EnvelopeError(f"signature {i} has no `sig`")
        try:
            sig = base64.b64decode(s["sig"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EnvelopeError(f"signature {i} is not valid base64") from exc
        sigs.append((str(s.get("keyid", "")), sig))
    if not sigs:
        raise EnvelopeError("envelope has no signatures")
    return env["payloadType"], payload, sigs


def verify_envelope(data: bytes | str | dict[str, Any], keys: list[Ed25519PublicKey], payload_type: str = PAYLOAD_TYPE) -> bytes:
    """Return the payload if a signature verifies with one of `keys`; raise EnvelopeError/SignatureError."""
    ptype, payload, sigs = parse_envelope(data)
    if ptype != payload_type:
        raise EnvelopeError(f"payloadType is {ptype!r}, expected {payload_type!r}")
    msg = pae(ptype, payload)
    by_id = {key_id(k): k for k in keys}
    tried_known = False
    for kid, sig in sigs:
        candidates = [by_id[kid]] if kid in by_id else ([] if kid else keys)
        for k in candidates:
            tried_known = True
            try:
                k.verify(sig, msg)
                return payload
            except InvalidSignature:
                continue
    if not tried_known:
        raise SignatureError("wrong key: no signature was made by the given key (keyid mismatch)")
    raise SignatureError("bad signature: the payload or signature was altered")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
