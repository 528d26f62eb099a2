"""Database access: engine set-up for SQLite (WAL) and PostgreSQL, and the registry of agents, certificates
and tokens that the CLI and the app share.

SQLite notes: WAL lets the read API run while a report is being written; write transactions start with
BEGIN IMMEDIATE so two writers queue on the busy timeout instead of failing when a read lock cannot be
upgraded. PostgreSQL notes: several hub processes may share one database; every "exactly once" rule is a
unique constraint, and losing a race shows up as an IntegrityError that the caller turns into an answer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select, update
from tenken.hub import tables as t

TOKEN_PREFIX = "thub_"  # noqa: S105 - a prefix, not a secret


class RegistryError(Exception):
    """A registry operation that cannot be done as asked (revoked agent, unknown id)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything the hub stores is UTC, so naive means UTC."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


# JSON columns go through msgspec: compact UTF-8, several times faster than the json module for the
# ~4 values per finding that ingest writes, and NaN/Infinity (which pydantic accepts in a payload but
# PostgreSQL's json type refuses) become null instead of a failed insert.
_encode = msgspec.json.encode
_json_loads = msgspec.json.decode


def _json_dumps(value: Any) -> str:
    return _encode(value).decode()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=8, max_overflow=8, json_serializer=_json_dumps, json_deserializer=_json_loads
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            # Checkpoints are the hub's (write_tx, _Checkpointer), not SQLite's automatic one inside commits.
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_BYTES * 2}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("tenken_write") else "BEGIN")

        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=_json_loads)


def init_schema(engine: Engine) -> None:
    """Create a new database at the head schema revision, or check that an existing one is there.

    Raises tenken.hub.migrations.SchemaOutdated (naming `tenken-hub db upgrade`) for an older database: the
    hub never runs on a schema its code was not written for, and never upgrades one behind the operator's back.
    """
    from tenken.hub.migrations import ensure_schema

    ensure_schema(engine)


def open_db(url: str) -> Engine:
    engine = make_engine(url)
    try:
        init_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


# SQLite has one writer at a time. Threads of this process queue on a lock (first come, first served)
# rather than on SQLite's busy handler, which polls with growing sleeps and let some uploads wait seconds.
# Other processes sharing the file still meet the busy timeout.
_SQLITE_WRITERS: dict[str, threading.Lock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    if not is_sqlite(engine):
        return None
    key = str(engine.url)
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(key, threading.Lock())


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite): committed on success, rolled back on any error."""
    lock = _writer_lock(engine)
    with lock if lock is not None else nullcontext(), engine.connect() as conn:
        conn = conn.execution_options(tenken_write=True)
        with conn.begin():
            yield conn
        if lock is not None:
            _checkpointer(engine).backstop(conn)  # still holding the writer lock
    if lock is not None:
        _checkpointer(engine).poke()


#: SQLite: WAL size at which the background checkpointer copies it back into the database.
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024
#: SQLite: WAL size at which the committing writer checkpoints itself, with the writer lock held (see backstop).
WAL_BACKSTOP_BYTES = 64 * 1024 * 1024


class _Checkpointer:
    """One thread per SQLite database file that checkpoints the WAL (PASSIVE) while uploads go on.

    SQLite's automatic checkpoint (turned off in make_engine) ran inside the commit that crossed 1,000 pages,
    with this process's writer lock held: on the ingest bench that was ~30 %
    of the hub's time, every other upload waiting behind a page copy and an fsync. A PASSIVE checkpoint blocks
    neither writers nor readers, and sqlite3 releases the GIL while it copies and syncs, so on a second core it
    overlaps the next uploads' verification and row building. Nothing about durability changes: commits are
    in the WAL exactly as before (synchronous=NORMAL), and the checkpoint syncs the database as before.
    The thread exits after a minute without writes and is started again by the next commit; a process that
    writes rarely (the CLI) seldom reaches the threshold, and SQLite checkpoints when its last connection closes.

    The WAL restarts from its beginning only after a checkpoint that copied every frame; under sustained
    writing the background pass never catches up (a 10M-row load grew the WAL to 29 GB). So once the WAL
    passes WAL_BACKSTOP_BYTES, the committing writer checkpoints itself before releasing the writer lock:
    nothing of this process can append meanwhile, the pass completes, and the next transaction restarts it.
    """

    IDLE_EXIT_S = 60.0

    def __init__(self, engine: Engine, wal_path: str) -> None:
        self.engine = engine
        self.wal_path = wal_path
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.guard = threading.Lock()
        self.running = threading.Lock()  # one checkpoint at a time: background pass or backstop

    def _wal_size(self) -> int:
        try:
            return os.stat(self.wal_path).st_size
        except OSError:
            return 0

    def backstop(self, conn: Connection) -> None:
        if self._wal_size() < WAL_BACKSTOP_BYTES:
            return
        with self.running:
            _checkpoint(conn)

    def poke(self) -> None:
        if self._wal_size() < WAL_CHECKPOINT_BYTES:
            return
        self.wake.set()
        with self.guard:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="tenken-sqlite-checkpoint", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while self.wake.wait(self.IDLE_EXIT_S):
            self.wake.clear()
            try:
                with self.running, self.engine.connect() as conn:
                    _checkpoint(conn)
            except Exception:
                logging.getLogger(__name__).warning("SQLite WAL checkpoint failed; will retry", exc_info=True)
        with self.guard:
            self.thread = None


_CHECKPOINTERS: dict[str, _Checkpointer] = {}


def _checkpoint(conn: Connection) -> None:
    """PASSIVE checkpoint on the driver connection itself: through SQLAlchemy it would run inside the BEGIN the
    engine emits for every statement, where SQLite refuses it ("database table is locked")."""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _checkpointer(engine: Engine) -> _Checkpointer:
    path = engine.url.database or ":memory:"
    with _SQLITE_WRITERS_GUARD:
        cp = _CHECKPOINTERS.get(str(engine.url))
        if cp is None or (cp.engine is not engine and cp.thread is None):
            cp = _CHECKPOINTERS[str(engine.url)] = _Checkpointer(engine, path + "-wal")
    return cp


# --- bulk insert -------------------------------------------------------------------------------------

_INSERT_CACHE: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[int, ...], list[Any]]] = {}


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """executemany of dict rows (all with the same keys); see `bulk_insert_tuples`."""
    if not rows:
        return
    cols = tuple(rows[0])
    getter = itemgetter(*cols)
    bulk_insert_tuples(conn, table, cols, [getter(r) if len(cols) > 1 else (getter(r),) for r in rows])


def bulk_insert_tuples(conn: Connection, table: Table, cols: tuple[str, ...], rows: list[tuple[Any, ...]], *, encoded: frozenset[str] = frozenset()) -> None:
    """executemany straight to the driver, with each column's bind processor applied in one tight loop.

    Same SQL and the same value conversion SQLAlchemy would use (the statement is compiled by it, the
    processors are its own), minus its per-row parameter bookkeeping, which dominated ingest time for
    reports with hundreds of findings. `rows` are tuples in the order of `cols`. Columns named in `encoded`
    already hold what their processor would return (JSON text made by `json_text`, SQLite only): not processed again.
    """
    if not rows:
        return
    key = (conn.dialect.name, table.name, cols)
    cached = _INSERT_CACHE.get(key)
    if cached is None:
        compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(cols))
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else cols
        procs = [table.c[c].type._cached_bind_processor(conn.dialect) for c in order]
        cached = (str(compiled), tuple(cols.index(c) for c in order), procs)
        _INSERT_CACHE[key] = cached
    sql, perm, procs = cached
    names = [cols[j] for j in perm]
    todo = [(i, p) for i, p in enumerate(procs) if p is not None and names[i] not in encoded]
    identity = perm == tuple(range(len(cols)))
    last: dict[int, tuple[Any, Any]] = {}
    params: list[Any] = []
    for r in rows:
        vals = list(r) if identity else [r[j] for j in perm]
        for i, proc in todo:
            v = vals[i]
            prev = last.get(i)
            if prev is not None and prev[0] is v:  # e.g. the report's finished_at, shared by every row
                vals[i] = prev[1]
            else:
                vals[i] = out = proc(v)
                last[i] = (v, out)
        params.append(tuple(vals) if conn.dialect.positional else dict(zip(names, vals, strict=True)))
    conn.exec_driver_sql(sql, params)


def json_text(value: Any) -> str:
    """A JSON column's value as the SQLite driver receives it (the same encoder as the engine's json_serializer)."""
    return _json_dumps(value)


_UPSERT_HOSTS: dict[str, Any] = {}


def _upsert_hosts_stmt(dialect: str) -> Any:
    """Built once per dialect (statement construction and its cache key cost more than the upsert itself)."""
    stmt = _UPSERT_HOSTS.get(dialect)
    if stmt is None:
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        h = t.hosts
        ins = insert(h)
        ex = ins.excluded
        stmt = _UPSERT_HOSTS[dialect] = ins.on_conflict_do_update(
            index_elements=[h.c.key],
            set_={
                "name": ex.name, "fqdn": func.coalesce(ex.fqdn, h.c.fqdn), "host_id": func.coalesce(ex.host_id, h.c.host_id),
                "kind": ex.kind, "os": func.coalesce(ex.os, h.c.os), "state": ex.state, "last_seen": ex.last_seen,
                "last_report_id": ex.last_report_id, "last_agent_id": ex.last_agent_id,
            },
            where=h.c.last_seen <= ex.last_seen,
        )
    return stmt


def upsert_hosts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert or refresh host rows; an observation older than the row's latest never overwrites it."""
    stmt = _upsert_hosts_stmt(conn.dialect.name)
    for row in rows:  # one at a time: a report naming one host twice must see its own first upsert
        conn.execute(stmt, row)


# --- agents and certificates -------------------------------------------------------------------------


@dataclass(frozen=True)
class CertRecord:
    serial: str
    kind: str
    subject: str
    agent_id: str | None
    revoked: bool


def enroll_agent(
    engine: Engine, *, agent_id: str, signing_key_pem: str, key_id: str, serial: str, not_after: datetime,
    host_id: str | None = None, hostname: str | None = None, targets: list[str] | None = None,
) -> None:
    """Register (or re-certify) an agent, bound to the host it runs on and granted `targets` for remote scans.

    A revoked agent stays revoked: it must make a new key.
    """
    now = utcnow()
    with write_tx(engine) as conn:
        row = conn.execute(select(t.agents.c.revoked_at, t.agents.c.signing_key).where(t.agents.c.id == agent_id)).first()
        if row is not None and row.revoked_at is not None:
            raise RegistryError(f"agent {agent_id} was revoked; it must create a new key (`tenken agent init`) to enroll again")
        if row is None:
            conn.execute(
                t.agents.insert().values(
                    id=agent_id, signing_key=signing_key_pem, key_id=key_id, cert_serial=serial, enrolled_at=now, host_id=host_id, hostname=hostname
                )
            )
        else:
            conn.execute(update(t.agents).where(t.agents.c.id == agent_id).values(cert_serial=serial))
        conn.execute(
            t.certs.insert().values(serial=serial, kind="agent", subject=agent_id, agent_id=agent_id, issued_at=now, not_after=not_after)
        )
        _grant(conn, agent_id, targets or [], now)


def _grant(conn: Connection, agent_id: str, patterns: list[str], now: datetime) -> int:
    have = set(conn.execute(select(t.agent_targets.c.pattern).where(t.agent_targets.c.agent_id == agent_id)).scalars())
    new = [p for p in dict.fromkeys(patterns) if p not in have]
    if new:
        conn.execute(t.agent_targets.insert(), [{"agent_id": agent_id, "pattern": p, "granted_at": now} for p in new])
    return len(new)


def authorize_agent(engine: Engine, agent_id: str, patterns: list[str], *, remove: bool = False) -> list[str]:
    """Grant (or withdraw) remote targets; returns the agent's patterns afterwards."""
    with write_tx(engine) as conn:
        row = conn.execute(select(t.agents.c.revoked_at).where(t.agents.c.id == agent_id)).first()
        if row is None:
            raise RegistryError(f"no agent {agent_id} is enrolled")
        if row.revoked_at is not None and not remove:
            raise RegistryError(f"agent {agent_id} is revoked")
        if remove:
            conn.execute(t.agent_targets.delete().where(t.agent_targets.c.agent_id == agent_id, t.agent_targets.c.pattern.in_(patterns)))
        else:
            _grant(conn, agent_id, patterns, utcnow())
        return sorted(conn.execute(select(t.agent_targets.c.pattern).where(t.agent_targets.c.agent_id == agent_id)).scalars())


def revoke_agent(engine: Engine, agent_id: str) -> None:
    with write_tx(engine) as conn:
        revoke_agent_in(conn, agent_id, utcnow())


def revoke_agent_in(conn: Connection, agent_id: str, now: datetime) -> None:
    """Revoke inside the caller's write transaction (the web view writes its audit row in the same one)."""
    res = conn.execute(update(t.agents).where(t.agents.c.id == agent_id, t.agents.c.revoked_at.is_(None)).values(revoked_at=now))
    if res.rowcount == 0:
        exists = conn.execute(select(t.agents.c.id).where(t.agents.c.id == agent_id)).first()
        if exists is None:
            raise RegistryError(f"no agent {agent_id} is enrolled")
    conn.execute(update(t.certs).where(t.certs.c.agent_id == agent_id, t.certs.c.revoked_at.is_(None)).values(revoked_at=now))


def list_agents(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.agents).order_by(t.agents.c.enrolled_at)).mappings().all()
        last = dict(conn.execute(select(t.reports.c.agent_id, func.max(t.reports.c.received_at)).group_by(t.reports.c.agent_id)).all()) if rows else {}
        grants: dict[str, list[str]] = {}
        for aid, pat in conn.execute(select(t.agent_targets.c.agent_id, t.agent_targets.c.pattern).order_by(t.agent_targets.c.pattern)):
            grants.setdefault(aid, []).append(pat)
    out = []
    for r in rows:
        out.append({
            "agent_id": r["id"],
            "key_id": r["key_id"],
            "cert_serial": r["cert_serial"],
            "enrolled_at": as_utc(r["enrolled_at"]),
            "revoked_at": as_utc(r["revoked_at"]),
            "last_report_at": as_utc(last.get(r["id"])),
            "host_id": r["host_id"],
            "hostname": r["hostname"],
            "targets": grants.get(r["id"], []),
            "signing_key": r["signing_key"],
        })
    return out


def register_user_cert(engine: Engine, *, name: str, serial: str, not_after: datetime) -> None:
    with write_tx(engine) as conn:
        conn.execute(t.certs.insert().values(serial=serial, kind="user", subject=name, issued_at=utcnow(), not_after=not_after))


def cert_record(conn: Connection, serial: str) -> CertRecord | None:
    row = conn.execute(
        select(t.certs.c.serial, t.certs.c.kind, t.certs.c.subject, t.certs.c.agent_id, t.certs.c.revoked_at).where(t.certs.c.serial == serial)
    ).first()
    if row is None:
        return None
    return CertRecord(serial=row.serial, kind=row.kind, subject=row.subject, agent_id=row.agent_id, revoked=row.revoked_at is not None)


# --- tokens -------------------------------------------------------------------------------------------


def _digest(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, name: str, cert_serial: str | None = None) -> str:
    """A new token for `name`, bound to the operator certificate `cert_serial` when given (else to any
    unrevoked operator certificate issued to `name`)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_tx(engine) as conn:
        conn.execute(t.tokens.insert().values(name=name, token_sha256=_digest(token), created_at=utcnow(), cert_serial=cert_serial))
    return token


@dataclass(frozen=True)
class TokenOwner:
    name: str
    cert_serial: str | None

    def allows(self, cert: CertRecord) -> bool:
        """A token works only with the operator certificate it was issued for (or, unbound, its owner's)."""
        if cert.kind != "user" or cert.subject != self.name:
            return False
        return self.cert_serial is None or self.cert_serial == cert.serial


def check_token(conn: Connection, token: str) -> TokenOwner | None:
    """The token's owner, or None. Looked up by its digest (an index hit; the digest of a 256-bit random
    token reveals nothing to a timing observer), then compared in constant time."""
    want = _digest(token)
    row = conn.execute(
        select(t.tokens.c.name, t.tokens.c.token_sha256, t.tokens.c.cert_serial).where(t.tokens.c.token_sha256 == want, t.tokens.c.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(want, row.token_sha256):
        return None
    return TokenOwner(row.name, row.cert_serial)


def revoke_user(engine: Engine, name: str) -> tuple[int, int]:
    """Revoke every token and operator certificate of `name`. Returns (tokens, certs) revoked."""
    now = utcnow()
    with write_tx(engine) as conn:
        a = conn.execute(update(t.tokens).where(t.tokens.c.name == name, t.tokens.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount
        b = conn.execute(
            update(t.certs).where(t.certs.c.kind == "user", t.certs.c.subject == name, t.certs.c.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount
    return a, b


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.tokens.c.id, t.tokens.c.name, t.tokens.c.created_at, t.tokens.c.revoked_at).order_by(t.tokens.c.id)).mappings().all()
    return [{"id": r["id"], "name": r["name"], "created_at": as_utc(r["created_at"]), "revoked_at": as_utc(r["revoked_at"])} for r in rows]


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per stored-report table: what tests compare before and after a rejected upload."""
    with engine.connect() as conn:
        return {tbl.name: conn.execute(select(func.count()).select_from(tbl)).scalar_one() for tbl in t.STORED_TABLES}
