"""When each (host, clause) got its current status, and admin-managed waivers (issue 13).

- `host_clause_latest` gets four nullable columns, `since_at`, `since_report_id`, `prev_status`, `prev_since_at`
  (tenken.hub.summaries.Run: what "worsened since a date" reads instead of decoding every host's history),
  and an index on (since_at, status). They are derived data: this migration fills them with the code's own
  `summaries.rebuild`, the aggregation ingest uses, as 0003 does for the tables it made.
- `hub_waivers`: exceptions an admin records on the hub (tenken.hub.web.tables); new, empty.

A hub whose tables were made by `create_all` with this code but never stamped is recognised as 0003 by its
shape (migrations.legacy_revision): the columns and the table are added only where missing, and the rebuild
gives the same rows either way.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RUN_COLUMNS = (
    ("since_at", sa.DateTime(timezone=True)),
    ("since_report_id", sa.String(length=200)),
    ("prev_status", sa.String(length=16)),
    ("prev_since_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    insp = sa.inspect(op.get_bind())
    have = {c["name"] for c in insp.get_columns("host_clause_latest")}
    for name, type_ in RUN_COLUMNS:
        if name not in have:
            op.add_column("host_clause_latest", sa.Column(name, type_, nullable=True))
    if "ix_hcl_since" not in {i["name"] for i in insp.get_indexes("host_clause_latest")}:
        op.create_index("ix_hcl_since", "host_clause_latest", ["since_at", "status"], unique=False)
    if "hub_waivers" not in set(insp.get_table_names()):
        op.create_table(
            "hub_waivers",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("host_key", sa.String(length=520), nullable=True),
            sa.Column("clause", sa.String(length=16), nullable=False),
            sa.Column("check_id", sa.String(length=200), nullable=True),
            sa.Column("subject", sa.String(length=500), nullable=True),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("expires", sa.Date(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_by", sa.String(length=64), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revoked_by", sa.String(length=64), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_hub_waivers_clause", "hub_waivers", ["clause"], unique=False)
        op.create_index("ix_hub_waivers_host", "hub_waivers", ["host_key"], unique=False)
    from tenken.hub import summaries

    summaries.rebuild(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before the upgrade (`tenken-hub restore FILE`)")
