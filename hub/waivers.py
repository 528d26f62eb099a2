"""Waivers an admin records on the hub (issue 13): accepted exceptions for one host or every host.

Two kinds of waiver exist, and both are shown, never merged:
- agent-side waivers (tenken.checks.waivers, a YAML file given to `tenken scan`): applied when the report is
  made, they travel inside the signed report as the finding's `waiver` and cannot be changed afterwards;
- hub-side waivers (this module, table `hub_waivers`): recorded by an admin in the web view when an
  exception is decided after the fact (a vendor system that cannot be patched this quarter). They apply to
  the findings the hub shows, judged when a page is drawn, so adding or revoking one changes no report.

Semantics, the same as the agent-side ones so that an auditor reads one rule: a waived finding keeps its
real status (a waived fail is still a fail, counted as such in the overview) and the waiver is shown beside
it with its reason and expiry; a waiver applies through its `expires` day and no longer after it; "today"
is the UTC date of the hub's clock (the web app's injectable clock), as every other date the hub shows. A
waiver names a clause (required), optionally one check id (else every check behind the clause) and, for
that check, one subject (the package, service or file the finding is about: waiving telnetd must not waive
tftpd), and a host (or every host). A subject waiver waives that finding only, never a host's whole status
for the clause. A revoked waiver is kept with who revoked it and when: the record of exceptions is part of
what the auditor reviews (SO-17-1), and every add/revoke is in the web audit log.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection, or_, select
from tenken.checks.catalogue import load_catalogue
from tenken.checks.finding import CLAUSE_ID
from tenken.hub import tables as t
from tenken.hub.db import as_utc
from tenken.hub.web.tables import hub_waivers

CHECK_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


class WaiverError(Exception):
    """The waiver cannot be recorded or revoked as asked (message in Japanese and English)."""


class WaiverInput(BaseModel):
    """What the admin form submits; validated before anything is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    host_key: str | None = Field(default=None, max_length=520)  # None: every host
    clause: str
    check_id: str | None = None
    subject: str | None = Field(default=None, max_length=500)
    reason: str = Field(min_length=1, max_length=2000)
    expires: date

    @field_validator("clause")
    @classmethod
    def _clause(cls, v: str) -> str:
        v = v.strip().upper()
        if not CLAUSE_ID.match(v) or v not in load_catalogue().by_id():
            raise ValueError(f"ガイドラインにない条項 / not a clause of the guideline: {v[:40]!r}")
        return v

    @field_validator("check_id")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        v = (v or "").strip() or None
        if v is not None and not CHECK_ID.match(v):
            raise ValueError("チェック ID は英数字と . _ : - のみ / a check id is letters, digits and . _ : -")
        return v

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str | None) -> str | None:
        v = (v or "").strip() or None
        if v is not None and any(ord(ch) < 32 for ch in v):
            raise ValueError("対象に制御文字は使えません / a subject has no control characters")
        return v

    @model_validator(mode="after")
    def _subject_needs_check(self) -> WaiverInput:
        if self.subject is not None and self.check_id is None:
            raise ValueError("対象を指定するときはチェック ID も必要 / a subject needs its check id")
        return self

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("理由は必須 / a reason is required")
        return v


class HubWaiver(BaseModel):
    id: int
    host_key: str | None
    clause: str
    check_id: str | None
    subject: str | None = None
    reason: str
    expires: date
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    def active(self, today: date) -> bool:
        return self.revoked_at is None and self.expires >= today

    def covers(self, host_key: str, clauses: list[str], check_ids: list[str], subject: str | None = None) -> bool:
        """Whether this waiver speaks to a finding (its clauses, [its check]) or to a host's status for a
        clause ([the clause], the checks behind it there) of `host_key`, activity aside. A waiver of one
        check covers a host's clause when that check is among the clause's checks on the host; the page
        then names the check, since the clause's status may come from another one."""
        if self.host_key is not None and self.host_key != host_key:
            return False
        if self.clause not in clauses:
            return False
        if self.subject is not None and subject != self.subject:
            return False  # one finding's subject; a host's status for a clause (subject None) is not waived by it
        return self.check_id is None or self.check_id in check_ids


def today_of(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _row(r: Any) -> HubWaiver:
    return HubWaiver(
        id=r.id, host_key=r.host_key, clause=r.clause, check_id=r.check_id, subject=r.subject, reason=r.reason, expires=r.expires,
        created_at=as_utc(r.created_at), created_by=r.created_by, revoked_at=as_utc(r.revoked_at), revoked_by=r.revoked_by,  # type: ignore[arg-type]
    )


def add_waiver(conn: Connection, w: WaiverInput, *, actor: str, now: datetime) -> int:
    """Record a waiver (in the caller's write transaction); refused if it would already be expired or the host is unknown."""
    if w.expires < today_of(now):
        raise WaiverError(f"期限 {w.expires} は過去の日付です / the expiry {w.expires} is in the past")
    if w.host_key is not None and conn.execute(select(t.hosts.c.key).where(t.hosts.c.key == w.host_key)).first() is None:
        raise WaiverError(f"ホストがありません / no host {w.host_key[:100]!r}")
    res = conn.execute(hub_waivers.insert().values(
        host_key=w.host_key, clause=w.clause, check_id=w.check_id, subject=w.subject, reason=w.reason, expires=w.expires,
        created_at=now, created_by=actor,
    ))
    return int(res.inserted_primary_key[0])  # type: ignore[index]


def revoke_waiver(conn: Connection, waiver_id: int, *, actor: str, now: datetime) -> HubWaiver:
    row = conn.execute(select(hub_waivers).where(hub_waivers.c.id == waiver_id)).first()
    if row is None:
        raise WaiverError(f"例外承認 {waiver_id} はありません / no waiver {waiver_id}")
    if row.revoked_at is not None:
        raise WaiverError(f"例外承認 {waiver_id} は取り消し済み / waiver {waiver_id} is already revoked")
    conn.execute(hub_waivers.update().where(hub_waivers.c.id == waiver_id).values(revoked_at=now, revoked_by=actor))
    return _row(row)


def list_waivers(conn: Connection, *, host_key: str | None = None, clause: str | None = None) -> list[HubWaiver]:
    """Every waiver (revoked and expired ones too), newest first; host_key: that host's and the all-hosts ones."""
    q = select(hub_waivers)
    if host_key is not None:
        q = q.where(or_(hub_waivers.c.host_key == host_key, hub_waivers.c.host_key.is_(None)))
    if clause is not None:
        q = q.where(hub_waivers.c.clause == clause)
    return [_row(r) for r in conn.execute(q.order_by(hub_waivers.c.id.desc()))]


def active_count(conn: Connection, today: date) -> int:
    from sqlalchemy import func

    q = select(func.count()).select_from(hub_waivers).where(hub_waivers.c.revoked_at.is_(None), hub_waivers.c.expires >= today)
    return int(conn.execute(q).scalar_one())


def matching(waivers: list[HubWaiver], host_key: str, clauses: list[str], check_ids: list[str], today: date,
             subject: str | None = None) -> HubWaiver | None:
    """The first active waiver covering it (most recent first, as listed), or None."""
    return next((w for w in waivers if w.active(today) and w.covers(host_key, clauses, check_ids, subject)), None)
