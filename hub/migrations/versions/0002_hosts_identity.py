"""Host identity and target authorisation (the hub schema of 2026-12-03, commit 8424186).

New: `hosts`, `agent_targets`, `agents.host_id/hostname`, `tokens.cert_serial`, `reports.observed_at`,
`targets.host_key/identity/groups`, `findings.host_key/transport`, `finding_clauses.host_key`, and their
indexes. Existing rows get the values the current ingest would have given them:

- `reports.observed_at` = min(finished_at, received_at) (what "latest" is ordered by);
- `targets.host_key` = `<kind>:<target>` (old reports carry no machine identity), `identity` NULL, `groups` [];
- `findings.host_key` / `transport` = the host key and kind of the report's target of that name; a finding
  about the organisation (`site`) gets `site`/`site`; one about a target its report did not declare (old
  hubs did not check) gets `unknown:<target>` and transport `site`, never another host's key;
- `finding_clauses.host_key` from its finding, `finished_at` = the report's observed_at;
- `hosts` = one row per host key, from its latest observation (first_seen = the earliest);
- `agent_targets`: each agent is granted exactly the remote target names it already reported on (glob
  characters escaped), so that upgrading neither silently widens what it may send nor breaks its next
  upload. Local scans are not granted by name: old agents carry no host identity and must be re-initialised
  (`tenken agent init`) and enrolled again to send local scans (the hub says so when it refuses one).
- `agents.host_id`/`hostname` and `tokens.cert_serial` stay NULL (an unbound token works with any unrevoked
  operator certificate of its owner, as before).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
SITE = "site"  # tenken.checks.catalogue.SITE_TARGET, frozen here: a migration must not change with the code

reports = sa.table(
    "reports", sa.column("id", sa.String), sa.column("agent_id", sa.String), sa.column("received_at", TZ),
    sa.column("finished_at", TZ), sa.column("observed_at", TZ),
)
targets = sa.table(
    "targets", sa.column("report_id", sa.String), sa.column("seq", sa.Integer), sa.column("target", sa.String),
    sa.column("kind", sa.String), sa.column("os", sa.Text), sa.column("state", sa.String), sa.column("host_key", sa.String),
    sa.column("groups", sa.JSON),
)
findings = sa.table(
    "findings", sa.column("report_id", sa.String), sa.column("seq", sa.Integer), sa.column("target", sa.String),
    sa.column("host_key", sa.String), sa.column("transport", sa.String),
)
clauses = sa.table(
    "finding_clauses", sa.column("report_id", sa.String), sa.column("seq", sa.Integer), sa.column("host_key", sa.String),
    sa.column("finished_at", TZ),
)
hosts = sa.table(
    "hosts", sa.column("key", sa.String), sa.column("host_id", sa.String), sa.column("name", sa.String), sa.column("fqdn", sa.String),
    sa.column("kind", sa.String), sa.column("os", sa.Text), sa.column("state", sa.String), sa.column("first_seen", TZ),
    sa.column("last_seen", TZ), sa.column("last_report_id", sa.String), sa.column("last_agent_id", sa.String),
)
agent_targets = sa.table("agent_targets", sa.column("agent_id", sa.String), sa.column("pattern", sa.String), sa.column("granted_at", TZ))


def glob_escape(name: str) -> str:
    """A pattern that fnmatch matches against `name` only: each of * ? [ becomes a one-character set."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def upgrade() -> None:
    op.create_table(
        "agent_targets",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("pattern", sa.String(500), primary_key=True),
        sa.Column("granted_at", TZ, nullable=False),
    )
    op.create_table(
        "hosts",
        sa.Column("key", sa.String(520), primary_key=True),
        sa.Column("host_id", sa.String(100)),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("fqdn", sa.String(253)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("os", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("last_report_id", sa.String(200), nullable=False),
        sa.Column("last_agent_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_hosts_name", "hosts", ["name"])

    # Nullable columns first (SQLite adds these in place); NOT NULL comes after the data is filled in.
    op.add_column("agents", sa.Column("host_id", sa.String(100)))
    op.add_column("agents", sa.Column("hostname", sa.String(253)))
    op.create_index("ix_agents_host", "agents", ["host_id"])
    op.add_column("tokens", sa.Column("cert_serial", sa.String(64)))
    op.add_column("reports", sa.Column("observed_at", TZ))
    op.add_column("targets", sa.Column("host_key", sa.String(520)))
    op.add_column("targets", sa.Column("identity", sa.JSON(none_as_null=True)))
    op.add_column("targets", sa.Column("groups", sa.JSON))
    op.add_column("findings", sa.Column("host_key", sa.String(520)))
    op.add_column("findings", sa.Column("transport", sa.String(16)))
    op.add_column("finding_clauses", sa.Column("host_key", sa.String(520)))

    _fill()

    with op.batch_alter_table("reports") as b:
        b.alter_column("observed_at", existing_type=TZ, nullable=False)
        b.create_index("ix_reports_observed", ["observed_at"])
    with op.batch_alter_table("targets") as b:
        b.alter_column("host_key", existing_type=sa.String(520), nullable=False)
        b.alter_column("groups", existing_type=sa.JSON, nullable=False)
        b.create_index("ix_targets_host", ["host_key"])
    with op.batch_alter_table("findings") as b:
        b.alter_column("host_key", existing_type=sa.String(520), nullable=False)
        b.alter_column("transport", existing_type=sa.String(16), nullable=False)
        b.create_index("ix_findings_host_finished", ["host_key", "finished_at"])
    with op.batch_alter_table("finding_clauses") as b:
        b.alter_column("host_key", existing_type=sa.String(520), nullable=False)
        b.create_index("ix_clauses_host_clause", ["host_key", "clause", "finished_at"])


def _fill() -> None:
    conn = op.get_bind()
    conn.execute(
        reports.update().values(
            observed_at=sa.case((reports.c.finished_at <= reports.c.received_at, reports.c.finished_at), else_=reports.c.received_at)
        )
    )
    prefix = targets.c.kind + ":"
    conn.execute(
        targets.update().values(
            host_key=sa.case((sa.func.substr(targets.c.target, 1, sa.func.length(prefix)) == prefix, targets.c.target), else_=prefix + targets.c.target),
            groups=sa.literal([], sa.JSON),
        )
    )

    def of_target(col: sa.ColumnElement[str]) -> sa.ScalarSelect[str]:
        # ORDER BY/LIMIT: an old hub did not refuse a target listed twice in one report
        return (
            sa.select(col).where(targets.c.report_id == findings.c.report_id, targets.c.target == findings.c.target)
            .order_by(targets.c.seq).limit(1).scalar_subquery()
        )

    conn.execute(
        findings.update().values(
            host_key=sa.func.coalesce(
                of_target(targets.c.host_key), sa.case((findings.c.target == SITE, SITE), else_="unknown:" + findings.c.target)
            ),
            transport=sa.func.coalesce(of_target(targets.c.kind), SITE),
        )
    )
    conn.execute(
        clauses.update().values(
            host_key=sa.select(findings.c.host_key).where(findings.c.report_id == clauses.c.report_id, findings.c.seq == clauses.c.seq).scalar_subquery(),
            finished_at=sa.select(reports.c.observed_at).where(reports.c.id == clauses.c.report_id).scalar_subquery(),
        )
    )

    seen = (
        sa.select(
            targets.c.host_key, targets.c.target, targets.c.kind, targets.c.os, targets.c.state, targets.c.report_id,
            reports.c.agent_id, reports.c.observed_at,
            sa.func.min(reports.c.observed_at).over(partition_by=targets.c.host_key).label("first_seen"),
            sa.func.row_number().over(
                partition_by=targets.c.host_key, order_by=(reports.c.observed_at.desc(), reports.c.received_at.desc(), targets.c.report_id.desc())
            ).label("rn"),
        )
        .select_from(targets.join(reports, reports.c.id == targets.c.report_id))
        .subquery()
    )
    latest = sa.select(
        seen.c.host_key, sa.null(), seen.c.target, sa.null(), seen.c.kind, seen.c.os, seen.c.state, seen.c.first_seen,
        seen.c.observed_at, seen.c.report_id, seen.c.agent_id,
    ).where(seen.c.rn == 1)
    conn.execute(
        hosts.insert().from_select(
            ["key", "host_id", "name", "fqdn", "kind", "os", "state", "first_seen", "last_seen", "last_report_id", "last_agent_id"], latest
        )
    )

    now = datetime.now(UTC)
    pairs = conn.execute(
        sa.select(reports.c.agent_id, targets.c.target).distinct()
        .select_from(targets.join(reports, reports.c.id == targets.c.report_id))
        .where(targets.c.kind != "local")
    ).all()
    grants = {(a, glob_escape(name)) for a, name in pairs}
    rows = [{"agent_id": a, "pattern": p, "granted_at": now} for a, p in sorted(grants) if len(p) <= 500]
    if rows:
        conn.execute(agent_targets.insert(), rows)


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before the upgrade (`tenken-hub restore FILE`)")
