"""The hub's ASGI application: report ingest for agents, the read API for people.

`create_app(settings)` is all a server (or a test) needs. The client certificate arrives in the request
scope from `tenken.hub.server`; nothing in a request header can stand in for it.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.requests import ClientDisconnect
from tenken.hub import api, api_bundle, docs
from tenken.hub.auth import require_peer
from tenken.hub.db import open_db, utcnow
from tenken.hub.ingest import (
    ENVELOPE_MEDIA_TYPE,
    Accepted,
    EnrolledAgent,
    IngestError,
    enrolled_agent,
    store,
    verify_and_parse,
)
from tenken.hub.limits import ByteBudget, RateLimiter
from tenken.hub.settings import HubSettings
from tenken.hub.tls import PeerCert

from tenken import __version__
from tenken.malloc import limit_arenas, trim

log = logging.getLogger("tenken.hub")

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payloadType", "payload", "signatures"],
    "properties": {
        "payloadType": {"type": "string", "const": "application/vnd.tenken.report.v1+json"},
        "payload": {"type": "string", "description": "base64 of the RFC 8785 canonical tenken.report/v1 JSON"},
        "signatures": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {"type": "object", "required": ["keyid", "sig"], "properties": {"keyid": {"type": "string", "minLength": 1}, "sig": {"type": "string"}}},
        },
    },
}


class IngestResult(BaseModel):
    report_id: str
    status: str


class Problem(BaseModel):
    detail: str


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def create_app(settings: HubSettings, engine: Engine | None = None) -> FastAPI:
    limit_arenas()  # uploads are handled on pool threads: one glibc arena each would hold freed memory apart
    own_engine = engine is None
    db = engine if engine is not None else open_db(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        if own_engine:
            db.dispose()

    app = FastAPI(
        docs_url=None,  # served below, behind operator auth, with nothing loaded from outside
        redoc_url=None,
        openapi_url=None,
        title="tenken hub",
        version=__version__,
        description=(
            "Collects signed tenken.report/v1 reports from enrolled agents (mutual TLS 1.3, DSSE/Ed25519 signatures) "
            "and serves them to operators (operator client certificate + bearer token)."
        ),
        lifespan=lifespan,
    )
    app.state.engine = db
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(api_bundle.router)
    app.include_router(docs.router)
    limiter = RateLimiter(settings.agent_rate, settings.agent_burst)
    budget_holder: dict[str, ByteBudget] = {}

    def budget() -> ByteBudget:  # made inside the server's event loop, on first use
        if "b" not in budget_holder:
            budget_holder["b"] = ByteBudget(settings.ingest_budget)
        return budget_holder["b"]

    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem, "description": why}
        for code, why in (
            (400, "Malformed envelope (not JSON, bad base64, missing fields)"),
            (403, "Client certificate not an enrolled, unrevoked agent"),
            (409, "Report id already stored with different content"),
            (403, "A target in the report this agent may not report on (not its own host, or not authorised)"),
            (413, "Body larger than the hub's limit"),
            (415, "Content-Type is not application/vnd.dsse.envelope.v1+json"),
            (422, "Signature, schema, time (future beyond the clock-skew tolerance, or stale) or consistency check failed"),
            (429, "This agent sent too many uploads; retry after the Retry-After seconds"),
        )
    }
    responses[200] = {"model": IngestResult, "description": "Already stored (identical resend)"}

    @app.post(
        "/api/v1/reports",
        status_code=201,
        response_model=IngestResult,
        summary="Upload one signed report (agents only)",
        responses=responses,
        openapi_extra={"requestBody": {"required": True, "content": {ENVELOPE_MEDIA_TYPE: {"schema": ENVELOPE_SCHEMA}}}},
    )
    async def post_report(request: Request) -> JSONResponse:
        """Verify with the enrolled key of the agent whose certificate made this connection, then store once."""
        try:
            peer = require_peer(request)
        except Exception:
            return _problem(403, "a client certificate issued by this hub is required")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != ENVELOPE_MEDIA_TYPE:
            return _problem(415, f"Content-Type must be {ENVELOPE_MEDIA_TYPE}")
        try:
            agent = await run_in_threadpool(_authorise, db, peer)
        except IngestError as exc:
            log.info("rejected upload from %s: %s %s", peer.common_name, exc.status, exc.detail)
            return _problem(exc.status, exc.detail)
        wait = limiter.take(agent.agent_id)
        if wait > 0:
            log.warning("agent %s is over its upload rate (%.1f/s, burst %d): 429", agent.agent_id, settings.agent_rate, settings.agent_burst)
            return JSONResponse({"detail": f"too many uploads from {agent.agent_id}; retry in {wait:.0f} s"}, status_code=429,
                                headers={"Retry-After": str(max(1, round(wait)))})
        try:
            declared = _declared_length(request, settings.max_body_bytes)
        except IngestError as exc:
            return _problem(exc.status, exc.detail)
        held = await budget().acquire(declared or settings.max_body_bytes)
        try:
            body = await _read_limited(request, settings.max_body_bytes, declared)
            result = await run_in_threadpool(_verify_and_store, db, settings, agent, body)
        except ClientDisconnect:
            log.warning("agent %s disconnected during its upload; nothing stored", agent.agent_id)
            return _problem(400, "client disconnected before the upload was complete")
        except IngestError as exc:
            log.info("rejected report from %s: %s %s", peer.common_name, exc.status, exc.detail)
            return _problem(exc.status, exc.detail)
        finally:
            await budget().release(held)
        log.info("report %s from %s: %s", result.report_id, agent.agent_id, result.status)
        return JSONResponse({"report_id": result.report_id, "status": result.status}, status_code=result.http_status)

    return app


def _authorise(engine: Engine, peer: PeerCert) -> EnrolledAgent:
    with engine.connect() as conn:
        return enrolled_agent(conn, peer.common_name, peer.serial)


def _verify_and_store(engine: Engine, settings: HubSettings, agent: EnrolledAgent, body: bytearray) -> Accepted:
    try:
        return _ingest(engine, settings, agent, body)
    finally:
        if len(body) >= LARGE:
            trim()


def _ingest(engine: Engine, settings: HubSettings, agent: EnrolledAgent, body: bytearray) -> Accepted:
    now = utcnow()
    report, payload = verify_and_parse(body, agent, window=settings.window, skew=settings.skew, now=now)  # type: ignore[arg-type]
    return store(engine, report, agent_id=agent.agent_id, envelope=body, payload=payload, now=now)  # type: ignore[arg-type]


#: Above this, a request's freed memory is handed back to the system when it is done.
LARGE = 1 << 20


def _declared_length(request: Request, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    try:
        n = int(declared)
    except ValueError as exc:
        raise IngestError(400, "Content-Length is not a number") from exc
    if n < 0:
        raise IngestError(400, "Content-Length is negative")
    if n > limit:
        raise IngestError(413, f"report envelope of {n} bytes exceeds the hub's limit of {limit} bytes")
    return n


async def _read_limited(request: Request, limit: int, declared: int | None) -> bytearray:
    """The body into one buffer (no list of chunks plus a joined copy), or 413 as soon as it is too large."""
    buf = bytearray()
    async for chunk in request.stream():
        if len(buf) + len(chunk) > limit:
            raise IngestError(413, f"report envelope exceeds the hub's limit of {limit} bytes")
        buf += chunk
    if declared is not None and len(buf) != declared:
        raise IngestError(400, "body is shorter than its Content-Length")
    return buf  # type: ignore[return-value]  # bytes-like; no second copy of a 16 MiB body
