"""When strikes fall due, days missed while down included, and the gate that holds a missed one."""

from __future__ import annotations

from datetime import time as dtime

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.strike import GateContext, GateLimits, due_ts, labels_due, next_due_after, strike_gates

MIDNIGHT = dtime(0, 0)
T0 = 1_764_633_600.0   # 2025-12-02T00:00:00Z


def test_a_three_day_outage_leaves_every_day_due_oldest_first():
    after = due_ts("2025-12-02", MIDNIGHT)
    now = T0 + 3 * 86_400 + 3_600                      # 2025-12-05T01:00Z
    assert labels_due(after, T0 - 86_400, now, MIDNIGHT) == ["2025-12-03", "2025-12-04", "2025-12-05"]
    assert labels_due(after, T0 - 86_400, now, MIDNIGHT, limit=2) == ["2025-12-03", "2025-12-04"]
    assert labels_due(due_ts("2025-12-05", MIDNIGHT), T0, now, MIDNIGHT) == []


def test_the_first_strike_is_the_first_due_at_or_after_inception():
    assert labels_due(None, T0 + 10, T0 + 86_400 + 5, MIDNIGHT) == ["2025-12-03"]
    assert labels_due(None, T0, T0 + 5, MIDNIGHT) == ["2025-12-02"]           # inception at the due time itself
    assert labels_due(None, T0 + 10, T0 + 3_600, dtime(6, 0)) == []             # today's 06:00 not due yet


def test_periodic_strikes_step_by_the_period():
    assert labels_due(T0, T0 - 600, T0 + 185, MIDNIGHT, every_s=60) == [
        "2025-12-02T00:01:00", "2025-12-02T00:02:00", "2025-12-02T00:03:00"]


@given(st.floats(min_value=T0 - 1e8, max_value=T0 + 1e8), st.sampled_from([0.0, 60.0, 300.0, 3_600.0]))
def test_the_next_due_is_strictly_after_and_no_later_than_one_period(ts, every_s):
    nxt = due_ts(next_due_after(ts, MIDNIGHT, every_s), MIDNIGHT)
    assert ts < nxt <= ts + (every_s or 86_400)


def gates(snapshot_ts: float, label_due: float, next_due: float) -> list[str]:
    snap = {"ts": snapshot_ts, "source": "live", "status": {}, "aum": {"total": 100.0, "offexchange": {}},
            "accounts": {}}
    return strike_gates(GateContext(snapshot=snap, unit_price=1.0, due_ts=label_due, next_due_ts=next_due),
                        GateLimits())


def test_a_valuation_after_the_next_strike_fell_due_holds_the_strike_as_missed():
    held = gates(T0 + 2 * 86_400, T0, T0 + 86_400)
    assert len(held) == 1 and held[0].startswith("missed: the system was down when it fell due "
                                                 "(2025-12-02T00:00:00Z); valued at 2025-12-04T00:00:00Z")
    assert gates(T0 + 3_600, T0, T0 + 86_400) == []      # late but within its day: no gate
