"""The one place the client certificate enters the app: `tenken.hub.server`.

Without a TLS connection (or with anything a client could forge in headers or a pre-filled scope) the app
sees no certificate and refuses; the live tests cover the real TLS path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from tenken.hub.app import create_app
from tenken.hub.bootstrap import ensure_initialised
from tenken.hub.server import tls_extension, with_tls
from tenken.hub.settings import load_settings


@pytest.fixture
def app_and_admin(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(tmp_path / "data")
    res, engine = ensure_initialised(settings)
    yield create_app(settings, engine=engine), res
    engine.dispose()


def test_no_tls_means_no_identity_whatever_the_headers_say(app_and_admin) -> None:  # type: ignore[no-untyped-def]
    app, res = app_and_admin
    forged = {
        "X-Client-Cert": Path(res.admin_cert).read_text().replace("\n", ""),
        "X-SSL-Client-Cert": "CN=ag-000",
        "X-Forwarded-Client-Cert": "Subject=CN=ag-000",
        "Authorization": f"Bearer {res.admin_token}",
        "Content-Type": "application/vnd.dsse.envelope.v1+json",
    }

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_tls(app, None)), base_url="https://hub") as c:
            post = await c.post("/api/v1/reports", content=b"{}", headers=forged)
            get = await c.get("/api/v1/hosts", headers=forged)
            return post.status_code, get.status_code

    assert asyncio.run(go()) == (403, 403)


def test_with_tls_replaces_a_prefilled_tls_extension() -> None:
    seen: list[object] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["extensions"].get("tls"))

    forged = {"type": "http", "extensions": {"tls": {"client_cert_chain": ["forged"]}}}
    asyncio.run(with_tls(app, None)(dict(forged), None, None))  # type: ignore[arg-type]
    real = {"client_cert_chain": ["real"]}
    asyncio.run(with_tls(app, real)(dict(forged), None, None))  # type: ignore[arg-type]
    assert seen == [None, real]


def test_tls_extension_of_a_plain_connection_is_none() -> None:
    assert tls_extension(None) is None


def test_operator_with_token_is_allowed_through_injected_scope(app_and_admin) -> None:  # type: ignore[no-untyped-def]
    """The same app with the scope the server would build for the operator's certificate: reads work."""
    app, res = app_and_admin
    tls = {"client_cert_chain": [Path(res.admin_cert).read_text()]}

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_tls(app, tls)), base_url="https://hub") as c:
            ok = await c.get("/api/v1/hosts", headers={"Authorization": f"Bearer {res.admin_token}"})
            post = await c.post("/api/v1/reports", content=b"{}", headers={"Content-Type": "application/vnd.dsse.envelope.v1+json"})
            return ok.status_code, post.status_code

    assert asyncio.run(go()) == (200, 403)  # an operator certificate is not an agent
