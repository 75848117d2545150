"""ATR(n) volatility regime of futures markets, from closed one-minute bars.

True range of bar i (i >= 1): max(high_i - low_i, |high_i - close_{i-1}|, |low_i - close_{i-1}|).
ATR = the plain average of the last `period` true ranges (fewer while the history is
short); atr_pct = ATR / last close. Fewer than 2 closed bars: no true range, so null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise
from dataclasses import dataclass

from shared.contracts.bars import Bar

LOW, NORMAL, HIGH, EXTREME = "low", "normal", "high", "extreme"


@dataclass(frozen=True, slots=True)
class AtrThresholds:
    """atr_pct below `normal` is low; from `normal` normal; from `high` high; from `extreme` extreme."""

    normal: float = 0.0005
    high: float = 0.0015
    extreme: float = 0.004


@dataclass(frozen=True, slots=True)
class MarketAtr:
    atr: float | None
    atr_pct: float | None
    regime: str | None
    bars: int               # closed bars the figure is computed from

    def as_dict(self) -> dict:
        return {"atr": self.atr, "atr_pct": self.atr_pct, "regime": self.regime, "bars": self.bars}


def true_ranges(bars: Sequence[Bar]) -> list[float]:
    return [max(cur.high - cur.low, abs(cur.high - prev.close), abs(cur.low - prev.close))
            for prev, cur in pairwise(bars)]


def market_atr(bars: Sequence[Bar], period: int, thresholds: AtrThresholds) -> MarketAtr:
    """ATR of the last `period + 1` closed bars (oldest first)."""
    window = list(bars)[-(period + 1):]
    if len(window) < 2:
        return MarketAtr(None, None, None, len(window))
    ranges = true_ranges(window)
    atr = sum(ranges) / len(ranges)
    close = window[-1].close
    atr_pct = atr / close if close > 0 else None
    if not math.isfinite(atr) or atr_pct is None or not math.isfinite(atr_pct):
        return MarketAtr(None, None, None, len(window))
    return MarketAtr(atr, atr_pct, atr_regime(atr_pct, thresholds), len(window))


def atr_regime(atr_pct: float, thresholds: AtrThresholds) -> str:
    if atr_pct >= thresholds.extreme:
        return EXTREME
    if atr_pct >= thresholds.high:
        return HIGH
    if atr_pct >= thresholds.normal:
        return NORMAL
    return LOW


def portfolio_regime(weighted: Iterable[tuple[float | None, float | None]],
                     thresholds: AtrThresholds) -> str | None:
    """Regime of the weighted average atr_pct over `(atr_pct, weight)` pairs.

    Pairs with an unknown atr_pct or a weight that is unknown or not positive are
    left out; nothing left gives null.
    """
    pairs = [(a, w) for a, w in weighted if a is not None and w is not None and w > 0]
    total = sum(w for _, w in pairs)
    if not pairs or not math.isfinite(total) or total <= 0:
        return None
    avg = sum(a * w for a, w in pairs) / total
    return atr_regime(avg, thresholds) if math.isfinite(avg) else None
