"""The web view's tables: people's accounts, their server-side sessions and the audit log.

They live on the hub's one `metadata` (tenken.hub.tables), so `init_schema` creates them with the rest and they
are kept, backed up and migrated with the hub's data. Nothing secret is stored in a form that can be used as is:
passwords as argon2id PHC strings, session ids as SHA-256 digests (a copy of the database cannot be replayed as
a login). The TOTP seed has to be stored as such (the server recomputes codes from it); it is never shown again
after `tenken-hub user add` and never written to a log.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Table, Text
from tenken.hub.tables import TZ, metadata

web_users = Table(
    "web_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # "admin" | "auditor"
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string format
    Column("totp_secret", String(64)),  # base32 RFC 6238 seed; required for admins
    Column("totp_last_step", Integer),  # the last accepted time step: a code is never accepted twice
    Column("failed_logins", Integer, nullable=False, default=0),  # consecutive failures since the last success
    Column("locked_until", TZ),
    Column("disabled_at", TZ),
    Column("created_at", TZ, nullable=False),
    Column("password_changed_at", TZ, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("user_id", Integer, ForeignKey("web_users.id", ondelete="CASCADE")),  # NULL: before login (carries the login form's CSRF token)
    Column("csrf", String(64), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("last_seen", TZ, nullable=False),
    Column("source_ip", String(64)),
    Index("ix_web_sessions_last_seen", "last_seen"),
)

web_audit = Table(
    "web_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TZ, nullable=False),
    Column("user_name", String(64)),  # as typed for a failed login (bounded); NULL when nobody was named
    Column("action", String(32), nullable=False),  # login, login_failed, lockout, logout, export, revoke_agent, user_add, ...
    Column("outcome", String(16), nullable=False),  # ok | refused
    Column("source_ip", String(64)),  # the TCP peer (proxy headers are never trusted) or "cli"
    Column("detail", JSON, nullable=False),
    Index("ix_web_audit_at", "at"),
)

# Waivers an admin records on the hub (issue 13): a clause (optionally one check) accepted as an exception on
# one host or on every host, with a reason and an expiry date. Never deleted: a revoke stamps revoked_at/by, so
# the history of exceptions stays for the auditor. Judged by tenken.hub.waivers, shown beside the finding,
# which keeps its real status (as agent-side waivers do, tenken.checks.waivers).
hub_waivers = Table(
    "hub_waivers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host_key", String(520)),  # NULL: every host
    Column("clause", String(16), nullable=False),
    Column("check_id", String(200)),  # NULL: every check behind the clause
    Column("subject", String(500)),  # NULL: every subject of the check (a package, a service, a file...)
    Column("reason", Text, nullable=False),
    Column("expires", Date, nullable=False),  # applies through this day (the hub's clock, UTC date)
    Column("created_at", TZ, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", TZ),
    Column("revoked_by", String(64)),
    Index("ix_hub_waivers_clause", "clause"),
    Index("ix_hub_waivers_host", "host_key"),
)

WEB_TABLES = (web_users, web_sessions, web_audit, hub_waivers)
