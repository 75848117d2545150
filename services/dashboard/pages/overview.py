"""Overview (v7): the investor page. NAV, AUM (donut), drawdown/ATR status, KPIs, positions, history.

Reads the newest snapshot (live feed or published state), the KPI document and the
one-minute history; shows what they say, greyed and labelled when old, "no data yet"
when absent. Each poll redraws only the sections whose data changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from services.dashboard import components as c
from services.dashboard import context, data, record
from services.dashboard.views import (
    DASH,
    as_mapping,
    KPIS_STALE_S,
    NO_DATA,
    SNAPSHOT_STALE_S,
    SOURCE_NOTES,
    build_aum_slices,
    dd_color,
    digest,
    fingerprint,
    fmt_age,
    fmt_ccy,
    fmt_num,
    fmt_pct,
    fmt_qty,
    fmt_text,
    fmt_usd,
    freshness,
    fx_rate,
    is_degraded,
    kpi_fields,
    nav_age_freshness,
    num,
    position_rows,
    regime_color,
    status_reasons,
    sub,
    text_or_none,
)

dash.register_page(__name__, path="/", name="Overview (v7)", title="navstream · Overview (v7)", order=0)

POLL_MS = 750
DONUT_HEIGHT = 300
HISTORY_HEIGHT = 320
HOLDINGS_SHOWN = 25


# --- what the page shows, from the data it read --------------------------------------

def aum_slices(nav: Mapping[str, Any]) -> tuple[list[dict], str]:
    """build_aum_slices(nav) and a digest of the slices, built once per snapshot document.

    The live feed hands out the same document object until a new snapshot arrives, so an
    unchanged poll reuses the app context's memo of the last one.
    """
    memo = context.current().slices
    last = memo.last
    if last is not None and last[0] is nav:
        return last[1], last[2]
    slices = build_aum_slices(nav)
    key = digest(slices)
    memo.last = (nav, slices, key)
    return slices, key


class OverviewData:
    """Everything one render of the page needs, read once."""

    def __init__(self, now: float) -> None:
        src = data.default_source()
        self.now = now
        self.ccy = src.settings.display_currency
        self.loaded = data.current_nav(src)
        self.nav = self.loaded.doc
        self.kpis_loaded = data.read_kpis(source=src)
        self.kpis = self.kpis_loaded.doc
        self.redis_error = src.last_error
        self.fx = fx_rate(self.nav, self.ccy)
        self.slices, self.slices_key = aum_slices(self.nav)
        self.snap_fresh = freshness(self.nav.get("ts"), now, SNAPSHOT_STALE_S)
        self.nav_fresh = nav_age_freshness(self.nav.get("nav_age_s"))
        self.kpis_fresh = freshness(self.kpis.get("ts"), now, KPIS_STALE_S)
        positions = self.nav.get("positions")
        if not isinstance(positions, list) and not self.nav:
            positions = data.load_positions(source=src) or None
        self.positions = positions


def _sections(d: OverviewData) -> dict[str, tuple[str, Callable[[], Any]]]:
    """section -> (key of its inputs, render function); a section is redrawn only when its key changes."""
    fp = fingerprint(d.nav)
    aum_key = digest(d.slices_key, d.fx, sub(d.nav, "aum", "total"), d.ccy)
    return {
        "alerts": (digest(fp, d.loaded.origin, d.loaded.note, d.redis_error, d.snap_fresh.key),
                   lambda: alerts(d)),
        "row1": (digest(fp, d.loaded.origin, d.kpis.get("ts"), d.snap_fresh.key, d.nav_fresh.key,
                        d.kpis_fresh.key, d.ccy), lambda: row1(d)),
        "donut": (aum_key, lambda: c.donut_figure(d.slices, sub(d.nav, "aum", "total"), d.fx, d.ccy)),
        "donut_state": (d.snap_fresh.key, lambda: donut_state(d)),
        "holdings": (aum_key, lambda: holdings_table(d)),
        "kpis": (digest(d.kpis.get("ts"), d.kpis_loaded.origin, d.kpis_fresh.key), lambda: kpi_panel(d)),
        "positions": (digest(fp, d.positions, d.nav.get("accounts"), d.snap_fresh.key),
                      lambda: positions_section(d)),
    }


# --- sections ------------------------------------------------------------------------

def alerts(d: OverviewData) -> list:
    out = []
    if d.nav and is_degraded(d.nav):
        reasons = status_reasons(d.nav) or ["no reason given"]
        out.append(dbc.Alert([html.Strong("Degraded: "), "; ".join(reasons)], color="warning",
                             id="overview-degraded", className="py-2 mb-2"))
    origin = d.loaded.origin
    if origin == "file":
        out.append(dbc.Alert(f"{d.loaded.note or 'Redis unavailable'}: showing the mirrored state file "
                             f"{d.loaded.where}.", color="secondary", id="overview-origin", className="py-2 mb-2"))
    elif origin == "none":
        why = (d.redis_error or d.loaded.note or "nothing published yet").rstrip(".")
        out.append(dbc.Alert(f"No NAV snapshot yet. {why}; no state file at {d.loaded.where}.",
                             color="secondary", id="overview-origin", className="py-2 mb-2"))
    elif origin == "stream" and d.redis_error:
        out.append(dbc.Alert(f"{d.redis_error}: showing the last snapshot received.", color="secondary",
                             id="overview-origin", className="py-2 mb-2"))
    return out


def row1(d: OverviewData) -> list:
    return [dbc.Col(nav_card(d), md=4), dbc.Col(aum_card(d), md=4), dbc.Col(status_card(d), md=4)]


def nav_card(d: OverviewData) -> dbc.Card:
    if not d.nav:
        return c.card("overview-nav-card", "NAV (futures)", [c.big_value(DASH, "overview-nav-value"),
                                                            c.no_data()])
    nav = d.nav
    source = text_or_none(nav.get("source"))
    seq = nav.get("seq") if isinstance(nav.get("seq"), int) and not isinstance(nav.get("seq"), bool) else DASH
    body = [
        c.big_value(fmt_usd(nav.get("nav_total")), "overview-nav-value"),
        html.Div([c.source_badge(source, "overview-nav-source"),
                  html.Span(SOURCE_NOTES.get(source or "", ""), className="small text-muted")], className="mb-1"),
        html.Div(f"account data age: {fmt_age(nav.get('nav_age_s'))}", id="overview-nav-age",
                 className="small"),
        html.Div(f"snapshot #{seq} at {c.when(nav.get('ts'))} UTC "
                 f"({fmt_age(d.snap_fresh.age_s)} ago)", className="small text-muted"),
    ]
    if num(nav.get("nav_total")) is None:
        body.insert(1, html.Div("NAV unknown: no account data yet", className="small text-muted"))
    stale = d.snap_fresh.label or d.nav_fresh.label
    return c.card("overview-nav-card", "NAV (futures)", body, stale_label=stale)


def aum_card(d: OverviewData) -> dbc.Card:
    aum = d.nav.get("aum")
    if not isinstance(aum, dict):
        return c.card("overview-aum-card", "AUM", [c.big_value(DASH, "overview-aum-value"), c.no_data()],
                      stale_label=d.snap_fresh.label if d.nav else None)
    total = num(aum.get("total"))
    if total is None:
        local = html.Div("no data", id="overview-aum-display", className="text-muted")
    elif d.fx is None:
        local = html.Div(f"no USD/{d.ccy} rate in the snapshot", id="overview-aum-display",
                         className="text-muted")
    else:
        local = html.Div(fmt_ccy(total * d.fx, d.ccy), id="overview-aum-display", className="ns-mid-value")
    holdings = as_mapping(aum.get("offexchange"))
    body = [
        c.big_value(fmt_usd(total), "overview-aum-value"),
        local,
        html.Div(f"futures {fmt_usd(aum.get('futures'))} + {len(holdings)} off-exchange "
                 f"holding{'s' if len(holdings) != 1 else ''}", className="small"),
        html.Div(f"rate USD{d.ccy} {fmt_num(d.fx, 4)}" if d.fx is not None and d.ccy != "USD" else "",
                 className="small text-muted"),
    ]
    return c.card("overview-aum-card", "AUM (telemetry)", body, stale_label=d.snap_fresh.label)


def pipeline_state(d: OverviewData) -> tuple[str, bool]:
    """What the pipeline line says, and whether it is a warning: never "ok" for an old snapshot."""
    if not d.nav:
        return "no snapshot", False
    if d.snap_fresh.stale:
        return f"stale (last snapshot {fmt_age(d.snap_fresh.age_s)} old)", True
    reasons = len(status_reasons(d.nav))
    if is_degraded(d.nav):
        return f"degraded ({reasons} reason{'s' if reasons != 1 else ''})", True
    return "ok", False


def status_card(d: OverviewData) -> dbc.Card:
    k = kpi_fields(d.kpis)
    pipeline, warn = pipeline_state(d)
    body = [
        html.Div([html.Span("drawdown ", className="ns-kpi-label me-1"),
                  c.badge(k["dd_state"] or DASH, dd_color(k["dd_state"]), "overview-status-dd-state"),
                  html.Span(fmt_pct(k["dd_pct"], 2), id="overview-status-dd-pct", className="ms-1")],
                 className="mb-2"),
        html.Div([html.Span("ATR regime ", className="ns-kpi-label me-1"),
                  c.badge(k["atr_regime"] or DASH, regime_color(k["atr_regime"]), "overview-status-atr")],
                 className="mb-2"),
        html.Div(f"peak NAV {fmt_usd(k['peak_nav'])}", className="small text-muted"),
        html.Div(["pipeline: ", c.badge(pipeline, "warning", "overview-status-pipeline") if warn
                  else html.Span(pipeline, id="overview-status-pipeline")], className="small"),
    ]
    if not d.kpis:
        body.append(c.no_data("no KPI data yet"))
    return c.card("overview-status-card", "Drawdown / ATR", body, stale_label=d.kpis_fresh.label)


def donut_state(d: OverviewData) -> tuple[str, list]:
    cls = "ns-card h-100" + (" ns-stale" if d.snap_fresh.label else "")
    return cls, [c.stale_badge(d.snap_fresh.label)] if d.snap_fresh.label else []


def holdings_table(d: OverviewData) -> Any:
    aum_total = num(sub(d.nav, "aum", "total"))
    shown = d.slices
    if len(shown) > HOLDINGS_SHOWN:  # the largest ones; the Intel page lists every asset
        shown = shown[:1] + sorted(shown[1:], key=lambda s: s["value"], reverse=True)[:HOLDINGS_SHOWN - 1]
    rows = []
    for s in shown:
        usd = s["usd_value"]
        if s["kind"] == "futures":
            source: Any = c.badge("futures", "primary")
        else:
            source = [c.tier_badge(s["source"]), html.Small(fmt_age(s["price_age_s"]), className="text-muted")
                      if s["price_age_s"] is not None else None]
        rows.append({
            "asset": s["label"], "qty": fmt_qty(s["qty"]), "price": fmt_num(s["mark"]),
            "usd": fmt_usd(usd), "local": fmt_ccy(usd * d.fx, d.ccy, 0) if usd is not None and d.fx else DASH,
            "share": fmt_pct(usd / aum_total, 1) if usd is not None and aum_total else DASH,
            "source": source,
        })
    if not rows:
        return None
    if len(shown) < len(d.slices):
        more = html.Em(f"… and {len(d.slices) - len(shown)} smaller holdings (see Intel)")
        rows.append(dict.fromkeys(("qty", "price", "usd", "local", "share", "source"), "") | {"asset": more})
    return c.table([("asset", "asset"), ("qty", "qty"), ("price", "price USD"), ("usd", "USD"),
                    ("local", d.ccy), ("share", "% AUM"), ("source", "priced by, age")],
                   rows, "overview-holdings-table")


def kpi_panel(d: OverviewData) -> dbc.Card:
    k = kpi_fields(d.kpis)
    tiles = dbc.Row([
        c.kpi_tile("Drawdown state", k["dd_state"] or DASH, "overview-kpi-dd-state",
                   f"{fmt_pct(k['dd_pct'], 2)} below peak" if k["dd_pct"] is not None else None),
        c.kpi_tile("ATR regime", k["atr_regime"] or DASH, "overview-kpi-atr-regime"),
        c.kpi_tile("Router quality", k["router_quality"] or DASH, "overview-kpi-router-quality"),
        c.kpi_tile("Fee / PnL ratio", fmt_num(k["fee_pnl_ratio"], 3), "overview-kpi-fee-pnl-ratio",
                   "fees ÷ realized PnL"),
        c.kpi_tile("Maker fill ratio", fmt_pct(k["maker_fill_ratio"]), "overview-kpi-maker-fill-ratio"),
        c.kpi_tile("Fallback ratio", fmt_pct(k["fallback_ratio"]), "overview-kpi-fallback-ratio",
                   f"{fmt_num(k['fills'], 0)} fills in {fmt_age(k['window_s'])}" if k["fills"] is not None else None),
        c.kpi_tile("Peak NAV", fmt_usd(k["peak_nav"], 0), "overview-kpi-peak-nav", "drawdown reference"),
        c.kpi_tile("Fees", fmt_usd(k["fees_usd"]), "overview-kpi-fees", "in the fee/PnL window"),
        c.kpi_tile("Realized PnL", fmt_usd(k["realized_pnl_usd"]), "overview-kpi-realized-pnl",
                   "in the fee/PnL window"),
    ], className="g-2")
    body = [tiles] if d.kpis else [c.no_data("no KPI data yet"), tiles]
    where = {"redis": "hedge:state:kpis", "file": d.kpis_loaded.where}.get(d.kpis_loaded.origin)
    footer = f"KPIs at {c.when(d.kpis.get('ts'))} UTC from {where}" if where else None
    return c.card("overview-kpis", "Risk & router KPIs", body, stale_label=d.kpis_fresh.label, footer=footer)


def positions_card(d: OverviewData) -> dbc.Card:
    rows = position_rows(d.positions)
    empty = NO_DATA if d.positions is None else "no open positions"
    # the account column once positions come from named accounts (a hedge pair lives in one of them)
    named = isinstance(d.positions, list) and any(isinstance(p, dict) and p.get("account") for p in d.positions)
    accounts = [("account", "account")] if named else []
    tbl = c.table([*accounts, ("symbol", "symbol"), ("side", "side"), ("qty", "qty"), ("entry", "entry"),
                   ("mark", "mark"), ("upnl", "uPnL")], rows, "overview-positions-table", empty=empty)
    return c.card("overview-positions", "Positions", tbl, stale_label=d.snap_fresh.label)


def _account_summary(name: str, acc: Mapping[str, Any]) -> list:
    mode = {"single_asset": "single-asset", "multi_assets": "multi-assets"}.get(
        str(acc.get("mode")), fmt_text(acc.get("mode")))
    breaks = acc.get("recon_breaks") or []
    parts = [html.Strong(name, className="me-2"), c.source_badge(acc.get("source"), f"overview-account-{name}-source"),
             html.Span(f" {mode}", className="small text-muted ms-1"),
             html.Span(fmt_usd(acc.get("nav_usd")), className="ms-3", id=f"overview-account-{name}-nav"),
             html.Span(f" · {fmt_age(acc.get('age_s'))} old" if num(acc.get("age_s")) is not None else "",
                       className="small text-muted")]
    if breaks:
        parts.append(dbc.Badge(f"reconciliation break: {', '.join(map(str, breaks))}", color="danger",
                               className="ms-2"))
    return parts


def _asset_rows(assets: Any) -> list[dict[str, str]]:
    if not isinstance(assets, Mapping):
        return []
    return [{"asset": str(asset), "wallet": fmt_num(a.get("wallet"), 4), "upnl": fmt_num(a.get("upnl"), 4),
             "price": fmt_num(a.get("usd_price"), 4), "src": fmt_text(a.get("price_src")),
             "usd": fmt_usd(a.get("usd_value"))}
            for asset, a in sorted(assets.items()) if isinstance(a, Mapping)]


def accounts_card(d: OverviewData) -> dbc.Card:
    """One collapsed row per exchange account (mode, source, NAV, age); open it for assets and reasons."""
    accounts = d.nav.get("accounts")
    if not isinstance(accounts, Mapping) or not accounts:
        return c.card("overview-accounts", "Exchange accounts", c.no_data(NO_DATA), stale_label=d.snap_fresh.label)
    rows = []
    for name, acc in sorted(accounts.items()):
        if not isinstance(acc, Mapping):
            continue
        assets = c.table([("asset", "asset"), ("wallet", "wallet"), ("upnl", "uPnL"), ("price", "USD price"),
                          ("src", "price source"), ("usd", "USD value")], _asset_rows(acc.get("assets")),
                         f"overview-account-{name}-assets", empty="no asset rows")
        reasons = [html.Li(str(r)) for r in acc.get("reasons") or []]
        rows.append(html.Details([html.Summary(_account_summary(str(name), acc)), assets,
                                  html.Ul(reasons, className="small text-muted mt-1") if reasons else None],
                                 id=f"overview-account-{name}", className="mb-2"))
    return c.card("overview-accounts", "Exchange accounts", rows, stale_label=d.snap_fresh.label)


def positions_section(d: OverviewData) -> list:
    """The per-account rows above the positions table (the donut stays Futures + off-exchange)."""
    return [html.Div(accounts_card(d), className="mb-3"), positions_card(d)]


def history_chart(head: str | None) -> c.Figure:
    """The history figure up to the newest point `head` (None: no history), read and built once per point
    (it changes once a minute, pages load more often)."""
    memo = context.current().history
    last = memo.last
    if head is not None and last is not None and last[0] == head:
        return last[1]
    points = _history_points(head)
    figure = c.history_figure(points)
    if points:  # not an empty read (Redis may have failed between the two reads)
        memo.last = (head, figure)
    return figure


_RECORD = "record:"


def _history_points(head: str | None) -> list[dict]:
    """From the ledger's record (it outlives Redis; drawdown is the unit price's), else hedge:nav:1m."""
    if head is None:
        return []
    return record.overview_points() if head.startswith(_RECORD) else data.load_history()


def history_head() -> str | None:
    """The newest history point: the record's when it has one, else hedge:nav:1m's (RedisDown if unreachable)."""
    recorded = record.history_head()
    return _RECORD + recorded if recorded is not None else data.history_head()


def history_section() -> tuple[str | None, Any]:
    try:
        head = history_head()
    except data.RedisDown:
        return None, c.empty_figure("no history: Redis unreachable")
    return head, history_chart(head)


# --- layout and live updates -----------------------------------------------------------

def layout(**_query: str) -> html.Div:
    d = OverviewData(time.time())
    sections = _sections(d)
    head, history = history_section()
    donut_cls, donut_badges = donut_state(d)
    keys = {name: key for name, (key, _) in sections.items()} | {"history": head}
    return html.Div([
        dcc.Interval(id="overview-interval", interval=POLL_MS),
        dcc.Store(id="overview-shown", data=keys),
        html.Div(alerts(d), id="overview-alerts"),
        dbc.Row(row1(d), id="overview-row1", className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card([
                dbc.CardHeader([html.Span("AUM allocation", className="ns-card-title"),
                                html.Span(donut_badges, id="overview-donut-badges", className="ns-card-badges")],
                               className="d-flex justify-content-between align-items-center"),
                dbc.CardBody([c.graph("overview-aum-donut", sections["donut"][1](), DONUT_HEIGHT),
                              html.Div(holdings_table(d), id="overview-holdings", className="mt-2")]),
            ], id="overview-donut-card", className=donut_cls), lg=6),
            dbc.Col(html.Div(kpi_panel(d), id="overview-kpis-wrap", className="h-100"), lg=6),
        ], className="g-3 mb-3"),
        dbc.Row(dbc.Col(html.Div(positions_section(d), id="overview-positions-wrap")), className="g-3 mb-3"),
        dbc.Row(dbc.Col(c.card("overview-history-card", "NAV and AUM history, drawdown (one point a minute)",
                               c.graph("overview-history", history, HISTORY_HEIGHT))), className="g-3 mb-3"),
    ], className="ns-page")


@callback(
    Output("overview-alerts", "children"),
    Output("overview-row1", "children"),
    Output("overview-aum-donut", "figure"),
    Output("overview-donut-card", "className"),
    Output("overview-donut-badges", "children"),
    Output("overview-holdings", "children"),
    Output("overview-kpis-wrap", "children"),
    Output("overview-positions-wrap", "children"),
    Output("overview-history", "figure"),
    Output("overview-shown", "data"),
    Input("overview-interval", "n_intervals"),
    State("overview-shown", "data"),
    prevent_initial_call=True,
)
def refresh(_n: int, shown: dict | None):
    """Redraw only what changed since the last poll (no_update for the rest)."""
    shown = dict(shown or {})
    d = OverviewData(time.time())
    out: dict[str, Any] = {}
    for name, (key, render) in _sections(d).items():
        if shown.get(name) != key:
            shown[name] = key
            out[name] = render()
    history: Any = no_update
    try:
        head = history_head()
    except data.RedisDown:
        head = shown.get("history")  # keep the chart already drawn
    if head != shown.get("history"):
        shown["history"] = head
        history = history_chart(head)
    donut_cls, donut_badges = out.get("donut_state", (no_update, no_update))
    return (out.get("alerts", no_update), out.get("row1", no_update), out.get("donut", no_update),
            donut_cls, donut_badges, out.get("holdings", no_update), out.get("kpis", no_update),
            out.get("positions", no_update), history, shown)

