"""The waivers page (everyone signed in reads it) and the admin-only forms that add and revoke waivers.

Adding or revoking is admin-only (403 for auditors, decided by the session before the form is read), needs
the session's CSRF token like every other form, and is written to the web audit log in the same transaction
as the change, so there is no change without its audit row. Semantics: tenken.hub.waivers.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from tenken.hub import waivers as wv
from tenken.hub.db import write_tx
from tenken.hub.web import accounts as acc
from tenken.hub.web.render import page
from tenken.hub.web.security import client_ip, read_form, require_csrf

router = APIRouter()


def _user(request: Request) -> acc.Session:
    from tenken.hub.web.app import need_user

    return need_user(request)


def _admin(request: Request) -> acc.Session:
    from tenken.hub.web.app import need_admin

    return need_admin(request)


UserSession = Annotated[acc.Session, Depends(_user)]
AdminSession = Annotated[acc.Session, Depends(_admin)]


def _render(request: Request, *, status_code: int = 200, message: str = "", ok: str = "", form: dict[str, str] | None = None) -> Response:
    q = request.query_params
    form = form or {"host_key": q.get("host", ""), "clause": q.get("clause", ""), "check_id": q.get("check", ""), "subject": q.get("subject", ""),
                    "reason": "", "expires": ""}
    today = wv.today_of(request.app.state.clock())
    with request.app.state.engine.connect() as conn:
        rows = wv.list_waivers(conn)
    return page(request, "web_waivers.html", status_code=status_code, waivers=rows, today=today, message=message, ok=ok, form=form)


@router.get("/waivers")
def waivers_page(request: Request, session: UserSession) -> Response:
    done = request.query_params.get("done", "")
    return _render(request, ok=done if done.replace("-", "").replace("+", "").isalnum() else "")


@router.post("/admin/waivers/add")
async def add(request: Request, session: AdminSession) -> Response:
    form = await read_form(request)
    require_csrf(form, session.csrf)
    assert session.user is not None
    now = request.app.state.clock()
    fields = {k: form.get(k, "") for k in ("host_key", "clause", "check_id", "subject", "reason", "expires")}
    try:
        expires = date.fromisoformat(fields["expires"].strip()) if fields["expires"].strip() else None
        if expires is None:
            raise wv.WaiverError("期限は必須 (YYYY-MM-DD) / an expiry date (YYYY-MM-DD) is required")
        w = wv.WaiverInput(host_key=fields["host_key"].strip() or None, clause=fields["clause"], check_id=fields["check_id"] or None,
                           subject=fields["subject"] or None, reason=fields["reason"], expires=expires)
        with write_tx(request.app.state.engine) as conn:
            wid = wv.add_waiver(conn, w, actor=session.user.name, now=now)
            acc.audit(conn, now, "waiver_add", user=session.user.name, ip=client_ip(request), waiver_id=wid, host_key=w.host_key,
                      clause=w.clause, check_id=w.check_id, subject=w.subject, expires=w.expires.isoformat(), reason=w.reason)
    except ValueError as exc:  # a bad date, or the model's checks (ValidationError is a ValueError)
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) if isinstance(exc, ValidationError) else f"日付は YYYY-MM-DD で / dates are YYYY-MM-DD: {exc}"
        return _render(request, status_code=422, message=msg, form=fields)
    except wv.WaiverError as exc:
        return _render(request, status_code=422, message=str(exc), form=fields)
    return RedirectResponse(f"/waivers?done=added-{wid}", status_code=303)


@router.post("/admin/waivers/revoke")
async def revoke(request: Request, session: AdminSession) -> Response:
    form = await read_form(request)
    require_csrf(form, session.csrf)
    assert session.user is not None
    now = request.app.state.clock()
    try:
        wid = int(form.get("waiver_id", ""))
    except ValueError as exc:
        raise HTTPException(422, "waiver_id は整数 / waiver_id is an integer") from exc
    try:
        with write_tx(request.app.state.engine) as conn:
            w = wv.revoke_waiver(conn, wid, actor=session.user.name, now=now)
            acc.audit(conn, now, "waiver_revoke", user=session.user.name, ip=client_ip(request), waiver_id=wid, host_key=w.host_key,
                      clause=w.clause, check_id=w.check_id, subject=w.subject)
    except wv.WaiverError as exc:
        raise HTTPException(404, str(exc)) from exc
    return RedirectResponse(f"/waivers?done=revoked-{wid}", status_code=303)
