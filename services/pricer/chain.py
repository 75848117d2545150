"""The price fallback chain: mark -> spot_cache -> coingecko -> avg_cost -> nothing.

Pure: no I/O, no clock, no logging. The caller passes every tier's observation and `now`;
`resolve_usd_price` picks the first usable one and `tier_problem` says why a tier was not.
README "The fallback chain (per asset)" states each tier's rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from shared.contracts.vocabulary import OPERATOR_TIERS, TIERS

FUTURE_TOLERANCE_S = 30.0
"""An observation stamped up to this far ahead of our clock is clock skew: treated as age 0.
Further ahead, the timestamp is nonsense and the observation is not used."""


@dataclass(frozen=True, slots=True)
class Quote:
    """One source's USD price of one thing, and when the source says it was true."""

    px: float
    ts: float


DEFAULT_MAX_AGE_S = 30.0
"""A market tier's limit when none is configured (the mark's default, MARK_MAX_AGE_S)."""


@dataclass(frozen=True, slots=True, init=False)
class TierLimits:
    """Oldest acceptable observation per tier, in seconds; None means any age. Keyword per tier:
    `TierLimits(mark=30.0, coingecko=150.0)`. A tier not named takes DEFAULT_MAX_AGE_S, or None
    for the operator's own tiers (avg_cost), so a new tier needs no change here."""

    ages: Mapping[str, float | None]

    def __init__(self, **ages: float | None) -> None:
        unknown = sorted(set(ages) - set(TIERS))
        if unknown:
            raise ValueError(f"no such price tier: {', '.join(unknown)} (tiers: {', '.join(TIERS)})")
        defaults = {t: None if t in OPERATOR_TIERS else DEFAULT_MAX_AGE_S for t in TIERS}
        object.__setattr__(self, "ages", MappingProxyType({**defaults, **ages}))

    def max_age(self, tier: str) -> float | None:
        return self.ages[tier]


class Resolved(NamedTuple):
    """The chain's answer: a finite, positive price, the tier that supplied it, and its age."""

    price: float
    source: str
    age_s: float


def observation_age(quote: Quote, now: float) -> float:
    """Seconds since the observation; small clock skew (a timestamp just ahead of us) counts as 0."""
    return max(0.0, now - quote.ts)


def tier_problem(tier: str, quote: Quote | None, now: float, limits: TierLimits) -> str | None:
    """Why `quote` cannot price through `tier` (None: it can). Used for provenance and logs."""
    if quote is None:
        return "no observation"
    malformed = _value_problem(quote, now)
    if malformed is not None:
        return malformed
    max_age = limits.max_age(tier)
    age = observation_age(quote, now)
    if max_age is not None and age > max_age:
        return f"price is {age:.0f} s old (limit {max_age:g} s)"
    return None


def _value_problem(quote: Quote, now: float) -> str | None:
    """Why the observation's price or time is not a usable value at all (None: both are)."""
    if not _is_number(quote.px) or not math.isfinite(quote.px):
        return f"price {quote.px!r} is not a finite number"
    if quote.px <= 0:
        return f"price {quote.px!r} is not positive"
    if not _is_number(quote.ts) or not math.isfinite(quote.ts) or quote.ts <= 0:
        return f"timestamp {quote.ts!r} is not a valid time"
    if quote.ts - now > FUTURE_TOLERANCE_S:
        return f"timestamp is {quote.ts - now:.0f} s in the future"
    return None


def resolve_usd_price(asset: str, observations: Mapping[str, Quote | None], now: float,
                      limits: TierLimits) -> Resolved | None:
    """The USD price of `asset` from the first usable tier in chain order, or None if none is.

    `observations` maps tier name -> that tier's observation (missing or None: the tier has
    nothing). The returned price is exactly the chosen tier's observed price. `asset` does
    not change the decision; it names what is being priced for the reader of the call site.
    """
    for tier in TIERS:
        quote = observations.get(tier)
        if tier_problem(tier, quote, now, limits) is None:
            return Resolved(float(quote.px), tier, observation_age(quote, now))
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
