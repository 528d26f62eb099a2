"""Hub-side waivers through the web app in-process (injected clock): add, show, expire, revoke, audit, refuse.

Reports go in through the hub's real ingest (`tenken.hub.ingest.store`); people log in through the real login
form (admin with a TOTP code computed for the injected clock). The real-browser path is in test_web_browser.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_web_queries as wqt
from fastapi.testclient import TestClient
from sqlalchemy import select
from tenken.hub import tables as t
from tenken.hub import waivers as wv
from tenken.hub.db import open_db, write_tx
from tenken.hub.settings import HubSettings
from tenken.hub.web import accounts as acc
from tenken.hub.web.app import create_web_app
from tenken.hub.web.credentials import totp_at
from tenken.hub.web.tables import hub_waivers, web_audit

ADMIN_PW = "Kanri-Sha#2026"
AUDITOR_PW = "Kansa-Tantou-2026"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REASON = "ベンダー保守契約によりパッチ適用は 2027 年 3 月 / vendor patch window March 2027"


class Clock:
    def __init__(self) -> None:
        self.now = wqt.BASE + timedelta(days=3)

    def __call__(self) -> datetime:
        return self.now


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = HubSettings(data_dir=tmp_path)
        self.engine = open_db(self.settings.database_url)
        self.clock = Clock()
        with write_tx(self.engine) as conn:
            conn.execute(t.agents.insert().values(id=wqt.AGENT, signing_key="-", key_id="k", cert_serial="1", enrolled_at=wqt.BASE))
        a, b = wqt.target("ward-pc-1", groups=["病棟"]), wqt.target("ward-pc-2", groups=["病棟"])
        wqt.ingest(self.engine, wqt.report(wqt.BASE + timedelta(days=1), [a, b], [
            ("ward-pc-1", "pw.maxdays", "fail", ["SO-14-2"]), ("ward-pc-1", "pw.minlen", "pass", ["SO-14-2"]),
            ("ward-pc-1", "log.keep", "fail", ["SO-13-6"]),
            ("ward-pc-2", "pw.maxdays", "fail", ["SO-14-2"]), ("ward-pc-2", "log.keep", "pass", ["SO-13-6"]),
        ]))
        self.hk1, self.hk2 = wqt.hk("ward-pc-1"), wqt.hk("ward-pc-2")
        self.admin_secret = acc.add_user(self.engine, "kanri", acc.Role.ADMIN, ADMIN_PW, now=self.clock.now)
        acc.add_user(self.engine, "kansa", acc.Role.AUDITOR, AUDITOR_PW, now=self.clock.now)
        self.app = create_web_app(self.settings, self.engine, clock=self.clock)

    def client(self, name: str) -> tuple[TestClient, str]:
        c = TestClient(self.app, base_url="https://testserver")
        csrf = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
        code = totp_at(self.admin_secret, self.clock.now.timestamp()) if name == "kanri" else ""  # type: ignore[arg-type]
        r = c.post("/login", data={"csrf": csrf, "username": name, "password": ADMIN_PW if name == "kanri" else AUDITOR_PW, "code": code},
                   follow_redirects=False)
        assert r.status_code == 303, r.text[:400]
        return c, CSRF.search(c.get("/waivers").text).group(1)  # type: ignore[union-attr]

    def waivers(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(hub_waivers).order_by(hub_waivers.c.id)))

    def audit(self, action: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(web_audit).where(web_audit.c.action == action).order_by(web_audit.c.id)))


@pytest.fixture
def site(tmp_path: Path) -> Any:
    s = Site(tmp_path)
    yield s
    s.engine.dispose()


def finding_block(html: str, check: str) -> str:
    """The <article> of one finding on the host page."""
    for part in html.split('<article class="finding">')[1:]:
        art = part.split("</article>")[0]
        if f"<code>{check}</code>" in art:
            return art
    raise AssertionError(f"no finding {check} on the page")


def test_waiver_added_by_admin_is_shown_until_it_expires_and_counts_stay_real(site: Site) -> None:
    c, csrf = site.client("kanri")
    expires = (site.clock.now + timedelta(days=10)).date()
    r = c.post("/admin/waivers/add", data={"csrf": csrf, "host_key": site.hk1, "clause": "so-14-2", "check_id": "", "reason": REASON,
                                           "expires": expires.isoformat()}, follow_redirects=False)
    assert r.status_code == 303, r.text[:400]
    [w] = site.waivers()
    assert (w.host_key, w.clause, w.check_id, w.reason, w.expires, w.created_by, w.revoked_at) == (site.hk1, "SO-14-2", None, REASON, expires, "kanri", None)
    [a] = site.audit("waiver_add")
    assert a.user_name == "kanri" and a.outcome == "ok" and a.detail["waiver_id"] == w.id and a.detail["clause"] == "SO-14-2"
    assert a.detail["reason"] == REASON and a.detail["expires"] == expires.isoformat()

    host = c.get("/host", params={"key": site.hk1}).text
    art = finding_block(host, "pw.maxdays")
    assert "st-fail" in art and "例外承認（ハブ）" in art and REASON in art and str(expires) in art  # still a fail, shown as waived
    assert "例外承認（ハブ）" not in finding_block(host, "log.keep")  # another clause: not waived
    assert "例外承認（ハブ）" not in finding_block(c.get("/host", params={"key": site.hk2}).text, "pw.maxdays")  # another host
    clause = c.get("/clause/SO-14-2").text
    row1 = next(x for x in clause.split("<tr>") if "ward-pc-1" in x)
    row2 = next(x for x in clause.split("<tr>") if "ward-pc-2" in x)
    assert "st-fail" in row1 and REASON in row1 and "例外承認（ハブ）" in row1 and "例外承認（ハブ）" not in row2
    ov = c.get("/").text
    assert "waived fail is counted as a fail (1 active waivers" in ov
    with site.engine.connect() as conn:
        from tenken.hub import web_queries as wq

        assert wq.overview(conn, wq.Filters(clauses=["SO-14-2"])).rows[0].cells["*"].counts == {"fail": 2}

    site.clock.now = datetime.combine(expires, datetime.max.time(), tzinfo=UTC)  # the last day it applies
    c, _ = site.client("kanri")  # (the old session has idled out meanwhile)
    assert "例外承認（ハブ）" in finding_block(c.get("/host", params={"key": site.hk1}).text, "pw.maxdays")
    site.clock.now = datetime.combine(expires + timedelta(days=1), datetime.min.time(), tzinfo=UTC)  # the hub's clock says: expired
    c, _ = site.client("kansa")
    host = c.get("/host", params={"key": site.hk1}).text
    assert "例外承認（ハブ）" not in finding_block(host, "pw.maxdays")
    assert "期限切れ" in host.split('id="waivers"')[1] and REASON in host  # still listed, as expired
    assert "0 active waivers" in c.get("/").text


def test_all_hosts_and_one_check_waivers_cover_only_what_they_name(site: Site) -> None:
    c, csrf = site.client("kanri")
    exp = (site.clock.now + timedelta(days=30)).date().isoformat()
    assert c.post("/admin/waivers/add", data={"csrf": csrf, "host_key": "", "clause": "SO-14-2", "check_id": "pw.maxdays", "reason": "全台で例外",
                                              "expires": exp}, follow_redirects=False).status_code == 303
    for hk in (site.hk1, site.hk2):
        html = c.get("/host", params={"key": hk}).text
        assert "全台で例外" in finding_block(html, "pw.maxdays")
    assert "全台で例外" not in finding_block(c.get("/host", params={"key": site.hk1}).text, "pw.minlen")  # same clause, other check
    # the one-check waiver also marks the hosts' SO-14-2 rows on the clause page, naming the check
    clause = c.get("/clause/SO-14-2").text
    assert clause.count("全台で例外") == 2 and "<code>pw.maxdays</code>" in clause


def test_revoke_stops_the_waiver_keeps_its_record_and_is_audited(site: Site) -> None:
    c, csrf = site.client("kanri")
    c.post("/admin/waivers/add", data={"csrf": csrf, "host_key": site.hk1, "clause": "SO-13-6", "reason": "一時的", "expires": "2027-01-31"},
           follow_redirects=False)
    [w] = site.waivers()
    assert "例外承認（ハブ）" in finding_block(c.get("/host", params={"key": site.hk1}).text, "log.keep")
    r = c.post("/admin/waivers/revoke", data={"csrf": csrf, "waiver_id": str(w.id)}, follow_redirects=False)
    assert r.status_code == 303
    [w] = site.waivers()
    assert w.revoked_by == "kanri" and w.revoked_at is not None
    [a] = site.audit("waiver_revoke")
    assert a.user_name == "kanri" and a.detail["waiver_id"] == w.id
    host = c.get("/host", params={"key": site.hk1}).text
    assert "例外承認（ハブ）" not in finding_block(host, "log.keep") and "取消" in host.split('id="waivers"')[1]
    assert c.post("/admin/waivers/revoke", data={"csrf": csrf, "waiver_id": str(w.id)}, follow_redirects=False).status_code == 404


@pytest.mark.parametrize(("fields", "why"), [
    ({"clause": "SO-14-2", "reason": "", "expires": "2027-01-31"}, "reason"),
    ({"clause": "SO-14-2", "reason": "   ", "expires": "2027-01-31"}, "reason"),
    ({"clause": "SO-14-2", "reason": "x", "expires": ""}, "expiry"),
    ({"clause": "SO-14-2", "reason": "x", "expires": "31/01/2027"}, "YYYY-MM-DD"),
    ({"clause": "SO-14-2", "reason": "x", "expires": "2026-11-01"}, "past"),
    ({"clause": "SO-99-9", "reason": "x", "expires": "2027-01-31"}, "not a clause"),
    ({"clause": "SO-14-2", "reason": "x", "expires": "2027-01-31", "host_key": "machine-id:nobody"}, "no host"),
    ({"clause": "SO-14-2", "reason": "x", "expires": "2027-01-31", "check_id": "a b<script>"}, "check id"),
])
def test_invalid_waivers_are_refused_and_nothing_is_written(site: Site, fields: dict[str, str], why: str) -> None:
    c, csrf = site.client("kanri")
    r = c.post("/admin/waivers/add", data={"csrf": csrf, **fields}, follow_redirects=False)
    assert r.status_code == 422 and why in r.text, r.text[-800:]
    assert site.waivers() == [] and site.audit("waiver_add") == []


def test_auditor_sees_waivers_but_gets_403_on_add_and_revoke(site: Site) -> None:
    with write_tx(site.engine) as conn:
        wid = wv.add_waiver(conn, wv.WaiverInput(host_key=site.hk1, clause="SO-14-2", reason="監査で確認", expires=date(2027, 1, 31)),
                            actor="kanri", now=site.clock.now)
    c, csrf = site.client("kansa")
    page = c.get("/waivers").text
    assert "監査で確認" in page and 'action="/admin/waivers/add"' not in page and 'action="/admin/waivers/revoke"' not in page
    assert "監査で確認" in finding_block(c.get("/host", params={"key": site.hk1}).text, "pw.maxdays")
    r = c.post("/admin/waivers/add", data={"csrf": csrf, "clause": "SO-13-6", "reason": "x", "expires": "2027-01-31"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/admin/waivers/revoke", data={"csrf": csrf, "waiver_id": str(wid)}, follow_redirects=False)
    assert r.status_code == 403
    [w] = site.waivers()
    assert w.revoked_at is None and site.audit("waiver_revoke") == []


def test_csrf_less_waiver_posts_are_refused(site: Site) -> None:
    c, _ = site.client("kanri")
    for data in ({}, {"csrf": "forged"}):
        r = c.post("/admin/waivers/add", data={**data, "clause": "SO-14-2", "reason": "x", "expires": "2027-01-31"}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text
    assert site.waivers() == []
    with write_tx(site.engine) as conn:
        wid = wv.add_waiver(conn, wv.WaiverInput(clause="SO-14-2", reason="x", expires=date(2027, 1, 31)), actor="kanri", now=site.clock.now)
    assert c.post("/admin/waivers/revoke", data={"waiver_id": str(wid)}, follow_redirects=False).status_code == 403
    assert site.waivers()[0].revoked_at is None


def test_a_subject_waiver_covers_that_finding_only(site: Site) -> None:
    """Waiving telnetd must not waive tftpd: a waiver naming a check's subject marks that finding alone, and
    never the host's whole status for the clause (the clause page row stays unwaived)."""
    base = wqt.report(wqt.BASE + timedelta(days=2), [wqt.target("ward-pc-1", groups=["病棟"])],
                      [("ward-pc-1", "svc.unneeded", "fail", ["SO-7-12"])])
    ev = base.findings[0].evidence[0]
    findings = [wqt.finding("ward-pc-1", "svc.unneeded", "fail", ["SO-7-12"], subject=s, evidence=ev) for s in ("telnet", "tftp")]
    wqt.ingest(site.engine, base.model_copy(update={"findings": findings}))
    c, csrf = site.client("kanri")

    def block(html: str, subject: str) -> str:
        return next(a.split("</article>")[0] for a in html.split('<article class="finding">')[1:]
                    if f'<span class="subject">{subject}</span>' in a)

    host = c.get("/host", params={"key": site.hk1}).text
    assert "subject=telnet" in block(host, "telnet") and "例外承認（ハブ）" not in block(host, "telnet")  # the admin's waive link
    r = c.post("/admin/waivers/add", data={"csrf": csrf, "host_key": site.hk1, "clause": "SO-7-12", "check_id": "svc.unneeded",
                                           "subject": "telnet", "reason": "閉域網の旧装置 / legacy device on a closed network",
                                           "expires": "2027-01-31"}, follow_redirects=False)
    assert r.status_code == 303, r.text[-600:]
    [w] = site.waivers()
    assert (w.check_id, w.subject) == ("svc.unneeded", "telnet")
    [a] = site.audit("waiver_add")
    assert a.detail["subject"] == "telnet"
    host = c.get("/host", params={"key": site.hk1}).text
    assert "例外承認（ハブ）" in block(host, "telnet") and "<code>telnet</code>" in block(host, "telnet")
    assert "例外承認（ハブ）" not in block(host, "tftp") and "st-fail" in block(host, "tftp")
    row = next(x for x in c.get("/clause/SO-7-12").text.split("<tr>") if "ward-pc-1" in x)
    assert "st-fail" in row and "例外承認（ハブ）" not in row  # one subject waived: the host's clause status is not
    r = c.post("/admin/waivers/add", data={"csrf": csrf, "clause": "SO-7-12", "subject": "tftp", "reason": "x", "expires": "2027-01-31"},
               follow_redirects=False)
    assert r.status_code == 422 and "a subject needs its check id" in r.text
    assert len(site.waivers()) == 1


def test_trends_list_a_waived_worsening_with_its_waiver(site: Site) -> None:
    """A host that got worse is still listed on the trends page after an admin accepts it, with the waiver
    beside it; another worsening stays unmarked."""
    a, b = wqt.target("ward-pc-1", groups=["病棟"]), wqt.target("ward-pc-2", groups=["病棟"])
    wqt.ingest(site.engine, wqt.report(wqt.BASE + timedelta(days=2, hours=12), [a, b], [
        ("ward-pc-1", "pw.maxdays", "fail", ["SO-14-2"]), ("ward-pc-1", "pw.minlen", "fail", ["SO-14-2"]),  # SO-14-2 was fail already
        ("ward-pc-1", "log.keep", "fail", ["SO-13-6"]),
        ("ward-pc-2", "pw.maxdays", "fail", ["SO-14-2"]), ("ward-pc-2", "log.keep", "fail", ["SO-13-6"]),  # pass -> fail
    ]))
    c, csrf = site.client("kanri")
    since = (wqt.BASE + timedelta(days=2)).date().isoformat()
    page = c.get("/trends", params={"worse_since": since}).text
    row = next(x for x in page.split("<tr>") if "ward-pc-2" in x and "SO-13-6" in x)
    assert "例外承認（ハブ）" not in row
    assert c.post("/admin/waivers/add", data={"csrf": csrf, "host_key": site.hk2, "clause": "SO-13-6", "check_id": "log.keep",
                                              "reason": "ログサーバ移行中 / log server being moved", "expires": "2027-01-31"},
                  follow_redirects=False).status_code == 303
    page = c.get("/trends", params={"worse_since": since}).text
    row = next(x for x in page.split("<tr>") if "ward-pc-2" in x and "SO-13-6" in x)
    assert "例外承認（ハブ）" in row and "ログサーバ移行中" in row and "st-fail" in row
