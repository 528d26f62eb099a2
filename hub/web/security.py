"""HTTP-level protections of the web view: response headers, the session cookie, CSRF and form parsing.

The pages carry no script at all (forms and links only), so the Content-Security-Policy forbids every script,
every external resource and framing. Cookies are `__Host-` prefixed (Secure, Path=/, no Domain: a sibling
sub-domain cannot plant one), HttpOnly and SameSite=Strict. Every POST needs the session's synchroniser token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "__Host-tenken-session"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "strict-transport-security": "max-age=31536000",
}
MAX_FORM_BYTES = 64 * 1024


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every answer; `Cache-Control: no-store` on all but /static."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in HEADERS and k.lower() != b"cache-control"]
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                headers.append((b"cache-control", b"max-age=3600" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def set_session_cookie(response: Any, value: str) -> None:
    response.set_cookie(COOKIE, value, secure=True, httponly=True, samesite="strict", path="/")


def clear_session_cookie(response: Any) -> None:
    response.delete_cookie(COOKIE, secure=True, httponly=True, samesite="strict", path="/")


def client_ip(request: Request) -> str | None:
    """The TCP peer: the web listener runs without proxy headers, so nothing in a header can change it."""
    return request.client.host if request.client else None


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind the pages send), first value of each field."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPException(415, "forms are sent as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "malformed form") from exc
    return {k: v[0] for k, v in fields.items() if "\x00" not in v[0]}


def require_csrf(form: dict[str, str], expected: str) -> None:
    """403 unless the form carries this session's token (constant-time comparison)."""
    got = form.get("csrf", "")
    if not got or not hmac.compare_digest(got.encode(), expected.encode()):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")


Handler = Callable[[Request], Awaitable[Any]]
