"""One pricing round, from what the sources observed to what gets published (pure).

Input: the holdings, the markets to mark, every source's observations and problems, `now`.
Output: the price observations to publish (one resolved price per priced asset, one mark
per usable market, the FX rate), the provenance document per asset for
`hedge:prices:sources`, and the round's tallies for health.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.contracts.prices import PriceObservation
from shared.contracts.vocabulary import DEFAULT_STABLECOINS, FX_SOURCE, LIVE_TIERS, MARK, NO_PRICE, TIERS, fx_pair
from shared.holdings import Holding

from services.pricer.chain import Quote, Resolved, TierLimits, resolve_usd_price, tier_problem
from services.pricer.divergence import Agreement, check_agreement
from services.pricer.units import ContractInfo, usd_mark

ANY = "*"
"""Key of a problem that concerns a whole source this round, not one symbol."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The knobs of a round, taken from Settings once."""

    limits: TierLimits
    divergence_threshold: float
    depeg_threshold: float
    display_currency: str
    fx_fallback_rate: float | None
    stablecoins: frozenset[str] = DEFAULT_STABLECOINS


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything the sources produced this round.

    `quotes[tier]` maps a key to that tier's observation: a futures market id ("BTCUSDT")
    for `mark`, an asset for the other tiers. `problems[tier][key]` explains a missing or
    refused observation; key ANY is a problem of the whole source this round. `fx` is the
    USD<CCY> rate CoinGecko gave (tier "fx" in `problems`). `contracts` is what the listing says
    about each marked market (the unit rule needs it to take a mark as a USD price).
    """

    quotes: Mapping[str, Mapping[str, Quote]] = field(default_factory=dict)
    fx: Quote | None = None
    problems: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    contracts: Mapping[str, ContractInfo] = field(default_factory=dict)

    def quote(self, tier: str, key: str) -> Quote | None:
        return self.quotes.get(tier, {}).get(key)

    def problem(self, tier: str, key: str) -> str | None:
        by_key = self.problems.get(tier, {})
        return _join(by_key.get(key), None if key == ANY else by_key.get(ANY))


@dataclass(frozen=True, slots=True)
class AssetOutcome:
    asset: str
    market: str
    chosen: Resolved | None
    chosen_ts: float | None
    shown: Mapping[str, Quote | None]
    errors: Mapping[str, str]
    agreement: Agreement

    def report(self) -> dict[str, Any]:
        """The `hedge:prices:sources` document of this asset (see /tmp/interfaces.md)."""
        chosen = None
        if self.chosen is not None:
            chosen = {"px": self.chosen.price, "src": self.chosen.source, "ts": self.chosen_ts}
        return {
            "asset": self.asset,
            "market": self.market,
            "chosen": chosen,
            "sources": {t: (None if q is None else {"px": q.px, "ts": q.ts}) for t, q in self.shown.items()},
            "errors": dict(self.errors),
            "diverged": self.agreement.diverged,
            "spread_pct": self.agreement.spread_pct,
            "depeg": self.agreement.depeg,
        }


@dataclass(frozen=True, slots=True)
class RoundResult:
    prices: tuple[PriceObservation, ...]
    assets: Mapping[str, AssetOutcome]
    unpublished: tuple[str, ...]
    """Symbols (assets, markets, FX pair) with no valid price this round."""
    fx_problem: str | None = None

    @property
    def asset_sources(self) -> Counter[str]:
        """How many assets each tier priced this round ("none" for unpriced ones)."""
        return Counter(o.chosen.source if o.chosen else NO_PRICE for o in self.assets.values())

    @property
    def fallbacks(self) -> tuple[str, ...]:
        """Assets priced by a tier after the first one."""
        return tuple(a for a, o in self.assets.items() if o.chosen and o.chosen.source != TIERS[0])

    @property
    def unpriced(self) -> tuple[str, ...]:
        return tuple(a for a, o in self.assets.items() if o.chosen is None)

    @property
    def diverged(self) -> frozenset[str]:
        return frozenset(a for a, o in self.assets.items() if o.agreement.diverged)

    @property
    def depegged(self) -> frozenset[str]:
        return frozenset(a for a, o in self.assets.items() if o.agreement.depeg)


def assemble_round(holdings: Mapping[str, Holding], markets: Collection[str], observed: Observed,
                   now: float, policy: Policy) -> RoundResult:
    """Resolve every holding, mark every market, take the FX rate; see the module docstring."""
    outcomes = {asset: _asset_outcome(h, observed, now, policy) for asset, h in sorted(holdings.items())}
    prices: list[PriceObservation] = []
    unpublished: list[str] = []
    for asset, outcome in outcomes.items():
        if outcome.chosen is None:
            unpublished.append(asset)
        else:
            prices.append(PriceObservation(asset, outcome.chosen.price, outcome.chosen.source,
                                           outcome.chosen_ts, outcome.agreement.flagged))
    diverged_markets = {o.market for o in outcomes.values() if o.agreement.diverged}
    for market in sorted(set(markets)):
        quote = observed.quote(MARK, market)
        if tier_problem(MARK, quote, now, policy.limits) is None:
            prices.append(PriceObservation(market, float(quote.px), MARK, min(quote.ts, now),
                                           market in diverged_markets))
        else:
            unpublished.append(market)
    fx, fx_problem = resolve_fx(observed.fx, observed.problem("fx", ANY), now, policy)
    if fx is None:
        unpublished.append(fx_pair(policy.display_currency))
    else:
        prices.append(fx)
    return RoundResult(tuple(prices), outcomes, tuple(unpublished), fx_problem)


def _holding_quotes(holding: Holding, observed: Observed, policy: Policy) -> tuple[dict[str, Quote | None],
                                                                                   str | None]:
    """Each tier's observation of the holding in USD, and why the mark (if any) is not a USD price."""
    quotes: dict[str, Quote | None] = {tier: observed.quote(tier, holding.symbol) for tier in TIERS if tier != MARK}
    mark, unit_problem = usd_mark(holding.symbol, observed.contracts.get(holding.market),
                                  observed.quote(MARK, holding.market), policy.stablecoins)
    return {MARK: mark, **quotes}, unit_problem


def _asset_outcome(holding: Holding, observed: Observed, now: float, policy: Policy) -> AssetOutcome:
    asset = holding.symbol
    quotes, unit_problem = _holding_quotes(holding, observed, policy)
    errors: dict[str, str] = {}
    shown: dict[str, Quote | None] = {}
    live: dict[str, float] = {}
    for tier in TIERS:
        quote = quotes[tier]
        key = holding.market if tier == MARK else asset
        source_note = _join(observed.problem(tier, key), unit_problem if tier == MARK else None)
        refused = tier_problem(tier, quote, now, policy.limits)
        message = _join(source_note, None if quote is None else refused)
        if message is None and quote is None:
            message = "no observation"
        if message:
            errors[tier] = message
        # Shown as observed, except a timestamp just ahead of our clock (skew) reads as now.
        shown[tier] = Quote(quote.px, min(quote.ts, now)) if quote is not None and _displayable(quote) else None
        if refused is None and tier in LIVE_TIERS:
            live[tier] = float(quote.px)
    chosen = resolve_usd_price(asset, quotes, now, policy.limits)
    chosen_ts = None if chosen is None else min(quotes[chosen.source].ts, now)
    agreement = check_agreement(asset, live, chosen, divergence_threshold=policy.divergence_threshold,
                                depeg_threshold=policy.depeg_threshold, stablecoins=policy.stablecoins)
    return AssetOutcome(asset, holding.market, chosen, chosen_ts, shown, errors, agreement)


def resolve_fx(quote: Quote | None, source_note: str | None, now: float,
               policy: Policy) -> tuple[PriceObservation | None, str | None]:
    """USD<CCY> from CoinGecko if usable, else the configured fallback rate (src "config").

    Returns the observation (or None) and what went wrong with CoinGecko, if anything.
    """
    sym = fx_pair(policy.display_currency)
    if policy.display_currency == "USD":
        return PriceObservation(sym, 1.0, FX_SOURCE, now), None
    refused = tier_problem("coingecko", quote, now, policy.limits)
    if refused is None:
        return PriceObservation(sym, float(quote.px), "coingecko", min(quote.ts, now)), None
    problem = _join(source_note, None if quote is None else refused) or "no CoinGecko rate"
    rate = policy.fx_fallback_rate
    if rate is not None and math.isfinite(rate) and rate > 0:
        return PriceObservation(sym, float(rate), FX_SOURCE, now), problem
    return None, f"{problem}; no fallback rate configured for {policy.display_currency}"


def _displayable(quote: Quote) -> bool:
    return (isinstance(quote.px, (int, float)) and math.isfinite(quote.px) and quote.px > 0
            and isinstance(quote.ts, (int, float)) and math.isfinite(quote.ts))


def _join(*parts: str | None) -> str | None:
    present = [p for p in parts if p]
    return "; ".join(present) if present else None
