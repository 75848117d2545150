"""performance.v1 from the record: computed on the unit-price history, written to
STATE_DIR/performance.json (the loop also SETs hedge:state:performance with it)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from shared.atomic import write_json_atomic
from shared.contracts.performance import PERFORMANCE_SCHEMA, validate_performance_document
from shared.contracts.vocabulary import PERFORMANCE_FILE

from services.ledger import queries, store
from services.ledger.config import LedgerSettings
from services.ledger.performance import Performance, compute_performance

CHART_POINTS = 5000


def performance_of(engine: Engine, cfg: LedgerSettings) -> tuple[Performance, dict[str, Any]]:
    """The figures, and the rest of the document (units, last strike)."""
    with engine.connect() as conn:
        fund = store.get_fund(conn, cfg.fund_id)
        points = [(p["ts"], p["unit_price"]) for p in
                  queries.history_points(conn, cfg.fund_id, max_points=CHART_POINTS)]
        daily = [(p["ts"], p["unit_price"]) for p in queries.daily_points(conn, cfg.fund_id)]
        hwm = queries.high_water_unit(conn, cfg.fund_id)
        latest = queries.latest_row(conn, cfg.fund_id)
        strike = store.last_strike(conn, cfg.fund_id)
    inception_price = fund["inception_price"] if fund else cfg.unit_inception_price
    perf = compute_performance(points, inception_price)
    ratios = compute_performance(daily, inception_price)   # vol / Sharpe / Sortino on daily closes
    if perf.unit_price is not None and hwm is not None:
        hwm = max(hwm, inception_price)
        perf = _replace(perf, hwm_unit=hwm, dd_unit_pct=min(1.0, max(0.0, (hwm - perf.unit_price) / hwm)))
    perf = _replace(perf, vol_365=ratios.vol_365, sharpe_365=ratios.sharpe_365, sortino_365=ratios.sortino_365,
                    reasons={**{k: v for k, v in perf.reasons.items() if k not in _RATIOS},
                             **{k: v for k, v in ratios.reasons.items() if k in _RATIOS}})
    extra = {"units": str(latest["units"]) if latest else None,
             "last_strike": {"date": strike["strike_date"], "state": strike["state"], "hash": strike["hash"]}
             if strike else {"date": None, "state": None, "hash": None}}
    return perf, extra


_RATIOS = ("vol_365", "sharpe_365", "sortino_365")


def _replace(perf: Performance, **changes: Any) -> Performance:


    return replace(perf, **changes)


def performance_document(perf: Performance, extra: dict[str, Any], fund_id: str, now: float) -> dict[str, Any]:
    return {
        "schema": PERFORMANCE_SCHEMA, "fund_id": fund_id, "ts": now,
        "unit_price": perf.unit_price, "units": extra["units"], "hwm_unit": perf.hwm_unit,
        "dd_unit_pct": perf.dd_unit_pct, "max_dd_unit_pct": perf.max_dd_unit_pct,
        "twr": {"mtd": perf.twr_mtd, "ytd": perf.twr_ytd, "itd": perf.twr_itd},
        "vol_365": perf.vol_365, "sharpe_365": perf.sharpe_365, "sortino_365": perf.sortino_365,
        "last_strike": extra["last_strike"], "reasons": dict(perf.reasons),
    }


def publish_performance(engine: Engine, cfg: LedgerSettings, state_dir: Path) -> dict[str, Any]:
    """Compute, check against performance.v1 and write performance.json; returns the document."""
    perf, extra = performance_of(engine, cfg)
    doc = validate_performance_document(performance_document(perf, extra, cfg.fund_id, time.time()))
    write_json_atomic(Path(state_dir) / PERFORMANCE_FILE, doc)
    return doc
