"""The web app in-process with an injected clock: an idle session ends at the HTTP level without any sleep."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from tenken.hub.db import open_db
from tenken.hub.settings import HubSettings
from tenken.hub.web import accounts as acc
from tenken.hub.web.app import create_web_app

PW = "Kansa-Tantou-2026"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_idle_session_sends_back_to_login(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path)
    engine = open_db(settings.database_url)
    clock = Clock()
    acc.add_user(engine, "kansa", acc.Role.AUDITOR, PW, now=clock.now)
    with TestClient(create_web_app(settings, engine, clock=clock), base_url="https://testserver") as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"csrf": csrf, "username": "kansa", "password": PW}, follow_redirects=False)
        assert r.status_code == 303
        clock.now += acc.SESSION_IDLE - timedelta(minutes=1)
        assert c.get("/admin/users", follow_redirects=False).status_code == 403  # still logged in (as an auditor)
        clock.now += acc.SESSION_IDLE + timedelta(seconds=1)
        r = c.get("/admin/users", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    engine.dispose()
