"""Findings by month: `findings` and `finding_clauses` become RANGE-partitioned on PostgreSQL (tenken.hub.partitions).

PostgreSQL needs the partition key in every unique key, so both primary keys gain `finished_at`, and
`finding_clauses` now references `reports` (ON DELETE CASCADE) instead of `findings`, whose unique key can no
longer be (report_id, seq) alone. The same logical change is made on SQLite (never partitioned), so both
databases keep one schema: tables.py.

PostgreSQL: new partitioned tables are created under temporary names with one partition per month present in
the data, every row is moved with INSERT ... SELECT, the old tables are dropped and the new ones renamed, then
the indexes are created on the parents (PostgreSQL builds them on every partition). All in the upgrade's one
transaction: a failure leaves the hub as it was. SQLite: the two tables are recreated with the new keys and
their rows copied (foreign keys are off during an upgrade and checked before the commit).

Also an index on host_reports(report_id): deleting a report (retention, tenken.hub.retention) cascades to its
per-host summary rows, which must not mean a scan of host_reports per report.

Independent of revision 0004 (host_clause_latest columns, waivers), which touches neither table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
FINDING_COLS = ("report_id", "seq", "finding_id", "check_id", "target", "host_key", "transport", "status", "severity", "kind", "subject",
                "clauses", "text", "evidence", "waiver", "finished_at")
CLAUSE_COLS = ("report_id", "seq", "clause", "target", "host_key", "status", "finished_at")


def _tables(md: sa.MetaData, suffix: str, pg: bool) -> tuple[sa.Table, sa.Table]:
    """The two tables as of this revision (frozen here: later changes to tables.py do not alter this migration)."""
    part = {"postgresql_partition_by": "RANGE (finished_at)"} if pg else {}
    findings = sa.Table(
        "findings" + suffix, md,
        sa.Column("report_id", sa.String(200), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.String(200), nullable=False),
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("host_key", sa.String(520), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text()),
        sa.Column("clauses", sa.JSON(), nullable=False),
        sa.Column("text", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("waiver", sa.JSON(none_as_null=True)),
        sa.Column("finished_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("report_id", "seq", "finished_at", name="findings__new_pkey"),
        **part,
    )
    clauses = sa.Table(
        "finding_clauses" + suffix, md,
        sa.Column("report_id", sa.String(200), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("clause", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("host_key", sa.String(520), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("report_id", "seq", "clause", "finished_at", name="finding_clauses__new_pkey"),
        **part,
    )
    return findings, clauses


INDEXES = (
    ("ix_findings_target_finished", "findings", ["target", "finished_at"]),
    ("ix_findings_host_finished", "findings", ["host_key", "finished_at"]),
    ("ix_findings_status", "findings", ["status"]),
    ("ix_findings_finished", "findings", ["finished_at"]),
    ("ix_clauses_clause_finished", "finding_clauses", ["clause", "finished_at"]),
    ("ix_clauses_target_clause", "finding_clauses", ["target", "clause", "finished_at"]),
    ("ix_clauses_host_clause", "finding_clauses", ["host_key", "clause", "finished_at"]),
)


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    md = sa.MetaData()
    sa.Table("reports", md, sa.Column("id", sa.String(200), primary_key=True))  # the FK target, for create()
    new_f, new_c = _tables(md, "__new", pg)
    new_f.create(conn)
    new_c.create(conn)
    if pg:
        from tenken.hub import partitions

        months = conn.exec_driver_sql(
            "SELECT DISTINCT EXTRACT(YEAR FROM m)::int, EXTRACT(MONTH FROM m)::int FROM ("
            " SELECT date_trunc('month', finished_at AT TIME ZONE 'UTC') AS m FROM findings"
            " UNION SELECT date_trunc('month', finished_at AT TIME ZONE 'UTC') FROM finding_clauses) AS months").all()
        partitions.ensure_months(conn, [(int(y), int(m)) for y, m in months], {"findings": new_f.name, "finding_clauses": new_c.name})
    fcols = ", ".join(f'"{c}"' for c in FINDING_COLS)
    ccols = ", ".join(f'"{c}"' for c in CLAUSE_COLS)
    conn.exec_driver_sql(f"INSERT INTO {new_f.name} ({fcols}) SELECT {fcols} FROM findings")  # noqa: S608 - constants
    conn.exec_driver_sql(f"INSERT INTO {new_c.name} ({ccols}) SELECT {ccols} FROM finding_clauses")  # noqa: S608 - constants
    op.drop_table("finding_clauses")
    op.drop_table("findings")
    op.rename_table(new_f.name, "findings")
    op.rename_table(new_c.name, "finding_clauses")
    if pg:  # the names a fresh database gets from tables.py
        for table in ("findings", "finding_clauses"):
            conn.exec_driver_sql(f'ALTER TABLE {table} RENAME CONSTRAINT "{table}__new_pkey" TO "{table}_pkey"')
            conn.exec_driver_sql(f'ALTER TABLE {table} RENAME CONSTRAINT "{table}__new_report_id_fkey" TO "{table}_report_id_fkey"')
    for name, table, cols in INDEXES:
        op.create_index(name, table, cols, unique=False)
    if "ix_host_reports_report" not in {ix["name"] for ix in sa.inspect(conn).get_indexes("host_reports")}:  # made by create_all of today's code
        op.create_index("ix_host_reports_report", "host_reports", ["report_id"], unique=False)
    if pg:
        conn.exec_driver_sql("ANALYZE findings")
        conn.exec_driver_sql("ANALYZE finding_clauses")


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before the upgrade (`tenken-hub restore FILE`)")
