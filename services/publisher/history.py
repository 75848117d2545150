"""The chart history stream `hedge:nav:1m`: one point per minute of snapshot time.

A point is written for the first snapshot the publisher publishes in each
wall-clock minute (by the snapshot's `ts`). Flat fields, null as the empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts._fields import flat, optional_finite

HISTORY_FIELDS = ("ts", "nav_total", "aum_total", "dd_pct", "peak_nav",
                  "maker_fill_ratio", "fallback_ratio", "fee_pnl_ratio")


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
