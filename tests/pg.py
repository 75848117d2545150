"""A real PostgreSQL server for tests: Debian's initdb + pg_ctl on a free port in a temp dir.

Killable and restartable like tests.support.RedisServer. Outside CI a machine without the
binaries skips the PostgreSQL half of the ledger tests (`apt-get install postgresql`);
under CI=true their absence fails the test instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.harness import PostgresServer, pg_bindir, remove_postgres, start_postgres
from tests.support import missing

__all__ = ["PostgresServer", "database_url", "database_url_for", "pg_bindir", "pg_server", "postgres",
           "require_pg_bindir"]

INSTALL_HINT = "apt-get install -y postgresql (Debian; .ci/run installs it)"


def require_pg_bindir() -> Path:
    bindir = pg_bindir()
    if bindir is None:
        missing("PostgreSQL's server binaries (initdb, pg_ctl)", INSTALL_HINT)
    return bindir


def _server() -> PostgresServer:
    return start_postgres(require_pg_bindir())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; each test gets its own database on it (`database_url`)."""
    server = _server()
    yield server
    remove_postgres(server)


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to kill and restart."""
    server = _server()
    yield server
    remove_postgres(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on embedded SQLite and on a real PostgreSQL server (a fresh database each)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'record.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def database_url_for(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str:
    """`database_url` for a test that starts its own server (`postgres` fixture) when kind is postgresql."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'record.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.url
