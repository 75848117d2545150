"""Divergence and depeg guards (pure): do the live sources agree, and is a stablecoin at 1?

Two usable live observations (mark, spot_cache, coingecko) that differ by more than the
threshold mark the asset `diverged`; a stablecoin whose chosen live price is more than the
depeg threshold from 1.0 is flagged `depeg`. `Episodes` turns per-round flags into
start/end events so the loop logs once per episode, not every round.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from shared.contracts.vocabulary import DEFAULT_STABLECOINS, LIVE_TIERS

from services.pricer.chain import Resolved


@dataclass(frozen=True, slots=True)
class Agreement:
    """How far apart the usable live prices are (`spread_pct`, percent of the lowest), and the flags."""

    spread_pct: float | None
    diverged: bool
    depeg: bool

    @property
    def flagged(self) -> bool:
        return self.diverged or self.depeg


def relative_spread(prices: Iterable[float]) -> float | None:
    """(max - min) / min of the prices, as a fraction; None with fewer than two prices."""
    values = list(prices)
    if len(values) < 2:
        return None
    low, high = min(values), max(values)
    return (high - low) / low


def is_depegged(price: float, threshold: float) -> bool:
    return abs(price - 1.0) > threshold


def check_agreement(asset: str, live: Mapping[str, float], chosen: Resolved | None, *,
                    divergence_threshold: float, depeg_threshold: float,
                    stablecoins: Collection[str] = DEFAULT_STABLECOINS) -> Agreement:
    """Flags for one asset.

    `live` holds only the usable (finite, positive, fresh) live observations, tier -> price.
    Depeg looks at the chosen price when a live tier supplied it: avg_cost is the
    operator's book value, not an observation of the market.
    """
    spread = relative_spread(live[t] for t in LIVE_TIERS if t in live)
    diverged = spread is not None and spread > divergence_threshold
    depeg = (asset in stablecoins and chosen is not None and chosen.source in LIVE_TIERS
             and is_depegged(chosen.price, depeg_threshold))
    return Agreement(None if spread is None else spread * 100.0, diverged, depeg)


class Episodes:
    """Which names are in an episode of some condition; `update` reports starts and ends."""

    def __init__(self) -> None:
        self.active: frozenset[str] = frozenset()

    def update(self, flagged: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The names flagged this round; returns (started, ended) since the previous round."""
        now = frozenset(flagged)
        started, ended = now - self.active, self.active - now
        self.active = now
        return started, ended
