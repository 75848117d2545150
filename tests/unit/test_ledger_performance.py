"""Performance figures on the unit price: right values, nulls with reasons when history is short."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from services.ledger.performance import (
    MIN_DAILY_RETURNS,
    compute_performance,
    daily_returns,
    monthly_returns,
    underwater,
)


def ts(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC).timestamp()


def test_no_history_is_all_null_with_reasons():
    perf = compute_performance([], 1.0)
    assert perf.unit_price is None and perf.twr_itd is None and perf.vol_365 is None
    assert perf.reasons["vol_365"] == "no unit-price history yet"


def test_short_history_has_returns_but_null_ratios_never_zero():
    perf = compute_performance([(ts(2026, 12, 1), 1.01), (ts(2026, 12, 2), 1.02)], 1.0)
    assert math.isclose(perf.twr_itd, 0.02)
    assert perf.vol_365 is None and perf.sharpe_365 is None and perf.sortino_365 is None
    assert perf.reasons["sharpe_365"] == f"needs {MIN_DAILY_RETURNS} daily returns, has 2"


def test_twr_periods_start_at_the_last_price_before_them():
    points = [(ts(2025, 12, 31), 1.10), (ts(2026, 11, 30), 1.20), (ts(2026, 12, 2), 1.26)]
    perf = compute_performance(points, 1.0)
    assert math.isclose(perf.twr_mtd, 1.26 / 1.20 - 1)
    assert math.isclose(perf.twr_ytd, 1.26 / 1.10 - 1)
    assert math.isclose(perf.twr_itd, 0.26)


def test_hwm_drawdown_and_underwater():
    points = [(ts(2026, 12, 1), 1.0), (ts(2026, 12, 2), 1.2), (ts(2026, 12, 3), 0.9), (ts(2026, 12, 4), 1.1)]
    perf = compute_performance(points, 1.0)
    assert perf.hwm_unit == 1.2
    assert math.isclose(perf.dd_unit_pct, (1.2 - 1.1) / 1.2)
    assert math.isclose(perf.max_dd_unit_pct, 0.25)
    assert [round(d, 4) for _, d in underwater(points)] == [0, 0, 0.25, round(0.1 / 1.2, 4)]


def test_volatility_sharpe_sortino_annualised_on_365_days():
    prices, p = [], 1.0
    rets = [0.01, -0.005, 0.002, 0.004, -0.01, 0.006, 0.003, -0.002]
    for i, r in enumerate(rets):
        p *= 1 + r
        prices.append((ts(2026, 11, 1 + i), p))
    got = daily_returns(prices, 1.0)
    assert all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(got, rets, strict=True))
    perf = compute_performance(prices, 1.0)
    mean = sum(rets) / len(rets)
    sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
    assert math.isclose(perf.vol_365, sd * math.sqrt(365), rel_tol=1e-9)
    assert math.isclose(perf.sharpe_365, mean * 365 / (sd * math.sqrt(365)), rel_tol=1e-9)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in rets) / len(rets)) * math.sqrt(365)
    assert math.isclose(perf.sortino_365, mean * 365 / downside, rel_tol=1e-9)


def test_no_losing_day_leaves_sortino_null_with_the_reason():
    points = [(ts(2026, 11, 1 + i), 1.0 + 0.01 * (i + 1)) for i in range(8)]
    perf = compute_performance(points, 1.0)
    assert perf.sortino_365 is None and "no losing day" in perf.reasons["sortino_365"]


def test_monthly_returns_chain_month_ends():
    points = [(ts(2026, 10, 15), 1.05), (ts(2026, 10, 31), 1.10), (ts(2026, 11, 30), 0.99)]
    assert [(y, m, round(r, 6)) for y, m, r in monthly_returns(points, 1.0)] == [
        (2026, 10, 0.1), (2026, 11, round(0.99 / 1.10 - 1, 6))]
