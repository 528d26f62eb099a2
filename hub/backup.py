"""`tenken-hub backup` and `restore`: one file holding the database and the data directory, verified on restore.

The file is a gzip'd tar whose first member, MANIFEST.json, lists every other member with its SHA-256, size
and whether it is a secret, the database's schema revision and its row counts. Restore reads and checks the
whole file into a staging directory first (hashes, member names, SQLite integrity check, row counts) and
only then moves anything into place: a truncated or damaged backup is refused and nothing is overwritten.

The database part:
- SQLite: a page copy through SQLite's online backup API (a consistent snapshot while the hub runs);
- PostgreSQL: a logical dump, one JSON line per row, read in one REPEATABLE READ transaction (consistent
  while the hub runs). Chosen over pg_dump because pg_dump must be installed on the hub host in a version
  at least the server's, its output can only be restored into PostgreSQL, and a dump of the hub's own
  tables restores into either database with the same code path as `db migrate-to`.

Secrets: by default the backup holds the CA private key (without it no agent can be enrolled or renewed and
every agent would need a new certificate), the hub's TLS key, operator client keys and first-run token
files, and hub.json (whose database URL may hold a password). The manifest and the command's output say
so; the file is written mode 0600. `--no-secrets` leaves all of these out (and the URL's password).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Date, DateTime, LargeBinary, Table, make_url
from tenken.hub.db import as_utc, make_engine
from tenken.hub.dbcopy import (
    CopyError,
    check_empty_target,
    copy_database,
    counts,
    drop_hub_tables,
    reset_sequences,
    table_rows,
)
from tenken.hub.migrations import lock_upgrades, revision, stamp
from tenken.hub.partitions import ensure_for_rows
from tenken.hub.schema import all_metadata, all_tables
from tenken.hub.settings import CONFIG_FILE, HubSettings

from tenken import __version__

FORMAT = "tenken-hub-backup/1"
MANIFEST = "MANIFEST.json"
SQLITE_MEMBER = "db/hub.db"
DB_FILES = {"hub.db", "hub.db-wal", "hub.db-shm", "hub.db-journal"}
SECRET_DIRS = ("private", "clients")
REDACTED = "REDACTED"  # the marker put in place of a password by --no-secrets


class BackupError(Exception):
    """A backup that cannot be made, or a backup file that cannot be restored (the message says why)."""


@dataclass
class Member:
    path: str
    sha256: str
    size: int
    mode: int
    secret: bool


@dataclass
class BackupInfo:
    path: Path
    revision: str
    dialect: str
    counts: dict[str, int]
    secrets: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_secret(rel: PurePosixPath) -> bool:
    return rel.parts[0] in SECRET_DIRS or rel.name.endswith(".key") or rel.name == "token"


def _redact_url(url: str | None) -> str | None:
    if not url:
        return url
    u = make_url(url)
    return u.set(password=REDACTED).render_as_string(hide_password=False) if u.password else url


# --- rows as JSON lines (PostgreSQL) ---------------------------------------------------------------


def _encode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for c in table.columns:
        v = row[c.name]
        if v is not None and isinstance(c.type, LargeBinary):
            v = base64.b64encode(bytes(v)).decode()
        elif v is not None and isinstance(c.type, DateTime):
            v = as_utc(v).isoformat()  # type: ignore[union-attr]
        elif v is not None and isinstance(c.type, Date):
            v = v.isoformat()
        out[c.name] = v
    return out


def _decode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for c in table.columns:
        if c.name not in row:
            raise BackupError(f"{table.name}: a row lacks column {c.name!r}")
        v = row[c.name]
        if v is not None and isinstance(c.type, LargeBinary):
            v = base64.b64decode(v, validate=True)
        elif v is not None and isinstance(c.type, DateTime):
            v = datetime.fromisoformat(v)
        elif v is not None and isinstance(c.type, Date):
            v = date.fromisoformat(v)
        out[c.name] = v
    return out


def _dump_rows(url: str, out_dir: Path) -> tuple[str, dict[str, int], list[Path]]:
    engine = make_engine(url)
    files = []
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                rev = revision(conn)
                tables = all_tables()
                n = counts(conn, tables)
                for tb in tables:
                    path = out_dir / f"{tb.name}.jsonl.gz"
                    with gzip.open(path, "wt", encoding="utf-8") as fh:
                        for rows in table_rows(conn, tb):
                            for r in rows:
                                fh.write(json.dumps(_encode_row(tb, r), ensure_ascii=False, separators=(",", ":")))
                                fh.write("\n")
                    files.append(path)
    finally:
        engine.dispose()
    assert rev.current is not None
    return rev.current, n, files


def _sqlite_copy(url: str, dest: Path) -> tuple[str, dict[str, int]]:
    src_path = make_url(url).database
    if not src_path or not Path(src_path).is_file():
        raise BackupError(f"the hub's SQLite database {src_path} does not exist")
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)  # one step: a consistent snapshot, even while the hub writes
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        src.close()
        dst.close()
    os.chmod(dest, 0o600)
    return _check_sqlite(dest)


def _check_sqlite(path: Path) -> tuple[str, dict[str, int]]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database in the backup is damaged: {exc}") from exc
    if ok != [("ok",)]:
        raise BackupError(f"the database in the backup fails SQLite's integrity check: {ok[:3]}")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            rev = revision(conn)
            n = counts(conn, all_tables())
    finally:
        engine.dispose()
    if rev.current is None:
        raise BackupError("the database in the backup holds no hub tables")
    return rev.current, n


# --- backup -------------------------------------------------------------------------------------------


def make_backup(settings: HubSettings, output: Path, *, secrets: bool = True) -> BackupInfo:
    """Write the backup of the hub in `settings` to `output` (mode 0600; refuses to overwrite a file)."""
    output = output.resolve()
    if output.exists():
        raise BackupError(f"{output} exists: choose a new file name (a backup never overwrites one)")
    if output.is_relative_to(settings.data_dir.resolve()):
        raise BackupError(f"{output} is inside the data directory {settings.data_dir}: write the backup elsewhere")
    url = settings.database_url
    dialect = make_url(url).get_backend_name()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tenken-backup-", dir=output.parent) as tmp:
        stage = Path(tmp)
        os.chmod(stage, 0o700)
        entries: list[tuple[str, Path, bool]] = []  # (member name, file, secret)
        if dialect == "sqlite":
            db = stage / "hub.db"
            rev, n = _sqlite_copy(url, db)
            entries.append((SQLITE_MEMBER, db, False))
        elif dialect == "postgresql":
            rev, n, files = _dump_rows(url, stage)
            entries += [(f"db/rows/{f.name}", f, False) for f in files]
        else:
            raise BackupError(f"cannot back up a {dialect} database")
        data = settings.data_dir.resolve()
        for path in sorted(data.rglob("*")):
            rel = PurePosixPath(path.relative_to(data).as_posix())
            if not path.is_file() or path.is_symlink() or (len(rel.parts) == 1 and rel.name in DB_FILES):
                continue
            if len(rel.parts) == 1 and rel.name.endswith(".log"):
                continue
            secret = _is_secret(rel)
            if rel.as_posix() == CONFIG_FILE:
                cfg = json.loads(path.read_text(encoding="utf-8"))
                secret = make_url(cfg["db_url"]).password is not None if cfg.get("db_url") else False
                if secret and not secrets:
                    cfg["db_url"] = _redact_url(cfg["db_url"])
                    red = stage / CONFIG_FILE
                    red.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
                    entries.append((f"data/{rel}", red, False))
                    continue
            if secret and not secrets:
                continue
            entries.append((f"data/{rel}", path, secret))
        members = [Member(name, _sha256(p), p.stat().st_size, p.stat().st_mode & 0o777, secret) for name, p, secret in entries]
        secret_names = [m.path for m in members if m.secret]
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "tenken_version": __version__,
            "schema_revision": rev,
            "database": {"dialect": dialect, "counts": n},
            "contains_secrets": secret_names,
            "note": (
                "This backup contains secrets (the CA private key, the hub's TLS key, operator keys and tokens, a database "
                "password): keep it as securely as the hub's private/ directory." if secret_names else
                "Made with --no-secrets: the CA and TLS private keys, operator keys and tokens are NOT in it; keep a copy "
                "of the data directory's private/ and clients/ directories elsewhere."
            ),
            "members": [m.__dict__ for m in members],
        }
        part = output.with_name(f".{output.name}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                blob = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(blob), 0o600, int(datetime.now(UTC).timestamp())
                tar.addfile(info, io.BytesIO(blob))
                for (name, path, _), m in zip(entries, members, strict=True):
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = m.size, m.mode, int(path.stat().st_mtime)
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(part, output)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return BackupInfo(path=output, revision=rev, dialect=dialect, counts=n, secrets=secret_names)


# --- restore ------------------------------------------------------------------------------------------


@dataclass
class Staged:
    root: Path
    manifest: dict[str, Any]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sqlite(self) -> Path | None:
        p = self.root / SQLITE_MEMBER
        return p if p.exists() else None


def read_backup(path: Path, stage: Path) -> Staged:
    """Unpack and verify the whole backup into `stage`. BackupError names what is wrong."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BackupError(f"{path}: not a tenken-hub backup (its first member is not {MANIFEST})")
            fh = tar.extractfile(first)
            assert fh is not None
            try:
                manifest = json.loads(fh.read())
            except ValueError as exc:
                raise BackupError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from exc
            if manifest.get("format") != FORMAT:
                raise BackupError(f"{path}: backup format {manifest.get('format')!r} is not {FORMAT!r}")
            want = {m["path"]: m for m in manifest["members"]}
            seen = set()
            while (info := tar.next()) is not None:
                name = info.name
                p = PurePosixPath(name)
                if name not in want or not info.isfile() or p.is_absolute() or ".." in p.parts:
                    raise BackupError(f"{path}: unexpected member {name!r} (not listed in the manifest)")
                src = tar.extractfile(info)
                assert src is not None
                dest = stage / p
                dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                h = hashlib.sha256()
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    for block in iter(lambda src=src: src.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
                if h.hexdigest() != want[name]["sha256"]:
                    raise BackupError(f"{path}: member {name} is damaged (SHA-256 differs from the manifest)")
                os.chmod(dest, int(want[name]["mode"]) & 0o700 or 0o600)
                seen.add(name)
    except (tarfile.TarError, EOFError, OSError, zlib_error()) as exc:
        raise BackupError(f"{path}: the backup file is truncated or damaged ({exc.__class__.__name__}: {exc})") from exc
    missing = sorted(set(want) - seen)
    if missing:
        raise BackupError(f"{path}: the backup is incomplete: {len(missing)} member(s) missing, first {missing[0]}")
    staged = Staged(root=stage, manifest=manifest)
    db = manifest["database"]
    if staged.sqlite is not None:
        rev, n = _check_sqlite(staged.sqlite)
        if rev != manifest["schema_revision"] or n != db["counts"]:
            raise BackupError(f"{path}: the database does not match its manifest (revision {rev}, counts {n})")
    return staged


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


def _rows_from(staged: Staged, table: Table) -> Iterator[list[dict[str, Any]]]:
    f = staged.root / "db" / "rows" / f"{table.name}.jsonl.gz"
    if not f.exists():
        return
    batch: list[dict[str, Any]] = []
    with gzip.open(f, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                batch.append(_decode_row(table, json.loads(line)))
            except (ValueError, BackupError) as exc:
                raise BackupError(f"{f.name} line {lineno}: {exc}") from exc
            if len(batch) >= 2000:
                yield batch
                batch = []
    if batch:
        yield batch


def load_rows(staged: Staged, url: str, *, replace: bool = False) -> dict[str, int]:
    """Load a logical dump into the empty database at `url` in one transaction; counts must match the manifest."""
    from tenken.hub.migrations import head

    if staged.manifest["schema_revision"] != head():
        raise BackupError(f"this backup's rows are of schema revision {staged.manifest['schema_revision']}, this tenken-hub "
                          f"writes {head()}: restore it with the tenken-hub version that made it, then upgrade")
    engine = make_engine(url)
    want = staged.manifest["database"]["counts"]
    try:
        with engine.connect() as d, d.execution_options(tenken_write=True).begin() as tx:
            conn = tx.connection
            lock_upgrades(conn)
            if replace:
                drop_hub_tables(conn)
            check_empty_target(conn)
            all_metadata().create_all(conn)
            stamp(conn, staged.manifest["schema_revision"])
            tables = all_tables()
            for tb in tables:
                for rows in _rows_from(staged, tb):
                    ensure_for_rows(conn, tb.name, rows)
                    conn.execute(tb.insert(), rows)
            reset_sequences(conn, tables)
            got = counts(conn, tables)
            if {k: v for k, v in got.items() if k in want} != want:
                raise BackupError(f"restored row counts {got} differ from the backup's {want}; nothing was committed")
    finally:
        engine.dispose()
    return got


def _live(data: Path) -> list[str]:
    return [n for n in ("hub.db", "ca.pem", CONFIG_FILE, "private") if (data / n).exists()]


def restore_backup(path: Path, data: Path, *, db_url: str | None = None, force: bool = False,
                   say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Restore `path` into the data directory `data` (and the database `db_url`, default: as backed up)."""
    data = data.resolve()
    live = _live(data)
    if not force and (live or (data.is_dir() and any(data.iterdir()))):
        what = f"already holds a hub ({', '.join(live)})" if live else "is not empty"
        raise BackupError(f"{data} {what}: restore into a new directory, or stop the hub and pass --force (the current "
                          "directory is then kept beside it as DIR.before-restore-TIME)")
    data.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{data.name}.restore-", dir=data.parent) as tmp:
        stage = Path(tmp)
        os.chmod(stage, 0o700)
        staged = read_backup(path, stage)
        cfg_path = staged.data / CONFIG_FILE
        cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
        backed_dialect = staged.manifest["database"]["dialect"]
        target = db_url or (cfg.get("db_url") if backed_dialect != "sqlite" else None)
        if target and make_url(target).password == REDACTED:
            raise BackupError("the backup was made with --no-secrets and its database URL has no password: give --db URL")
        staged.data.mkdir(exist_ok=True, mode=0o700)
        if target:
            cfg["db_url"] = target
        else:
            cfg.pop("db_url", None)  # SQLite in the data directory, wherever it now is
        fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(cfg, fh, indent=2)
            fh.write("\n")
        # The database goes in before the directory moves: a refused or failed load leaves everything as it was.
        if target and make_url(target).get_backend_name() != "sqlite":
            try:
                if staged.sqlite is not None:
                    copy_database(f"sqlite:///{staged.sqlite}", target, replace=force)
                else:
                    load_rows(staged, target, replace=force)
            except CopyError as exc:
                raise BackupError(f"{exc} (pass --force to replace the hub tables in it)") from exc
        elif staged.sqlite is not None:
            shutil.move(staged.sqlite, staged.data / "hub.db")
        else:
            load_rows(staged, f"sqlite:///{staged.data / 'hub.db'}")
        moved = None
        if data.exists():
            if any(data.iterdir()):
                moved = data.with_name(f"{data.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
                data.rename(moved)
                say(f"the previous data directory was moved to {moved}")
            else:
                data.rmdir()  # empty (else _live or force would have caught it)
        staged.data.rename(data)
        os.chmod(data, 0o700)
    return {"manifest": staged.manifest, "moved": moved, "db_url": target}
