"""The hub's schema versions (Alembic, run programmatically: no alembic.ini to install or to get wrong).

Why Alembic: it is SQLAlchemy's own migration tool, knows both of the hub's databases (including SQLite's
"recreate the table" batch mode for changes SQLite's ALTER TABLE cannot make), records the revision in the
database, and its autogenerate compare lets a test prove that migrated databases equal `tables.py`.

Rules the hub follows:
- a new, empty database is created from the code (`tables.py`) at head and stamped: no migration runs;
- a database at an older revision is never used as it is: every command stops with a message naming
  `tenken-hub db upgrade` (back up first: `tenken-hub backup`), so an upgrade happens when an operator
  decides, not as a side effect of a restart;
- a hub from before migrations has no `alembic_version` table; its revision is recognised by its shape;
- an upgrade is one transaction (PostgreSQL and SQLite both have transactional DDL): it applies completely
  or not at all. On PostgreSQL an advisory lock keeps two hub processes from upgrading at once; on SQLite
  foreign keys are off while tables are recreated (so that dropping a parent cannot cascade into its
  children) and `PRAGMA foreign_key_check` must come back empty before the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, func, inspect, select, text

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
#: pg_advisory_xact_lock key: "tenken" in ASCII, so it cannot collide with another application by chance.
PG_LOCK_KEY = 0x74656E6B656E
UPGRADE_HINT = "back up the hub (`tenken-hub backup --output FILE`), then run `tenken-hub db upgrade`"


class SchemaOutdated(Exception):
    """The database is at an older schema revision than this hub's code (or a newer one)."""


@dataclass(frozen=True)
class Revision:
    current: str | None  # None: no hub tables at all
    head: str
    stamped: bool  # False: a hub from before migrations, recognised by its tables' shape

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _config():  # type: ignore[no-untyped-def]  # alembic.config.Config, imported lazily
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


@lru_cache(maxsize=1)
def _script():  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    heads = _script().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"hub migrations have {len(heads)} heads ({', '.join(heads)}): merge them (`down_revision` of the newest)")
    return heads[0]


def known_revisions() -> set[str]:
    return {s.revision for s in _script().walk_revisions()}


def legacy_revision(conn: Connection) -> str | None:
    """The revision of an unstamped database, by its shape; None when it holds no hub tables.

    Hubs of 2026-11-25 (ab3d7bf) had no `reports.observed_at`; hubs made by the code of 2026-12-03 (host
    identity, before migrations existed) have it and are exactly revision 0002; those made that evening (web
    view and its summaries, still before migrations) also have `web_users` and `host_latest`: revision 0003.
    """
    insp = inspect(conn)
    names = set(insp.get_table_names())
    if "reports" not in names:
        if names & {"agents", "certs", "tokens"}:
            raise SchemaOutdated("the database has some hub tables but no `reports` table: it is not a tenken hub database")
        return None
    cols = {c["name"] for c in insp.get_columns("reports")}
    if "observed_at" not in cols:
        return "0001"
    return "0003" if {"web_users", "host_latest"} <= names else "0002"


def stamped_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    query = text(f"SELECT version_num FROM {VERSION_TABLE}")  # noqa: S608 - a constant
    return conn.execute(query).scalar()


def revision(conn: Connection) -> Revision:
    stamped = stamped_revision(conn)
    if stamped is not None:
        return Revision(current=stamped, head=head(), stamped=True)
    return Revision(current=legacy_revision(conn), head=head(), stamped=False)


def lock_upgrades(conn: Connection) -> None:
    """PostgreSQL: one schema change (create, upgrade, copy, restore) at a time, until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(PG_LOCK_KEY)))


def stamp(conn: Connection, rev: str) -> None:
    from alembic.runtime.migration import MigrationContext

    MigrationContext.configure(conn).stamp(_script(), rev)


def ensure_schema(engine: Engine) -> None:
    """Create a new database at head (stamped), accept one at head, refuse anything else.

    Called by every hub command that opens the database. Two hub processes starting together on an empty
    PostgreSQL database serialise on the advisory lock; the second finds the tables made by the first.
    """
    from tenken.hub.db import write_tx
    from tenken.hub.schema import all_metadata

    with engine.connect() as conn:  # the common case, read-only: already at head
        rev = revision(conn)
    if rev.at_head and rev.stamped:
        return
    with write_tx(engine) as conn:
        lock_upgrades(conn)
        rev = revision(conn)
        if rev.current is None:
            all_metadata().create_all(conn)
            stamp(conn, rev.head)
            return
        if rev.at_head:
            stamp(conn, rev.head)  # made by the code of 2026-12-03, before migrations: same schema
            return
    raise SchemaOutdated(describe_outdated(rev))


def describe_outdated(rev: Revision) -> str:
    where = f"revision {rev.current}" + ("" if rev.stamped else " (recognised by its tables; not stamped)")
    if rev.current not in known_revisions():
        return (f"the hub database is at {where}, which this version of tenken-hub does not know (head {rev.head}): "
                "it was made by a newer tenken-hub; run that version, or restore a backup made for this one")
    return f"the hub database schema is at {where}, this tenken-hub needs {rev.head}: {UPGRADE_HINT}"


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str
    created: bool


def upgrade(url: str, target: str = "head") -> UpgradeResult:
    """Bring the database at `url` to `target` in one transaction (see the module docstring)."""
    from alembic import command
    from tenken.hub.db import make_engine
    from tenken.hub.schema import all_metadata

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Must be set outside a transaction; this connection is discarded afterwards (dispose below).
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            conn = conn.execution_options(tenken_write=True)
            with conn.begin():
                lock_upgrades(conn)
                rev = revision(conn)
                if rev.current is None:
                    all_metadata().create_all(conn)
                    stamp(conn, rev.head)
                    return UpgradeResult(before=None, after=rev.head, created=True)
                if rev.current not in known_revisions():
                    raise SchemaOutdated(describe_outdated(rev))
                if not rev.stamped:
                    stamp(conn, rev.current)
                cfg = _config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, target)
                if sqlite:
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RuntimeError(f"upgrade left {len(bad)} rows whose foreign key has no parent (first: {tuple(bad[0])}); rolled back")
                after = stamped_revision(conn)
                assert after is not None
                return UpgradeResult(before=rev.current, after=after, created=False)
    finally:
        engine.dispose()
