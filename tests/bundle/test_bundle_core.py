"""Evidence bundles end to end: built from real signed scans (files and the real hub), verified offline, and
every kind of tampering named by `tenken verify` with exit 1."""

from __future__ import annotations

import json
import stat
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "hub"))

from bundle_fixtures import SignedHost, bundle_of, two_hosts  # noqa: E402
from clihelp import run_tenken  # noqa: E402


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[SignedHost, SignedHost]:
    return two_hosts(tmp_path_factory.mktemp("hosts"))


@pytest.fixture(scope="module")
def bundle(hosts: tuple[SignedHost, SignedHost], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle_of(hosts, tmp_path_factory.mktemp("bundle") / "audit.zip")


def verify(path: Path, *keys: Path) -> tuple[int, str]:
    args = ["verify", str(path), "--json"]
    for k in keys:
        args += ["--key", str(k)]
    res = run_tenken(*args)
    return res.exit_code, res.stdout


def problems(path: Path, *keys: Path) -> dict[str, list[str]]:
    code, out = verify(path, *keys)
    doc = json.loads(out)
    assert (code == 0) == doc["verified"]
    found: dict[str, list[str]] = {}
    for p in doc["problems"]:
        found.setdefault(p["member"], []).append(p["problem"])
    return found


def rewrite(src: Path, dst: Path, *, change: dict[str, bytes | None] | None = None, add: dict[str, bytes] | None = None) -> Path:
    """Copy a zip member by member, replacing (bytes) or dropping (None) some and adding others."""
    change = change or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    zout.writestr(info, change[info.filename])
                continue
            zout.writestr(info, zin.read(info))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def flip(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def test_bundle_of_two_hosts_verifies_and_holds_what_an_auditor_needs(bundle: Path, hosts: tuple[SignedHost, SignedHost]) -> None:
    weak, good = hosts
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    code, out = verify(bundle, weak.pub, good.pub)
    assert code == 0, out
    doc = json.loads(out)
    assert doc["reports_verified"] == 2 and doc["verified"]
    assert any("untimestamped" in i for i in doc["info"])
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        # the envelopes exactly as signed
        for h in hosts:
            env = h.report.read_bytes()
            rid = json.loads(__import__("base64").b64decode(json.loads(env)["payload"]))["id"]
            assert zf.read(f"reports/{rid}.dsse.json") == env
        readme = zf.read("README.txt").decode("utf-8-sig")
    assert readme.index("検証方法") < readme.index("How to verify")  # Japanese first
    assert "ward-pc01" in readme and "ehr-db01" in readme
    assert {r["agent_id"] for r in manifest["reports"]} == {__import__("tenken.agent.dsse", fromlist=["x"]).agent_id(
        __import__("tenken.agent.signing", fromlist=["x"]).load_public_key_file(k)) for k in (weak.pub, good.pub)}
    listed = {m["path"] for m in manifest["members"]}
    assert listed | {"manifest.json", "manifest.dsse.json"} == names
    assert any(n.startswith("evidence/") for n in listed) and any(n.startswith("keys/") for n in listed)
    # the signed manifest names both hosts' reports and their evidence members
    assert sum(len(r["evidence"]) for r in manifest["reports"]) == sum(n.startswith("evidence/") for n in names)


def test_every_member_changed_or_removed_is_named(bundle: Path, tmp_path: Path, hosts: tuple[SignedHost, SignedHost]) -> None:
    weak, good = hosts
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    kinds_seen: set[str] = set()
    for name, data in members.items():
        kind = name.split("/")[0]
        if kind in kinds_seen and kind in ("evidence", "keys", "reports"):
            continue  # one of each kind is enough; README and the manifest files are each tried
        kinds_seen.add(kind)
        changed = problems(rewrite(bundle, tmp_path / "changed.zip", change={name: flip(data)}), weak.pub, good.pub)
        assert name in changed, f"flipping a byte of {name} was not named: {changed}"
        removed = problems(rewrite(bundle, tmp_path / "removed.zip", change={name: None}), weak.pub, good.pub)
        assert name in removed, f"removing {name} was not named: {removed}"
        assert any("missing" in p for p in removed[name]), removed[name]
    assert {"reports", "evidence", "keys", "README.txt", "manifest.json", "manifest.dsse.json"} <= kinds_seen


def test_a_stray_file_is_named(bundle: Path, tmp_path: Path) -> None:
    for stray in ("notes.txt", "reports/extra.dsse.json", "evidence/x/e-1.json"):
        found = problems(rewrite(bundle, tmp_path / "stray.zip", add={stray: b"{}"}))
        assert stray in found, found


def test_a_report_signed_by_an_unpinned_key_is_named(bundle: Path, hosts: tuple[SignedHost, SignedHost]) -> None:
    weak, good = hosts
    found = problems(bundle, weak.pub)  # the good host's agent key is not pinned
    assert len(found) == 1
    (member, what), = found.items()
    assert member.startswith("reports/") and "not among the pinned" in what[0]
    found = problems(bundle, good.pub)  # neither the manifest signer nor the weak host's agent
    assert "manifest.dsse.json" in found and sum(m.startswith("reports/") for m in found) == 1


def test_a_re_signed_manifest_over_a_changed_report_is_still_caught(bundle: Path, tmp_path: Path, hosts: tuple[SignedHost, SignedHost]) -> None:
    """Whoever holds the bundle key can re-sign a manifest, but not an agent's report: the report is named."""
    import base64

    from tenken.agent import dsse
    from tenken.agent.bundle.build import MANIFEST_PAYLOAD_TYPE
    from tenken.agent.signing import load_signing_key

    weak, good = hosts
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        target = next(r for r in manifest["reports"])
        env = json.loads(zf.read(target["member"]))
    payload = json.loads(base64.b64decode(env["payload"]))
    for f in payload["findings"]:
        f["status"] = "pass" if f["evidence"] else f["status"]
    env["payload"] = base64.b64encode(dsse.canonical(payload)).decode()
    forged = json.dumps(env).encode()
    for m in manifest["members"]:
        if m["path"] == target["member"]:
            m["sha256"], m["size"] = __import__("hashlib").sha256(forged).hexdigest(), len(forged)
    mbytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    sig = json.dumps(dsse.sign_payload(mbytes, load_signing_key(weak.key), MANIFEST_PAYLOAD_TYPE)).encode()
    out = rewrite(bundle, tmp_path / "forged.zip", change={target["member"]: forged, "manifest.json": mbytes, "manifest.dsse.json": sig})
    found = problems(out, weak.pub, good.pub)
    assert list(found) == [target["member"]] and "bad signature" in found[target["member"]][0]


def test_hostile_archives_get_a_named_problem_not_a_crash(bundle: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert problems(junk) != {}
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(dup, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with pytest.warns(UserWarning):
            zout.writestr("README.txt", b"a second README")
    assert "README.txt" in problems(dup)
    evil = rewrite(bundle, tmp_path / "evil.zip", add={"../../etc/passwd": b"x"})
    assert "../../etc/passwd" in problems(evil)
    # corrupt compressed bytes of one member inside the archive itself (not re-zipped): the member is named
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("README.txt")
    raw[info.header_offset + 30 + len(info.filename) + 5] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    assert "README.txt" in problems(damaged)


def test_bundle_refuses_a_report_that_does_not_verify(hosts: tuple[SignedHost, SignedHost], tmp_path: Path) -> None:
    weak, good = hosts
    out = tmp_path / "x.zip"
    res = run_tenken("bundle", str(weak.report), str(good.report), "--key", str(weak.key), "-o", str(out))
    assert res.exit_code == 1 and str(good.report) in res.stderr and "not among the given keys" in res.stderr
    assert not out.exists()
    bad = tmp_path / "bad.dsse.json"
    env = json.loads(weak.report.read_bytes())
    env["payload"] = env["payload"][:-8] + "AAAAAAA="
    bad.write_text(json.dumps(env))
    res = run_tenken("bundle", str(bad), "--key", str(weak.key), "-o", str(out))
    assert res.exit_code == 1 and str(bad) in res.stderr and not out.exists()


def test_period_filter_on_local_reports(hosts: tuple[SignedHost, SignedHost], tmp_path: Path) -> None:
    weak, _good = hosts
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    res = run_tenken("bundle", str(weak.report), "--key", str(weak.key), "--since", tomorrow, "-o", str(tmp_path / "none.zip"))
    assert res.exit_code == 1 and "no report matches" in res.stderr
    res = run_tenken("bundle", str(weak.report), "--key", str(weak.key), "--since", "2026-13-01", "-o", str(tmp_path / "none.zip"))
    assert res.exit_code == 2 and "--since" in res.stderr


@pytest.mark.slow
def test_bundle_from_the_real_hub_reverifies_every_report(tmp_path: Path) -> None:
    from hub_harness import fake_host, make_agent, make_report, start_hub

    hub = start_hub(tmp_path / "hub")
    try:
        a1 = make_agent(hub, tmp_path / "ag1", host=fake_host("ward-pc01"))
        a2 = make_agent(hub, tmp_path / "ag2", host=fake_host("ehr-db01"))
        now = datetime.now(UTC)
        old = make_report(target="ward-pc01", kind="local", identity=a1.host, finished_at=now - timedelta(days=3))
        new = make_report(target="ward-pc01", kind="local", identity=a1.host, finished_at=now - timedelta(minutes=5))
        other = make_report(target="ehr-db01", kind="local", identity=a2.host, finished_at=now - timedelta(minutes=4), clauses=("SO-13-6",))
        for agent, rep in ((a1, old), (a1, new), (a2, other)):
            assert agent.post(hub, agent.sign(rep)).status_code == 201
        op = hub.data / "clients" / "admin"
        keys = run_tenken("keygen", str(tmp_path / "op"))
        assert keys.exit_code == 0
        base = ["bundle", "--hub", hub.url, "--client-cert", str(op / "client.pem"), "--client-key", str(op / "client.key"),
                "--token-file", str(op / "token"), "--ca", str(hub.ca), "--key", str(tmp_path / "op" / "signer.key")]

        def ids(path: Path) -> set[str]:
            with zipfile.ZipFile(path) as zf:
                return {r["id"] for r in json.loads(zf.read("manifest.json"))["reports"]}

        latest = tmp_path / "latest.zip"
        res = run_tenken(*base, "-o", str(latest))
        assert res.exit_code == 0, res.stderr
        assert ids(latest) == {new.id, other.id}  # no period: the latest report of each host
        a1pub, a2pub = a1.dir / "agent.pub", a2.dir / "agent.pub"
        code, out = verify(latest, a1pub, a2pub, tmp_path / "op" / "signer.pub")
        assert code == 0, out
        with zipfile.ZipFile(latest) as zf:
            stored = hub.operator().get(f"/api/v1/reports/{new.id}/envelope").content
            assert zf.read(f"reports/{new.id}.dsse.json") == stored  # the hub's original envelope, byte for byte
            assert zf.read("keys/hub-ca.pem") == hub.ca.read_bytes()

        period = tmp_path / "period.zip"
        since = (now - timedelta(days=4)).isoformat()
        assert run_tenken(*base, "--since", since, "-o", str(period)).exit_code == 0
        assert ids(period) == {old.id, new.id, other.id}
        clause = tmp_path / "clause.zip"
        assert run_tenken(*base, "--clause", "SO-13-6", "-o", str(clause)).exit_code == 0
        assert ids(clause) == {other.id}
        # pinning only one agent's key: the hub's other report is refused and nothing is written
        pinned = tmp_path / "pinned.zip"
        res = run_tenken(*base, "--report-key", str(a1pub), "-o", str(pinned))
        assert res.exit_code == 1 and "not pinned" in res.stderr and not pinned.exists()
        # the hub's own export (what the web view's Export runs) verifies against the key the hub publishes
        from tenken.hub.bundle_export import export_bundle
        from tenken.hub.bundle_query import BundleFilter
        from tenken.hub.settings import load_settings

        signer = tmp_path / "hub-signer.pub"
        signer.write_text(hub.cli("bundle-key").stdout)
        assert hub.operator().get("/api/v1/bundle/signer").content.strip() == signer.read_bytes().strip()
        built = export_bundle(hub.engine(), load_settings(hub.data), BundleFilter())
        exported = tmp_path / "export.zip"
        exported.write_bytes(built.data)
        assert ids(exported) == {new.id, other.id}
        code, out = verify(exported, a1pub, a2pub, signer)
        assert code == 0, out
        assert "manifest.dsse.json" in problems(exported, a1pub, a2pub, tmp_path / "op" / "signer.pub")
        # a wrong token: the hub's 401 is reported, the token is not echoed
        (tmp_path / "bad-token").write_text("tk-not-a-real-token-123456\n")
        res = run_tenken(*base[:-2], "--key", str(tmp_path / "op" / "signer.key"), "--token-file", str(tmp_path / "bad-token"), "-o", str(pinned))
        assert res.exit_code == 1 and "401" in res.stderr and "tk-not-a-real-token" not in res.stderr
    finally:
        hub.stop()
