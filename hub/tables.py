"""The hub's tables (SQLAlchemy Core): the same schema on SQLite and PostgreSQL.

Findings and evidence are keyed by (report_id, seq): the hub assigns the keys itself, so a whole report
goes in with a handful of executemany inserts and no round trip to learn generated ids. A clause index
table (`finding_clauses`) makes "findings for SO-x-y" an index lookup instead of a JSON scan. The
original signed envelope bytes are kept verbatim so an auditor can re-verify any stored report later.

On PostgreSQL `findings` and `finding_clauses` are partitioned by month on their `finished_at`
(tenken.hub.partitions), which is therefore the last column of their primary keys on both databases.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
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
    # The machine the agent runs on (from its CSR, recorded by `tenken agent init`): the only host whose
    # local-scan reports this agent may send. NULL for an agent enrolled without one (remote scanning only).
    Column("host_id", String(100)),
    Column("hostname", String(253)),
    Index("ix_agents_host", "host_id"),
)

# Remote targets (SSH/WinRM hosts, TLS endpoints, offline roots) an operator allowed an agent to report on:
# shell-style patterns matched against the target name (and the host id, when the scan read one).
agent_targets = Table(
    "agent_targets",
    metadata,
    Column("agent_id", String(64), ForeignKey("agents.id"), primary_key=True),
    Column("pattern", String(500), primary_key=True),
    Column("granted_at", TZ, nullable=False),
)

# One row per machine or endpoint, keyed by stable identity (`machine-id:...`, `machine-guid:...`) when a
# scan read one, else by `<kind>:<name>`: two machines never share a row, and a rename keeps the history.
hosts = Table(
    "hosts",
    metadata,
    Column("key", String(520), primary_key=True),
    Column("host_id", String(100)),
    Column("name", String(500), nullable=False),  # the name of the latest observation
    Column("fqdn", String(253)),
    Column("kind", String(16), nullable=False),
    Column("os", Text),
    Column("state", String(16), nullable=False),
    Column("first_seen", TZ, nullable=False),
    Column("last_seen", TZ, nullable=False),  # observed_at of the latest report about it
    Column("last_report_id", String(200), nullable=False),
    Column("last_agent_id", String(64), nullable=False),
    Index("ix_hosts_name", "name"),
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
    # The operator certificate the token was issued with: the token is refused with any other certificate.
    Column("cert_serial", String(64)),
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
    # min(finished_at, received_at): what "latest" is ordered by, so a report dated ahead of the hub's
    # clock (within the skew tolerance) can never hide the reports received after it.
    Column("observed_at", TZ, nullable=False),
    Column("tool_name", Text, nullable=False),
    Column("tool_version", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("envelope", LargeBinary, nullable=False),  # the original signed DSSE envelope, byte for byte
    Column("summary", JSON, nullable=False),
    Index("ix_reports_agent_finished", "agent_id", "finished_at"),
    Index("ix_reports_finished", "finished_at"),
    Index("ix_reports_observed", "observed_at"),
)

targets = Table(
    "targets",
    metadata,
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("target", String(500), nullable=False),
    Column("host_key", String(520), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("os", Text),
    Column("state", String(16), nullable=False),
    Column("error", Text),
    Column("started_at", TZ),
    Column("finished_at", TZ),
    Column("identity", JSON(none_as_null=True)),
    Column("groups", JSON, nullable=False),
    Index("ix_targets_target", "target"),
    Index("ix_targets_host", "host_key"),
)

findings = Table(
    "findings",
    metadata,
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("finding_id", String(200), nullable=False),
    Column("check_id", String(200), nullable=False),
    Column("target", String(500), nullable=False),
    Column("host_key", String(520), nullable=False),
    Column("transport", String(16), nullable=False),  # how the agent observed it: local, root, ssh, winrm, tls, site
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", Text),
    Column("clauses", JSON, nullable=False),
    Column("text", JSON, nullable=False),  # {"title", "detail", "remediation"}: each {"ja", "en"}; one JSON value
    Column("evidence", JSON, nullable=False),
    Column("waiver", JSON(none_as_null=True)),
    # The report's, copied so time filters need no join; the partition key on PostgreSQL (tenken.hub.partitions),
    # hence part of the primary key.
    Column("finished_at", TZ, primary_key=True),
    Index("ix_findings_target_finished", "target", "finished_at"),
    Index("ix_findings_host_finished", "host_key", "finished_at"),
    Index("ix_findings_status", "status"),
    Index("ix_findings_finished", "finished_at"),
    postgresql_partition_by="RANGE (finished_at)",
)

finding_clauses = Table(
    "finding_clauses",
    metadata,
    # (report_id, seq) is the finding's; no foreign key to `findings`, whose unique key on PostgreSQL must include its
    # own partition key (finished_at, not this table's). Deleting a report cascades to both tables.
    Column("report_id", String(200), ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("clause", String(16), primary_key=True),
    Column("target", String(500), nullable=False),
    Column("host_key", String(520), nullable=False),
    Column("status", String(16), nullable=False),
    Column("finished_at", TZ, primary_key=True),  # the report's observed_at (see reports); the partition key on PostgreSQL
    Index("ix_clauses_clause_finished", "clause", "finished_at"),
    Index("ix_clauses_target_clause", "target", "clause", "finished_at"),
    Index("ix_clauses_host_clause", "host_key", "clause", "finished_at"),
    postgresql_partition_by="RANGE (finished_at)",
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
