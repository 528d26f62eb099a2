"""Password rule, TOTP, lockout and session expiry, on a real SQLite database with an injected clock (no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tenken.hub.db import open_db
from tenken.hub.web import accounts as acc
from tenken.hub.web import credentials as cred
from tenken.hub.web.tables import web_audit, web_sessions, web_users

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GOOD = "Kango-Shitsu-2026"  # 17 chars, 4 classes
SHORT_MIXED = "Ab3$efgh"  # 8 chars, 4 classes: enough only with two-factor


@pytest.fixture()
def engine(tmp_path: Path):
    e = open_db(f"sqlite:///{tmp_path / 'hub.db'}")
    yield e
    e.dispose()


def test_password_rule_is_qa_si_q54() -> None:
    cred.check_password_rule(GOOD, two_factor=False)
    cred.check_password_rule(SHORT_MIXED, two_factor=True)
    with pytest.raises(cred.PasswordRejected, match="13"):
        cred.check_password_rule(SHORT_MIXED, two_factor=False)
    with pytest.raises(cred.PasswordRejected):
        cred.check_password_rule("a" * 20, two_factor=False)  # long but one class
    with pytest.raises(cred.PasswordRejected):
        cred.check_password_rule("Ab3$efg", two_factor=True)  # 7 chars
    assert cred.char_classes("aB3$") == 4 and cred.char_classes("日本語abc") == 2


def test_totp_matches_rfc6238_vectors() -> None:
    # RFC 6238 appendix B, SHA-1 seed "12345678901234567890", 8 digits
    key = b"12345678901234567890"
    for t, want in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (20000000000, "65353130")):
        assert cred.hotp(key, t // 30, digits=8) == want


def test_totp_verify_drift_and_replay() -> None:
    secret = cred.new_totp_secret()
    now = T0.timestamp()
    code = cred.totp_at(secret, now)
    res = cred.verify_totp(secret, code, now, None)
    assert res.ok and res.step == int(now // 30)
    assert not cred.verify_totp(secret, code, now, res.step).ok  # the same code twice is refused
    assert cred.verify_totp(secret, cred.totp_at(secret, now - 30), now, None).ok  # one step of drift
    assert not cred.verify_totp(secret, cred.totp_at(secret, now - 90), now, None).ok
    assert not cred.verify_totp(secret, "12345", now, None).ok


def test_hash_is_argon2id_and_no_plaintext(engine) -> None:
    acc.add_user(engine, "nurse", acc.Role.AUDITOR, GOOD, now=T0)
    with engine.connect() as conn:
        h = conn.execute(select(web_users.c.password_hash)).scalar_one()
        audit = conn.execute(select(web_audit.c.detail)).all()
    assert h.startswith("$argon2id$") and GOOD not in h
    assert GOOD not in repr(audit)
    with pytest.raises(acc.AccountError):
        acc.add_user(engine, "shorty", acc.Role.AUDITOR, SHORT_MIXED, now=T0)


def test_admin_gets_totp_and_needs_the_code(engine) -> None:
    secret = acc.add_user(engine, "admin1", acc.Role.ADMIN, SHORT_MIXED, now=T0)  # 8+ allowed: two-factor
    assert secret
    assert not acc.login(engine, "admin1", SHORT_MIXED, "", now=T0, ip="1.2.3.4", old_cookie=None).ok
    res = acc.login(engine, "admin1", SHORT_MIXED, cred.totp_at(secret, T0.timestamp()), now=T0, ip="1.2.3.4", old_cookie=None)
    assert res.ok and res.session and res.session.user and res.session.user.role is acc.Role.ADMIN


def test_lockout_after_n_failures_and_expiry(engine) -> None:
    acc.add_user(engine, "nurse", acc.Role.AUDITOR, GOOD, now=T0)
    for i in range(acc.LOCKOUT_THRESHOLD):
        res = acc.login(engine, "nurse", "wrong", "", now=T0 + timedelta(seconds=i), ip="10.0.0.9", old_cookie=None)
        assert not res.ok
    assert res.reason == acc.LOCKED
    during = T0 + timedelta(minutes=acc.LOCKOUT_MINUTES - 1)
    res = acc.login(engine, "nurse", GOOD, "", now=during, ip="10.0.0.9", old_cookie=None)
    assert not res.ok and res.reason == acc.LOCKED  # the right password is refused while locked
    after = T0 + timedelta(minutes=acc.LOCKOUT_MINUTES, seconds=10)
    assert acc.login(engine, "nurse", GOOD, "", now=after, ip="10.0.0.9", old_cookie=None).ok
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(web_audit.c.action).order_by(web_audit.c.id))]
    assert actions.count("login_failed") == acc.LOCKOUT_THRESHOLD + 1 and actions.count("lockout") == 1 and actions[-1] == "login"


def test_session_idle_absolute_and_rotation(engine) -> None:
    acc.add_user(engine, "nurse", acc.Role.AUDITOR, GOOD, now=T0)
    pre_cookie, _ = acc.anonymous_session(engine, now=T0, ip=None)
    res = acc.login(engine, "nurse", GOOD, "", now=T0, ip=None, old_cookie=pre_cookie)
    assert res.ok and res.cookie and res.cookie != pre_cookie
    assert acc.load_session(engine, pre_cookie, now=T0) is None  # the pre-login id is gone (rotation)
    with engine.connect() as conn:
        stored = [r.id_sha256 for r in conn.execute(select(web_sessions.c.id_sha256))]
    assert res.cookie not in stored  # only the digest is stored
    # kept alive by use every 10 minutes ...
    t = T0
    for _ in range(6):
        t += timedelta(minutes=10)
        assert acc.load_session(engine, res.cookie, now=t) is not None
    # ... but idle for longer than SESSION_IDLE ends it
    assert acc.load_session(engine, res.cookie, now=t + acc.SESSION_IDLE + timedelta(seconds=1)) is None
    # absolute expiry even when in use
    res2 = acc.login(engine, "nurse", GOOD, "", now=T0, ip=None, old_cookie=None)
    t = T0
    while t < T0 + acc.SESSION_ABSOLUTE - timedelta(minutes=10):
        t += timedelta(minutes=10)
        assert acc.load_session(engine, res2.cookie, now=t) is not None
    assert acc.load_session(engine, res2.cookie, now=T0 + acc.SESSION_ABSOLUTE + timedelta(minutes=1)) is None


def test_disable_ends_sessions(engine) -> None:
    acc.add_user(engine, "nurse", acc.Role.AUDITOR, GOOD, now=T0)
    res = acc.login(engine, "nurse", GOOD, "", now=T0, ip=None, old_cookie=None)
    acc.disable_user(engine, "nurse", now=T0)
    assert acc.load_session(engine, res.cookie, now=T0) is None
    assert not acc.login(engine, "nurse", GOOD, "", now=T0, ip=None, old_cookie=None).ok
