"""Monthly RANGE partitions of the two tables that grow with every finding, on PostgreSQL only.

Why: a hospital group's hub holds ~219M finding rows a year (5,000 hosts x 120 findings x 365 days). Split by
month, the newest rows stay in small, hot partitions, a time filter touches only the months it names, and
retention (tenken.hub.retention) removes a month by dropping its partitions instead of deleting hundreds of
millions of rows one by one (no table bloat, no vacuum debt).

- `findings` is partitioned on its `finished_at` (the report's finished_at), `finding_clauses` on its
  `finished_at` (the report's observed_at): each on the time column its queries already filter on. Because
  observed_at = min(finished_at, received_at) and a report may finish at most the clock-skew tolerance ahead
  of the hub, a report's findings and clause rows may sit in neighbouring months near a month boundary;
  retention handles that by deleting reports (which cascades) after dropping whole months.
- PostgreSQL needs the partition key in every unique key, so both tables' primary keys end with
  `finished_at` (tables.py; the same logical keys on SQLite, which is never partitioned), and
  `finding_clauses` references `reports` rather than `findings`.
- Partitions are made on demand: before a report's rows are written, `ensure_partitions` creates the months
  they fall in (normally one; a process re-checks a month at most once a minute). Creation runs in its own
  short transaction under the hub's schema advisory lock, so two hub processes never race on the same CREATE.
  There is no DEFAULT partition: a row for a month without a partition would be an error, never a silent
  catch-all that later blocks creating the month's partition.

Partition names: `<table>_pYYYYMM` (`findings_p202612`), bounds [first instant of the month UTC, next month).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

#: Partitioned table -> its partition key column.
PARTITIONED: dict[str, str] = {"findings": "finished_at", "finding_clauses": "finished_at"}
PARTITION_NAME = re.compile(r"^(findings|finding_clauses)_p(\d{4})(\d{2})$")

#: (database url, table, year, month) -> when it was last seen to exist (time.monotonic). Re-checked after
#: KNOWN_TTL_S, so a month dropped by retention in another process is noticed (and made again if needed).
_KNOWN: dict[tuple[str, str, int, int], float] = {}
_KNOWN_GUARD = threading.Lock()
KNOWN_TTL_S = 60.0


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's include_name hook: partitions are not tables of the logical schema (they are not in
    tables.py), so the autogenerate compare must not report them as tables to drop."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.match(name))


def month_of(dt: datetime) -> tuple[int, int]:
    u = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return u.year, u.month


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def partition_name(table: str, year: int, month: int) -> str:
    return f"{table}_p{year:04d}{month:02d}"


@dataclass(frozen=True)
class Partition:
    table: str  # the partitioned (parent) table
    name: str
    lower: datetime
    upper: datetime  # exclusive


def create_partition_sql(parent: str, table: str, year: int, month: int) -> str:
    """DDL for one month of `parent` (which may carry a temporary name during a migration)."""
    lo = month_start(year, month)
    hi = month_start(*next_month(year, month))
    return (f'CREATE TABLE IF NOT EXISTS "{partition_name(table, year, month)}" PARTITION OF "{parent}" '
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")


def ensure_partitions(engine: Engine, instants: Iterable[datetime]) -> None:
    """Make sure every partitioned table has the month of each instant (PostgreSQL; nothing on SQLite)."""
    if engine.dialect.name != "postgresql":
        return
    url = str(engine.url)
    months = {month_of(i) for i in instants}
    now = time.monotonic()
    with _KNOWN_GUARD:
        todo = [(tb, y, m) for y, m in sorted(months) for tb in PARTITIONED if now - _KNOWN.get((url, tb, y, m), -KNOWN_TTL_S) >= KNOWN_TTL_S]
    if not todo:
        return
    from tenken.hub.db import write_tx
    from tenken.hub.migrations import lock_upgrades

    with engine.connect() as conn:  # the usual case: they exist (a read, no lock)
        missing = [(tb, y, m) for tb, y, m in todo if not _exists(conn, partition_name(tb, y, m))]
    if missing:
        with write_tx(engine) as conn:
            lock_upgrades(conn)
            for tb, y, m in missing:
                create_month(conn, tb, y, m)
    with _KNOWN_GUARD:
        _KNOWN.update(((url, tb, y, m), now) for tb, y, m in todo)


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None


def create_month(conn: Connection, table: str, year: int, month: int, parent: str | None = None) -> None:
    """CREATE the month's partition unless it exists (caller holds the schema lock)."""
    if not _exists(conn, partition_name(table, year, month)):
        conn.exec_driver_sql(create_partition_sql(parent or table, table, year, month))


def ensure_months(conn: Connection, months: Iterable[tuple[int, int]], parent_names: dict[str, str] | None = None) -> None:
    """Inside the caller's transaction (migrations, copies, restores): every table gets these months."""
    if conn.dialect.name != "postgresql":
        return
    for y, m in sorted(set(months)):
        for tb in PARTITIONED:
            create_month(conn, tb, y, m, (parent_names or {}).get(tb))


def forget_cache() -> None:
    """Drop the per-process memory of existing partitions (after retention dropped some, or in tests)."""
    with _KNOWN_GUARD:
        _KNOWN.clear()


def list_partitions(conn: Connection, table: str) -> list[Partition]:
    """The table's monthly partitions, oldest first (PostgreSQL; [] on SQLite)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = :t"), {"t": table}).scalars()
    out = []
    for name in rows:
        m = PARTITION_NAME.match(name)
        if m is None or m.group(1) != table:
            continue
        y, mo = int(m.group(2)), int(m.group(3))
        out.append(Partition(table, name, month_start(y, mo), month_start(*next_month(y, mo))))
    return sorted(out, key=lambda p: p.lower)


def ensure_for_rows(conn: Connection, table_name: str, rows: Iterable[dict[str, object]]) -> None:
    """Before a bulk copy of dict rows into `table_name` (db migrate-to, restore): create the months they need."""
    if conn.dialect.name != "postgresql" or table_name not in PARTITIONED:
        return
    col = PARTITIONED[table_name]
    months = set()
    for r in rows:
        v = r[col]
        months.add(month_of(v if isinstance(v, datetime) else datetime.fromisoformat(str(v))))
    for y, m in sorted(months):
        for tb in PARTITIONED:
            create_month(conn, tb, y, m)
