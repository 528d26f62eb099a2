"""`tenken bundle` (an evidence bundle for auditors) and the bundle half of `tenken verify`."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from tenken.agent.bundle.model import BundleReport
    from tenken.agent.bundle.sources import BundleFilter

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_HUB_CA = Path("/etc/tenken/hub-ca.pem")


def _usage(message: str) -> typer.Exit:
    typer.echo(f"tenken: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def parse_when(raw: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """`2026-11-01` (a whole day, JST-agnostic: UTC) or an ISO 8601 time; `--until` of a date includes that day."""
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            return datetime.combine(d + timedelta(days=1) if end_of_day else d, time(0), tzinfo=UTC)
        dt = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _usage(f"{name}: {raw!r} is not a date (2026-11-01) or an ISO 8601 time (2026-11-01T09:00:00+09:00)") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def write_private(path: Path, data: bytes) -> None:
    """Atomically, mode 0600 (TENKEN_REPORT_MODE to change): a bundle holds evidence, like a report."""
    from tenken.agent.output import _create, report_mode

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(_create(tmp, report_mode()), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_from_hub(url: str, cert: Path, key: Path, token_file: Path, ca: Path, query: BundleFilter, pinned: list[Ed25519PublicKey]) -> list[BundleReport]:
    import ssl

    import httpx
    from tenken.agent.bundle.sources import SourceError, from_hub_answer

    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _usage(f"--token-file {token_file}: cannot read: {exc.strerror}") from exc
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise _usage(f"client certificate/key or hub CA cannot be loaded: {exc}") from exc
    items: list = []
    params = query.params()
    offset: int | None = 0
    try:
        with httpx.Client(base_url=url, verify=ctx, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            while offset is not None:
                res = client.get("/api/v1/bundle/reports", params={**params, "offset": offset, "limit": 50})
                if res.status_code != 200:
                    detail = res.text[:300].replace(token, "<token>")
                    typer.echo(f"FAILED: the hub answered HTTP {res.status_code}: {detail}", err=True)
                    raise typer.Exit(EXIT_FAIL)
                page = res.json()
                items.extend(page["items"])
                offset = page.get("next_offset")
    except httpx.HTTPError as exc:
        typer.echo(f"FAILED: cannot reach the hub at {url}: {exc}", err=True)
        raise typer.Exit(EXIT_FAIL) from exc
    try:
        return from_hub_answer(items, pinned)
    except SourceError as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(EXIT_FAIL) from exc


def bundle(
    reports: Annotated[list[Path] | None, typer.Argument(help="Signed report files (tenken scan ... --sign, or the agent's spool).")] = None,
    key: Annotated[Path, typer.Option("--key", "-k", help="Ed25519 private key that signs the bundle's manifest (e.g. agent.key).")] = ...,  # type: ignore[assignment]
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle file to write (.zip).")] = ...,  # type: ignore[assignment]
    report_key: Annotated[list[Path] | None, typer.Option("--report-key", help="Public key the reports must be signed by (repeatable). Default: --key's own. With --hub: pins the agents' keys.")] = None,
    hub: Annotated[str | None, typer.Option("--hub", help="Take the reports from this hub (https://hub:8443) instead of files.")] = None,
    client_cert: Annotated[Path | None, typer.Option("--client-cert", help="Operator certificate for the hub.")] = None,
    client_key: Annotated[Path | None, typer.Option("--client-key", help="Its private key.")] = None,
    token_file: Annotated[Path | None, typer.Option("--token-file", help="File holding the hub API token.")] = None,
    ca: Annotated[Path | None, typer.Option("--ca", help=f"The hub's CA certificate (default {DEFAULT_HUB_CA}).")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Only hosts in this inventory group.")] = None,
    clause: Annotated[str | None, typer.Option("--clause", help="Only findings on this clause (SO-13-6).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Reports observed from this date/time (with --hub: every report of the period; without a period, the latest per host).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="... up to this date (inclusive) or time (exclusive).")] = None,
    tsa: Annotated[str | None, typer.Option("--tsa", help="RFC 3161 time-stamping authority URL; the manifest is timestamped.")] = None,
    tsa_ca: Annotated[Path | None, typer.Option("--tsa-ca", help="The TSA's CA certificate(s), PEM: the token is checked against them and they go into the bundle (keys/tsa-ca.pem).")] = None,
    chromium: Annotated[str | None, typer.Option("--chromium", help="Chromium binary for the PDF (default: chromium on PATH).")] = None,
) -> None:
    """Build an evidence bundle for auditors: signed reports, evidence, manifest, HTML/PDF/CSV, checklist, OSCAL, JUnit.

    監査用の証跡バンドル（署名付き報告書・証跡・マニフェスト・印刷用報告書・チェックリスト等）を作成します。
    """
    from tenken.agent.bundle.build import BuildOptions, BundleError, build_bundle, new_context
    from tenken.agent.bundle.model import BundleScope
    from tenken.agent.bundle.sources import BundleFilter, SourceError, from_files
    from tenken.agent.bundle.views import default_views
    from tenken.agent.signing import load_public_key_file, load_signing_key
    from tenken.checks.configfile import ConfigError
    from tenken.checks.finding import CLAUSE_ID

    if clause is not None and not CLAUSE_ID.match(clause):
        raise _usage(f"--clause must look like SO-13-6, not {clause!r}")
    t0, t1 = parse_when(since, "--since"), parse_when(until, "--until", end_of_day=True)
    if t0 and t1 and t0 >= t1:
        raise _usage("--since must be before --until")
    if output.exists() and output.is_dir():
        raise _usage(f"--output {output} is a directory; name the bundle file (e.g. {output}/bundle.zip)")
    if not output.parent.is_dir():
        raise _usage(f"--output: directory {output.parent} does not exist")
    try:
        signer = load_signing_key(key)
        pins = [load_public_key_file(p) for p in report_key or []]
    except ConfigError as exc:
        raise _usage(str(exc)) from exc
    scope = BundleScope(source="hub" if hub else "local", hub_url=hub, group=group, clause=clause, since=t0, until=t1)
    extra: dict[str, bytes] = {}
    if hub:
        if reports:
            raise _usage("give either report files or --hub, not both")
        missing = [n for n, v in (("--client-cert", client_cert), ("--client-key", client_key), ("--token-file", token_file)) if v is None]
        if missing:
            raise _usage(f"--hub needs {', '.join(missing)}")
        hub_ca = ca or DEFAULT_HUB_CA
        if not hub_ca.is_file():
            raise _usage(f"the hub's CA certificate {hub_ca} does not exist; give it with --ca")
        items = _fetch_from_hub(hub, client_cert, client_key, token_file, hub_ca, BundleFilter(group, clause, t0, t1), pins)  # type: ignore[arg-type]
        extra["keys/hub-ca.pem"] = hub_ca.read_bytes()
    else:
        if not reports:
            raise _usage("name the signed report files to bundle, or use --hub")
        try:
            items = from_files(reports, pins or [signer.public_key()])
        except SourceError as exc:
            typer.echo(f"FAILED: {exc}", err=True)
            raise typer.Exit(EXIT_FAIL) from exc
        if t0 or t1:
            items = [b for b in items if (t0 is None or b.observed_at >= t0) and (t1 is None or b.observed_at < t1)]
    if not items:
        typer.echo("FAILED: no report matches; no bundle written / 該当する報告書がありません "
                   "(widen --since/--until, check --group and --clause, or list the reports with the hub's /api/v1/reports)", err=True)
        raise typer.Exit(EXIT_FAIL)
    ctx = new_context(items, scope)
    timestamper = None
    if tsa:
        from tenken.agent.bundle.tsa import make_timestamper

        try:
            timestamper = make_timestamper(tsa, ca_file=tsa_ca)
            if tsa_ca is not None:
                extra["keys/tsa-ca.pem"] = tsa_ca.read_bytes()
        except (OSError, ValueError) as exc:
            raise _usage(f"--tsa-ca {tsa_ca}: {exc}") from exc
    opts = BuildOptions(views=default_views(chromium=chromium, timestamped=timestamper is not None), timestamper=timestamper, tsa_url=tsa, extra_members=extra)
    try:
        built = build_bundle(ctx, signer, opts)
    except BundleError as exc:
        typer.echo(f"FAILED: {exc}; no bundle written", err=True)
        raise typer.Exit(EXIT_FAIL) from exc
    try:
        write_private(output, built.data)
    except OSError as exc:
        raise _usage(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"bundle:  {built.bundle_id} -> {output}")
    typer.echo(f"reports: {len(ctx.reports)}  hosts: {len(ctx.hosts)}  members: {len(built.manifest['members']) + 2 + (1 if timestamper else 0)}")
    for n in built.notes:
        typer.echo(f"note:    {n}")


def report_bundle_check(path: Path, pinned: list[Ed25519PublicKey], as_json: bool) -> int:
    from tenken.agent.bundle.verify import verify_bundle

    res = verify_bundle(path, pinned)
    if as_json:
        typer.echo(json.dumps({
            "verified": res.ok, "bundle_id": res.bundle_id, "reports_verified": res.reports_verified,
            "members_checked": res.members_checked, "timestamp": res.timestamp, "pinned_keys": len(pinned),
            "problems": [{"member": p.member, "problem": p.what} for p in res.problems], "info": res.info,
        }, ensure_ascii=False))
        return EXIT_OK if res.ok else EXIT_FAIL
    for p in res.problems:
        typer.echo(f"FAILED: {p}", err=True)
    if not res.ok:
        typer.echo(f"FAILED: bundle {res.bundle_id or path} does not verify ({len(res.problems)} problem(s)) / 検証に失敗しました", err=True)
        return EXIT_FAIL
    typer.echo("OK: bundle verified / バンドルの検証に成功しました")
    typer.echo(f"bundle:  {res.bundle_id}")
    typer.echo(f"reports: {res.reports_verified} verified; members: {res.members_checked} checked")
    if not pinned:
        typer.echo("keys:    not pinned: the keys inside the bundle were used (integrity, not origin); pin with --key")
    for line in res.info:
        typer.echo(f"info:    {line}")
    return EXIT_OK


def keygen(
    directory: Annotated[Path, typer.Argument(help="Where to write signer.key (0600) and signer.pub.")],
) -> None:
    """Make an Ed25519 key pair for signing bundles (give signer.pub to the auditor). / 署名鍵を作成します。"""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from tenken.agent.identity import write_exclusive

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    sk = Ed25519PrivateKey.generate()
    try:
        write_exclusive(directory / "signer.key", sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    except FileExistsError as exc:
        raise _usage(f"{directory / 'signer.key'} already exists; refusing to overwrite a key") from exc
    pub = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    write_exclusive(directory / "signer.pub", pub, 0o644)
    typer.echo(f"wrote {directory / 'signer.key'} and {directory / 'signer.pub'}")


def register(app: typer.Typer) -> None:
    app.command("bundle")(bundle)
    app.command("keygen")(keygen)
