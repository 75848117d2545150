"""The `PriceSource` protocol and the values sources exchange with the round runner."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shared.exchange_errors import parse_retry_after
from shared.holdings import Holding

from services.pricer.chain import Quote
from services.pricer.units import ContractInfo

__all__ = ["PriceSource", "SourceAnswer", "Want", "epoch_seconds", "parse_retry_after", "to_float"]


@dataclass(frozen=True, slots=True)
class Want:
    """What a round needs priced: the holdings (asset -> Holding) and the futures markets to mark."""

    holdings: Mapping[str, Holding]
    markets: frozenset[str]

    @property
    def all_markets(self) -> frozenset[str]:
        return self.markets | {h.market for h in self.holdings.values()}


@dataclass(frozen=True, slots=True)
class SourceAnswer:
    """A source's observations this round (key -> Quote) and why some keys have none (key -> message).

    Keys are futures market ids for the mark source, assets for the others. `fx` is the
    USD<CCY> rate, which only CoinGecko supplies. `contracts` (mark source only) is what the
    listing says about each market asked for: the unit rule (units.py) needs it.
    """

    quotes: Mapping[str, Quote] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    fx: Quote | None = None
    fx_problem: str | None = None
    contracts: Mapping[str, ContractInfo] = field(default_factory=dict)


class PriceSource(Protocol):
    """One outside price source. `name` is its tier (mark, spot_cache, coingecko, avg_cost)."""

    name: str
    timeout_s: float

    def fetch(self, want: Want, now: float) -> SourceAnswer:
        """Observe prices for `want`; raise a shared.errors.SourceError subclass on failure.

        Runs in a worker thread and may be abandoned when it overruns `timeout_s`.
        """

    def cached(self, want: Want, now: float) -> SourceAnswer:
        """What the source can still say without asking (its cache), when `fetch` failed or was skipped."""

    def close(self) -> None:
        """Release sessions."""


def to_float(raw: object) -> float:
    """A number from a payload field; NaN when it is missing or not a number (the chain refuses NaN)."""
    if isinstance(raw, bool) or raw is None:
        return math.nan
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def epoch_seconds(raw_ms: object, default: float) -> float:
    """A ccxt millisecond timestamp in seconds, or `default` when the answer carried none."""
    value = to_float(raw_ms)
    return value / 1000.0 if math.isfinite(value) and value > 0 else default
