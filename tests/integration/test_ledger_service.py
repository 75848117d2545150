"""`python -m services.ledger` against a real redis-server and SQLite / a real PostgreSQL:
history rows, income, transfers, acks only after commit, replays add nothing, performance state."""

from __future__ import annotations

import math
import time

import orjson
import pytest
import sqlalchemy as sa

from shared.contracts.performance import validate_performance_document
from shared.keys import GROUP_LEDGER
from services.ledger.schema import flows, income, nav_history

from tests.ledger_support import KEYS, navstream, snapshot, transfer, xadd_income, xadd_snapshot
from tests.support import eventually


def ledger_env(env: dict[str, str], database_url: str, **extra: str) -> dict[str, str]:
    return {**env, "DATABASE_URL": database_url, "LEDGER_HISTORY_INTERVAL_S": "1", "STRIKE_TIME_UTC": "00:00",
            "LEDGER_CLAIM_IDLE_MS": "500", **extra}


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def pending(r) -> int:
    total = 0
    for stream in (KEYS.nav, KEYS.income):
        try:
            total += r.xpending(stream, GROUP_LEDGER)["pending"]
        except Exception:  # noqa: BLE001 - no group yet counts as nothing pending
            pass
    return total


def unacked(r) -> int:
    """Entries of the ledger's streams it has not acknowledged: delivered and pending, or not yet read."""
    total = pending(r)
    for stream in (KEYS.nav, KEYS.income):
        groups = r.xinfo_groups(stream) if r.exists(stream) else []
        total += sum(g.get("lag") or 0 for g in groups if g["name"] in (GROUP_LEDGER, GROUP_LEDGER.encode()))
    return total


@pytest.fixture
def engine(database_url):
    eng = sa.create_engine(database_url)
    yield eng
    eng.dispose()


def feed(r, start_ts: float, n: int, nav0: float = 98_000.0, step: float = 10.0, seq0: int = 1) -> list[dict]:
    docs = [snapshot(seq0 + i, start_ts + i, nav0 + step * i) for i in range(n)]
    for d in docs:
        xadd_snapshot(r, d)
    return docs


def test_ledger_records_history_and_income_once_and_acks_after_commit(r, env, services, database_url, engine,
                                                                        tmp_path):
    ledger = services("ledger", ledger_env(env, database_url))
    t0 = time.time() - 30
    docs = feed(r, t0, 10)
    eventually(lambda: count(engine, nav_history) == 10, timeout=30, message="10 history rows")
    eventually(lambda: pending(r) == 0, timeout=10, message="every entry acked")
    eventually(lambda: r.get(KEYS.health("ledger")) is not None, timeout=10, message="the ledger's heartbeat")
    # replays: the same snapshot again (new entry id, same minute bucket) and the same income twice
    xadd_snapshot(r, docs[-1])
    rec = transfer("main", "w1", -1_000.0, t0 + 10.5)
    xadd_income(r, rec)
    xadd_income(r, rec)
    feed(r, t0 + 11, 2, nav0=98_090.0 - 1_000.0, seq0=11)
    eventually(lambda: count(engine, nav_history) == 12, timeout=30, message="2 more history rows")
    eventually(lambda: pending(r) == 0, timeout=10, message="every entry acked")
    assert count(engine, income) == 1
    assert count(engine, flows, flows.c.kind == "transfer") == 1
    with engine.connect() as conn:
        prices = [p for (p,) in conn.execute(sa.select(nav_history.c.unit_price).order_by(nav_history.c.ts))]
    assert prices[0] == 1.0
    # the 1,000 USD withdrawal between the rows at t0+9 and t0+11 (market unchanged) is not a loss
    assert math.isclose(prices[-2], prices[-3], rel_tol=1e-9) and prices[-1] > prices[-2]
    assert float(r.get(KEYS.ledger_transfers)) == -1_000.0
    perf = orjson.loads(r.get(KEYS.state_performance))
    validate_performance_document(perf)
    assert perf == perf | {"fund_id": "main", "schema": "performance.v1"}
    file_doc = orjson.loads((tmp_path / "state" / "performance.json").read_bytes())
    assert file_doc["unit_price"] == perf["unit_price"] and perf["vol_365"] is None
    assert "daily returns" in perf["reasons"]["vol_365"]
    assert ledger.alive()


def test_a_bad_entry_is_reported_and_acked_and_nothing_recorded_from_it(r, env, services, database_url, engine):
    ledger = services("ledger", ledger_env(env, database_url))
    r.xadd(KEYS.nav, {"seq": "1", "snapshot": b"{not json"})
    r.xadd(KEYS.income, {"account": "main", "tran_id": "x", "type": "TRANSFER", "asset": "USDT",
                         "amount": "nan", "symbol": "", "ts": "1"})
    feed(r, time.time() - 5, 2)
    eventually(lambda: count(engine, nav_history) == 2, timeout=30, message="the good snapshots recorded")
    eventually(lambda: pending(r) == 0, timeout=10, message="the bad entries acked too")
    assert count(engine, income) == 0
    log = ledger.log_text()
    assert "field 'amount' is 'nan', not a finite number" in log and "skipped and acknowledged" in log


def test_flow_commands_refuse_bad_input_with_one_line_and_write_nothing(r, env, services, database_url, engine):
    services("ledger", ledger_env(env, database_url))
    feed(r, time.time() - 5, 3)
    eventually(lambda: count(engine, nav_history) == 3, timeout=30, message="history rows")
    cli_env = ledger_env(env, database_url)
    for args, why in ((["flow", "subscribe", "abc"], "not a number"),
                      (["flow", "subscribe", "-5"], "must be a positive number"),
                      (["flow", "redeem", "1000000"], "larger than the fund"),
                      (["flow", "subscribe", "100", "--at", "2999-01-01T00:00:00Z"], "in the future")):
        res = navstream(cli_env, *args)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert why in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert count(engine, flows) == 1          # the inception only
    ok = navstream(cli_env, "flow", "subscribe", "1,000", "--investor", "alice", "--note", "first money")
    assert ok.returncode == 0, ok.stderr
    assert "units issued" in ok.stdout
    listing = navstream(cli_env, "flow", "list")
    assert "alice" in listing.stdout and "first money" in listing.stdout and "units outstanding" in listing.stdout


def test_a_holding_change_is_one_unclassified_flow_and_survives_a_restart_with_redis_wiped(
        r, env, services, database_url, engine):
    led_env = ledger_env(env, database_url)
    ledger = services("ledger", led_env)
    t0 = time.time() - 60
    for i, usdc in enumerate((2_000.0, 2_000.0, 7_000.0)):            # 5,000 USDC arrive in the cold wallet
        xadd_snapshot(r, snapshot(1 + i, t0 + i, 98_000.0, usdc=usdc))
    holding = flows.c.kind == "holding"
    eventually(lambda: count(engine, flows, holding) == 1 and pending(r) == 0, timeout=30,
               message="one holding flow, every entry acked")
    ledger.stop()
    r.flushall()                                                        # Redis lost: seq and entry ids start again
    services("ledger", led_env)
    xadd_snapshot(r, snapshot(1, t0 + 10, 98_000.0, usdc=7_000.0))      # the same quantity: nothing new
    xadd_snapshot(r, snapshot(2, t0 + 11, 98_000.0, usdc=6_000.0))      # 1,000 leave
    eventually(lambda: count(engine, flows, holding) == 2 and pending(r) == 0, timeout=30,
               message="a second holding flow after the restart")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(flows.c.amount_usd, flows.c.classification).where(holding)
                            .order_by(flows.c.ts)).all()
        prices = conn.execute(sa.select(nav_history.c.unit_price)).scalars().all()
    assert [tuple(row) for row in rows] == [(5_000.0, "unclassified"), (-1_000.0, "unclassified")]
    assert all(abs(p - 1.0) < 1e-9 for p in prices), prices


def test_snapshots_that_change_nothing_cost_no_transaction_and_a_holding_change_is_still_seen(
        r, env, services, database_url, engine):
    led_env = ledger_env(env, database_url, LEDGER_HISTORY_INTERVAL_S="3600")   # one history row an hour
    ledger = services("ledger", led_env)
    t0 = (time.time() // 3600) * 3600 + 1
    if t0 + 30 > time.time():
        t0 -= 3600                                           # the whole test inside one hour bucket, in the past

    def beat() -> dict:
        return orjson.loads(r.get(KEYS.health("ledger")) or b"{}").get("counters") or {}

    xadd_snapshot(r, snapshot(1, t0, 98_000.0, usdc=2_000.0))
    eventually(lambda: count(engine, nav_history) == 1 and pending(r) == 0, timeout=30, message="the first row")
    for i in range(2, 6):                                    # same bucket, same quantities: one batch each
        xadd_snapshot(r, snapshot(i, t0 + i, 98_000.0 + i, usdc=2_000.0))
        eventually(lambda: pending(r) == 0 and unacked(r) == 0, timeout=30, message="the snapshot acked")
    eventually(lambda: beat().get("batches_without_writes", 0) >= 3, timeout=10,
               message="batches acked without a transaction")
    assert count(engine, nav_history) == 1 and count(engine, flows, flows.c.kind == "holding") == 0
    xadd_snapshot(r, snapshot(6, t0 + 6, 98_000.0, usdc=5_000.0))      # 3,000 arrive, same bucket
    eventually(lambda: count(engine, flows, flows.c.kind == "holding") == 1 and pending(r) == 0, timeout=30,
               message="the holding change recorded although no history row was due")
    ledger.stop()
    services("ledger", led_env)                               # a restart knows the saved quantities
    xadd_snapshot(r, snapshot(7, t0 + 7, 98_000.0, usdc=5_000.0))
    xadd_snapshot(r, snapshot(8, t0 + 8, 98_000.0, usdc=4_000.0))      # 1,000 leave
    eventually(lambda: count(engine, flows, flows.c.kind == "holding") == 2 and pending(r) == 0, timeout=30,
               message="the next change after the restart")
    assert count(engine, nav_history) == 1
