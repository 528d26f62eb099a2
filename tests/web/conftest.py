"""A real hub with its web listener, several hosts' reports from real scans of fixture roots (signed by enrolled
agents and uploaded through the real mutual-TLS API), web accounts made by the real CLI, and Debian's headless
Chromium driven by Selenium (chromedriver from Debian; Selenium Manager is kept offline)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "hub"))

from chromium import chromium_binary  # noqa: E402
from clihelp import scan_root  # noqa: E402
from hub_harness import HUB_BIN, Hub, free_port, make_agent, start_hub  # noqa: E402
from roots import make_good_root, make_weak_root, write_file  # noqa: E402

ADMIN_PW = "Kanri-Sha#2026"  # 14 chars, 4 classes
AUDITOR_PW = "Kansa-Tantou-2026"
SCREENSHOTS = HERE.parent / "artifacts" / "screenshots"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class WebHub:
    hub: Hub
    admin_secret: str
    used_steps: set[int] = field(default_factory=set)
    hosts: dict[str, str] = field(default_factory=dict)  # name -> host key
    scans: dict[str, list[str]] = field(default_factory=dict)  # name -> report ids, oldest first
    agent_pub: Path | None = None  # the uploading agent's signing key (pinned by `tenken verify`)
    uploader: str = ""
    spare_agent: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.hub.web_port}"

    def totp(self) -> str:
        """A code for a time step not used yet (a step is accepted once; one step of drift either way is allowed)."""
        from tenken.hub.web.credentials import TOTP_STEP, totp_at

        now = int(time.time() // TOTP_STEP)
        for step in (now, now + 1):
            if step not in self.used_steps:
                self.used_steps.add(step)
                return totp_at(self.admin_secret, step * TOTP_STEP)
        time.sleep(TOTP_STEP / 2)  # both usable steps taken: wait into the next one
        return self.totp()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.hub.ca)), timeout=120, follow_redirects=False)

    def login(self, name: str, password: str, code: str = "") -> tuple[httpx.Client, httpx.Response]:
        c = self.client()
        form = c.get("/login")
        csrf = CSRF_RE.search(form.text).group(1)
        r = c.post("/login", data={"csrf": csrf, "username": name, "password": password, "code": code})
        return c, r


def add_user(hub: Hub, name: str, role: str, password: str) -> str:
    proc = subprocess.run([HUB_BIN, "user", "add", name, "--role", role, "--data", str(hub.data)], input=password + "\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert password not in proc.stdout + proc.stderr
    return proc.stdout.split("\n")[0].strip()


def _shift(obj: Any, delta: timedelta) -> Any:
    """Every `*_at` timestamp moved by `delta` (a scan made now, dated as if made days ago)."""
    if isinstance(obj, dict):
        return {k: (_iso(v, delta) if k.endswith("_at") and isinstance(v, str) else _shift(v, delta)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shift(v, delta) for v in obj]
    return obj


def _iso(value: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(value.replace("Z", "+00:00")) + delta).isoformat().replace("+00:00", "Z")


def _as_host(report: dict[str, Any], name: str, groups: list[str], days_ago: int = 0) -> dict[str, Any]:
    """A real scan's report with the target named after the host and given inventory groups (before signing),
    dated `days_ago` days back (the hub accepts reports up to 7 days old)."""
    rep = _shift(copy.deepcopy(report), -timedelta(days=days_ago)) if days_ago else copy.deepcopy(report)
    old = rep["targets"][0]["target"]
    rep["targets"][0]["target"] = name
    rep["targets"][0]["groups"] = groups
    for item in rep["findings"] + rep["evidence"]:
        if item["target"] == old:
            item["target"] = name
    return rep


def _upload(hub: Hub, agent: Any, report: dict[str, Any]) -> str:
    r = agent.post(hub, agent.sign(report))
    assert r.status_code == 201, r.text
    return r.json()["report_id"]


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    base = tmp_path_factory.mktemp("web")
    hub = start_hub(base / "data", web_port=free_port())
    try:
        secret = add_user(hub, "kanri", "admin", ADMIN_PW)
        add_user(hub, "kansa", "auditor", AUDITOR_PW)
        w = WebHub(hub=hub, admin_secret=secret)
        roots = {}
        for name, mid, weak in (("ward-pc01", "1" * 32, True), ("ehr-db01", "2" * 32, False), ("lab-pc07", "3" * 32, True)):
            for kind, make in (("weak", make_weak_root), ("good", make_good_root)):
                r = make(base / f"{name}-{kind}")
                write_file(r, "/etc/machine-id", mid + "\n")
                write_file(r, "/etc/hostname", name + "\n")
                roots[name, kind] = r
        agent = make_agent(hub, base / "agent1")
        # ward-pc01 got better (weak, then good), ehr-db01 got worse (good, then weak), lab-pc07 is ungrouped
        w.agent_pub = agent.dir / "agent.pub"
        w.uploader = agent.agent_id
        w.spare_agent = make_agent(hub, base / "agent2").agent_id  # enrolled, sends nothing: the one the revoke test revokes
        # the first scans are dated two days back, so trends have history and "worse since yesterday" has a before
        plan = [("ward-pc01", "weak", ["病棟"], 2), ("ehr-db01", "good", ["電子カルテ"], 2), ("lab-pc07", "weak", [], 2),
                ("ward-pc01", "good", ["病棟"], 0), ("ehr-db01", "weak", ["電子カルテ"], 0)]
        for name, kind, groups, days_ago in plan:
            rid = _upload(hub, agent, _as_host(scan_root(roots[name, kind]), name, groups, days_ago))
            w.scans.setdefault(name, []).append(rid)
        from sqlalchemy import select
        from tenken.hub import tables as t

        with hub.engine().connect() as conn:
            for key, name in conn.execute(select(t.hosts.c.key, t.hosts.c.name)):
                w.hosts[name] = key
        yield w
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exe, driver_path = chromium_binary(), shutil.which("chromedriver")
    assert exe and driver_path, "chromium and chromium-driver are installed by tests/run-all.sh"
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver or a browser
    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1366,1000", "--lang=ja",
                 "--user-data-dir=" + str(tmp_path_factory.mktemp("chromium-profile"))):
        opts.add_argument(flag)
    opts.accept_insecure_certs = True  # the hub's own CA; the certificate itself is checked by the httpx tests (verify=ca.pem)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False,
                                           "intl.accept_languages": "ja,en"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    driver.implicitly_wait(15)  # a find waits for the page a click led to
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
