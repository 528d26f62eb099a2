"""The web view's ASGI application, served on its own HTTPS listener (`tenken-hub serve --web-port`).

It serves only pages for people: the agent API (mutual TLS, /api/...) is not routed here at all, and the API
listener has none of these routes. Who is calling is decided by the server-side session of the `__Host-`
cookie, never by anything else in the request. Roles: admin (agents, users, waivers, audit log) and auditor
(read, including waivers, and export). The clock is injectable (`clock`), so expiry and lockout are tested without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from tenken.hub.db import RegistryError, list_agents, open_db, revoke_agent_in, utcnow, write_tx
from tenken.hub.settings import HubSettings
from tenken.hub.web import accounts as acc
from tenken.hub.web.render import STATIC, page
from tenken.hub.web.security import (
    COOKIE,
    SecurityHeaders,
    clear_session_cookie,
    client_ip,
    read_form,
    require_csrf,
    set_session_cookie,
)

Clock = Callable[[], datetime]


class LoginRequired(Exception):
    """Raised by `need_user`: answered with a redirect to the login page."""


def create_web_app(settings: HubSettings, engine: Engine | None = None, *, clock: Clock = utcnow) -> FastAPI:
    db = engine if engine is not None else open_db(settings.database_url)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="tenken hub web view")
    app.state.engine = db
    app.state.settings = settings
    app.state.clock = clock
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def _to_login(_request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        if not hasattr(request.state, "session"):
            request.state.session = None
        return page(request, "web_error.html", status_code=exc.status_code, code=exc.status_code, detail=str(exc.detail))

    from tenken.hub.web import pages, waiver_pages

    app.include_router(pages.router)
    app.include_router(waiver_pages.router)
    register_auth_routes(app)
    register_admin_routes(app)
    return app


# --- who is calling ------------------------------------------------------------------------------------


def current_session(request: Request) -> acc.Session | None:
    s = acc.load_session(request.app.state.engine, request.cookies.get(COOKIE), now=request.app.state.clock())
    request.state.session = s
    return s


def need_user(request: Request) -> acc.Session:
    s = current_session(request)
    if s is None or s.user is None:
        raise LoginRequired()
    return s


def need_admin(request: Request) -> acc.Session:
    s = need_user(request)
    assert s.user is not None
    if s.user.role is not acc.Role.ADMIN:
        raise HTTPException(403, "管理者のみ / admins only")
    return s


UserSession = Annotated[acc.Session, Depends(need_user)]
AdminSession = Annotated[acc.Session, Depends(need_admin)]


async def csrf_form(request: Request, session: acc.Session) -> dict[str, str]:
    form = await read_form(request)
    require_csrf(form, session.csrf)
    return form


# --- login / logout ------------------------------------------------------------------------------------


def register_auth_routes(app: FastAPI) -> None:
    @app.get("/login")
    def login_form(request: Request) -> Response:
        s = current_session(request)
        if s is not None and s.user is not None:
            return RedirectResponse("/", status_code=303)
        cookie = None
        if s is None:
            cookie, s = acc.anonymous_session(request.app.state.engine, now=request.app.state.clock(), ip=client_ip(request))
            request.state.session = s
        resp = page(request, "web_login.html", message="")
        if cookie:
            set_session_cookie(resp, cookie)
        return resp

    @app.post("/login")
    async def login_submit(request: Request) -> Response:
        s = current_session(request)
        if s is None:
            raise HTTPException(403, "セッションが切れました。ログイン画面を開き直してください / session expired: reload the login page")
        form = await csrf_form(request, s)
        res = await run_in_threadpool(
            acc.login, request.app.state.engine, form.get("username", ""), form.get("password", ""), form.get("code", ""),
            now=request.app.state.clock(), ip=client_ip(request), old_cookie=request.cookies.get(COOKIE))
        if not res.ok:
            return page(request, "web_login.html", status_code=401, message=res.reason)
        resp = RedirectResponse("/", status_code=303)
        assert res.cookie is not None
        set_session_cookie(resp, res.cookie)
        return resp

    @app.post("/logout")
    async def logout(request: Request, session: UserSession) -> Response:
        await csrf_form(request, session)
        acc.logout(request.app.state.engine, session, now=request.app.state.clock(), ip=client_ip(request))
        resp = RedirectResponse("/login", status_code=303)
        clear_session_cookie(resp)
        return resp

    @app.get("/static/web.css")
    def css() -> Response:
        return FileResponse(STATIC / "web.css", media_type="text/css")


# --- admin pages ---------------------------------------------------------------------------------------


def register_admin_routes(app: FastAPI) -> None:
    @app.get("/admin/agents")
    def agents_page(request: Request, session: AdminSession) -> Response:
        rows = list_agents(request.app.state.engine)
        for r in rows:
            r.pop("signing_key", None)
        return page(request, "web_agents.html", agents=rows, message=request.query_params.get("done", ""))

    @app.post("/admin/agents/revoke")
    async def revoke(request: Request, session: AdminSession) -> Response:
        form = await csrf_form(request, session)
        agent_id = form.get("agent_id", "").strip()
        now = request.app.state.clock()
        assert session.user is not None
        try:
            with write_tx(request.app.state.engine) as conn:
                revoke_agent_in(conn, agent_id, now)
                acc.audit(conn, now, "revoke_agent", user=session.user.name, ip=client_ip(request), agent_id=agent_id)
        except RegistryError as exc:
            raise HTTPException(404, str(exc)) from exc
        return RedirectResponse("/admin/agents?done=" + agent_id, status_code=303)

    @app.get("/admin/users")
    def users_page(request: Request, session: AdminSession) -> Response:
        return page(request, "web_users.html", users=acc.list_users(request.app.state.engine), now=request.app.state.clock())

    @app.post("/admin/users/disable")
    async def disable(request: Request, session: AdminSession) -> Response:
        form = await csrf_form(request, session)
        assert session.user is not None
        name = form.get("name", "")
        if name == session.user.name:
            raise HTTPException(400, "自分自身は無効化できません / you cannot disable your own account")
        try:
            acc.disable_user(request.app.state.engine, name, now=request.app.state.clock(), actor=session.user.name, ip=client_ip(request) or "")
        except acc.AccountError as exc:
            raise HTTPException(404, str(exc)) from exc
        return RedirectResponse("/admin/users", status_code=303)

    @app.get("/admin/audit")
    def audit_page(request: Request, session: AdminSession, offset: int = 0) -> Response:
        offset = max(0, min(offset, 10_000_000))
        return page(request, "web_audit.html", rows=acc.audit_rows(request.app.state.engine, limit=200, offset=offset), offset=offset)
