"""Hub fixtures: a real hub per storage backend (SQLite, and PostgreSQL started by the tests)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_harness import Hub, start_hub
from pg_fixture import postgres  # noqa: F401 - the session fixture

BACKENDS = ["sqlite", "postgresql"]
MAX_BODY = 1024 * 1024  # 1 MiB: big enough for test reports, small enough for quick 413 tests


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    db_url = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("postgres")
        db_url = pg.create_database("hub_" + uuid.uuid4().hex[:12])
    base = tmp_path_factory.mktemp(f"hub-{request.param}")
    h = start_hub(base / "data", db_url, extra=("--max-body", str(MAX_BODY)))
    try:
        yield h
    finally:
        h.stop()
