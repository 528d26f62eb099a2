"""Build an evidence bundle: one zip an auditor can check offline, member by member.

Layout (fixed paths, named in model.py):
  reports/<id>.dsse.json           each signed report exactly as received
  evidence/<report>/<evidence>.json the raw evidence of each report, one member per evidence item
  keys/<keyid>.pub.pem             every public key a signature in the bundle needs
  views (report.html, report.pdf, findings.csv, checklist.*, oscal/, junit.xml), README.txt
  manifest.json                    every member above with its sha256 and size, plus what the bundle is
  manifest.dsse.json               DSSE signature over manifest.json's exact bytes
  manifest.tsr                     optional RFC 3161 timestamp token over manifest.json's exact bytes

The manifest is signed last over everything else, so changing, removing or adding any member is visible.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tenken.agent import dsse
from tenken.agent.bundle import model as m
from tenken.agent.bundle.readme import render_readme
from tenken.agent.bundle.sources import public_pem

MANIFEST_SCHEMA = "tenken.bundle-manifest/v1"
MANIFEST_PAYLOAD_TYPE = "application/vnd.tenken.bundle-manifest.v1+json"

#: A view renders from the context and the hashes of the data members (reports, evidence, keys) and
#: returns its members. Views never see the manifest: it is made after them, over them.
View = Callable[[m.BundleContext, dict[str, str]], dict[str, bytes]]
#: The timestamp step: given manifest.json's bytes, the DER TimeStampResp (raises on failure).
Timestamper = Callable[[bytes], bytes]


class BundleError(Exception):
    """The bundle could not be built; nothing was written."""


@dataclass
class BuildOptions:
    views: list[View] = field(default_factory=list)
    timestamper: Timestamper | None = None
    tsa_url: str | None = None
    extra_members: dict[str, bytes] = field(default_factory=dict)  # e.g. keys/hub-ca.pem for hub bundles


@dataclass(frozen=True)
class BuiltBundle:
    data: bytes
    bundle_id: str
    manifest: dict[str, Any]
    notes: list[str]  # what the builder wants the person to know (PDF not made, untimestamped)


def new_context(reports: list[m.BundleReport], scope: m.BundleScope, created_at: datetime | None = None) -> m.BundleContext:
    when = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    bundle_id = "tb-" + when.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    return m.BundleContext(bundle_id=bundle_id, created_at=when, reports=reports, scope=scope)


def _data_members(ctx: m.BundleContext) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for br in ctx.reports:
        out[br.member] = br.envelope
        out.setdefault(m.key_member(br.keyid), br.public_key_pem)
        for ev in br.report.evidence:
            out[m.evidence_member(br.report.id, ev.id)] = ev.model_dump_json(indent=2).encode()
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scope_json(scope: m.BundleScope) -> dict[str, Any]:
    return {
        "source": scope.source, "hub_url": scope.hub_url, "group": scope.group, "clause": scope.clause,
        "since": scope.since.isoformat() if scope.since else None, "until": scope.until.isoformat() if scope.until else None,
    }


def _manifest(ctx: m.BundleContext, members: dict[str, bytes], signer_keyid: str, opts: BuildOptions, notes: list[str]) -> dict[str, Any]:
    from tenken import __version__

    return {
        "schema": MANIFEST_SCHEMA,
        "bundle_id": ctx.bundle_id,
        "created_at": ctx.created_at.isoformat(),
        "tool": {"name": "tenken", "version": __version__},
        "scope": _scope_json(ctx.scope),
        "signer": {"keyid": signer_keyid, "key": m.key_member(signer_keyid)},
        "timestamp": {"tsa_url": opts.tsa_url, "member": m.TIMESTAMP} if opts.timestamper else None,
        "reports": [
            {
                "id": br.report.id, "member": br.member, "keyid": br.keyid, "agent_id": br.agent_id,
                "key": m.key_member(br.keyid), "finished_at": br.report.finished_at.isoformat(),
                "received_at": br.received_at.isoformat() if br.received_at else None,
                "targets": [t.target for t in br.report.targets],
                "evidence": [m.evidence_member(br.report.id, e.id) for e in br.report.evidence],
            }
            for br in ctx.reports
        ],
        "notes": notes,
        "members": [{"path": p, "sha256": sha256_hex(d), "size": len(d)} for p, d in sorted(members.items())],
    }


def _zip(members: dict[str, bytes], when: datetime) -> bytes:
    """Deterministic order and dates, so the same bundle is the same bytes; deflated."""
    buf = io.BytesIO()
    stamp = when.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(members):
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[path])
    return buf.getvalue()


def build_bundle(ctx: m.BundleContext, signing_key: Ed25519PrivateKey, opts: BuildOptions | None = None) -> BuiltBundle:
    """The bundle's bytes; nothing is written to disk here (the caller writes the file once, whole)."""
    opts = opts or BuildOptions()
    if not ctx.reports:
        raise BundleError("no reports to bundle")
    members = _data_members(ctx)
    signer_pub = signing_key.public_key()
    signer_keyid = dsse.key_id(signer_pub)
    members.setdefault(m.key_member(signer_keyid), public_pem(signer_pub))
    for path, data in opts.extra_members.items():
        members[path] = data
    hashes = {p: sha256_hex(d) for p, d in members.items()}
    notes: list[str] = []
    for view in opts.views:
        made = view(ctx, hashes)
        for path, data in made.items():
            if path in members:
                raise BundleError(f"view member {path} collides with another member")
            members[path] = data
        notes.extend(_view_notes(made))
    if opts.timestamper is None:
        notes.append("untimestamped: no RFC 3161 time-stamping authority was configured / タイムスタンプなし")
    members["README.txt"] = render_readme(ctx, sorted(members), notes, signer_keyid, opts.tsa_url if opts.timestamper else None)
    manifest = _manifest(ctx, members, signer_keyid, opts, notes)
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    envelope = dsse.sign_payload(manifest_bytes, signing_key, MANIFEST_PAYLOAD_TYPE)
    members[m.MANIFEST] = manifest_bytes
    members[m.MANIFEST_SIG] = json.dumps(envelope, separators=(",", ":")).encode() + b"\n"
    if opts.timestamper is not None:
        try:
            members[m.TIMESTAMP] = opts.timestamper(manifest_bytes)
        except Exception as exc:  # the TSA's failure is the person's to know about; no bundle without it
            raise BundleError(f"timestamp from {opts.tsa_url or 'the TSA'} failed: {exc}") from exc
    return BuiltBundle(_zip(members, ctx.created_at), ctx.bundle_id, manifest, notes)


#: A view may say why it made nothing (e.g. no Chromium for the PDF) with a member `notes/<name>.txt`;
#: the builder repeats it in the manifest and the README so nobody has to guess why a file is missing.
def _view_notes(made: dict[str, bytes]) -> list[str]:
    return [d.decode("utf-8", "replace").strip() for p, d in sorted(made.items()) if p.startswith("notes/")]
