"""`tenken scan tls`: audit TLS endpoints against TLS暗号設定ガイドライン 3.0.1 高セキュリティ型 (SO-13-6 ff.)."""


import re
from pathlib import Path
from typing import Annotated

import typer
from tenken.collectors.tls.kinds import StartTls, Zone

#: Default ports when HOST has none: 443 for plain TLS, the protocol's usual STARTTLS port otherwise.
DEFAULT_PORTS: dict[StartTls | None, int] = {
    None: 443, StartTls.SMTP: 25, StartTls.IMAP: 143, StartTls.POP3: 110, StartTls.LDAP: 389, StartTls.FTP: 21,
    StartTls.XMPP: 5222, StartTls.XMPP_SERVER: 5269, StartTls.RDP: 3389, StartTls.POSTGRES: 5432,
}
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^:\s\[\]]+))(?::(?P<port>\d{1,5}))?$")


def parse_target(text: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port). Raises ValueError with the reason."""
    m = _HOST_PORT.match(text.strip())
    if m is None:
        if text.count(":") > 1 and "[" not in text:  # a bare IPv6 address
            return text.strip(), default_port
        raise ValueError(f"not HOST[:PORT]: {text!r}")
    host = m.group("v6") or m.group("host")
    port = int(m.group("port")) if m.group("port") else default_port
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def register(app: typer.Typer, scan_app: typer.Typer) -> None:
    """Add `scan tls` to the CLI."""
    from tenken.agent.cli import (
        FormatOpt,
        LangOpt,
        OutputOpt,
        PolicyOpt,
        SignOpt,
        WaiversOpt,
        fail_usage,
        finish,
        load_site_config,
    )
    from tenken.agent.output import Format, Lang

    @scan_app.command("tls")
    def scan_tls_cmd(
        targets: Annotated[list[str], typer.Argument(help="HOST[:PORT] ... (default port 443, or the STARTTLS protocol's).")],
        starttls: Annotated[StartTls | None, typer.Option("--starttls", help="Upgrade with STARTTLS first.")] = None,
        zone: Annotated[Zone, typer.Option("--zone", help="open: client certificates required (SO-13-6); closed: reported.")] = Zone.OPEN,
        ca_file: Annotated[Path | None, typer.Option("--ca-file", help="Trust store (PEM) for the server chain, e.g. the hospital's private CA.")] = None,
        client_cert: Annotated[Path | None, typer.Option("--client-cert", help="Client certificate (PEM) for probes that need a completed handshake.")] = None,
        client_key: Annotated[Path | None, typer.Option("--client-key", help="Its private key (PEM, unencrypted). Never copied into the report.")] = None,
        sni: Annotated[str | None, typer.Option("--sni", help="Server name to send and to match the certificate against.")] = None,
        http: Annotated[bool | None, typer.Option("--http/--no-http", help="Probe the HTTP layer for client-certificate enforcement (default: plain TLS endpoints).")] = None,
        timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds allowed per endpoint.")] = 10.0,
        policy: PolicyOpt = None,
        waivers: WaiversOpt = None,
        fmt: FormatOpt = Format.TABLE,
        output: OutputOpt = None,
        lang: LangOpt = Lang.JA,
        sign: SignOpt = None,
    ) -> None:
        """Audit TLS endpoints (TLS 1.3, 高セキュリティ型 suites, certificate, client certificates). / TLS エンドポイントを点検します。"""
        from tenken.agent.scan import assemble_report
        from tenken.agent.tls_scan import scan_tls

        if (client_cert is None) != (client_key is None):
            raise fail_usage("--client-cert and --client-key go together")
        for path, name in ((ca_file, "--ca-file"), (client_cert, "--client-cert"), (client_key, "--client-key")):
            if path is not None and not path.is_file():
                raise fail_usage(f"{name}: no such file: {path}")
        pol, wv = load_site_config(policy, waivers)
        from tenken.collectors.tls.spec import TlsEndpoint

        endpoints: list[TlsEndpoint] = []
        for t in targets:
            try:
                host, port = parse_target(t, DEFAULT_PORTS[starttls])
            except ValueError as exc:
                raise fail_usage(str(exc)) from exc
            endpoints.append(TlsEndpoint(
                host=host, port=port, server_name=sni, starttls=starttls, zone=zone,
                ca_file=str(ca_file) if ca_file else None, client_cert=str(client_cert) if client_cert else None,
                client_key=str(client_key) if client_key else None, http=http, timeout=timeout,
            ))
        results = scan_tls(endpoints, pol)
        report = assemble_report(results, policy=pol, waivers=wv, scanned_kinds={"network"})
        finish(report, fmt, lang, output, sign)
