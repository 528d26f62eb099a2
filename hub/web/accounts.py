"""Accounts, logins with lockout, server-side sessions and the audit log: the web view's rules, in one place.

Every function takes the time as an argument (`now`), so expiry and lockout are tested with an injected clock.

- Lockout: LOCKOUT_THRESHOLD (5) consecutive failed logins lock the account for LOCKOUT_MINUTES (15); during the lock
  even the right password is refused. 5 is within the project's policy bound for hosts (passwords.lockout_max_deny
  = 10, NIST SP 800-63B / CIS, config/policy.yaml); the guideline 6.0 itself gives no number. A success resets the count.
- Sessions: a random 256-bit id in the cookie, only its SHA-256 stored; idle expiry SESSION_IDLE (15 min) and absolute
  expiry SESSION_ABSOLUTE (8 h, one shift); a new id at every login (the pre-login id is deleted), so a planted
  id is worth nothing. Each session has its own CSRF token (synchroniser token pattern).
- Audit: every login, failed login, lockout, logout, export and admin action is a row of `web_audit`, written in the
  same transaction as the action itself (SO-17-1: the access record of tenken itself).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from tenken.hub.db import as_utc, write_tx
from tenken.hub.web import credentials as cred
from tenken.hub.web.tables import web_audit, web_sessions, web_users

LOCKOUT_THRESHOLD = 5
LOCKOUT_MINUTES = 15
SESSION_IDLE = timedelta(minutes=15)
SESSION_ABSOLUTE = timedelta(hours=8)
#: last_seen is written at most this often (a page view is otherwise a read)
TOUCH_EVERY = timedelta(seconds=30)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Role(StrEnum):
    ADMIN = "admin"  # agents, users, waivers, audit log; read and export
    AUDITOR = "auditor"  # read and export only


class AccountError(Exception):
    """A user operation that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    has_totp: bool
    disabled: bool
    locked_until: datetime | None
    failed_logins: int
    created_at: datetime


@dataclass(frozen=True)
class Session:
    id_sha256: str
    user: User | None  # None before login
    csrf: str
    created_at: datetime
    last_seen: datetime


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, role=Role(row.role), has_totp=row.totp_secret is not None, disabled=row.disabled_at is not None,
                locked_until=as_utc(row.locked_until), failed_logins=row.failed_logins or 0, created_at=as_utc(row.created_at))  # type: ignore[arg-type]


def audit(conn: Connection, now: datetime, action: str, *, user: str | None, ip: str | None, outcome: str = "ok", **detail: Any) -> None:
    """One audit row, inside the caller's transaction. `detail` must never hold a secret."""
    conn.execute(web_audit.insert().values(at=now, user_name=(user or None) and user[:64], action=action, outcome=outcome,
                                           source_ip=ip, detail=detail))


# --- accounts (the CLI and the Users page) -------------------------------------------------------------


def add_user(engine: Engine, name: str, role: Role, password: str, *, now: datetime, totp: bool = False, actor: str = "cli",
             ip: str = "cli") -> str | None:
    """Create an account; returns the new TOTP secret (admins always get one) to be shown once, or None."""
    import re

    if not re.match(NAME_PATTERN, name):
        raise AccountError("user names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    two_factor = totp or role is Role.ADMIN
    try:
        cred.check_password_rule(password, two_factor=two_factor)
    except cred.PasswordRejected as exc:
        raise AccountError(str(exc)) from exc
    secret = cred.new_totp_secret() if two_factor else None
    pw_hash = cred.hash_password(password)
    with write_tx(engine) as conn:
        if conn.execute(select(web_users.c.id).where(web_users.c.name == name)).first() is not None:
            raise AccountError(f"user {name!r} already exists (use `tenken-hub user passwd {name}`)")
        conn.execute(web_users.insert().values(name=name, role=role.value, password_hash=pw_hash, totp_secret=secret, failed_logins=0,
                                               created_at=now, password_changed_at=now))
        audit(conn, now, "user_add", user=actor, ip=ip, target=name, role=role.value, totp=two_factor)
    return secret


def set_password(engine: Engine, name: str, password: str, *, now: datetime, actor: str = "cli", ip: str = "cli") -> None:
    """New password (same rule), unlocks the account and ends its sessions."""
    with engine.connect() as conn:
        row = conn.execute(select(web_users).where(web_users.c.name == name)).first()
    if row is None:
        raise AccountError(f"no user {name!r}")
    try:
        cred.check_password_rule(password, two_factor=row.totp_secret is not None)
    except cred.PasswordRejected as exc:
        raise AccountError(str(exc)) from exc
    pw_hash = cred.hash_password(password)
    with write_tx(engine) as conn:
        conn.execute(update(web_users).where(web_users.c.id == row.id).values(password_hash=pw_hash, password_changed_at=now, failed_logins=0,
                                                                              locked_until=None))
        conn.execute(delete(web_sessions).where(web_sessions.c.user_id == row.id))
        audit(conn, now, "user_passwd", user=actor, ip=ip, target=name)


def disable_user(engine: Engine, name: str, *, now: datetime, actor: str = "cli", ip: str = "cli") -> None:
    """Disable an account (kept for the audit trail) and end its sessions."""
    with write_tx(engine) as conn:
        row = conn.execute(select(web_users.c.id, web_users.c.disabled_at).where(web_users.c.name == name)).first()
        if row is None:
            raise AccountError(f"no user {name!r}")
        if row.disabled_at is None:
            conn.execute(update(web_users).where(web_users.c.id == row.id).values(disabled_at=now))
        conn.execute(delete(web_sessions).where(web_sessions.c.user_id == row.id))
        audit(conn, now, "user_disable", user=actor, ip=ip, target=name)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(web_users).order_by(web_users.c.name))]


# --- login ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    reason: str  # shown to the person: never says whether the name exists
    cookie: str | None = None
    session: Session | None = None


REFUSED = "ユーザー名、パスワードまたは確認コードが違います / wrong user name, password or code"
LOCKED = (f"ログイン失敗が続いたためロックされています（{LOCKOUT_MINUTES} 分後に再試行）"
          f" / too many failed logins: locked, try again in {LOCKOUT_MINUTES} minutes")


def login(engine: Engine, name: str, password: str, code: str, *, now: datetime, ip: str | None, old_cookie: str | None) -> LoginResult:
    """Check name, password and (when enrolled, always for admins) the TOTP code; count failures; lock; audit.

    The argon2 verification runs outside the write transaction (it takes tens of milliseconds and SQLite has one
    writer); the failure counter is then updated atomically inside it."""
    name = name.strip()[:64]
    with engine.connect() as conn:
        row = conn.execute(select(web_users).where(web_users.c.name == name)).first() if name else None
    locked = row is not None and row.locked_until is not None and as_utc(row.locked_until) > now  # type: ignore[operator]
    pw_ok = cred.verify_password(row.password_hash if row is not None else None, password)
    totp_ok, step = True, None
    needs_code = row is not None and (row.totp_secret is not None or row.role == Role.ADMIN.value)
    if row is not None and needs_code:
        if row.totp_secret is None:
            totp_ok = False  # an admin without an enrolled second factor cannot log in at all
        else:
            res = cred.verify_totp(row.totp_secret, code, now.timestamp(), row.totp_last_step)
            totp_ok, step = res.ok, res.step
    with write_tx(engine) as conn:
        if row is None:
            audit(conn, now, "login_failed", user=name or None, ip=ip, outcome="refused", why="unknown user")
            return LoginResult(False, REFUSED)
        if row.disabled_at is not None:
            audit(conn, now, "login_failed", user=name, ip=ip, outcome="refused", why="account disabled")
            return LoginResult(False, REFUSED)
        if locked:
            audit(conn, now, "login_failed", user=name, ip=ip, outcome="refused", why="account locked")
            return LoginResult(False, LOCKED)
        if not (pw_ok and totp_ok):
            why = "wrong password" if not pw_ok else ("no TOTP enrolled for admin" if row.totp_secret is None else "wrong or missing TOTP code")
            conn.execute(update(web_users).where(web_users.c.id == row.id).values(failed_logins=web_users.c.failed_logins + 1))
            failed = conn.execute(select(web_users.c.failed_logins).where(web_users.c.id == row.id)).scalar_one()
            audit(conn, now, "login_failed", user=name, ip=ip, outcome="refused", why=why, consecutive=failed)
            if failed >= LOCKOUT_THRESHOLD:
                until = now + timedelta(minutes=LOCKOUT_MINUTES)
                conn.execute(update(web_users).where(web_users.c.id == row.id).values(locked_until=until, failed_logins=0))
                audit(conn, now, "lockout", user=name, ip=ip, outcome="refused", until=until.isoformat(), failures=failed)
                return LoginResult(False, LOCKED)
            return LoginResult(False, REFUSED)
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if step is not None:
            values["totp_last_step"] = step
        if cred.needs_rehash(row.password_hash):
            values["password_hash"] = cred.hash_password(password)
        conn.execute(update(web_users).where(web_users.c.id == row.id).values(**values))
        if old_cookie:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == _digest(old_cookie)))  # rotation
        cookie, session = _new_session(conn, row.id, now, ip)
        audit(conn, now, "login", user=name, ip=ip, role=row.role, two_factor=step is not None)
        user = _user(conn.execute(select(web_users).where(web_users.c.id == row.id)).one())
    return LoginResult(True, "", cookie, Session(session.id_sha256, user, session.csrf, now, now))


# --- sessions ------------------------------------------------------------------------------------------


def _new_session(conn: Connection, user_id: int | None, now: datetime, ip: str | None) -> tuple[str, Session]:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    # expired sessions are swept here: they can never be used again, and the table stays small
    conn.execute(delete(web_sessions).where(web_sessions.c.last_seen < now - SESSION_IDLE))
    conn.execute(delete(web_sessions).where(web_sessions.c.created_at < now - SESSION_ABSOLUTE))
    conn.execute(web_sessions.insert().values(id_sha256=_digest(cookie), user_id=user_id, csrf=csrf, created_at=now, last_seen=now,
                                              source_ip=ip))
    return cookie, Session(_digest(cookie), None, csrf, now, now)


def anonymous_session(engine: Engine, *, now: datetime, ip: str | None) -> tuple[str, Session]:
    """A pre-login session: it carries the login form's CSRF token and is replaced at login."""
    with write_tx(engine) as conn:
        return _new_session(conn, None, now, ip)


def load_session(engine: Engine, cookie: str | None, *, now: datetime) -> Session | None:
    """The live session of this cookie, or None (unknown, idle too long, too old, or its user disabled)."""
    if not cookie or len(cookie) > 200:
        return None
    digest = _digest(cookie)
    with engine.connect() as conn:
        row = conn.execute(select(web_sessions).where(web_sessions.c.id_sha256 == digest)).first()
        if row is None:
            return None
        created, seen = as_utc(row.created_at), as_utc(row.last_seen)
        user = None
        if row.user_id is not None:
            urow = conn.execute(select(web_users).where(web_users.c.id == row.user_id)).first()
            if urow is None or urow.disabled_at is not None:
                return None
            user = _user(urow)
    assert created is not None and seen is not None
    if now - seen > SESSION_IDLE or now - created > SESSION_ABSOLUTE:
        with write_tx(engine) as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == digest))
        return None
    if now - seen > TOUCH_EVERY:
        with write_tx(engine) as conn:
            conn.execute(update(web_sessions).where(web_sessions.c.id_sha256 == digest).values(last_seen=now))
        seen = now
    return Session(digest, user, row.csrf, created, seen)


def logout(engine: Engine, session: Session, *, now: datetime, ip: str | None) -> None:
    with write_tx(engine) as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == session.id_sha256))
        audit(conn, now, "logout", user=session.user.name if session.user else None, ip=ip)


def audit_rows(engine: Engine, limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(web_audit).order_by(web_audit.c.id.desc()).limit(limit).offset(offset)).mappings().all()
    return [{**r, "at": as_utc(r["at"])} for r in rows]
