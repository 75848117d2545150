"""kpis_v7.json: nested and flat forms of the same numbers (docs/architecture.md; the schema is
shared/contracts/schemas/kpis.v7.schema.json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts.kpis import KPIS_SCHEMA

from services.publisher.kpis.atr import MarketAtr
from services.publisher.kpis.drawdown import Drawdown
from services.publisher.kpis.fee_pnl import FeePnl
from services.publisher.kpis.router import RouterStats


def build_kpis_document(*, now: float, snapshot: Mapping[str, Any] | None, drawdown: Drawdown,
                        atr_by_symbol: Mapping[str, MarketAtr], atr_regime: str | None,
                        fee_pnl: FeePnl, router: RouterStats) -> dict:
    """The document; `snapshot` is the nav.v7 document the NAV figures come from (None: unknown)."""
    nav_total = snapshot.get("nav_total") if snapshot else None
    nav_age_s = snapshot.get("nav_age_s") if snapshot else None
    aum_total = (snapshot.get("aum") or {}).get("total") if snapshot else None
    return {
        "schema": KPIS_SCHEMA,
        "ts": now,
        "nav": {"nav_total": nav_total, "nav_age_s": nav_age_s},
        "aum_total": aum_total,
        "drawdown": {"dd_pct": drawdown.dd_pct, "dd_state": drawdown.dd_state,
                     "peak_nav": drawdown.peak_nav},
        "dd_state": drawdown.dd_state,
        "atr": {"atr_regime": atr_regime,
                "by_symbol": {sym: a.as_dict() for sym, a in sorted(atr_by_symbol.items())}},
        "atr_regime": atr_regime,
        "fee_pnl": fee_pnl.as_dict(),
        "fee_pnl_ratio": fee_pnl.fee_pnl_ratio,
        "router_quality": router.router_quality,
        "router_stats": router.as_dict(),
    }
