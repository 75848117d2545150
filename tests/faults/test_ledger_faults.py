"""The ledger broken at the worst moments, on SQLite and on a real PostgreSQL server:
SIGKILL between commit and ack, PostgreSQL killed and restarted, Redis restarted with and
without its data. No row lost, none duplicated, and the ledger resumes by itself."""

from __future__ import annotations

import signal
import time

import pytest
import sqlalchemy as sa

from services.ledger.schema import income, nav_history

from tests.integration.test_ledger_service import count, feed, ledger_env, pending, unacked
from tests.ledger_support import transfer, xadd_income
from tests.pg import database_url_for
from tests.support import eventually

DATABASES = ["sqlite", "postgresql"]


def rows_by_bucket(engine) -> list[int]:
    with engine.connect() as conn:
        return [b for (b,) in conn.execute(sa.select(nav_history.c.bucket).order_by(nav_history.c.bucket))]


@pytest.fixture(params=DATABASES)
def db(request, tmp_path):
    url = database_url_for(request, tmp_path, request.param)
    eng = sa.create_engine(url)
    yield url, eng
    eng.dispose()


def test_sigkill_between_commit_and_ack_loses_and_duplicates_nothing(r, env, services, db):
    url, engine = db
    paused = services("ledger", ledger_env(env, url, LEDGER_TEST_PAUSE_BEFORE_ACK_S="30"))
    t0 = time.time() - 60
    feed(r, t0, 5)
    xadd_income(r, transfer("main", "k1", 250.0, t0 + 2.5))
    eventually(lambda: count(engine, nav_history) == 5 and "pausing" in paused.log_text(), timeout=30,
               message="the batch committed, the ledger paused before its acks")
    assert pending(r) > 0
    paused.signal(signal.SIGKILL)
    paused.proc.wait(5)
    feed(r, t0 + 5, 3, seq0=6)
    services("ledger", ledger_env(env, url))
    eventually(lambda: count(engine, nav_history) == 8 and pending(r) == 0, timeout=30,
               message="the restarted ledger reclaimed, replayed and acked everything")
    assert rows_by_bucket(engine) == [int(t0 + i) for i in range(8)]      # none lost, none twice
    assert count(engine, income) == 1


def test_postgresql_killed_and_restarted_the_ledger_keeps_the_entries_and_resumes(r, env, services, postgres):
    engine = sa.create_engine(postgres.url)
    ledger = services("ledger", ledger_env(env, postgres.url))
    t0 = time.time() - 60
    feed(r, t0, 3)
    eventually(lambda: count(engine, nav_history) == 3, timeout=30, message="first rows")
    engine.dispose()
    postgres.kill()
    feed(r, t0 + 3, 4, seq0=4)
    xadd_income(r, transfer("main", "p1", 100.0, t0 + 4.5))
    eventually(lambda: b"database unavailable" in (r.get("hedge:health:ledger") or b""), timeout=30,
               message="the heartbeat to say the database is unavailable")
    assert unacked(r) > 0 and ledger.alive()   # read and pending, or waiting for the database: never acked
    postgres.start()
    eventually(lambda: count(engine, nav_history) == 7 and pending(r) == 0, timeout=60,
               message="the ledger to resume by itself once PostgreSQL is back")
    assert rows_by_bucket(engine) == [int(t0 + i) for i in range(7)]
    assert count(engine, income) == 1
    assert "recovered" in ledger.log_text()
    engine.dispose()


@pytest.mark.parametrize("wipe", [False, True], ids=["with-data", "without-data"])
def test_redis_restarted_the_ledger_resumes_without_losing_or_duplicating_rows(r, env, services, db,
                                                                               redis_server, wipe):
    url, engine = db
    ledger = services("ledger", ledger_env(env, url))
    t0 = time.time() - 60
    feed(r, t0, 4)
    eventually(lambda: count(engine, nav_history) == 4 and pending(r) == 0, timeout=30, message="first rows")
    redis_server.restart(wipe=wipe)
    r2 = redis_server.client()
    if not wipe:   # with its data back, the stream still holds the recorded entries: replaying them adds nothing
        assert r2.xlen("hedge:nav") == 4
    feed(r2, t0 + 4, 3, seq0=5)
    eventually(lambda: count(engine, nav_history) == 7, timeout=60, message="rows after the Redis restart")
    eventually(lambda: pending(r2) == 0, timeout=20, message="acked")
    assert rows_by_bucket(engine) == [int(t0 + i) for i in range(7)]
    assert ledger.alive()
