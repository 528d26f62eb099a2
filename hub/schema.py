"""Every module that defines hub tables, in one list: what migrations, backups and `db migrate-to` work on.

All hub tables live on the one `tenken.hub.tables.metadata`. Modules added later (the web UI's users and
sessions, report summaries) define their tables on that same metadata; listing them here makes Alembic's
autogenerate compare, the backup and the SQLite -> PostgreSQL copy see them, and the test that compares the
migrated schema with the code fail until a migration creates them.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData, Table

#: Modules whose import defines tables on `tenken.hub.tables.metadata`. Optional ones may be absent on a
#: branch that does not have them yet; `tenken.hub.tables` must always be there.
TABLE_MODULES = ("tenken.hub.tables", "tenken.hub.web.tables", "tenken.hub.summaries")


def all_metadata() -> MetaData:
    """The hub's metadata with every table-defining module imported."""
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name == "tenken.hub.tables" or exc.name is None or not name.startswith(exc.name):
                raise
    from tenken.hub import tables

    return tables.metadata


def all_tables() -> list[Table]:
    """Every table, parents before children (the order to copy or restore rows in)."""
    return list(all_metadata().sorted_tables)
