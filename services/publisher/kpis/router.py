"""Router execution quality over the fills of a window.

maker_fill_ratio = maker fills / fills; fallback_ratio = fallback fills / fills;
avg_slippage_bps = plain mean of the fills' slippage_bps. Quality: `good` when
maker >= good_maker and fallback <= good_fallback, else `fair` when maker >= fair_maker
and fallback <= fair_fallback, else `poor`; null (and null ratios) with no fills.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shared.contracts.fills import Fill

from services.publisher.kpis.window import FillTotals

GOOD, FAIR, POOR = "good", "fair", "poor"


@dataclass(frozen=True, slots=True)
class RouterThresholds:
    good_maker: float = 0.6
    good_fallback: float = 0.2
    fair_maker: float = 0.4
    fair_fallback: float = 0.4


@dataclass(frozen=True, slots=True)
class RouterStats:
    fills: int
    maker_fills: int
    fallback_fills: int
    maker_fill_ratio: float | None
    fallback_ratio: float | None
    avg_slippage_bps: float | None
    router_quality: str | None
    window_s: float

    def as_dict(self) -> dict:
        """router_stats of kpis_v7.json (router_quality sits beside it, flat)."""
        return {"maker_fill_ratio": self.maker_fill_ratio, "fallback_ratio": self.fallback_ratio,
                "fills": self.fills, "window_s": self.window_s,
                "avg_slippage_bps": self.avg_slippage_bps, "maker_fills": self.maker_fills,
                "fallback_fills": self.fallback_fills}


def compute_router_stats(fills: Sequence[Fill], window_s: float,
                         thresholds: RouterThresholds) -> RouterStats:
    """`fills` are those inside the window (the caller selects them)."""
    return router_stats_of(FillTotals.of(fills), window_s, thresholds)


def router_stats_of(totals: FillTotals, window_s: float, thresholds: RouterThresholds) -> RouterStats:
    """From the running totals of the fills inside the window."""
    n, makers, fallbacks = totals.fills, totals.maker_fills, totals.fallback_fills
    if n == 0:
        return RouterStats(0, 0, 0, None, None, None, None, window_s)
    maker_ratio, fallback_ratio = makers / n, fallbacks / n
    slippage = totals.slippage_bps.value / n
    return RouterStats(n, makers, fallbacks, maker_ratio, fallback_ratio,
                       slippage if math.isfinite(slippage) else None,
                       router_quality(maker_ratio, fallback_ratio, thresholds), window_s)


def router_quality(maker_ratio: float, fallback_ratio: float, thresholds: RouterThresholds) -> str:
    if maker_ratio >= thresholds.good_maker and fallback_ratio <= thresholds.good_fallback:
        return GOOD
    if maker_ratio >= thresholds.fair_maker and fallback_ratio <= thresholds.fair_fallback:
        return FAIR
    return POOR
