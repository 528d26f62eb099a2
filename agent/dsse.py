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
#: An envelope carries one signature per signer; tenken agents sign with one key. A handful allows a
#: co-signature while keeping a hostile envelope from making the verifier try thousands.
MAX_SIGNATURES = 4


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


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise EnvelopeError(f"duplicate key {k!r}: a JSON object must not name a member twice")
        out[k] = v
    return out


def loads_strict(data: bytes | bytearray | str, what: str = "envelope") -> Any:
    """JSON with a nesting limit and no duplicate object keys, or EnvelopeError.

    Two parsers that disagree on `{"payload": A, "payload": B}` would disagree on what was signed, and a
    deeply nested body must cost a bounded amount of work and never a RecursionError: pydantic-core's
    parser (jiter) stops at its recursion limit (about 200 levels) first, and only then does the standard
    parser look for duplicate keys, safely below Python's own recursion limit.
    """
    import pydantic_core

    try:
        pydantic_core.from_json(data)
        return json.loads(data, object_pairs_hook=_no_duplicate_keys)
    except EnvelopeError as exc:
        raise EnvelopeError(f"{what}: {exc}") from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnvelopeError(f"{what} is not valid JSON: {exc}") from exc


def parse_envelope(data: bytes | str | dict[str, Any], *, max_signatures: int = MAX_SIGNATURES) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """Return (payloadType, payload, [(keyid, sig)]) or raise EnvelopeError with the exact problem."""
    env = loads_strict(data) if isinstance(data, bytes | bytearray | str) else data
    if not isinstance(env, dict):
        raise EnvelopeError("envelope is not a JSON object")
    for field, typ in (("payloadType", str), ("payload", str), ("signatures", list)):
        if not isinstance(env.get(field), typ):
            raise EnvelopeError(f"envelope field `{field}` missing or not a {typ.__name__}")
    try:
        payload = base64.b64decode(env["payload"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"envelope payload is not valid base64: {exc}") from exc
    if len(env["signatures"]) > max_signatures:
        raise EnvelopeError(f"envelope has {len(env['signatures'])} signatures; at most {max_signatures} are accepted")
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


def verify_with_key(data: bytes | str | dict[str, Any], key: Ed25519PublicKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """The payload, if the signature carrying THIS key's id verifies; no other signature is tried.

    What the hub uses: an envelope's signatures are matched by keyid before any cryptography, so the cost of
    a request is one Ed25519 verification whatever the envelope contains.
    """
    ptype, payload, sigs = parse_envelope(data)
    if ptype != payload_type:
        raise EnvelopeError(f"payloadType is {ptype!r}, expected {payload_type!r}")
    kid = key_id(key)
    if any(not k for k, _ in sigs):
        raise EnvelopeError("a signature has an empty keyid; every signature must name its key")
    mine = [sig for k, sig in sigs if k == kid]
    if not mine:
        raise SignatureError(f"wrong key: no signature carries the enrolled key id {kid[:16]}…")
    if len(mine) > 1:
        raise EnvelopeError("more than one signature names the same key id")
    try:
        key.verify(mine[0], pae(ptype, payload))
    except InvalidSignature as exc:
        raise SignatureError("bad signature: the payload or signature was altered") from exc
    return payload


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
