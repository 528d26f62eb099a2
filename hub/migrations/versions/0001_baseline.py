"""Baseline: the hub schema of 2026-11-25 (commit ab3d7bf), the first one deployed. Frozen: never edit.

Hubs of that date have no `alembic_version` table; `tenken.hub.migrations.legacy_revision` recognises them
(no `reports.observed_at`) and stamps them 0001 before upgrading. This script creates the same tables on an
empty database, so that the whole chain can be run from nothing and compared with `tables.py`.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("signing_key", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("cert_serial", sa.String(64), nullable=False),
        sa.Column("enrolled_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )
    op.create_table(
        "certs",
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id")),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("not_after", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.Column("tool_name", sa.Text, nullable=False),
        sa.Column("tool_version", sa.Text, nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_reports_agent_finished", "reports", ["agent_id", "finished_at"])
    op.create_index("ix_reports_finished", "reports", ["finished_at"])
    op.create_table(
        "targets",
        sa.Column("report_id", sa.String(200), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("os", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
    )
    op.create_index("ix_targets_target", "targets", ["target"])
    op.create_table(
        "findings",
        sa.Column("report_id", sa.String(200), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("finding_id", sa.String(200), nullable=False),
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("clauses", sa.JSON, nullable=False),
        sa.Column("text", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("waiver", sa.JSON(none_as_null=True)),
        sa.Column("finished_at", TZ, nullable=False),
    )
    op.create_index("ix_findings_target_finished", "findings", ["target", "finished_at"])
    op.create_index("ix_findings_status", "findings", ["status"])
    op.create_index("ix_findings_finished", "findings", ["finished_at"])
    op.create_table(
        "finding_clauses",
        sa.Column("report_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("clause", sa.String(16), primary_key=True),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["report_id", "seq"], ["findings.report_id", "findings.seq"], ondelete="CASCADE"),
    )
    op.create_index("ix_clauses_clause_finished", "finding_clauses", ["clause", "finished_at"])
    op.create_index("ix_clauses_target_clause", "finding_clauses", ["target", "clause", "finished_at"])
    op.create_table(
        "evidence",
        sa.Column("report_id", sa.String(200), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("evidence_id", sa.Text, nullable=False),
        sa.Column("collector", sa.Text, nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("collected_at", TZ, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    raise NotImplementedError("there is no schema before the baseline")
