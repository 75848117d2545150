"""Wire contract of the `performance.v1` document: STATE_DIR/performance.json and
`hedge:state:performance` (the ledger writes both; the dashboard and operators read them).

Every figure is on the unit price (flows never move it). A figure that cannot be computed
yet is null and `reasons` says why: never 0, never NaN.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.contracts._models import Strict, check_document
from shared.contracts.vocabulary import StrikeState

PERFORMANCE_SCHEMA = "performance.v1"


class Twr(Strict):
    mtd: float | None
    ytd: float | None
    itd: float | None


class LastStrike(Strict):
    date: str | None
    state: StrikeState | None
    hash: str | None


class PerformanceDocument(Strict):
    schema_: Literal["performance.v1"] = Field(alias="schema")
    fund_id: str
    ts: float = Field(gt=0)
    unit_price: float | None = Field(gt=0)
    units: str | None            # exact decimal, nine places
    hwm_unit: float | None
    dd_unit_pct: float | None = Field(ge=0, le=1)
    max_dd_unit_pct: float | None = Field(ge=0, le=1)
    twr: Twr
    vol_365: float | None
    sharpe_365: float | None
    sortino_365: float | None
    last_strike: LastStrike
    reasons: dict[str, str]


def validate_performance_document(doc: Any) -> dict:
    """Check a performance.v1 document; ContractError naming the first bad field."""
    return check_document(PerformanceDocument, doc, "performance document")
