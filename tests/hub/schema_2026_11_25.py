"""FROZEN copy of hub/tables.py as it was on 2026-11-25 (commit ab3d7bf, the last change of that day on main):
the schema of hubs deployed before migrations existed. Tests create a database from it (no alembic_version
table, as such a hub left it) and upgrade it. Never edit this file.

Original docstring: the hub's tables (SQLAlchemy Core): the same schema on SQLite and PostgreSQL.

Findings and evidence are keyed by (report_id, seq): the hub assigns the keys itself, so a whole report
goes in with a handful of executemany inserts and no round trip to learn generated ids. A clause index
table (`finding_clauses`) makes "findings for SO-x-y" an index lookup instead of a JSON scan. The
original signed envelope bytes are kept verbatim so an auditor can re-verify any stored report later.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

TZ = DateTime(timezone=True)

agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),  # tenken.agent.dsse.agent_id(signing key)
    Column("signing_key", Text, nullable=False),  # Ed25519 public key, PEM
    Column("key_id", String(64), nullable=False),
    Column("cert_serial", String(64), nullable=False),  # the latest certificate issued to it
    Column("enrolled_at", TZ, nullable=False),
    Column("revoked_at", TZ),
)

# Every client certificate the CA issued (agents and operators): the hub's allow-list and revocation list.
certs = Table(
    "certs",
    metadata,
    Column("serial", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # "agent" | "user"
    Column("subject", String(200), nullable=False),
    Column("agent_id", String(64), ForeignKey("agents.id")),
    Column("issued_at", TZ, nullable=False),
    Column("not_after", TZ, nullable=False),
    Column("revoked_at", TZ),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", TZ, nullable=False),
    Column("revoked_at", TZ),
)

reports = Table(
    "reports",
    metadata,
    Column("id", String(200), primary_key=True),  # Report.id: the replay key, unique across the hub
    Column("agent_id", String(64), ForeignKey("agents.id"), nullable=False),
    Column("received_at", TZ, nullable=False),
    Column("started_at", TZ, nullable=False),
    Column("finished_at", TZ, nullable=False),
    Column("tool_name", Text, nullable=False),
    Column("tool_version", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("envelope", LargeBinary, nullable=False),  # the original signed DSSE envelope, byte for byte
    Column("summary", JSON, nullable=False),
    Index("ix_reports_agent_finished", "agent_id", "finished_at"),
    Index("ix_reports_finished", "finished_at"),
)

targets = Table(
    "targets",
    metadata,
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("target", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("os", Text),
    Column("state", String(16), nullable=False),
    Column("error", Text),
    Column("started_at", TZ),
    Column("finished_at", TZ),
    Index("ix_targets_target", "target"),
)

findings = Table(
    "findings",
    metadata,
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("finding_id", String(200), nullable=False),
    Column("check_id", String(200), nullable=False),
    Column("target", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", Text),
    Column("clauses", JSON, nullable=False),
    Column("text", JSON, nullable=False),  # {"title", "detail", "remediation"}: each {"ja", "en"}; one JSON value
    Column("evidence", JSON, nullable=False),
    Column("waiver", JSON(none_as_null=True)),
    Column("finished_at", TZ, nullable=False),  # the report's, copied so time filters need no join
    Index("ix_findings_target_finished", "target", "finished_at"),
    Index("ix_findings_status", "status"),
    Index("ix_findings_finished", "finished_at"),
)

finding_clauses = Table(
    "finding_clauses",
    metadata,
    Column("report_id", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("clause", String(16), primary_key=True),
    Column("target", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("finished_at", TZ, nullable=False),
    ForeignKeyConstraint(["report_id", "seq"], ["findings.report_id", "findings.seq"], ondelete="CASCADE"),
    Index("ix_clauses_clause_finished", "clause", "finished_at"),
    Index("ix_clauses_target_clause", "target", "clause", "finished_at"),
)

evidence = Table(
    "evidence",
    metadata,
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("evidence_id", Text, nullable=False),
    Column("collector", Text, nullable=False),
    Column("target", String(500), nullable=False),
    Column("collected_at", TZ, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("error", Text),
)

STORED_TABLES = (reports, targets, findings, finding_clauses, evidence)
