"""What one batch publishes: the pure step from snapshots, fills and prior state to documents.

Coalescing lives here: of a batch's snapshots only the newest reaches nav.json,
positions.json and the history; every snapshot's marks still feed the bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.history import history_point
from services.publisher.kpis.atr import AtrThresholds, market_atr, portfolio_regime
from shared.contracts.bars import Bar
from shared.contracts.kpi_state import KpiState
from shared.contracts.positions import positions_document
from shared.contracts.vocabulary import UNCOUNTED_SOURCES
from services.publisher.kpis.bars import fold_marks, minute_of
from services.publisher.kpis.document import build_kpis_document
from services.publisher.kpis.drawdown import DrawdownThresholds, compute_drawdown, shift_peak_for_transfers
from services.publisher.kpis.fee_pnl import fee_pnl_of
from services.publisher.kpis.router import RouterThresholds, router_stats_of
from services.publisher.kpis.window import FillTotals
from services.publisher.snapshot import (
    AcceptedSnapshot,
    position_marks,
    position_weights,
)


@dataclass(frozen=True, slots=True)
class KpiConfig:
    drawdown: DrawdownThresholds = DrawdownThresholds()
    atr: AtrThresholds = AtrThresholds()
    atr_period: int = 14
    router: RouterThresholds = RouterThresholds()
    window_s: float = 86_400.0


@dataclass(frozen=True, slots=True)
class Publication:
    nav_doc: dict | None            # None: no new snapshot, nav.json and positions.json stay
    positions_doc: dict | None
    kpis_doc: dict
    state: KpiState
    new_bars: Mapping[str, tuple[Bar, ...]]    # closed this batch, oldest first
    history_point: dict[str, str] | None


def markets_needed(accepted: Sequence[AcceptedSnapshot], reference: Mapping[str, Any] | None) -> set[str]:
    """Markets whose recent closed bars the batch needs: marked in it, or held in the snapshot it publishes."""
    markets = {m for acc in accepted for m in position_marks(acc.doc)}
    snapshot = accepted[-1].doc if accepted else reference
    if snapshot is not None:
        markets.update(p["symbol"] for p in snapshot.get("positions", ()))
    return markets


def plan_publication(*, accepted: Sequence[AcceptedSnapshot], reference: Mapping[str, Any] | None,
                     state: KpiState, closed_bars: Mapping[str, Sequence[Bar]],
                     fills: FillTotals, now: float, cfg: KpiConfig,
                     transfers_usd: float | None = None) -> Publication:
    """`accepted` in stream order; `reference` the last published snapshot (used when none is new);
    `closed_bars` the recent closed bars per market, oldest first; `fills` the totals of those in the window;
    `transfers_usd` the ledger's Σ TRANSFER USD (None: unknown, the peak stays)."""
    newest = accepted[-1] if accepted else None
    snapshot = newest.doc if newest else reference

    forming, new_bars, bars = _fold_bars(accepted, state.forming, closed_bars)

    peak = shift_peak_for_transfers(state.peak_nav, state.transfers_seen, transfers_usd)
    nav_total = None
    if snapshot is not None and snapshot.get("source") not in UNCOUNTED_SOURCES:
        nav_total = snapshot.get("nav_total")
    drawdown = compute_drawdown(nav_total, peak, cfg.drawdown)
    peak_ts = state.peak_ts
    if drawdown.peak_nav != peak and snapshot is not None:
        peak_ts = snapshot["ts"]

    held = position_weights(snapshot) if snapshot else {}
    by_symbol = {sym: market_atr(bars.get(sym, ()), cfg.atr_period, cfg.atr) for sym in held}
    regime = portfolio_regime(((by_symbol[s].atr_pct, w) for s, w in held.items()), cfg.atr)

    kpis = build_kpis_document(
        now=now, snapshot=snapshot, drawdown=drawdown, atr_by_symbol=by_symbol, atr_regime=regime,
        fee_pnl=fee_pnl_of(fills, cfg.window_s),
        router=router_stats_of(fills, cfg.window_s, cfg.router),
    )

    history, history_minute = None, state.history_minute
    if newest is not None and (history_minute is None or minute_of(newest.ts) > history_minute):
        history, history_minute = history_point(newest.doc, kpis), minute_of(newest.ts)

    return Publication(
        nav_doc=newest.doc if newest else None,
        positions_doc=positions_document(newest.doc) if newest else None,
        kpis_doc=kpis,
        state=KpiState(drawdown.peak_nav, peak_ts, history_minute, forming,
                       transfers_usd if transfers_usd is not None else state.transfers_seen),
        new_bars=new_bars,
        history_point=history,
    )


def _fold_bars(accepted: Sequence[AcceptedSnapshot], forming: Mapping[str, Bar],
               closed_bars: Mapping[str, Sequence[Bar]]
               ) -> tuple[dict[str, Bar], dict[str, tuple[Bar, ...]], dict[str, list[Bar]]]:
    """Every accepted snapshot's marks into the bars: (forming, newly closed, all recent closed)."""
    marks: dict[str, list[tuple[float, float]]] = {}
    for acc in accepted:
        for market, px in position_marks(acc.doc).items():
            marks.setdefault(market, []).append((acc.ts, px))
    out_forming = dict(forming)
    bars = {m: list(b) for m, b in closed_bars.items()}
    new_bars: dict[str, tuple[Bar, ...]] = {}
    for market, series in marks.items():
        history = bars.setdefault(market, [])
        last_t = history[-1].t if history else None
        current = out_forming.get(market)
        if current is not None and last_t is not None and current.t <= last_t:
            current = None  # already closed (state and stream disagree): never write a minute twice
        update = fold_marks(current, last_t, series)
        if update.forming is not None:
            out_forming[market] = update.forming
        if update.closed:
            new_bars[market] = update.closed
            history.extend(update.closed)
    return out_forming, new_bars, bars
