"""The web view in Debian's headless Chromium (Selenium, chromedriver from Debian) against the real hub: log in,
see the matrix, filter by a link, open a host and a clause, compare two scans, export a bundle that
`tenken verify` accepts; screenshots of the main pages (Japanese) under tests/artifacts/screenshots/."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from clihelp import run_tenken
from conftest import ADMIN_PW, AUDITOR_PW, CSRF_RE, WebHub, shot
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.slow


def _login(driver, web: WebHub, name: str, password: str, code: str = "") -> None:
    driver.delete_all_cookies()
    driver.get(web.url + "/login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    if code:
        driver.find_element(By.NAME, "code").send_keys(code)
    _follow(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button"))  # the answer to the POST has loaded


def _follow(driver, element) -> None:
    """Click a link or submit button and wait until the next page replaced this one (no stale reads).

    The old page is marked with a window property that a new document does not have. Selenium's
    staleness_of is not used: Chromium sometimes answers its probe of a node of the unloading page with a
    generic "Node with given id does not belong to the document" error instead of a stale-element error."""
    driver.execute_script("window.__tenkenOldPage = true;")
    element.click()
    WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return window.__tenkenOldPage !== true && document.readyState === 'complete';"))


def test_login_fail_then_ok_and_cookie_flags(browser, web: WebHub) -> None:
    _login(browser, web, "kansa", "Not-The-Password-1")
    assert "違います" in browser.find_element(By.CSS_SELECTOR, ".msg.err").text
    assert browser.current_url.endswith("/login")
    _login(browser, web, "kansa", AUDITOR_PW)
    assert browser.current_url == web.url + "/"
    assert "条項ごとの状況" in browser.find_element(By.TAG_NAME, "h1").text
    cookie = browser.get_cookie("__Host-tenken-session")
    assert cookie and cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    # an auditor has no admin links and gets 403 on the admin pages
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href='/admin/agents']")
    browser.get(web.url + "/admin/agents")
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text


def test_matrix_counts_and_filter_link(browser, web: WebHub) -> None:
    _login(browser, web, "kansa", AUDITOR_PW)
    meta = browser.find_element(By.CSS_SELECTOR, "p.meta").text
    assert "ホスト 3 台" in meta
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.matrix thead th")]
    assert any("病棟" in h for h in headers) and any("電子カルテ" in h for h in headers) and any("未分類" in h for h in headers)
    cells = browser.find_elements(By.CSS_SELECTOR, "table.matrix td.cell .st")
    assert cells and all(re.search(r"\d+$", c.text) for c in cells)  # status text with a count, not colour alone
    rows_all = len(browser.find_elements(By.CSS_SELECTOR, "table.matrix tbody th.clause"))
    shot(browser, "overview")
    browser.set_window_size(1180, 740)  # a smaller copy for the README (docs/web-overview.png, < 200 KB)
    shot(browser, "overview-small")
    browser.set_window_size(1366, 1000)
    # clauses without any finding are left out unless asked for
    _follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "すべての条項を表示"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.matrix tbody th.clause")) > rows_all
    browser.get(web.url + "/")
    # the group header is a link to the same page filtered to that group: only its hosts are counted
    _follow(browser, browser.find_element(By.LINK_TEXT, "病棟"))
    assert "group=" in browser.current_url
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.matrix thead th")]
    assert any("病棟" in h for h in headers) and not any("電子カルテ" in h for h in headers)
    assert "ホスト 1 台" in browser.find_element(By.CSS_SELECTOR, "p.meta").text
    # a status filter is a link too
    browser.get(web.url + "/?" + urlencode([("status", "fail"), ("clause", "SO-14")]))
    clauses = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.matrix tbody th.clause")]
    assert clauses and len(clauses) < rows_all and all(c.startswith("SO-14-") for c in clauses)
    assert not browser.find_elements(By.CSS_SELECTOR, "table.matrix td.cell .st-pass")


def test_host_page(browser, web: WebHub) -> None:
    _login(browser, web, "kansa", AUDITOR_PW)
    browser.get(web.url + "/host?" + urlencode({"key": web.hosts["ward-pc01"]}))
    assert "ward-pc01" in browser.find_element(By.TAG_NAME, "h1").text
    body = browser.find_element(By.TAG_NAME, "main").text
    assert "machine-id:" + "1" * 32 in body and "病棟" in body
    assert len(browser.find_elements(By.CSS_SELECTOR, "article.finding")) > 10
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")) == 2  # two scans in the history
    assert "情報の持出し" in browser.find_element(By.CSS_SELECTOR, "section.findings h3").text  # section titled
    shot(browser, "host")
    # the older scan of the history opens the scan page with that scan's findings
    _follow(browser, browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr td a")[-1])
    assert "点検" in browser.find_element(By.TAG_NAME, "h1").text
    assert web.scans["ward-pc01"][0] in browser.find_element(By.TAG_NAME, "main").text
    assert browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr .st-fail")  # the weak root's failures


def test_clause_page(browser, web: WebHub) -> None:
    _login(browser, web, "kansa", AUDITOR_PW)
    browser.get(web.url + "/clause/SO-14-6")
    assert "SO-14-6" in browser.find_element(By.TAG_NAME, "h1").text
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "パスワード" in main  # the clause text in Japanese
    rows = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
    assert len(rows) == 3 and {"ward-pc01", "ehr-db01", "lab-pc07"} <= set(main.split())
    assert browser.find_elements(By.CSS_SELECTOR, "table.list .st-fail")  # the weak hosts fail it
    assert "linux." in main  # the checks behind it
    shot(browser, "clause")


def test_trends_page(browser, web: WebHub) -> None:
    _login(browser, web, "kansa", AUDITOR_PW)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    browser.get(web.url + "/trends?" + urlencode({"worse_since": yesterday}))
    svgs = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert svgs and browser.find_elements(By.CSS_SELECTOR, "svg polyline")
    assert len(svgs) >= 5  # one chart per section with data
    # ehr-db01 went from the good root (two days ago) to the weak one (today): worse since yesterday; ward-pc01 got better
    worse = browser.find_element(By.CSS_SELECTOR, "table.list").text
    assert "ehr-db01" in worse and "ward-pc01" not in worse
    browser.find_element(By.CSS_SELECTOR, "select[name=by] option[value=group]").click()
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form.filters button"))
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "figure.chart figcaption")]
    assert "病棟" in captions and "電子カルテ" in captions
    shot(browser, "trends")


def test_diff_of_two_scans(browser, web: WebHub) -> None:
    _login(browser, web, "kansa", AUDITOR_PW)
    older, newer = web.scans["ward-pc01"]
    browser.get(web.url + "/diff?" + urlencode({"host": web.hosts["ward-pc01"], "older": older, "newer": newer}))
    better = browser.find_element(By.CSS_SELECTOR, "section.diff-better h2").text
    worse = browser.find_element(By.CSS_SELECTOR, "section.diff-worse h2").text
    n_better = int(re.search(r"（(\d+)）", better).group(1))
    assert n_better > 0, better
    shot(browser, "diff")
    older, newer = web.scans["ehr-db01"]
    browser.get(web.url + "/diff?" + urlencode({"host": web.hosts["ehr-db01"], "older": older, "newer": newer}))
    worse = browser.find_element(By.CSS_SELECTOR, "section.diff-worse h2").text
    assert int(re.search(r"（(\d+)）", worse).group(1)) > 0
    # the chooser on the host page leads to the same diff
    browser.get(web.url + "/host?" + urlencode({"key": web.hosts["ehr-db01"]}))
    _follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "比較"))
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form.filters button"))
    assert int(re.search(r"（(\d+)）", browser.find_element(By.CSS_SELECTOR, "section.diff-worse h2").text).group(1)) > 0


def test_export_downloads_a_verifiable_bundle(browser, web: WebHub, tmp_path: Path) -> None:
    _login(browser, web, "kansa", AUDITOR_PW)
    browser.get(web.url + "/export?group=" + "病棟")
    assert browser.find_element(By.CSS_SELECTOR, "select[name=group] option[selected]").get_attribute("value") == "病棟"
    browser.find_element(By.CSS_SELECTOR, "form.export button").click()
    deadline = time.monotonic() + 120
    zips: list[Path] = []
    while time.monotonic() < deadline:
        zips = [p for p in browser.downloads.glob("*.zip")]
        if zips and not list(browser.downloads.glob("*.crdownload")):
            break
        time.sleep(0.5)
    assert zips, "no bundle was downloaded"
    key = tmp_path / "hub-bundle.pub"
    key.write_text(web.hub.cli("bundle-key").stdout)
    res = run_tenken("verify", str(zips[0]), "--key", str(key), "--key", str(web.agent_pub))
    assert res.exit_code == 0, res.stdout + res.stderr
    with web.hub.engine().connect() as conn:
        from sqlalchemy import select
        from tenken.hub.web.tables import web_audit

        row = conn.execute(select(web_audit).where(web_audit.c.action == "export").order_by(web_audit.c.id.desc())).first()
    assert row is not None and row.user_name == "kansa" and row.detail["group"] == "病棟"


def test_admin_pages_and_revoke(browser, web: WebHub) -> None:
    _login(browser, web, "kanri", ADMIN_PW)  # no code: refused
    assert "違います" in browser.find_element(By.CSS_SELECTOR, ".msg.err").text
    _login(browser, web, "kanri", ADMIN_PW, web.totp())
    browser.get(web.url + "/admin/users")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "kansa" in text and "kanri" in text
    browser.get(web.url + "/admin/agents")
    assert browser.find_elements(By.CSS_SELECTOR, "td .st-pass")
    forms = [f for f in browser.find_elements(By.CSS_SELECTOR, "form[action='/admin/agents/revoke']")
             if f.find_element(By.NAME, "agent_id").get_attribute("value") == web.spare_agent]
    _follow(browser, forms[0].find_element(By.TAG_NAME, "button"))
    assert "失効しました" in browser.find_element(By.CSS_SELECTOR, ".msg.ok").text
    import json

    states = {a["agent_id"]: a["revoked_at"] for a in json.loads(web.hub.cli("agent", "list", "--json").stdout)}
    assert states[web.spare_agent] is not None and states[web.uploader] is None
    browser.get(web.url + "/admin/audit")
    audit = browser.find_element(By.TAG_NAME, "main").text
    for action in ("login", "login_failed", "export", "revoke_agent"):
        assert action in audit, action
    assert AUDITOR_PW not in audit and ADMIN_PW not in audit



def test_admin_adds_a_waiver_seen_on_the_host_page_auditor_403_and_csrf_less_refused(browser, web: WebHub) -> None:
    from tenken.hub.web.tables import hub_waivers

    reason = "更新は 2027 年 3 月の保守で実施 / fixed in the March 2027 maintenance"
    _login(browser, web, "kanri", ADMIN_PW, web.totp())
    browser.get(web.url + "/host?" + urlencode({"key": web.hosts["ehr-db01"]}))
    # one XPath query (a find_elements per article would wait out the implicit wait on every passing one)
    failing = browser.find_elements(By.XPATH, "//article[@class='finding'][header/span[contains(concat(' ', @class, ' '), ' st-fail ')]]")
    assert failing, "the weak root's scan has failures"
    check_id = failing[0].find_element(By.CSS_SELECTOR, "header code").text
    clause = failing[0].find_element(By.CSS_SELECTOR, "header a.clause").text
    _follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "例外承認を追加"))
    assert browser.find_element(By.NAME, "host_key").get_attribute("value") == web.hosts["ehr-db01"]  # prefilled from the host page
    browser.find_element(By.NAME, "clause").send_keys(clause)
    browser.find_element(By.NAME, "check_id").send_keys(check_id)
    browser.find_element(By.NAME, "reason").send_keys(reason)
    expires = (datetime.now(UTC) + timedelta(days=90)).date()
    browser.execute_script("arguments[0].value = arguments[1];", browser.find_element(By.NAME, "expires"), expires.isoformat())  # a date input
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/admin/waivers/add'] button"))
    assert "added-" in browser.current_url and reason in browser.find_element(By.TAG_NAME, "main").text
    browser.get(web.url + "/host?" + urlencode({"key": web.hosts["ehr-db01"]}))
    art = next(a for a in browser.find_elements(By.CSS_SELECTOR, "article.finding") if a.find_element(By.CSS_SELECTOR, "header code").text == check_id)
    assert art.find_elements(By.CSS_SELECTOR, "header .st-fail")  # still shown as a fail
    note = art.find_element(By.CSS_SELECTOR, "p.hub-waiver").text
    assert "例外承認（ハブ）" in note and reason in note and str(expires) in note
    assert reason in browser.find_element(By.CSS_SELECTOR, "table.waivers").text
    browser.execute_script("arguments[0].scrollIntoView();", art)
    shot(browser, "host-waiver")
    with web.hub.engine().connect() as conn:
        from sqlalchemy import func, select
        from tenken.hub.web.tables import web_audit

        [w] = conn.execute(select(hub_waivers).where(hub_waivers.c.reason == reason)).all()
        assert (w.host_key, w.clause, w.check_id, w.expires, w.created_by) == (web.hosts["ehr-db01"], clause, check_id, expires, "kanri")
        n_added = conn.execute(select(func.count()).select_from(web_audit).where(web_audit.c.action == "waiver_add")).scalar_one()
    assert n_added >= 1

    # the auditor reads the waiver but is refused (403) on the admin forms, even with a valid CSRF token
    c, _ = web.login("kansa", AUDITOR_PW)
    try:
        page = c.get("/waivers")
        assert page.status_code == 200 and reason in page.text and "/admin/waivers/add" not in page.text
        csrf = CSRF_RE.search(page.text).group(1)
        r = c.post("/admin/waivers/add", data={"csrf": csrf, "clause": clause, "reason": "auditor", "expires": expires.isoformat()})
        assert r.status_code == 403
        assert c.post("/admin/waivers/revoke", data={"csrf": csrf, "waiver_id": str(w.id)}).status_code == 403
    finally:
        c.close()
    # the admin's form post without the CSRF token is refused
    c, r = web.login("kanri", ADMIN_PW, web.totp())
    try:
        assert r.status_code == 303
        assert c.post("/admin/waivers/revoke", data={"waiver_id": str(w.id)}).status_code == 403
        assert c.post("/admin/waivers/add", data={"clause": clause, "reason": "no token", "expires": expires.isoformat()}).status_code == 403
    finally:
        c.close()
    with web.hub.engine().connect() as conn:
        rows = conn.execute(select(hub_waivers)).all()
    assert [x.reason for x in rows] == [reason] and rows[0].revoked_at is None
