"""SQLite WAL: checkpoints run in the background, and the WAL stays bounded under sustained writing (a 10M-row
bench load once grew it to 29 GB when only the background checkpoint was there: under continuous writes it
never completes, and the WAL restarts only after a complete checkpoint)."""

from __future__ import annotations

import os
from pathlib import Path

from tenken.hub.db import WAL_BACKSTOP_BYTES, make_engine, write_tx


def test_wal_stays_bounded_under_sustained_writes(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with write_tx(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE junk (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        blob = os.urandom(512 * 1024)
        peak = 0
        for i in range(400):  # 200 MiB written back to back, 1 MiB per transaction
            with write_tx(engine) as conn:
                conn.exec_driver_sql("INSERT INTO junk (body) VALUES (?), (?)", (blob, blob))
                conn.exec_driver_sql("DELETE FROM junk WHERE id <= ?", (2 * i - 4,))
            peak = max(peak, (path.parent / (path.name + "-wal")).stat().st_size)
        limit = WAL_BACKSTOP_BYTES
        assert peak > 4 * 1024 * 1024  # it did grow past the background threshold
        assert peak < limit + 16 * 1024 * 1024, f"WAL reached {peak / 2**20:.0f} MiB"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("SELECT count(*) FROM junk").scalar() == 6
    finally:
        engine.dispose()


def test_background_checkpoint_copies_the_wal_into_the_database(tmp_path: Path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from tenken.hub import db

    monkeypatch.setattr(db._Checkpointer, "IDLE_EXIT_S", 0.2)
    path = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with write_tx(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE junk (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        blob = os.urandom(512 * 1024)
        for _ in range(16):  # 16 MiB: past the background threshold, below the backstop
            with write_tx(engine) as conn:
                conn.exec_driver_sql("INSERT INTO junk (body) VALUES (?), (?)", (blob, blob))
        with engine.connect() as conn:  # SQLite's own checkpoint is off and the backstop (64 MiB) was not reached:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0  # only the thread copies pages back
        cp = db._checkpointer(engine)
        assert cp.thread is not None
        cp.thread.join()  # it exits once idle, after its last pass
        assert "checkpoint failed" not in caplog.text
        assert path.stat().st_size >= 16 * 1024 * 1024  # the rows are in the database file now
    finally:
        engine.dispose()
