"""Intel: where each price comes from. Per asset: price, pricing tier, age, every source's
observation, divergence and depeg flags. Per futures market: mark, age, ATR and regime. FX.

Reads hedge:prices:sources (the pricer's provenance), hedge:prices:latest, the KPI
document (atr.by_symbol) and the snapshot's holdings (when the pricer has not said more).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from services.dashboard import components as c
from services.dashboard import data
from shared.contracts.vocabulary import MARK, NO_PRICE, TIER_LABELS, TIERS, is_fx_pair
from services.dashboard.views import (
    DASH,
    as_list,
    as_mapping,
    PRICE_AGE_STALE_S,
    fmt_age,
    fmt_num,
    fmt_pct,
    num,
    regime_color,
    sub,
    text_or_none,
)

dash.register_page(__name__, path="/intel", name="Intel", title="navstream · Intel", order=3)

POLL_MS = 2000


def _age(now: float, ts: Any) -> float | None:
    t = num(ts)
    return None if t is None else max(0.0, now - t)


def _age_cell(age: float | None) -> Any:
    text = fmt_age(age)
    if age is not None and age > PRICE_AGE_STALE_S:
        return html.Span(f"{text} (stale)", className="text-warning fw-bold")
    return text


def _source_cell(obs: Any, error: Any, now: float) -> Any:
    parts: list[Any] = []
    if isinstance(obs, Mapping) and num(obs.get("px")) is not None:
        parts.append(html.Span(fmt_num(obs["px"], 4)))
        age = _age(now, obs.get("ts"))
        if age is not None:
            parts.append(html.Small(f" ({fmt_age(age)})", className="text-muted"))
    if error:
        parts.append(html.Div(html.Small(str(error), className="text-danger")))
    return parts or DASH


def _flag(value: Any, on: str, off: str) -> Any:
    if value is True:
        return c.badge(on, "danger")
    return html.Span(off, className="text-muted") if value is False else DASH


def asset_rows(sources: dict[str, dict], latest: dict[str, dict], nav: Mapping[str, Any],
               now: float) -> list[dict[str, Any]]:
    holdings = as_mapping(sub(nav, "aum", "offexchange"))
    rows = []
    for asset in sorted(set(sources) | set(holdings)):
        doc = sources.get(asset, {})
        held = as_mapping(holdings.get(asset))
        chosen: Mapping[str, Any] | None = doc["chosen"] if isinstance(doc.get("chosen"), Mapping) else None
        if chosen is None and asset in latest:
            chosen = latest[asset]
        if chosen is not None:
            px, tier, age = num(chosen.get("px")), chosen.get("src"), _age(now, chosen.get("ts"))
        else:  # only the snapshot knows: its holding's price, tier and age
            px, tier, age = num(held.get("mark")), held.get("source") or NO_PRICE, num(held.get("price_age_s"))
        obs = as_mapping(doc.get("sources"))
        errors = as_mapping(doc.get("errors"))
        spread = num(doc.get("spread_pct"))
        row = {
            "asset": html.Strong(asset), "market": text_or_none(doc.get("market")) or DASH,
            "price": fmt_num(px, 4),
            "tier": c.tier_badge(tier), "age": _age_cell(age),
            "spread": DASH if spread is None else f"{spread:.2f} %",
            "diverged": _flag(doc.get("diverged"), "diverged", "agree"),
            "depeg": _flag(doc.get("depeg"), "depeg", "no"),
        }
        row.update({t: _source_cell(obs.get(t), errors.get(t), now) for t in TIERS})
        rows.append(row)
    return rows


def market_rows(latest: dict[str, dict], by_symbol: Mapping[str, Any], sources: dict[str, dict],
                nav: Mapping[str, Any], now: float) -> list[dict[str, Any]]:
    # An asset's market counts only when it has a mark: many assets (XAUT, USDC) have no perpetual.
    markets = set(by_symbol) | {d["market"] for d in sources.values()
                                if isinstance(d.get("market"), str) and d["market"] in latest}
    positions = as_list(nav.get("positions"))
    markets |= {p.get("symbol") for p in positions if isinstance(p, Mapping) and isinstance(p.get("symbol"), str)}
    markets |= {s for s, obs in latest.items() if obs["src"] == MARK and s not in sources and len(s) > 5}
    rows = []
    for market in sorted(m for m in markets if m):
        mark = latest.get(market)
        atr = as_mapping(by_symbol.get(market))
        regime = atr.get("regime") if isinstance(atr.get("regime"), str) else None
        rows.append({
            "market": html.Strong(market),
            "mark": fmt_num(mark["px"], 4) if mark else DASH,
            "age": _age_cell(_age(now, mark["ts"])) if mark else DASH,
            "atr": fmt_num(atr.get("atr"), 4), "atr_pct": fmt_pct(atr.get("atr_pct"), 3),
            "regime": c.badge(regime, regime_color(regime)) if regime else DASH,
            "bars": fmt_num(atr.get("bars"), 0),
        })
    return rows


def fx_rows(latest: dict[str, dict], sources: dict[str, dict], now: float) -> list[dict[str, Any]]:
    return [{"pair": html.Strong(sym), "rate": fmt_num(obs["px"], 4), "source": c.badge(obs["src"], "info"),
             "age": _age_cell(_age(now, obs["ts"]))}
            for sym, obs in sorted(latest.items()) if is_fx_pair(sym) and sym not in sources]


def content(now: float) -> list:
    sources = data.load_price_sources()
    latest = data.load_prices()
    kpis = data.load_kpis()
    nav = data.current_nav().doc
    by_symbol = sub(kpis, "atr", "by_symbol")
    by_symbol = as_mapping(by_symbol)
    problem = data.redis_status()
    out = []
    if problem:
        out.append(html.Div(f"{problem}: prices live in Redis; showing only what the state files hold.",
                            id="intel-redis-down", className="alert alert-danger py-2"))
    out += [
        c.card("intel-assets", "Off-exchange assets: price, tier, sources", c.table(
            [("asset", "asset"), ("market", "market"), ("price", "price USD"), ("tier", "priced by"),
             ("age", "age"), *((t, TIER_LABELS[t]) for t in TIERS), ("spread", "spread"),
             ("diverged", "divergence"), ("depeg", "depeg")],
            asset_rows(sources, latest, nav, now), "intel-assets-table")),
        c.card("intel-markets", "Futures markets: mark and ATR regime", c.table(
            [("market", "market"), ("mark", "mark"), ("age", "mark age"), ("atr", "ATR"), ("atr_pct", "ATR %"),
             ("regime", "regime"), ("bars", "bars")],
            market_rows(latest, by_symbol, sources, nav, now), "intel-markets-table")),
        c.card("intel-fx", "FX", c.table([("pair", "pair"), ("rate", "rate"), ("source", "source"), ("age", "age")],
                                         fx_rows(latest, sources, now), "intel-fx-table")),
    ]
    return out


def layout(**_query: str) -> html.Div:
    return html.Div([
        dcc.Interval(id="intel-interval", interval=POLL_MS),
        html.Div(content(time.time()), id="intel-content", className="ns-stack"),
    ], className="ns-page")


@callback(Output("intel-content", "children"), Input("intel-interval", "n_intervals"), prevent_initial_call=True)
def refresh(_n: int) -> list:
    return content(time.time())
