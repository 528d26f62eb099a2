"""Copy a hub database to another (SQLite -> PostgreSQL): every table, parents first, in chunks, counted.

Why rows through SQLAlchemy and not a dump file: the two databases store the same schema differently
(SQLite keeps timestamps as naive text, JSON as text, integers without sequences); reading with the source's
types and writing with the target's lets SQLAlchemy do each conversion, and the copy runs in one target
transaction, so a failure leaves the target as empty as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Integer, Table, func, inspect, select, text
from tenken.hub.db import as_utc, make_engine
from tenken.hub.migrations import VERSION_TABLE, revision, stamp
from tenken.hub.migrations import lock_upgrades as lock
from tenken.hub.partitions import ensure_for_rows
from tenken.hub.schema import all_metadata, all_tables

CHUNK = 2000


class CopyError(Exception):
    """The copy cannot be made as asked (target not empty, source not at head, counts differ)."""


@dataclass(frozen=True)
class CopyResult:
    counts: dict[str, int]  # rows per table, equal in source and target


def _utc_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, DateTime)]


def table_rows(conn: Connection, table: Table, chunk: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, `chunk` at a time (a server-side cursor where there is one).

    Naive timestamps (SQLite) are made UTC-aware: written naive into PostgreSQL's timestamptz they would be
    read in the server's time zone, which in a Japanese hospital is nine hours off."""
    utc = _utc_columns(table)
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(select(table).order_by(*table.primary_key.columns))
    for part in result.mappings().partitions(chunk):
        rows = [dict(r) for r in part]
        for r in rows:
            for c in utc:
                if isinstance(r[c], datetime):
                    r[c] = as_utc(r[c])
        yield rows


def counts(conn: Connection, tables: list[Table]) -> dict[str, int]:
    return {tb.name: conn.execute(select(func.count()).select_from(tb)).scalar_one() for tb in tables}


def reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: move each serial column's sequence past the copied ids, so the next insert does not collide."""
    if conn.dialect.name != "postgresql":
        return
    for tb in tables:
        for col in tb.primary_key.columns:
            if isinstance(col.type, Integer) and col.autoincrement in (True, "auto") and len(tb.primary_key.columns) == 1:
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({col.name}), 1), MAX({col.name}) IS NOT NULL) FROM {tb.name}"),  # noqa: S608 - names from the metadata, not input
                    {"t": tb.name, "c": col.name},
                )


def check_empty_target(conn: Connection) -> None:
    names = set(inspect(conn).get_table_names())
    ours = [tb for tb in all_tables() if tb.name in names]
    nonempty = {k: v for k, v in counts(conn, ours).items() if v}
    if nonempty:
        listed = ", ".join(f"{k} ({v} rows)" for k, v in sorted(nonempty.items()))
        raise CopyError(f"the target database is not empty: {listed}; give an empty database (it is never merged into)")
    foreign = names - {tb.name for tb in all_tables()} - {VERSION_TABLE}
    if foreign:
        raise CopyError(f"the target database holds tables that are not the hub's ({', '.join(sorted(foreign))}): give an empty database")


def drop_hub_tables(conn: Connection) -> None:
    """Inside the caller's transaction: a failed restore after this rolls the drop back too."""
    all_metadata().drop_all(conn)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")


def copy_database(
    source_url: str, target_url: str, *, progress: Callable[[str, int], None] | None = None, replace: bool = False
) -> CopyResult:
    """Copy every hub table from `source_url` into the empty database at `target_url`, then compare counts.

    `replace` (restore --force only): drop the hub's tables in the target first, in the same transaction."""
    src = make_engine(source_url)
    dst = make_engine(target_url)
    try:
        return _copy(src, dst, progress, replace)
    finally:
        src.dispose()
        dst.dispose()


def _copy(src: Engine, dst: Engine, progress: Callable[[str, int], None] | None, replace: bool) -> CopyResult:
    tables = all_tables()
    # One read transaction: on SQLite (WAL) a consistent snapshot even while a hub keeps writing.
    with src.connect() as s, s.begin():
        rev = revision(s)
        if not (rev.stamped and rev.at_head):
            raise CopyError(f"the source database is at revision {rev.current}, not {rev.head}: run `tenken-hub db upgrade` first")
        want = counts(s, tables)
        with dst.connect() as d, d.execution_options(tenken_write=True).begin() as tx:
            conn = tx.connection
            lock(conn)
            if replace:
                drop_hub_tables(conn)
            check_empty_target(conn)
            all_metadata().create_all(conn)
            stamp(conn, rev.head)
            for tb in tables:
                n = 0
                for rows in table_rows(s, tb):
                    ensure_for_rows(conn, tb.name, rows)
                    conn.execute(tb.insert(), rows)
                    n += len(rows)
                    if progress:
                        progress(tb.name, n)
            reset_sequences(conn, tables)
            got = counts(conn, tables)
            if got != want:
                diff = {k: (want[k], got.get(k)) for k in want if want[k] != got.get(k)}
                raise CopyError(f"row counts differ after the copy (source, target): {diff}; nothing was committed")
    return CopyResult(counts=got)
