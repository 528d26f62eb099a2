"""Signing reports and checking signed reports: the DSSE envelope around the canonical `tenken.report/v1`.

`agent/dsse.py` holds the primitives (PAE, Ed25519, RFC 8785); this module adds what the tenken CLI and the
agent need around them: loading a private key only when nobody else can read it, turning a Report into an
envelope, and turning an envelope back into a Report with one precise reason when that is not possible.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from tenken.agent.dsse import (
    PAYLOAD_TYPE,
    EnvelopeError,
    SignatureError,
    canonical,
    load_public_key,
    loads_strict,
    parse_envelope,
    sign_payload,
    verify_envelope,
)
from tenken.agent.report import Report
from tenken.checks.configfile import ConfigError

__all__ = [
    "EnvelopeError",
    "InsecureKeyFile",
    "PayloadError",
    "SignatureError",
    "envelope_report_id",
    "load_public_key_file",
    "load_signing_key",
    "report_payload",
    "sign_report",
    "verify_report",
]


class InsecureKeyFile(ConfigError):
    """The private key file can be read by other users: refuse it rather than sign with a leaked key."""


class PayloadError(Exception):
    """The envelope verified but its payload is not a valid `tenken.report/v1` document."""


def check_private_file(path: Path) -> None:
    """Refuse a private key that group or others can read or write (POSIX; Windows relies on ACLs).

    A key that other local users could have copied no longer proves which agent made a report.
    """
    if os.name == "nt":
        return
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: signing key not found (create one with `tenken agent init --dir DIR`)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read signing key: {exc.strerror}") from exc
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise InsecureKeyFile(
            f"{path}: private key is accessible by group/others (mode {mode:04o}); "
            f"refusing to use it. Fix with: chmod 600 {path}"
        )


def load_signing_key(path: Path | str) -> Ed25519PrivateKey:
    """Load an Ed25519 PKCS#8 PEM private key, refusing files with loose permissions (ConfigError -> exit 2)."""
    p = Path(path)
    check_private_file(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read signing key: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # Never echo the file content: it is (or looks like) a private key.
        raise ConfigError(f"{p}: not an unencrypted PEM private key ({type(exc).__name__})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{p}: not an Ed25519 key (found {type(key).__name__}); reports are signed with Ed25519")
    return key


def load_public_key_file(path: Path | str) -> Ed25519PublicKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read public key: {exc.strerror}") from exc
    try:
        return load_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{p}: not an Ed25519 PEM public key: {exc}") from exc


def report_payload(report: Report) -> bytes:
    """The exact bytes that are signed: RFC 8785 canonical JSON of the report as the schema names it."""
    return canonical(report.model_dump(mode="json", by_alias=True))


def sign_report(report: Report, key: Ed25519PrivateKey) -> bytes:
    """A DSSE envelope (JSON, one line + newline) carrying the canonical report."""
    env = sign_payload(report_payload(report), key, PAYLOAD_TYPE)
    return json.dumps(env, separators=(",", ":")).encode() + b"\n"


def decode_report(payload: bytes) -> Report:
    try:
        data = loads_strict(payload, "payload")
    except EnvelopeError as exc:
        raise PayloadError(str(exc)) from exc
    if not isinstance(data, dict) or data.get("schema") != "tenken.report/v1":
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise PayloadError(f"payload is not a tenken.report/v1 document (schema: {found!r})")
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PayloadError(
            f"payload is not a valid tenken.report/v1: {where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from exc


def verify_report(data: bytes | str, key: Ed25519PublicKey | list[Ed25519PublicKey]) -> Report:
    """Check the envelope's signature with `key` (or any of several), then the payload against the report schema.

    Raises EnvelopeError (malformed), SignatureError ("wrong key" / "bad signature") or PayloadError.
    """
    payload = verify_envelope(data, key if isinstance(key, list) else [key])
    return decode_report(payload)


def envelope_report_id(data: bytes) -> str:
    """The report id inside an envelope, read WITHOUT verifying (the agent reads its own spool with it).

    Raises EnvelopeError or PayloadError: a spool entry that fails here is corrupt and must not be sent.
    """
    ptype, payload, _ = parse_envelope(data)
    if ptype != PAYLOAD_TYPE:
        raise EnvelopeError(f"payloadType is {ptype!r}, expected {PAYLOAD_TYPE!r}")
    try:
        doc = loads_strict(payload, "payload")
    except EnvelopeError as exc:
        raise PayloadError(str(exc)) from exc
    rid = doc.get("id") if isinstance(doc, dict) else None
    if not isinstance(rid, str) or not rid:
        raise PayloadError("payload has no report id")
    return rid


@dataclass(frozen=True)
class Summary:
    """What `tenken verify` prints about a verified report."""

    id: str
    tool: str
    targets: list[str]
    counts: dict[str, int]

    @classmethod
    def of(cls, report: Report) -> Summary:
        return cls(
            id=report.id,
            tool=f"{report.tool.name} {report.tool.version}",
            targets=[f"{t.target} ({t.kind.value}, {t.state.value})" for t in report.targets],
            counts=report.summary(),
        )
