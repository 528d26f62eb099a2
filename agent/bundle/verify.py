"""`tenken verify BUNDLE.zip`: re-check every hash and signature of a bundle offline, naming what fails.

Every problem names the member it is about, so an auditor can say exactly which file was changed, removed
or added. The zip is read in place (nothing is extracted), member by member with bounded sizes, so a
hostile archive (duplicate names, huge members, compression bombs) costs bounded work and never a crash.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenken.agent import dsse
from tenken.agent.bundle import model as m
from tenken.agent.bundle.build import MANIFEST_PAYLOAD_TYPE, MANIFEST_SCHEMA

MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
#: Members the manifest cannot list because they are made over it.
OUTSIDE_MANIFEST = (m.MANIFEST, m.MANIFEST_SIG, m.TIMESTAMP)

#: (token, manifest bytes, TSA CA certificates PEM or None) -> a one-line description; raises when it does not cover.
TimestampCheck = Callable[[bytes, bytes, bytes | None], str]
TSA_CA = "keys/tsa-ca.pem"


class _Member(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    sha256: str
    size: int


class _ReportEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    member: str
    keyid: str
    agent_id: str
    key: str
    evidence: list[str]


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schema_: str = Field(alias="schema")
    bundle_id: str
    created_at: str
    signer: dict[str, str]
    timestamp: dict[str, Any] | None
    reports: list[_ReportEntry]
    members: list[_Member]
    notes: list[str] = []


@dataclass
class Problem:
    member: str
    what: str

    def __str__(self) -> str:
        return f"{self.member}: {self.what}"


@dataclass
class BundleCheck:
    problems: list[Problem] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    bundle_id: str | None = None
    reports_verified: int = 0
    members_checked: int = 0
    timestamp: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, member: str, what: str) -> None:
        self.problems.append(Problem(member, what))


def _safe_name(name: str) -> bool:
    return not (name.startswith("/") or "\\" in name or "\x00" in name or any(p in ("", ".", "..") for p in name.rstrip("/").split("/")))


class _Reader:
    """Bounded reads of single members; a member that cannot be read is a named problem, not an exception."""

    def __init__(self, zf: zipfile.ZipFile, check: BundleCheck) -> None:
        self.zf, self.check, self.total = zf, check, 0
        self.infos = {i.filename: i for i in zf.infolist()}

    def read(self, name: str) -> bytes | None:
        info = self.infos.get(name)
        if info is None:
            return None
        if info.file_size > MAX_MEMBER_BYTES:
            self.check.fail(name, f"declares {info.file_size} bytes; members larger than {MAX_MEMBER_BYTES} are not read")
            return None
        self.total += info.file_size
        if self.total > MAX_TOTAL_BYTES:
            self.check.fail(name, "the bundle's members add up to more than 4 GiB; not read")
            return None
        try:
            with self.zf.open(info) as f:
                data = f.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
            self.check.fail(name, f"cannot be read from the zip (damaged or changed): {exc}")
            return None
        if len(data) > MAX_MEMBER_BYTES:
            self.check.fail(name, "decompresses to more than it declares; not read")
            return None
        return data


def _default_timestamp_check() -> TimestampCheck | None:
    try:
        from tenken.agent.bundle import tsa
    except ImportError:
        return None
    return tsa.check_in_bundle


def verify_bundle(path: Path, pinned: Sequence[Ed25519PublicKey] = (), *, timestamp_check: TimestampCheck | None = None) -> BundleCheck:
    check = BundleCheck()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        check.fail(str(path), f"not a readable zip file: {exc}")
        return check
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            check.fail(str(path), f"{len(infos)} members; at most {MAX_MEMBERS} are read")
            return check
        seen: set[str] = set()
        for i in infos:
            if i.filename in seen:
                check.fail(i.filename, "appears more than once in the zip (which copy is meant is ambiguous)")
            seen.add(i.filename)
            if not _safe_name(i.filename):
                check.fail(i.filename, "unsafe member name (absolute, `..`, backslash or NUL)")
        if check.problems:
            return check
        _verify(_Reader(zf, check), check, pinned, timestamp_check or _default_timestamp_check())
    return check


def _load_key(r: _Reader, member: str, keyid: str, check: BundleCheck, who: str) -> Ed25519PublicKey | None:
    pem = r.read(member)
    if pem is None:
        if member not in r.infos:
            check.fail(member, f"missing: the public key of {who} is not in the bundle")
        return None
    try:
        key = dsse.load_public_key(pem)
    except (ValueError, TypeError):
        check.fail(member, "not an Ed25519 public key (PEM)")
        return None
    if dsse.key_id(key) != keyid:
        check.fail(member, f"holds key id {dsse.key_id(key)[:16]}…, not {keyid[:16]}… as the manifest says")
        return None
    return key


def _verify(r: _Reader, check: BundleCheck, pinned: Sequence[Ed25519PublicKey], ts_check: TimestampCheck | None) -> None:
    pinned_ids = {dsse.key_id(k) for k in pinned}
    manifest_bytes = r.read(m.MANIFEST)
    sig_bytes = r.read(m.MANIFEST_SIG)
    if manifest_bytes is None or sig_bytes is None:
        for name, data in ((m.MANIFEST, manifest_bytes), (m.MANIFEST_SIG, sig_bytes)):
            if data is None and name not in r.infos:
                check.fail(name, "missing: without it nothing in the bundle can be verified")
        return
    try:
        raw = dsse.loads_strict(manifest_bytes, "manifest")
        man = _Manifest.model_validate(raw)
    except (dsse.EnvelopeError, ValidationError) as exc:
        check.fail(m.MANIFEST, f"not a valid bundle manifest: {str(exc).splitlines()[0]}")
        return
    if man.schema_ != MANIFEST_SCHEMA:
        check.fail(m.MANIFEST, f"schema is {man.schema_!r}, expected {MANIFEST_SCHEMA!r}")
        return
    check.bundle_id = man.bundle_id
    signer_id = man.signer.get("keyid", "")
    signer = _load_key(r, m.key_member(signer_id), signer_id, check, "the manifest signer")
    if signer is not None:
        try:
            payload = dsse.verify_with_key(sig_bytes, signer, MANIFEST_PAYLOAD_TYPE)
        except (dsse.EnvelopeError, dsse.SignatureError) as exc:
            check.fail(m.MANIFEST_SIG, f"bad manifest signature: {exc}")
        else:
            if payload != manifest_bytes:
                check.fail(m.MANIFEST, "differs from what manifest.dsse.json signed")
            else:
                check.info.append(f"manifest signed by key {signer_id[:16]}…")
        if pinned_ids and signer_id not in pinned_ids:
            check.fail(m.MANIFEST_SIG, f"signed by key {signer_id[:16]}…, which is not among the pinned --key keys")
    _check_members(r, check, man)
    _check_reports(r, check, man, pinned_ids)
    _check_timestamp(r, check, man, manifest_bytes, ts_check)


def _check_members(r: _Reader, check: BundleCheck, man: _Manifest) -> None:
    listed: set[str] = set()
    for entry in man.members:
        if entry.path in listed:
            check.fail(entry.path, "listed twice in the manifest")
            continue
        listed.add(entry.path)
        if entry.path in OUTSIDE_MANIFEST:
            check.fail(entry.path, "the manifest must not list itself, its signature or its timestamp")
            continue
        if entry.path not in r.infos:
            check.fail(entry.path, "missing: listed in the manifest but not in the bundle")
            continue
        data = r.read(entry.path)
        if data is None:
            continue
        check.members_checked += 1
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            check.fail(entry.path, f"changed: its sha256/size differ from the manifest ({len(data)} bytes, expected {entry.size})")
    for name in sorted(r.infos):
        if name not in listed and name not in OUTSIDE_MANIFEST and not name.endswith("/"):
            check.fail(name, "extra member: not listed in the signed manifest")


def _check_reports(r: _Reader, check: BundleCheck, man: _Manifest, pinned_ids: set[str]) -> None:
    from tenken.agent.bundle.sources import SourceError, verify_into_bundle

    declared = {e.member for e in man.reports}
    for name in sorted(r.infos):
        if name.startswith("reports/") and name not in declared:
            check.fail(name, "a report the manifest does not declare")
    for entry in man.reports:
        if entry.member != m.envelope_member(entry.id):
            check.fail(entry.member, f"report {entry.id} is stored under an unexpected name")
            continue
        key = _load_key(r, entry.key, entry.keyid, check, f"report {entry.id}")
        envelope = r.read(entry.member)
        if envelope is None:
            if entry.member not in r.infos:
                check.fail(entry.member, "missing: a report the manifest declares")
            continue
        if pinned_ids and entry.keyid not in pinned_ids:
            check.fail(entry.member, f"signed by key {entry.keyid[:16]}… (agent {entry.agent_id}), which is not among the pinned --key keys")
        if key is None:
            continue
        try:
            br = verify_into_bundle(envelope, [key], entry.member)
        except SourceError as exc:
            check.fail(entry.member, str(exc).removeprefix(entry.member + ": "))
            continue
        if br.report.id != entry.id:
            check.fail(entry.member, f"carries report id {br.report.id}, not {entry.id}")
            continue
        if br.agent_id != entry.agent_id:
            check.fail(entry.member, f"signed by agent {br.agent_id}, the manifest says {entry.agent_id}")
        _check_evidence(r, check, br.report, entry)
        check.reports_verified += 1


def _check_evidence(r: _Reader, check: BundleCheck, report: Any, entry: _ReportEntry) -> None:
    """Each evidence member must be exactly what the signed report says (the agent's signature covers it)."""
    signed = {m.evidence_member(report.id, e.id): e.model_dump(mode="json") for e in report.evidence}
    if set(entry.evidence) != set(signed):
        check.fail(entry.member, "the manifest's evidence list differs from the evidence in the signed report")
    for name, expected in signed.items():
        data = r.read(name)
        if data is None:
            if name not in r.infos:
                check.fail(name, "missing: evidence of a signed report")
            continue
        try:
            got = json.loads(data)
        except ValueError:
            check.fail(name, "not JSON: the evidence file was damaged")
            continue
        if got != expected:
            check.fail(name, "differs from the evidence the agent signed in its report")


def _check_timestamp(r: _Reader, check: BundleCheck, man: _Manifest, manifest_bytes: bytes, ts_check: TimestampCheck | None) -> None:
    token = r.read(m.TIMESTAMP)
    if token is None:
        if man.timestamp is not None and m.TIMESTAMP not in r.infos:
            check.fail(m.TIMESTAMP, "missing: the manifest says the bundle was timestamped")
        elif man.timestamp is None:
            check.info.append("untimestamped: no RFC 3161 timestamp (the creation time is the builder's clock)")
        return
    if ts_check is None:
        check.fail(m.TIMESTAMP, "this tenken cannot check RFC 3161 timestamps")
        return
    try:
        anchors = r.read(TSA_CA) if any(e.path == TSA_CA for e in man.members) else None
        check.timestamp = ts_check(token, manifest_bytes, anchors)
    except Exception as exc:  # any failure to verify is the member's problem, named
        check.fail(m.TIMESTAMP, f"timestamp does not cover the manifest or does not verify: {exc}")
    else:
        check.info.append(f"timestamp: {check.timestamp}")
