"""Where a bundle's reports come from: signed report files, or the hub's stored original envelopes.

Either way every envelope is verified here, against a named public key, before anything is built from it:
a bundle never contains a report that does not verify, and says which key each one verified against.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tenken.agent import dsse
from tenken.agent.bundle.model import BundleReport
from tenken.agent.report import Report
from tenken.agent.signing import PayloadError, decode_report

#: One report envelope may be large (the hub accepts 15 MiB bodies); a bundle source refuses anything bigger
#: rather than holding it in memory.
MAX_ENVELOPE_BYTES = 32 * 1024 * 1024


class SourceError(Exception):
    """A report could not be taken into the bundle; the message names the file or report and why."""


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _decode(payload: bytes, where: str) -> Report:
    try:
        return decode_report(payload)
    except PayloadError as exc:
        raise SourceError(f"{where}: signature valid but {exc}") from exc


def verify_into_bundle(envelope: bytes, keys: Sequence[Ed25519PublicKey], where: str, received_at: datetime | None = None) -> BundleReport:
    """Verify one envelope against the signature that names one of `keys` (by key id) and return it.

    Only the signature whose keyid is among the given keys is checked, as the hub does: a hostile envelope
    costs one verification, and the bundle records exactly which key vouched for the report.
    """
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise SourceError(f"{where}: {len(envelope)} bytes is larger than a report envelope may be ({MAX_ENVELOPE_BYTES})")
    try:
        _, _, sigs = dsse.parse_envelope(envelope)
    except dsse.EnvelopeError as exc:
        raise SourceError(f"{where}: not a signed report: {exc}") from exc
    by_id = {dsse.key_id(k): k for k in keys}
    named = [kid for kid, _ in sigs if kid in by_id]
    if not named:
        shown = ", ".join(sorted({k[:16] for k, _ in sigs if k})) or "none"
        raise SourceError(f"{where}: signed by key id {shown}, which is not among the given keys")
    key = by_id[named[0]]
    try:
        payload = dsse.verify_with_key(envelope, key)
    except (dsse.EnvelopeError, dsse.SignatureError) as exc:
        raise SourceError(f"{where}: {exc}") from exc
    report = _decode(payload, where)
    return BundleReport(
        envelope=envelope, report=report, keyid=named[0], agent_id=dsse.agent_id(key),
        public_key_pem=public_pem(key), received_at=received_at,
    )


def _unique(reports: Iterable[BundleReport]) -> list[BundleReport]:
    """One copy of each report id; two DIFFERENT envelopes claiming one id are refused (a replay or a forgery)."""
    seen: dict[str, BundleReport] = {}
    for br in reports:
        prev = seen.get(br.report.id)
        if prev is not None and prev.envelope != br.envelope:
            raise SourceError(f"report {br.report.id}: two different signed envelopes carry this id")
        seen.setdefault(br.report.id, br)
    return sorted(seen.values(), key=lambda b: (b.report.finished_at, b.report.id))


def from_files(paths: Sequence[Path], keys: Sequence[Ed25519PublicKey]) -> list[BundleReport]:
    """Signed report files (`tenken scan ... --sign`, or the agent's spool) verified against `keys`."""
    if not paths:
        raise SourceError("no report files given")
    out = []
    for p in paths:
        try:
            size = p.stat().st_size
            if size > MAX_ENVELOPE_BYTES:
                raise SourceError(f"{p}: {size} bytes is larger than a report envelope may be ({MAX_ENVELOPE_BYTES})")
            data = p.read_bytes()
        except OSError as exc:
            raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from exc
        out.append(verify_into_bundle(data, keys, str(p)))
    return _unique(out)


def _hub_item(item: Any, i: int) -> tuple[bytes, Ed25519PublicKey, datetime | None, str]:
    if not isinstance(item, dict):
        raise SourceError(f"hub answer item {i} is not an object")
    rid = str(item.get("report_id", f"#{i}"))
    try:
        envelope = base64.b64decode(item["envelope_b64"], validate=True)
        key = dsse.load_public_key(str(item["signing_key"]).encode())
        received = datetime.fromisoformat(item["received_at"]) if item.get("received_at") else None
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SourceError(f"hub report {rid}: malformed entry in the hub's answer ({type(exc).__name__}: {exc})") from exc
    return envelope, key, received, rid


@dataclass(frozen=True)
class BundleFilter:
    """Which reports a hub bundle holds; the same type for `tenken bundle --hub` and the hub's own selection."""

    group: str | None = None
    clause: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, str]:
        out = {"group": self.group, "clause": self.clause,
               "since": self.since.isoformat() if self.since else None, "until": self.until.isoformat() if self.until else None}
        return {k: v for k, v in out.items() if v is not None}


def from_hub_answer(items: list[Any], pinned: Sequence[Ed25519PublicKey] = ()) -> list[BundleReport]:
    """Verify what the hub's /api/v1/bundle/reports returned, each envelope against its agent's key.

    The hub names the agent key of each report; with `pinned` keys, a key the hub names that is not pinned
    is refused, so an operator can bundle only what the agents they know signed.
    """
    pinned_ids = {dsse.key_id(k) for k in pinned}
    out = []
    for i, item in enumerate(items):
        envelope, key, received, rid = _hub_item(item, i)
        if pinned_ids and dsse.key_id(key) not in pinned_ids:
            raise SourceError(f"hub report {rid}: signed by agent key {dsse.key_id(key)[:16]}…, which is not pinned")
        out.append(verify_into_bundle(envelope, [key], f"hub report {rid}", received))
    return _unique(out)


def from_hub_answer_envelopes(stored: Iterable[Any]) -> list[BundleReport]:
    """The hub's own export: rows with `report_id`, `envelope`, `signing_key` (PEM) and `received_at`, each
    verified against the agent key the hub enrolled, exactly as `tenken bundle --hub` does remotely."""
    out = []
    for row in stored:
        try:
            key = dsse.load_public_key(row.signing_key.encode())
        except (ValueError, TypeError) as exc:
            raise SourceError(f"hub report {row.report_id}: the agent's enrolled key cannot be read") from exc
        out.append(verify_into_bundle(row.envelope, [key], f"hub report {row.report_id}", row.received_at))
    return _unique(out)
