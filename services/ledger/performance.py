"""Performance on the unit price, the pure core: high-water mark, drawdown, TWR, volatility,
Sharpe and Sortino annualised over 365 days.

Inputs are `(ts, unit_price)` points, oldest first. Because the unit price does not move
with subscriptions, redemptions or transfers, none of these figures do either. A figure
that cannot be computed yet is None, with the reason in `Performance.reasons` (never 0).
Sharpe and Sortino use a risk-free rate of 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

DAYS_PER_YEAR = 365
MIN_DAILY_RETURNS = 7
"""Volatility, Sharpe and Sortino need at least this many daily returns (a week of history)."""

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Performance:
    unit_price: float | None
    hwm_unit: float | None
    dd_unit_pct: float | None
    max_dd_unit_pct: float | None
    twr_mtd: float | None
    twr_ytd: float | None
    twr_itd: float | None
    vol_365: float | None
    sharpe_365: float | None
    sortino_365: float | None
    reasons: dict[str, str] = field(default_factory=dict)


def high_water_mark(prices: Sequence[float]) -> float | None:
    return max(prices) if prices else None


def drawdown(price: float, hwm: float) -> float:
    """(hwm - price) / hwm, in [0, 1]."""
    return min(1.0, max(0.0, (hwm - price) / hwm))


def max_drawdown(prices: Sequence[float]) -> float | None:
    """The deepest fall from a running peak, in [0, 1]; None without prices."""
    if not prices:
        return None
    peak, worst = prices[0], 0.0
    for p in prices:
        peak = max(peak, p)
        worst = max(worst, drawdown(p, peak))
    return worst


def underwater(points: Sequence[Point]) -> list[Point]:
    """(ts, drawdown from the running peak) for each point: the underwater chart."""
    out: list[Point] = []
    peak = -math.inf
    for ts, p in points:
        peak = max(peak, p)
        out.append((ts, drawdown(p, peak)))
    return out


def period_start(ts: float, period: str) -> float:
    """Epoch seconds of the start (UTC) of the month or year containing `ts`."""
    d = datetime.fromtimestamp(ts, UTC)
    start = d.replace(day=1) if period == "month" else d.replace(month=1, day=1)
    return start.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def twr_since(points: Sequence[Point], start_ts: float, inception_price: float) -> float:
    """Time-weighted return from `start_ts` to the last point: the last price over the last price
    before `start_ts` (the inception price if the fund started within the period), minus 1."""
    base = inception_price
    for ts, p in points:
        if ts >= start_ts:
            break
        base = p
    return points[-1][1] / base - 1.0


def daily_closes(points: Sequence[Point]) -> list[Point]:
    """The last point of each UTC day, oldest first."""
    closes: dict[int, Point] = {}
    for ts, p in points:
        closes[int(ts // 86_400)] = (ts, p)
    return [closes[d] for d in sorted(closes)]


def daily_returns(points: Sequence[Point], inception_price: float) -> list[float]:
    """Simple returns from close to close; the first day's is against the inception price."""
    closes = [p for _, p in daily_closes(points)]
    prev = [inception_price, *closes[:-1]]
    return [c / b - 1.0 for b, c in zip(prev, closes, strict=True)]


def annualised_ratios(returns: Sequence[float]) -> tuple[dict[str, float | None], dict[str, str]]:
    """vol_365, sharpe_365, sortino_365 from daily returns; None plus a reason where undefined."""
    reasons: dict[str, str] = {}
    out: dict[str, float | None] = {"vol_365": None, "sharpe_365": None, "sortino_365": None}
    if len(returns) < MIN_DAILY_RETURNS:
        why = f"needs {MIN_DAILY_RETURNS} daily returns, has {len(returns)}"
        return out, dict.fromkeys(out, why)
    mean = statistics.fmean(returns)
    vol = statistics.stdev(returns) * math.sqrt(DAYS_PER_YEAR)
    out["vol_365"] = vol
    if vol > 0:
        out["sharpe_365"] = mean * DAYS_PER_YEAR / vol
    else:
        reasons["sharpe_365"] = "the unit price has not varied: volatility is 0"
    downside = math.sqrt(statistics.fmean(min(r, 0.0) ** 2 for r in returns)) * math.sqrt(DAYS_PER_YEAR)
    if downside > 0:
        out["sortino_365"] = mean * DAYS_PER_YEAR / downside
    else:
        reasons["sortino_365"] = "no losing day yet: downside deviation is 0"
    return out, reasons


def compute_performance(points: Sequence[Point], inception_price: float) -> Performance:
    """Every figure of performance.v1 from the unit-price history (oldest first)."""
    if not points:
        why = "no unit-price history yet"
        names = ("unit_price", "hwm_unit", "dd_unit_pct", "max_dd_unit_pct", "twr_mtd", "twr_ytd", "twr_itd",
                 "vol_365", "sharpe_365", "sortino_365")
        return Performance(**dict.fromkeys(names), reasons=dict.fromkeys(names, why))
    prices = [p for _, p in points]
    now_ts, price = points[-1]
    hwm = max(max(prices), inception_price)
    ratios, reasons = annualised_ratios(daily_returns(points, inception_price))
    return Performance(
        unit_price=price, hwm_unit=hwm, dd_unit_pct=drawdown(price, hwm),
        max_dd_unit_pct=max_drawdown([inception_price, *prices]),
        twr_mtd=twr_since(points, period_start(now_ts, "month"), inception_price),
        twr_ytd=twr_since(points, period_start(now_ts, "year"), inception_price),
        twr_itd=price / inception_price - 1.0,
        vol_365=ratios["vol_365"], sharpe_365=ratios["sharpe_365"], sortino_365=ratios["sortino_365"],
        reasons=reasons,
    )


def monthly_returns(points: Sequence[Point], inception_price: float) -> list[tuple[int, int, float]]:
    """(year, month, return) per calendar month (UTC) from the month-end unit prices, oldest first."""
    ends: dict[tuple[int, int], float] = {}
    for ts, p in points:
        d = datetime.fromtimestamp(ts, UTC)
        ends[(d.year, d.month)] = p
    out, base = [], inception_price
    for ym in sorted(ends):
        out.append((ym[0], ym[1], ends[ym] / base - 1.0))
        base = ends[ym]
    return out
