"""Performance: the fund's record. Unit price since inception, underwater chart, monthly
returns, flows and strikes (state and hash), all read from the ledger's database.

Every figure is on the unit price, so subscriptions, redemptions and transfers never look
like gains or losses. A figure that cannot be computed yet shows "–" with the reason.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from services.dashboard import components as c
from services.dashboard import record
from services.dashboard.views import DASH, fmt_num, fmt_pct, fmt_usd
from services.ledger.strike import HELD, LOCKED, PROPOSED

dash.register_page(__name__, path="/performance", name="Performance", title="navstream · Performance", order=5)

POLL_MS = 5000
CHART_HEIGHT = 300
STATE_COLORS = {LOCKED: "success", HELD: "warning", PROPOSED: "secondary"}


def _day(ts: Any) -> str:
    return DASH if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _times(points: list[tuple[float, float]] | list[dict]) -> list[str]:
    ts = [p["ts"] if isinstance(p, dict) else p[0] for p in points]
    return [datetime.fromtimestamp(t, UTC).isoformat() for t in ts]


def unit_price_figure(view: record.RecordView) -> c.Figure:
    if not view.points:
        return c.empty_figure("no unit-price history yet")
    line = {"type": "scatter", "mode": "lines" if len(view.points) > 1 else "markers", "name": "unit price",
            "x": _times(view.points), "y": [p["unit_price"] for p in view.points], "line": {"color": "#2c5aa0"}}
    return {"data": [line], "layout": {"template": c.TEMPLATE, "font": c.FONT, "margin": c.BASE_LAYOUT["margin"],
                                       # ticks at plotly's own precision: a fixed ",.4f" printed 1.0000 on
                                       # every tick of a quiet day; the hover shows the unit price to 6 dp
                                       "yaxis": {"hoverformat": ",.6f", "title": {"text": "USD per unit"}},
                                       "hovermode": "x unified"}}


def underwater_figure(view: record.RecordView) -> c.Figure:
    if not view.underwater:
        return c.empty_figure("no unit-price history yet")
    area = {"type": "scatter", "mode": "lines", "name": "drawdown", "fill": "tozeroy",
            "x": _times(view.underwater), "y": [-100 * d for _, d in view.underwater], "line": {"color": "#d9534f"}}
    return {"data": [area], "layout": {"template": c.TEMPLATE, "font": c.FONT, "margin": c.BASE_LAYOUT["margin"],
                                       "yaxis": {"ticksuffix": " %", "title": {"text": "below high-water mark"}},
                                       "hovermode": "x unified"}}


def figure_tiles(view: record.RecordView) -> dbc.Row:
    perf = view.performance
    reasons = perf.reasons if perf else {}

    def tile(label: str, name: str, text: str) -> dbc.Col:
        return c.kpi_tile(label, text, f"performance-{name.replace('_', '-')}",
                          reasons.get(name) if text == DASH else None)

    get = (lambda n: getattr(perf, n)) if perf else (lambda n: None)
    return dbc.Row([
        tile("Unit price", "unit_price", fmt_num(get("unit_price"), 6)),
        c.kpi_tile("Units outstanding", view.units or DASH, "performance-units"),
        tile("High-water mark", "hwm_unit", fmt_num(get("hwm_unit"), 6)),
        tile("Drawdown", "dd_unit_pct", fmt_pct(get("dd_unit_pct"), 2)),
        tile("Max drawdown", "max_dd_unit_pct", fmt_pct(get("max_dd_unit_pct"), 2)),
        tile("TWR month", "twr_mtd", fmt_pct(get("twr_mtd"), 2)),
        tile("TWR year", "twr_ytd", fmt_pct(get("twr_ytd"), 2)),
        tile("TWR inception", "twr_itd", fmt_pct(get("twr_itd"), 2)),
        tile("Volatility (365 d)", "vol_365", fmt_pct(get("vol_365"), 1)),
        tile("Sharpe (365 d)", "sharpe_365", fmt_num(get("sharpe_365"), 2)),
        tile("Sortino (365 d)", "sortino_365", fmt_num(get("sortino_365"), 2)),
    ], className="g-2")


def monthly_table(view: record.RecordView) -> Any:
    years: dict[int, dict[str, Any]] = {}
    for y, m, ret in view.monthly:
        years.setdefault(y, {"year": str(y)})[calendar.month_abbr[m]] = fmt_pct(ret, 2)
    columns = [("year", "year")] + [(calendar.month_abbr[m], calendar.month_abbr[m]) for m in range(1, 13)]
    return c.table(columns, [years[y] for y in sorted(years)], "performance-monthly-table",
                   empty="no monthly returns yet")


def flows_table(view: record.RecordView) -> Any:
    rows = [{"id": str(f["id"]), "time": _day(f["ts"]), "kind": f["kind"],
             "class": c.badge(f["classification"], "warning" if f["classification"] == "unclassified" else "secondary"),
             "amount": fmt_usd(f["amount_usd"]), "units": f["units"], "price": fmt_num(f["unit_price"], 6),
             "investor": f["investor"], "note": f["note"] or ""} for f in reversed(view.flows)]
    return c.table([("id", "id"), ("time", "time (UTC)"), ("kind", "kind"), ("class", "class"),
                    ("amount", "amount USD"), ("units", "units"), ("price", "unit price"),
                    ("investor", "investor"), ("note", "note")], rows, "performance-flows-table", empty="no flows yet")


def strikes_table(view: record.RecordView) -> Any:
    rows = []
    for s in reversed(view.strikes):
        state = c.badge(s["state"] + (" (late)" if s["late"] else ""), STATE_COLORS.get(s["state"], "secondary"))
        held = "; ".join(record_reasons(s))
        rows.append({"date": s["strike_date"], "state": state, "price": fmt_num(s["unit_price"], 6),
                     "aum": fmt_usd(s["aum_total"]), "why": held or s["note"] or "",
                     "hash": html.Code((s["hash"] or DASH)[:16], title=s["hash"] or "not locked")})
    table = c.table([("date", "date"), ("state", "state"), ("price", "unit price"), ("aum", "AUM"),
                     ("why", "gates / note"), ("hash", "hash")], rows, "performance-strikes-table",
                    empty="no strikes yet")
    older = view.strikes_total - len(view.strikes)
    if older <= 0:
        return table
    return html.Div([table, html.Small(f"the newest {len(view.strikes)} of {view.strikes_total:,} strikes; "
                                       "all of them: `navstream strike list` or `navstream ledger export`",
                                       id="performance-strikes-more", className="text-muted")])


def record_reasons(s: dict[str, Any]) -> list[str]:
    from services.ledger.strikes import reasons_of   # with SQLAlchemy: at the first strikes table, not at start

    return reasons_of(s) if s["state"] != LOCKED else []


def body(view: record.RecordView) -> list:
    return [
        html.Div(figure_tiles(view), className="mb-3"),
        dbc.Row([
            dbc.Col(c.card("performance-price-card", "Unit price since inception",
                           c.graph("performance-price-chart", unit_price_figure(view), CHART_HEIGHT)), lg=6),
            dbc.Col(c.card("performance-underwater-card", "Underwater (drawdown of the unit price)",
                           c.graph("performance-underwater-chart", underwater_figure(view), CHART_HEIGHT)), lg=6),
        ], className="g-3 mb-3"),
        html.Div(c.card("performance-monthly", "Monthly returns (unit price)", monthly_table(view)), className="mb-3"),
        html.Div(c.card("performance-strikes", "Daily strikes", strikes_table(view)), className="mb-3"),
        c.card("performance-flows", "Flows (units issued / cancelled)", flows_table(view)),
    ]


def content() -> tuple[str | None, list]:
    try:
        view = record.load_record_view()
    except record.RecordUnavailable as exc:
        return None, [c.no_data(str(exc), id="performance-unavailable")]
    head = repr((view.points[-1]["ts"] if view.points else None, len(view.flows),
                 [(s["strike_date"], s["state"]) for s in view.strikes]))
    return head, body(view)


def layout(**_query: str) -> html.Div:
    head, children = content()
    return html.Div([
        dcc.Interval(id="performance-interval", interval=POLL_MS),
        dcc.Store(id="performance-shown", data={"head": head}),
        html.Div(children, id="performance-body"),
    ], className="ns-page")


@callback(
    Output("performance-body", "children"),
    Output("performance-shown", "data"),
    Input("performance-interval", "n_intervals"),
    State("performance-shown", "data"),
    prevent_initial_call=True,
)
def refresh(_n: int, shown: dict | None):
    head, children = content()
    if head is not None and head == (shown or {}).get("head"):
        return no_update, no_update
    return children, {"head": head}
