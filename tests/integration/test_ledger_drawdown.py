"""A withdrawal is not a loss: the real publisher's futures drawdown and the ledger's unit price
stay put when half the account is transferred out (a TRANSFER income record on hedge:income)."""

from __future__ import annotations

import math
import time

import orjson
import pytest
import sqlalchemy as sa

from services.ledger.schema import nav_history

from tests.integration.test_ledger_service import ledger_env
from tests.ledger_support import KEYS, snapshot, transfer, xadd_income, xadd_snapshot
from tests.support import eventually


def kpis(r) -> dict | None:
    raw = r.get(KEYS.state_kpis)
    return orjson.loads(raw) if raw else None


@pytest.mark.parametrize("recorded", [True, False], ids=["transfer-recorded", "no-transfer-record"])
def test_a_withdrawal_does_not_move_drawdown_or_the_unit_price(r, env, services, tmp_path, recorded):
    url = f"sqlite:///{tmp_path / 'record.sqlite3'}"
    services("ledger", ledger_env(env, url))
    services("publisher", env)
    t0 = time.time() - 30
    xadd_snapshot(r, snapshot(1, t0, 100_000.0, usdc=0.0))
    xadd_snapshot(r, snapshot(2, t0 + 1, 101_000.0, usdc=0.0))      # the peak
    eventually(lambda: (k := kpis(r)) and k["drawdown"]["peak_nav"] == 101_000.0, timeout=30,
               message="the publisher's peak")
    eventually(lambda: r.get(KEYS.ledger_transfers) is not None, timeout=30, message="the ledger's transfers key")
    if recorded:
        xadd_income(r, transfer("main", "wd1", -50_500.0, t0 + 1.5))
        eventually(lambda: float(r.get(KEYS.ledger_transfers)) == -50_500.0, timeout=30,
                   message="the ledger to count the withdrawal")
    xadd_snapshot(r, snapshot(3, t0 + 2, 50_500.0, usdc=0.0))       # half the account has left
    dd = eventually(lambda: (k := kpis(r)) and k["nav"]["nav_total"] == 50_500.0 and k["drawdown"], timeout=30,
                    message="KPIs of the snapshot after the withdrawal")
    engine = sa.create_engine(url)
    eventually(lambda: _rows(engine) == 3, timeout=30, message="3 history rows")
    with engine.connect() as conn:
        prices = [p for (p,) in conn.execute(sa.select(nav_history.c.unit_price).order_by(nav_history.c.ts))]
    engine.dispose()
    if recorded:
        assert dd["dd_pct"] == 0.0 and dd["dd_state"] == "normal" and dd["peak_nav"] == 50_500.0
        assert math.isclose(prices[2], prices[1], rel_tol=1e-9)
    else:   # the control: without the record it reads as a 50 % loss, which is what the adjustment prevents
        assert dd["dd_state"] == "critical" and dd["dd_pct"] == pytest.approx(0.5)
        assert prices[2] < 0.6 * prices[1]


def _rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(nav_history)).scalar_one()
