"""Binance request weight: what the pricer spends per minute, what Binance says it has used, the budget.

Binance limits request weight per IP (USD-M futures: 2,400 a minute) and reports the weight used
in the current minute in the `X-MBX-USED-WEIGHT-1M` response header. The pricer keeps its own
USD-M spend under BUDGET_SHARE of that limit by spacing its mark polls (`min_poll_interval`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

FAPI_LIMIT_PER_MIN = 2400
SPOT_LIMIT_PER_MIN = 6000
VENUES = {"fapi": ("usdm", FAPI_LIMIT_PER_MIN), "spot": ("spot", SPOT_LIMIT_PER_MIN)}
"""Binance API -> (`venue` label of navstream_binance_used_weight, its REQUEST_WEIGHT per minute)."""
BUDGET_SHARE = 0.10
MARK_SHARE = 0.8
"""Marks may use this much of the pricer's budget; the rest is for exchangeInfo reloads (weight 1)."""
PREMIUM_INDEX_ALL = 10
PREMIUM_INDEX_ONE = 1
EXCHANGE_INFO_FAPI = 1
EXCHANGE_INFO_SPOT = 20
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


def spot_ticker_weight(n_symbols: int) -> int:
    """GET /api/v3/ticker/24hr weight: 2 for 1-20 symbols, 40 for 21-100, 80 beyond (or all)."""
    return 2 if n_symbols <= 20 else 40 if n_symbols <= 100 else 80


def mark_poll_plan(n_markets: int) -> tuple[int, bool]:
    """(weight, one call per market?) of the cheaper way to get `n_markets` marks from premiumIndex."""
    if n_markets * PREMIUM_INDEX_ONE < PREMIUM_INDEX_ALL:
        return n_markets * PREMIUM_INDEX_ONE, True
    return PREMIUM_INDEX_ALL, False


def min_poll_interval(weight: int) -> float:
    """Seconds between mark polls so that they spend at most MARK_SHARE of the budget a minute."""
    budget = FAPI_LIMIT_PER_MIN * BUDGET_SHARE * MARK_SHARE
    return 60.0 * weight / budget


def used_weight(headers: Mapping[str, str] | None) -> int | None:
    """Binance's `X-MBX-USED-WEIGHT-1M` from response headers (any case), or None."""
    for name, value in (headers or {}).items():
        if str(name).lower() == USED_WEIGHT_HEADER.lower():
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None
            return int(number) if math.isfinite(number) else None
    return None


class WeightMeter:
    """The weight this process spent in the last 60 s (sum of the documented weight of each call)."""

    def __init__(self) -> None:
        self._spent: deque[tuple[float, int]] = deque()
        self.total = 0

    def spend(self, now: float, weight: int) -> None:
        self._spent.append((now, weight))
        self.total += weight
        self._trim(now)

    def last_minute(self, now: float) -> int:
        self._trim(now)
        return sum(w for _, w in self._spent)

    def _trim(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - 60.0:
            self._spent.popleft()
