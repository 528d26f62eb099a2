"""The web listener's security, against the real hub over HTTPS: login, lockout, TOTP, roles, CSRF, cookies,
headers, and the separation of the web listener from the agent API's mutual-TLS listener."""

from __future__ import annotations

import ssl

import httpx
import pytest
from conftest import ADMIN_PW, AUDITOR_PW, CSRF_RE, WebHub, add_user
from sqlalchemy import select
from tenken.hub.web.tables import web_audit

pytestmark = pytest.mark.slow


def _audit(web: WebHub) -> list[tuple[str, str | None, str]]:
    with web.hub.engine().connect() as conn:
        return [(r.action, r.user_name, r.outcome) for r in conn.execute(select(web_audit).order_by(web_audit.c.id))]


def test_tls13_and_no_client_certificate(web: WebHub) -> None:
    ctx = ssl.create_default_context(cafile=str(web.hub.ca))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=ctx) as c:
        c.get(web.url + "/login")
    with web.client() as c:  # TLS 1.3 without any client certificate works
        r = c.get("/login")
    assert r.status_code == 200 and "ログイン" in r.text


def test_headers_and_cookie_flags(web: WebHub) -> None:
    with web.client() as c:
        r = c.get("/login")
    csp = r.headers["content-security-policy"]
    assert csp == ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
                   "base-uri 'none'")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-tenken-session=")
    low = cookie.lower()
    assert "secure" in low and "httponly" in low and "samesite=strict" in low and "path=/" in low and "domain" not in low
    assert "<script" not in r.text.lower()


def test_login_ok_and_session_rotated(web: WebHub) -> None:
    with web.client() as c:
        c.get("/login")
        pre = c.cookies.get("__Host-tenken-session")
        csrf = CSRF_RE.search(c.get("/login").text).group(1)
        r = c.post("/login", data={"csrf": csrf, "username": "kansa", "password": AUDITOR_PW})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert c.cookies.get("__Host-tenken-session") not in (None, pre)
        assert c.get("/admin/users").status_code == 403  # an auditor
    assert ("login", "kansa", "ok") in _audit(web)


def test_wrong_password_and_unknown_user_look_the_same(web: WebHub) -> None:
    c1, r1 = web.login("kansa", "Wrong-Password-123")
    _c2, r2 = web.login("nobody", "Wrong-Password-123")
    assert r1.status_code == r2.status_code == 401
    assert "違います" in r1.text and "違います" in r2.text
    assert c1.get("/").status_code == 303  # still not logged in: sent to the login page
    assert ("login_failed", "nobody", "refused") in _audit(web)


def test_lockout_after_five_failures(web: WebHub) -> None:
    add_user(web.hub, "locky", "auditor", "Locky-Account-2026")
    for _ in range(5):
        _, r = web.login("locky", "not-the-password")
        assert r.status_code == 401
    assert "ロック" in r.text
    _, r = web.login("locky", "Locky-Account-2026")  # the right password, but locked
    assert r.status_code == 401 and "ロック" in r.text
    assert ("lockout", "locky", "refused") in _audit(web)
    out = web.hub.cli("user", "list").stdout
    assert "locky" in out and "locked until" in out


def test_admin_without_totp_code_refused(web: WebHub) -> None:
    _, r = web.login("kanri", ADMIN_PW)
    assert r.status_code == 401
    _, r = web.login("kanri", ADMIN_PW, "000000")
    assert r.status_code == 401
    c, r = web.login("kanri", ADMIN_PW, web.totp())
    assert r.status_code == 303
    assert c.get("/admin/users").status_code == 200
    c.close()


def test_post_without_csrf_refused(web: WebHub) -> None:
    c, r = web.login("kansa", AUDITOR_PW)
    assert r.status_code == 303
    r = c.post("/export", data={"group": ""})
    assert r.status_code == 403
    r = c.post("/logout", data={"csrf": "forged"})
    assert r.status_code == 403
    with web.client() as anon:  # the login form too
        anon.get("/login")
        assert anon.post("/login", data={"username": "kansa", "password": AUDITOR_PW}).status_code == 403
    c.close()


def test_auditor_forbidden_from_admin_pages_and_revoke(web: WebHub) -> None:
    c, _ = web.login("kansa", AUDITOR_PW)
    for path in ("/admin/agents", "/admin/users", "/admin/audit"):
        assert c.get(path).status_code == 403, path
    csrf = CSRF_RE.search(c.get("/admin/agents").text).group(1)  # the 403 page still has the logout form
    import json

    r = c.post("/admin/agents/revoke", data={"csrf": csrf, "agent_id": web.uploader})
    assert r.status_code == 403
    states = {a["agent_id"]: a["revoked_at"] for a in json.loads(web.hub.cli("agent", "list", "--json").stdout)}
    assert states[web.uploader] is None
    c.close()


def test_listeners_are_separate(web: WebHub) -> None:
    c, _ = web.login("kansa", AUDITOR_PW)
    for path in ("/api/v1/hosts", "/api/v1/reports", "/docs", "/openapi.json"):
        assert c.get(path).status_code == 404, path
    assert c.post("/api/v1/reports", content=b"{}", headers={"content-type": "application/vnd.dsse.envelope.v1+json"}).status_code in (403, 404)
    c.close()
    with web.hub.operator() as op:  # the API listener, with an operator certificate and token
        assert op.get("/api/v1/hosts").status_code == 200
        for path in ("/login", "/", "/admin/agents", "/static/web.css"):
            assert op.get(path).status_code == 404, path
    with httpx.Client(verify=ssl.create_default_context(cafile=str(web.hub.ca))) as bare, pytest.raises(httpx.HTTPError):  # mutual TLS unchanged
        bare.get(web.hub.url + "/api/v1/hosts")


def test_cli_password_rule_and_no_secret_in_logs(web: WebHub) -> None:
    import subprocess

    from hub_harness import HUB_BIN

    proc = subprocess.run([HUB_BIN, "user", "add", "shorty", "--role", "auditor", "--data", str(web.hub.data)], input="Ab3$efgh\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "13" in proc.stderr and "Ab3$efgh" not in proc.stderr + proc.stdout
    assert "shorty" not in web.hub.cli("user", "list").stdout
    log = web.hub.log.read_text(errors="replace")
    for secret in (ADMIN_PW, AUDITOR_PW, web.admin_secret):
        assert secret not in log
