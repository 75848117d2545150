"""Which futures marks are USD prices of a holding (pure): the unit and multiplier rule.

A USD-M contract's mark is a price in its quote asset, per contract unit. It prices an
off-exchange holding in USD only when all of these hold:
  - it is a perpetual (a dated contract's mark carries the basis to delivery),
  - its quote and its settle (margin) asset are USD stablecoins (ETHBTC is quoted in BTC),
  - its base asset is the holding's asset, or the asset with a known power-of-ten multiplier
    (`1000PEPE` is 1000 PEPE: the mark is divided by 1000; `1M` prefixes mean a million).
Anything else is refused with a reason, and the next tier prices the holding.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from services.pricer.chain import Quote

_MULTIPLIED = re.compile(r"^(1(?:0+)|1M)([A-Z0-9]+)$")


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """What the listing says about one USD-M contract (from ccxt's market of it)."""

    market: str          # exchange id: BTCUSDT, 1000PEPEUSDT, BTCUSDT_261225, ETHBTC
    base: str            # Binance's baseAsset: BTC, 1000PEPE
    quote: str
    settle: str
    perpetual: bool
    contract_type: str = "PERPETUAL"

    @classmethod
    def linear_perpetual(cls, market: str, base: str, quote: str = "USDT") -> ContractInfo:
        """A perpetual quoted and settled in `quote` (what most USD-M listings are)."""
        return cls(market, base, quote, quote, True)


def multiplier_of(base: str, asset: str) -> float | None:
    """How many units of `asset` one unit of `base` is: 1 for the asset itself, 1000 for 1000<ASSET>."""
    if base == asset:
        return 1.0
    match = _MULTIPLIED.match(base)
    if match is None or match.group(2) != asset:
        return None
    return 1_000_000.0 if match.group(1) == "1M" else float(match.group(1))


def usd_mark_problem(asset: str, info: ContractInfo, stablecoins: Collection[str]) -> str | None:
    """Why `info`'s mark is not a USD price of `asset` (None: it is, after `multiplier_of`)."""
    if not info.perpetual:
        return (f"{info.market} is a dated contract ({info.contract_type}): its mark carries the basis to "
                "delivery; not a USD price")
    if info.quote not in stablecoins or info.settle not in stablecoins:
        return (f"{info.market} is quoted in {info.quote} and settled in {info.settle}, not a USD stablecoin: "
                "its mark is not a USD price")
    if multiplier_of(info.base, asset) is None:
        return f"{info.market} is a contract on {info.base}, not on {asset}"
    return None


def usd_mark(asset: str, info: ContractInfo | None, quote: Quote | None,
             stablecoins: Collection[str]) -> tuple[Quote | None, str | None]:
    """The USD price of one `asset` from a contract's mark, or why there is none.

    A mark without listing information is refused: its units are unknown.
    """
    if quote is None:
        return None, None
    if info is None:
        return None, "no listing information for this market: its quote asset and multiplier are unknown"
    problem = usd_mark_problem(asset, info, stablecoins)
    if problem is not None:
        return None, problem
    multiplier = multiplier_of(info.base, asset) or 1.0
    return (quote if multiplier == 1.0 else Quote(quote.px / multiplier, quote.ts)), None
