"""The two number rules every part of the valuation core shares: finite or unknown, and a usable price."""

from __future__ import annotations

import math

from shared.contracts.prices import PriceObservation


def finite_or_none(value: float | None) -> float | None:
    """`value` if it is a finite number, else None: the only way numbers leave the valuation core."""
    if type(value) is float:   # the common case, on every price of every snapshot
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def usable_price(obs: PriceObservation | None) -> bool:
    """A price that may value something: present, finite, > 0, with a finite timestamp."""
    if obs is None:
        return False
    px, ts = obs.px, obs.ts
    if type(px) is float and type(ts) is float:   # as decoded: every price of every snapshot
        return px > 0 and math.isfinite(px) and math.isfinite(ts)
    return finite_or_none(px) is not None and px > 0 and finite_or_none(ts) is not None
