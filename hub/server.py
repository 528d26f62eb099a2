"""Run the hub on uvicorn and hand the verified client certificate to the application.

uvicorn does not (yet) implement the ASGI TLS extension, so the app cannot see which certificate the
client presented. This module is the single place that closes the gap: a subclass of uvicorn's HTTP
protocol reads the peer certificate from the TLS object once the handshake is done (asyncio calls
`connection_made` only after it) and wraps the app for that connection, so every request scope on it
carries `scope["extensions"]["tls"]` in the shape of the ASGI TLS extension spec. The certificate comes
from the TLS layer, never from a header, so a client cannot claim somebody else's identity.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
TLS_1_3 = 0x0304


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI TLS extension dict for one connection, or None when the connection is not TLS."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_1_3 if ssl_object.version() == "TLSv1.3" else None,
        "cipher_suite": None,
        "cipher_name": cipher[0] if cipher else None,
    }


def with_tls(app: ASGIApp, tls: dict[str, Any] | None) -> ASGIApp:
    """Wrap `app` so that each scope on this connection carries this connection's TLS facts."""

    async def wrapped(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions.pop("tls", None)  # never trust anything but the transport
            if tls is not None:
                extensions["tls"] = tls
            scope["extensions"] = extensions
        await app(scope, receive, send)

    return wrapped


class PeerCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus the client certificate in every request scope of the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = with_tls(self.app, tls_extension(transport.get_extra_info("ssl_object")))


def make_config(
    app: ASGIApp, *, host: str, port: int, context: ssl.SSLContext, log_level: str = "info", limit_concurrency: int | None = 512
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=PeerCertH11Protocol,
        loop="asyncio",  # HubServer sets the handshake timeout on asyncio's create_server
        ssl_context_factory=lambda _config, _default: context,
        log_level=log_level,
        proxy_headers=False,  # a forwarded header must never stand in for the TLS peer
        server_header=False,
        timeout_keep_alive=30,
        limit_concurrency=limit_concurrency,  # beyond this, new requests get 503 instead of queueing without bound
        backlog=2048,
        lifespan="on",
    )


class HubServer(uvicorn.Server):
    """uvicorn's server with a short TLS handshake timeout.

    asyncio waits 60 s by default for a TLS handshake, so ~1,000 idle TCP connections (no certificate
    needed to open one) held every file handle of the hub; uvicorn does not expose the setting, so the
    listening socket is created with it here.
    """

    def __init__(self, config: uvicorn.Config, *, handshake_timeout: float) -> None:
        super().__init__(config)
        self.handshake_timeout = handshake_timeout

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        original = loop.create_server
        timeout = self.handshake_timeout

        async def create_server(*args: Any, **kwargs: Any) -> asyncio.Server:
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", timeout)
            return await original(*args, **kwargs)

        loop.create_server = create_server  # type: ignore[method-assign]
        try:
            await super().startup(sockets)
        finally:
            del loop.create_server  # back to the class's method


def raise_nofile_limit(want: int = 65536) -> tuple[int, int] | None:
    """Raise the soft open-files limit towards the hard one (systemd's default soft limit is 1024).

    Returns (soft, hard) after the change, or None where the platform has no such limit.
    """
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


def serve(
    app: ASGIApp, *, host: str, port: int, context: ssl.SSLContext, log_level: str = "info",
    handshake_timeout: float = 5.0, limit_concurrency: int | None = 512,
    web: tuple[ASGIApp, int, ssl.SSLContext] | None = None,
) -> None:
    """Run the API listener and, with `web` (app, port, context), the web view's listener in the same loop."""
    from tenken.hub.limits import install_repeat_filter

    config = make_config(app, host=host, port=port, context=context, log_level=log_level, limit_concurrency=limit_concurrency)
    install_repeat_filter()  # after uvicorn configured its loggers
    tune_gc()
    api = HubServer(config, handshake_timeout=handshake_timeout)
    if web is None:
        api.run()
        return
    web_app, web_port, web_ctx = web
    web_server = HubServer(make_config(web_app, host=host, port=web_port, context=web_ctx, log_level=log_level,
                                       limit_concurrency=limit_concurrency), handshake_timeout=handshake_timeout)
    asyncio.run(_serve_both(api, web_server))


async def _serve_both(api: HubServer, web: HubServer) -> None:
    """The API server handles the signals; when either server stops, the other is told to stop too."""

    async def follow() -> None:
        while not (api.should_exit or web.should_exit):
            await asyncio.sleep(0.2)
        api.should_exit = web.should_exit = True

    api_task = asyncio.create_task(api.serve())
    # one startup at a time: HubServer.startup patches the loop's create_server while it runs
    while not (api.started or api_task.done()):
        await asyncio.sleep(0.02)
    await asyncio.gather(api_task, web._serve(), follow())


def tune_gc() -> None:
    """Fewer cyclic-GC passes while reports are ingested.

    One upload allocates hundreds of thousands of short-lived, acyclic objects (models, row tuples) that
    reference counting frees; at CPython's default threshold (700) the collector walked the young heap
    thousands of times per report, ~10% of ingest CPU here (tests/hub shows no cyclic garbage build-up).
    Objects alive after start-up (modules, app, schema) are frozen out of every collection."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
