"""Fixtures of the record's integration tests: the ledger's settings and a migrated engine, on
SQLite and on a real PostgreSQL server (`database_url`, tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from services.ledger.config import LedgerSettings
from services.ledger.db import head_revision, open_database, upgrade


@pytest.fixture
def cfg(database_url: str) -> LedgerSettings:
    """The ledger's settings on this test's database: a history row a minute, strikes at 00:00 UTC."""
    return LedgerSettings(database_url=database_url, history_interval_s=60, strike_time_utc="00:00")


@pytest.fixture
def engine(cfg: LedgerSettings) -> Iterator[Engine]:
    """An engine on the test's database, migrated to the newest revision."""
    eng = open_database(cfg.database_url)
    assert upgrade(eng) == head_revision()
    yield eng
    eng.dispose()
