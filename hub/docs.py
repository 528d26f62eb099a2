"""The hub's API description for operators: `/openapi.json` and a plain `/docs` page, both behind operator auth.

FastAPI's own /docs and /redoc load Swagger UI and ReDoc scripts from a CDN, and /openapi.json answered any
certificate from the hub's CA (a revoked agent's included). Here both need the operator certificate and
token that the read API needs, and /docs is one server-rendered page with no scripts and nothing external.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from tenken.hub.auth import bearer, require_operator


def _operator(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    return require_operator(request, credentials)


router = APIRouter(dependencies=[Depends(_operator)], include_in_schema=False)

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def docs_page(request: Request) -> HTMLResponse:
    spec: dict[str, Any] = request.app.openapi()
    rows = []
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in ops.items():
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            codes = ", ".join(sorted(op.get("responses", {})))
            rows.append(
                f"<tr><td><code>{html.escape(method.upper())}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(params)}</td><td>{html.escape(codes)}</td></tr>"
            )
    info = spec.get("info", {})
    body = (
        "<!doctype html><html lang='ja'><head><meta charset='utf-8'>"
        f"<title>{html.escape(info.get('title', 'tenken hub'))} API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #999;padding:4px 8px;text-align:left}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>{html.escape(info.get('title', ''))} API {html.escape(str(info.get('version', '')))}</h1>"
        f"<p>{html.escape(info.get('description', ''))}</p>"
        "<p>機械可読な定義 / machine-readable description: <code>/openapi.json</code> (same credentials).</p>"
        "<table><tr><th>method</th><th>path</th><th>summary</th><th>parameters</th><th>responses</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})
