"""Drawdown of futures NAV (`nav_total`) from its running peak, adjusted for transfers.

AUM is telemetry and never enters this: drawdown is of the trading account only. Money
transferred into or out of the accounts moves `nav_total` without a gain or a loss, so the
peak moves with it: the ledger keeps Σ of every TRANSFER in USD (`hedge:ledger:transfers_usd`)
and each change of that total shifts the peak by the same amount (a withdrawal is not a loss).
"""

from __future__ import annotations

from dataclasses import dataclass

NORMAL, WARNING, CRITICAL = "normal", "warning", "critical"


@dataclass(frozen=True, slots=True)
class DrawdownThresholds:
    """`normal` below `warning`, `warning` from it up to `critical`, `critical` from there."""

    warning: float = 0.05
    critical: float = 0.10


@dataclass(frozen=True, slots=True)
class Drawdown:
    peak_nav: float | None
    dd_pct: float | None     # (peak - nav) / peak, in [0, 1]
    dd_state: str | None


def compute_drawdown(nav_total: float | None, prior_peak: float | None,
                     thresholds: DrawdownThresholds) -> Drawdown:
    """The new peak and the drawdown of `nav_total` from it.

    Unknown NAV keeps the peak and gives no drawdown. A peak that is not positive
    (an empty or negative account) makes a percentage meaningless: null as well.
    """
    if nav_total is None:
        return Drawdown(prior_peak, None, None)
    peak = nav_total if prior_peak is None else max(prior_peak, nav_total)
    if peak <= 0:
        return Drawdown(peak, None, None)
    dd_pct = min(1.0, max(0.0, (peak - nav_total) / peak))
    return Drawdown(peak, dd_pct, drawdown_state(dd_pct, thresholds))


def drawdown_state(dd_pct: float, thresholds: DrawdownThresholds) -> str:
    if dd_pct >= thresholds.critical:
        return CRITICAL
    if dd_pct >= thresholds.warning:
        return WARNING
    return NORMAL


def shift_peak_for_transfers(peak: float | None, seen: float | None, total: float | None) -> float | None:
    """The peak after the transfers since the total was last `seen` (never seen: 0, the ledger's total
    starts with the fund). An unknown total changes nothing; without a peak there is nothing to shift
    (a fresh peak is set at today's NAV, and the total then seen is its baseline)."""
    if peak is None or total is None:
        return peak
    return peak + (total - (seen or 0.0))
