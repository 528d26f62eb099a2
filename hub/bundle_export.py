"""Evidence bundles made by the hub itself (the web view's Export): the same builder as `tenken bundle --hub`.

The hub signs these manifests with a key of its own (`private/bundle-signer.key`, made on first use, 0600),
never with the CA key; its public half is served at /api/v1/bundle/signer and printed by
`tenken-hub bundle-key`, so an auditor can pin it with `tenken verify --key`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from tenken.agent.bundle.build import BuildOptions, BuiltBundle, View, build_bundle, new_context
from tenken.agent.bundle.model import BundleScope
from tenken.agent.bundle.sources import from_hub_answer_envelopes
from tenken.agent.bundle.views import default_views
from tenken.hub.bundle_query import BundleFilter, load_envelopes, matching_report_ids
from tenken.hub.settings import HubSettings

#: A web export holds at most this many reports: beyond it, the operator narrows the filter or uses the CLI.
MAX_EXPORT_REPORTS = 5000


class ExportError(Exception):
    """Nothing to export, or too much; the message says which."""


def bundle_key_path(settings: HubSettings) -> Path:
    return settings.data_dir / "private" / "bundle-signer.key"


def bundle_signing_key(settings: HubSettings) -> Ed25519PrivateKey:
    """The hub's bundle key, created once with O_EXCL (two workers starting together cannot make two)."""
    path = bundle_key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sk = Ed25519PrivateKey.generate()
        pem = sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ExportError(f"{path} is not an Ed25519 key")
    return key


def bundle_public_pem(settings: HubSettings) -> bytes:
    return bundle_signing_key(settings).public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def export_bundle(engine: Engine, settings: HubSettings, f: BundleFilter, *, hub_url: str | None = None, chromium: str | None = None) -> BuiltBundle:
    ids = matching_report_ids(engine, f)
    if not ids:
        raise ExportError("no report matches the filter")
    if len(ids) > MAX_EXPORT_REPORTS:
        raise ExportError(f"{len(ids)} reports match; narrow the filter to at most {MAX_EXPORT_REPORTS} or use `tenken bundle --hub`")
    scope = BundleScope(source="hub", hub_url=hub_url, group=f.group, clause=f.clause, since=f.since, until=f.until)
    return export_reports(engine, settings, ids, scope, views=default_views(chromium=chromium))


def export_reports(engine: Engine, settings: HubSettings, ids: list[str], scope: BundleScope, *, views: list[View]) -> BuiltBundle:
    """A signed bundle of exactly these stored reports, each envelope re-verified with its agent's enrolled key
    (the web export and retention's export before deleting share this)."""
    reports = from_hub_answer_envelopes(load_envelopes(engine, ids))
    ctx = new_context(reports, scope)
    extra = {"keys/hub-ca.pem": settings.ca_cert.read_bytes()} if settings.ca_cert.exists() else {}
    return build_bundle(ctx, bundle_signing_key(settings), BuildOptions(views=views, extra_members=extra))
