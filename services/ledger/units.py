"""Unitisation, the pure core: units issued at inception and by each flow, and the unit price.

The fund is unitised on `aum.total`. A flow of `amount_usd` (+ in, - out) issues or cancels
`amount_usd / price_before` units, rounded to a nano-unit, so the unit price after the flow
equals the one before it to within half a nano-unit per unit outstanding. Units are Decimal
with nine places everywhere, so sums are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from shared.errors import NavstreamError

from services.ledger.schema import NANO


class FlowRefused(NavstreamError, ValueError):
    """A flow that must not be recorded; the message says why, and nothing was written."""


@dataclass(frozen=True, slots=True)
class Pricing:
    """What a flow is priced at: the AUM and units of the last snapshot before it."""

    aum_before: float
    units_before: Decimal

    @property
    def unit_price(self) -> float:
        return unit_price(self.aum_before, self.units_before)


def quantize_units(x: Decimal) -> Decimal:
    return x.quantize(NANO, rounding=ROUND_HALF_EVEN)


def unit_price(aum_total: float, units: Decimal) -> float:
    """AUM per unit; ValueError when there are no units (a unit price of nothing is undefined)."""
    if units <= 0:
        raise ValueError(f"no units outstanding ({units}): the unit price is undefined")
    return float(Decimal(repr(aum_total)) / units)


def inception_units(aum_total: float, inception_price: float) -> Decimal:
    """Units at inception: aum.total / UNIT_INCEPTION_PRICE."""
    if not (math.isfinite(aum_total) and aum_total > 0):
        raise FlowRefused(f"cannot unitise the fund on aum.total {aum_total!r}: it must be a positive number")
    if not (math.isfinite(inception_price) and inception_price > 0):
        raise FlowRefused(f"UNIT_INCEPTION_PRICE {inception_price!r} must be a positive number")
    return quantize_units(Decimal(repr(aum_total)) / Decimal(repr(inception_price)))


def flow_units(amount_usd: float, pricing: Pricing) -> Decimal:
    """Units a flow issues (+) or cancels (-), at the unit price just before it."""
    check_amount(amount_usd)
    if not (math.isfinite(pricing.aum_before) and pricing.aum_before > 0) or pricing.units_before <= 0:
        raise FlowRefused(f"the fund has no positive AUM and units to price a flow at "
                          f"(aum {pricing.aum_before!r}, units {pricing.units_before})")
    if amount_usd < 0 and -amount_usd > pricing.aum_before:
        raise FlowRefused(f"a redemption of {-amount_usd:,.2f} USD is larger than the fund "
                          f"({pricing.aum_before:,.2f} USD)")
    units = quantize_units(Decimal(repr(amount_usd)) * pricing.units_before / Decimal(repr(pricing.aum_before)))
    if amount_usd < 0 and -units > pricing.units_before:
        units = -pricing.units_before
    return units


def check_amount(amount_usd: float) -> None:
    if isinstance(amount_usd, bool) or not isinstance(amount_usd, (int, float)) or not math.isfinite(amount_usd):
        raise FlowRefused(f"amount {amount_usd!r} is not a finite number of USD")
    if amount_usd == 0:
        raise FlowRefused("amount 0 USD: a flow moves money; nothing to record")


def parse_amount(raw: str) -> float:
    """A positive USD amount typed by the operator (`1000`, `1,000.50`); FlowRefused otherwise."""
    try:
        value = float(raw.replace(",", "").replace("_", ""))
    except ValueError:
        raise FlowRefused(f"amount {raw!r} is not a number of USD") from None
    if not math.isfinite(value) or value <= 0:
        raise FlowRefused(f"amount {raw!r} must be a positive number of USD (subscribe or redeem says the direction)")
    return value
