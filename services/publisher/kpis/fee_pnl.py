"""Fees against realised PnL over the fills of a window.

fee_pnl_ratio = Σ fee_usd / |Σ realized_pnl_usd|. Null when there are no fills or the
realised PnL sums to zero. Net rebates (Σ fee_usd < 0) cost nothing: ratio 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shared.contracts.fills import Fill

from services.publisher.kpis.window import FillTotals


@dataclass(frozen=True, slots=True)
class FeePnl:
    fee_pnl_ratio: float | None
    fees_usd: float            # sums over the window: 0.0 when it holds no fills
    realized_pnl_usd: float
    window_s: float

    def as_dict(self) -> dict:
        return {"fee_pnl_ratio": self.fee_pnl_ratio, "fees_usd": self.fees_usd,
                "realized_pnl_usd": self.realized_pnl_usd, "window_s": self.window_s}


def compute_fee_pnl(fills: Sequence[Fill], window_s: float) -> FeePnl:
    """`fills` are those inside the window (the caller selects them)."""
    return fee_pnl_of(FillTotals.of(fills), window_s)


def fee_pnl_of(totals: FillTotals, window_s: float) -> FeePnl:
    """From the running totals of the fills inside the window."""
    fees = totals.fees_usd.value
    pnl = totals.realized_pnl_usd.value
    ratio = None
    if totals.fills and pnl != 0:
        ratio = max(fees, 0.0) / abs(pnl)
        if not math.isfinite(ratio):
            ratio = None
    return FeePnl(ratio, fees, pnl, window_s)
