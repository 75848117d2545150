"""Wire contract of the KPI document (kpis_v7.json, `hedge:state:kpis`).

Nested and flat forms of the same numbers are both present; readers use either.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.contracts._models import Open, check_document

KPIS_SCHEMA = "kpis.v7"


class NavKpi(Open):
    nav_total: float | None
    nav_age_s: float | None


class Drawdown(Open):
    dd_pct: float | None = Field(ge=0, le=1)
    dd_state: str | None
    peak_nav: float | None


class Atr(Open):
    atr_regime: str | None
    by_symbol: dict[str, Any]


class FeePnl(Open):
    fee_pnl_ratio: float | None = Field(ge=0)
    fees_usd: float | None
    realized_pnl_usd: float | None
    window_s: float = Field(gt=0)


class RouterStats(Open):
    maker_fill_ratio: float | None = Field(ge=0, le=1)
    fallback_ratio: float | None = Field(ge=0, le=1)
    fills: int = Field(ge=0)
    window_s: float = Field(gt=0)


class KpisDocument(Open):
    schema_: Literal["kpis.v7"] = Field(alias="schema")
    ts: float = Field(gt=0)
    nav: NavKpi
    aum_total: float | None
    drawdown: Drawdown
    dd_state: str | None
    atr: Atr
    atr_regime: str | None
    fee_pnl: FeePnl
    fee_pnl_ratio: float | None = Field(ge=0)
    router_quality: str | None
    router_stats: RouterStats


def validate_kpis_document(doc: Any) -> dict:
    return check_document(KpisDocument, doc, "kpis document")
