"""Router Health: how well orders are being filled, now and over time.

Current router_stats and fee/PnL come from the KPI document; the time series from
the one-minute history (hedge:nav:1m); recent fills from hedge:fills.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from services.dashboard import components as c
from services.dashboard import data
from services.dashboard.views import (
    DASH,
    KPIS_STALE_S,
    digest,
    fmt_age,
    fmt_num,
    fmt_pct,
    fmt_qty,
    fmt_usd,
    freshness,
    kpi_fields,
)

dash.register_page(__name__, path="/router", name="Router Health", title="navstream · Router Health", order=2)

POLL_MS = 1000
CHART_HEIGHT = 260
FILLS_SHOWN = 25


def stats_card(kpis: dict, now: float) -> dbc.Card:
    k = kpi_fields(kpis)
    fresh = freshness(kpis.get("ts"), now, KPIS_STALE_S)
    tiles = dbc.Row([
        c.kpi_tile("Maker fill ratio", fmt_pct(k["maker_fill_ratio"]), "router-maker-fill-ratio",
                   f"{fmt_num(k['maker_fills'], 0)} maker fills"),
        c.kpi_tile("Fallback ratio", fmt_pct(k["fallback_ratio"]), "router-fallback-ratio",
                   f"{fmt_num(k['fallback_fills'], 0)} fallback fills"),
        c.kpi_tile("Fee / PnL", fmt_num(k["fee_pnl_ratio"], 3), "router-fee-pnl-ratio",
                   f"fees {fmt_usd(k['fees_usd'])} / PnL {fmt_usd(k['realized_pnl_usd'])}"),
        c.kpi_tile("Router quality", k["router_quality"] or DASH, "router-quality"),
        c.kpi_tile("Fills in window", fmt_num(k["fills"], 0), "router-fills", f"window {fmt_age(k['window_s'])}"),
        c.kpi_tile("Avg slippage", DASH if k["avg_slippage_bps"] is None else f"{k['avg_slippage_bps']:.2f} bps",
                   "router-avg-slippage"),
    ], className="g-2")
    body = [tiles] if kpis else [c.no_data("no KPI data yet"), tiles]
    return c.card("router-stats", "Router now (router_stats)", body, stale_label=fresh.label,
                  footer=f"KPIs at {c.when(kpis.get('ts'))} UTC" if kpis else None)


def fill_rows(fills: list) -> list[dict[str, Any]]:
    return [{
        "time": c.when(f.ts), "sym": f.sym, "side": f.side, "qty": fmt_qty(f.qty), "px": fmt_num(f.px),
        "fee": fmt_usd(f.fee_usd, 4), "liq": c.badge(f.liquidity, "success" if f.liquidity == "maker" else "info"),
        "fallback": c.badge("fallback", "warning") if f.fallback else "",
        "pnl": fmt_usd(f.realized_pnl_usd), "slip": f"{f.slippage_bps:.2f}",
    } for f in fills]


def fills_table(fills: list) -> Any:
    return c.table([("time", "time (UTC)"), ("sym", "symbol"), ("side", "side"), ("qty", "qty"), ("px", "price"),
                    ("fee", "fee"), ("liq", "liquidity"), ("fallback", "route"), ("pnl", "realized PnL"),
                    ("slip", "slippage bps")], fill_rows(fills), "router-fills-table", empty="no fills yet")


def charts(points: list[dict]) -> tuple[Any, Any]:
    ratios = c.ratio_figure(points, [("maker_fill_ratio", "maker fill ratio", "#5aa469"),
                                     ("fallback_ratio", "fallback ratio", "#e17c3a")])
    fee = c.ratio_figure(points, [("fee_pnl_ratio", "fee / PnL ratio", "#2c5aa0")], percent=False)
    return ratios, fee


def _history() -> tuple[str | None, list[dict]]:
    head = data.history_head()
    return head, (data.load_history() if head else [])


def layout(**_query: str) -> html.Div:
    now = time.time()
    kpis = data.load_kpis()
    try:
        head, points = _history()
    except data.RedisDown:
        head, points = None, []
    ratios, fee = charts(points)
    fills = data.load_fills(count=FILLS_SHOWN)
    return html.Div([
        dcc.Interval(id="router-interval", interval=POLL_MS),
        dcc.Store(id="router-shown", data={"history": head, "fills": digest([f.id for f in fills]),
                                           "kpis": digest(kpis.get("ts"))}),
        html.Div(stats_card(kpis, now), id="router-stats-wrap", className="mb-3"),
        dbc.Row([
            dbc.Col(c.card("router-ratios-card", "Maker-fill and fallback ratio over time",
                           c.graph("router-ratios-chart", ratios, CHART_HEIGHT)), lg=6),
            dbc.Col(c.card("router-feepnl-card", "Fee / PnL ratio over time",
                           c.graph("router-feepnl-chart", fee, CHART_HEIGHT)), lg=6),
        ], className="g-3 mb-3"),
        c.card("router-fills", f"Recent fills (newest {FILLS_SHOWN})",
               html.Div(fills_table(fills), id="router-fills-wrap")),
    ], className="ns-page")


@callback(
    Output("router-stats-wrap", "children"),
    Output("router-ratios-chart", "figure"),
    Output("router-feepnl-chart", "figure"),
    Output("router-fills-wrap", "children"),
    Output("router-shown", "data"),
    Input("router-interval", "n_intervals"),
    State("router-shown", "data"),
    prevent_initial_call=True,
)
def refresh(_n: int, shown: dict | None):
    shown = dict(shown or {})
    now = time.time()
    kpis = data.load_kpis()
    kpis_key = digest(kpis.get("ts"), freshness(kpis.get("ts"), now, KPIS_STALE_S).key)
    stats = no_update
    if kpis_key != shown.get("kpis"):
        shown["kpis"], stats = kpis_key, stats_card(kpis, now)
    ratios = fee = no_update
    try:
        head = data.history_head()
    except data.RedisDown:
        head = shown.get("history")
    if head != shown.get("history"):
        shown["history"] = head
        ratios, fee = charts(data.load_history() if head else [])
    fills = data.load_fills(count=FILLS_SHOWN)
    fills_key = digest([f.id for f in fills])
    table = no_update
    if fills and fills_key != shown.get("fills"):
        shown["fills"], table = fills_key, fills_table(fills)
    return stats, ratios, fee, table, shown
