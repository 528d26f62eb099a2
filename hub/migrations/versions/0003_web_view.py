"""The web view's accounts, sessions and audit log, and the summary tables behind its pages (issue 13).

New tables, no change to existing ones: `web_users`, `web_sessions`, `web_audit` (tenken.hub.web.tables) and
`group_sets`, `host_reports`, `host_latest`, `host_clause_latest`, `trend_deltas` (tenken.hub.summaries). The
summaries are derived data: after creating them, this migration fills them from the stored reports with the
code's own `summaries.rebuild` (the one aggregation ingest uses), which is what makes them correct for the
reports stored before the upgrade. Rebuilding with the code of the day is right for a cache and wrong for
anything else: the table definitions below are frozen here, only the derived rows come from the code.

A hub made by the code of 2026-12-03 evening (after the web view, before migrations) already has these
tables: each is created only where it is missing, and the rebuild makes their contents the same either way.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "group_sets" not in existing:
        op.create_table(
            "group_sets",
            sa.Column("gk", sa.String(length=32), nullable=False),
            sa.Column("groups", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("gk"),
        )
    if "host_clause_latest" not in existing:
        op.create_table(
            "host_clause_latest",
            sa.Column("host_key", sa.String(length=520), nullable=False),
            sa.Column("clause", sa.String(length=16), nullable=False),
            sa.Column("section", sa.String(length=8), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("report_id", sa.String(length=200), nullable=False),
            sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("gk", sa.String(length=32), nullable=False),
            sa.Column("os_family", sa.String(length=16), nullable=False),
            sa.Column("check_ids", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("host_key", "clause"),
        )
        op.create_index("ix_hcl_clause", "host_clause_latest", ["clause", "gk", "os_family", "status"], unique=False)
        op.create_index("ix_hcl_section", "host_clause_latest", ["section", "gk", "os_family", "status"], unique=False)
    if "host_latest" not in existing:
        op.create_table(
            "host_latest",
            sa.Column("host_key", sa.String(length=520), nullable=False),
            sa.Column("report_id", sa.String(length=200), nullable=False),
            sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("name", sa.String(length=500), nullable=False),
            sa.Column("os", sa.Text(), nullable=True),
            sa.Column("os_family", sa.String(length=16), nullable=False),
            sa.Column("gk", sa.String(length=32), nullable=False),
            sa.PrimaryKeyConstraint("host_key"),
        )
        op.create_index("ix_host_latest_gk", "host_latest", ["gk", "os_family"], unique=False)
    if "trend_deltas" not in existing:
        op.create_table(
            "trend_deltas",
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("clause", sa.String(length=16), nullable=False),
            sa.Column("gk", sa.String(length=32), nullable=False),
            sa.Column("os_family", sa.String(length=16), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("section", sa.String(length=8), nullable=False),
            sa.Column("delta", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("day", "clause", "gk", "os_family", "status"),
        )
        op.create_index("ix_trend_section", "trend_deltas", ["section", "day"], unique=False)
    if "web_audit" not in existing:
        op.create_table(
            "web_audit",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("user_name", sa.String(length=64), nullable=True),
            sa.Column("action", sa.String(length=32), nullable=False),
            sa.Column("outcome", sa.String(length=16), nullable=False),
            sa.Column("source_ip", sa.String(length=64), nullable=True),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_web_audit_at", "web_audit", ["at"], unique=False)
    if "web_users" not in existing:
        op.create_table(
            "web_users",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("password_hash", sa.Text(), nullable=False),
            sa.Column("totp_secret", sa.String(length=64), nullable=True),
            sa.Column("totp_last_step", sa.Integer(), nullable=True),
            sa.Column("failed_logins", sa.Integer(), nullable=False),
            sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("name"),
        )
    if "web_sessions" not in existing:
        op.create_table(
            "web_sessions",
            sa.Column("id_sha256", sa.String(length=64), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=True),
            sa.Column("csrf", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
            sa.Column("source_ip", sa.String(length=64), nullable=True),
            sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id_sha256"),
        )
        op.create_index("ix_web_sessions_last_seen", "web_sessions", ["last_seen"], unique=False)
    if "host_reports" not in existing:
        op.create_table(
            "host_reports",
            sa.Column("host_key", sa.String(length=520), nullable=False),
            sa.Column("report_id", sa.String(length=200), nullable=False),
            sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("agent_id", sa.String(length=64), nullable=False),
            sa.Column("transport", sa.String(length=16), nullable=False),
            sa.Column("name", sa.String(length=500), nullable=False),
            sa.Column("os", sa.Text(), nullable=True),
            sa.Column("os_family", sa.String(length=16), nullable=False),
            sa.Column("gk", sa.String(length=32), nullable=False),
            sa.Column("counts", sa.JSON(), nullable=False),
            sa.Column("clauses", sa.JSON(), nullable=False),
            sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("host_key", "report_id"),
        )
        op.create_index("ix_host_reports_host_observed", "host_reports", ["host_key", "observed_at"], unique=False)
        op.create_index("ix_host_reports_observed", "host_reports", ["observed_at"], unique=False)
    from tenken.hub import summaries

    summaries.rebuild(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before the upgrade (`tenken-hub restore FILE`)")
