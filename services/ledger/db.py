"""Engines and migrations: one place that knows SQLite from PostgreSQL.

`open_database(url)` makes the engine (SQLite: the folder is created, WAL journal with
full fsync, a busy timeout so the ledger, the CLI and the dashboard can share the file;
PostgreSQL: psycopg 3, pre-ping so a restarted server is reconnected transparently) and
`upgrade(engine)` brings the schema to the newest Alembic revision. The migration scripts
ship inside the package, so an installed wheel can migrate.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from shared.errors import ConfigError
from shared.settings import redact_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0

DatabaseUnavailable = (sa.exc.OperationalError, sa.exc.InterfaceError)
"""SQLAlchemy errors that mean "the database is not there right now" (server down, restarting,
SQLite file locked too long): roll back, back off and retry; nothing was committed."""


def open_database(url: str) -> Engine:
    """An engine for DATABASE_URL; a URL we cannot use is a ConfigError naming it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL {redact_url(url)!r} is not a database URL "
                          "(e.g. sqlite:///var/navstream.sqlite3 or postgresql+psycopg://user:pw@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=2,
                                connect_args={"connect_timeout": 5})
    raise ConfigError(f"DATABASE_URL: {parsed.get_backend_name()!r} is not supported; use sqlite:/// or "
                      "postgresql+psycopg://")


def _sqlite_engine(url: sa.URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # a DBAPI connection
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")   # the record: a commit survives a power cut
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the schema to `revision`; returns the revision the database is at afterwards."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
