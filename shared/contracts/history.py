"""Wire contract of the chart history stream `hedge:nav:1m`: one point per minute of snapshot time.

The publisher writes a point for the first snapshot it publishes in each wall-clock
minute (by the snapshot's `ts`); the dashboard draws NAV, AUM, drawdown and the router
ratios over time from it. Flat fields, null as the empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts._fields import flat, optional_finite

HISTORY_VALUES = ("nav_total", "aum_total", "dd_pct", "peak_nav",
                  "maker_fill_ratio", "fallback_ratio", "fee_pnl_ratio")
HISTORY_FIELDS = ("ts", *HISTORY_VALUES)


def history_point(snapshot: Mapping[str, Any], kpis: Mapping[str, Any]) -> dict[str, str]:
    return {
        "ts": flat(snapshot["ts"]),
        "nav_total": flat(snapshot["nav_total"]),
        "aum_total": flat(snapshot["aum"]["total"]),
        "dd_pct": flat(kpis["drawdown"]["dd_pct"]),
        "peak_nav": flat(kpis["drawdown"]["peak_nav"]),
        "maker_fill_ratio": flat(kpis["router_stats"]["maker_fill_ratio"]),
        "fallback_ratio": flat(kpis["router_stats"]["fallback_ratio"]),
        "fee_pnl_ratio": flat(kpis["fee_pnl_ratio"]),
    }


def decode_history_point(fields: Mapping[Any, Any]) -> dict[str, float | None]:
    """A point as numbers (None for null); ContractError on a bad field."""
    return {name: optional_finite(fields, name, contract="nav history point") for name in HISTORY_FIELDS}
