"""The project's shared words, each defined once: price tiers and sources, snapshot sources,
account modes, position sides, the FX pair name, the default stablecoins and the state-file
names. Every service, the dashboard and the tests import them from here.

Adding a pricing tier is a change here (its place in `TIERS`, whether it observes a market)
plus the tier's own source module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, get_args

# --- prices ----------------------------------------------------------------------------

Tier = Literal["mark", "spot_cache", "coingecko", "avg_cost"]
TIERS: Final[tuple[Tier, ...]] = get_args(Tier)
"""The fallback chain for an off-exchange asset's USD price, best first (README "The fallback chain (per asset)")."""

MARK: Final[Tier] = "mark"
"""The tier of a futures mark price: the best, and the `src` of every mark the pricer publishes."""

TIER_LABELS: Final[Mapping[Tier, str]] = MappingProxyType({
    "mark": "futures mark", "spot_cache": "cached spot", "coingecko": "CoinGecko", "avg_cost": "avg cost"})
"""How a person reads each tier (dashboard badges, Intel columns)."""

OPERATOR_TIERS: Final[frozenset[str]] = frozenset({"avg_cost"})
"""Tiers that are the operator's own number rather than an observation of a market."""

LIVE_TIERS: Final[tuple[Tier, ...]] = tuple(t for t in TIERS if t not in OPERATOR_TIERS)
"""Tiers that observe a market."""

FX_SOURCE: Final = "config"
"""`src` of an FX rate taken from FX_FALLBACK_RATES."""

PAR_SOURCE: Final = "par"
"""`price_src` of a margin asset valued at 1 USD by definition (USDT)."""

PriceSource = Literal[Tier, "config"]
PRICE_SOURCES: Final[tuple[str, ...]] = get_args(PriceSource)
"""Every `src` a `hedge:prices` entry may carry: a tier, or FX_SOURCE."""

NO_PRICE: Final = "none"
"""`source` of a holding that no tier priced."""

HoldingSource = Literal[Tier, "none"]
"""`source` of an off-exchange holding in a snapshot: its tier, or NO_PRICE."""

AssetPriceSource = Literal[Tier, "par"]
"""`price_src` of a margin asset in a snapshot: its tier, or PAR_SOURCE."""

# --- snapshots ---------------------------------------------------------------------------

SnapshotSource = Literal["live", "cache", "manual", "startup", "partial"]
SNAPSHOT_SOURCES: Final[tuple[str, ...]] = get_args(SnapshotSource)
UNCOUNTED_SOURCES: Final[tuple[str, ...]] = ("partial", "startup")
"""Snapshots whose nav_total leaves an account out or has none: they never move drawdown, units or
strikes (docs/architecture.md "Guarantees")."""

# --- the fund's record ----------------------------------------------------------------------

StrikeState = Literal["proposed", "held", "locked"]
STRIKE_STATES: Final[tuple[str, ...]] = get_args(StrikeState)
"""States of a daily strike (README "ledger", "The daily strike"): only a locked one is hashed and immutable."""

# --- exchange accounts ---------------------------------------------------------------------

AccountMode = Literal["single_asset", "multi_assets", "portfolio_margin"]
ACCOUNT_MODES: Final[tuple[str, ...]] = get_args(AccountMode)

PositionSide = Literal["LONG", "SHORT"]
POSITION_SIDES: Final[tuple[str, ...]] = get_args(PositionSide)
"""Sides of a position in a snapshot. Binance's one-way `BOTH` becomes LONG or SHORT by sign."""

BINANCE_POSITION_SIDES: Final[tuple[str, ...]] = ("BOTH", "LONG", "SHORT")
"""`positionSide` values of Binance's positionRisk / account answers."""

# --- currencies ----------------------------------------------------------------------------

USD_PAR_ASSET: Final = "USDT"
"""The asset Binance's USD-M figures are denominated in; counted as 1 USD."""

DEFAULT_STABLECOINS: Final[frozenset[str]] = frozenset(
    {"USDC", "USDT", "DAI", "FDUSD", "TUSD", "USDP", "PYUSD", "BUSD", "USDE"})
"""Assets expected to trade at 1 USD (the default of STABLECOINS)."""


_FX_PAIR = re.compile(r"USD[A-Z]{3}")


def fx_pair(currency: str) -> str:
    """The FX symbol of USD against `currency`: `fx_pair("zar") == "USDZAR"`."""
    return f"USD{currency.upper()}"


def is_fx_pair(sym: str) -> bool:
    """Whether `sym` names an FX rate (`USDZAR`) rather than an asset or a market."""
    return _FX_PAIR.fullmatch(sym) is not None


# --- state files (STATE_DIR) ---------------------------------------------------------------

NAV_FILE: Final = "nav.json"
KPIS_FILE: Final = "kpis_v7.json"
POSITIONS_FILE: Final = "positions.json"
PERFORMANCE_FILE: Final = "performance.json"
STATE_FILES: Final[tuple[str, ...]] = (NAV_FILE, KPIS_FILE, POSITIONS_FILE)
"""The files the publisher writes and mirrors, in write order."""

if set(TIER_LABELS) != set(TIERS):  # a new tier needs its label here, or nothing imports
    raise RuntimeError(f"vocabulary: TIER_LABELS {sorted(TIER_LABELS)} do not match TIERS {sorted(TIERS)}")
