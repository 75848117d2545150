"""Shared building blocks of the pages: cards, KPI tiles, tables, badges and plotly figures.

Everything here takes already-read data and returns Dash components or figures;
nothing reads Redis, files or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
import plotly.io as pio
from dash import dcc, html

from shared.contracts.vocabulary import NO_PRICE, TIERS
from services.dashboard.views import (
    DASH,
    NO_DATA,
    SOURCE_COLORS,
    SOURCE_NOTES,
    TIER_NOTES,
    fmt_age,
    fmt_ccy,
    fmt_pct,
    fmt_qty,
    fmt_usd,
    num,
    scaled,
)

FUTURES_COLOR = "#2c5aa0"
PALETTE = ["#f2a900", "#c9a227", "#2775ca", "#6c8ebf", "#5aa469", "#d9534f", "#8e6c8a",
           "#4bb3b3", "#e17c3a", "#7a7a7a", "#a3c45a", "#b85c9e"]
MAX_DONUT_SLICES = 12   # beyond this the smallest holdings are drawn as one "Other" slice
GRAPH_CONFIG: Any = {"displayModeBar": False, "responsive": True}   # dcc.Graph's `config`
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12)
Figure = dict[str, Any]   # a plotly figure: {"data": [traces], "layout": {...}}


# --- small pieces ---------------------------------------------------------------

def no_data(message: str = NO_DATA, id: str | None = None) -> html.Div:
    kw: dict[str, Any] = {"id": id} if id else {}
    return html.Div(message, className="ns-no-data text-muted", **kw)


def badge(text: str, color: str = "secondary", id: str | None = None, title: str | None = None) -> dbc.Badge:
    kw: dict[str, Any] = {"id": id} if id else {}
    if title:
        kw["title"] = title
    return dbc.Badge(text, color=color, className="me-1 ns-badge", **kw)


def source_badge(source: Any, id: str | None = None) -> dbc.Badge:
    """The snapshot's NAV source, labelled: live / cache / manual / startup."""
    s = source if isinstance(source, str) else None
    if s is None:
        return badge("source unknown", "secondary", id)
    return badge(s, SOURCE_COLORS.get(s, "secondary"), id, title=SOURCE_NOTES.get(s, s))


def tier_badge(tier: Any) -> dbc.Badge:
    """A holding's pricing tier; anything but the futures mark is a visible fallback."""
    t = tier if isinstance(tier, str) else NO_PRICE
    color = "success" if t == TIERS[0] else ("danger" if t == NO_PRICE else "warning")
    return badge(t, color, title=TIER_NOTES.get(t, t))


def stale_badge(label: str | None, id: str | None = None) -> dbc.Badge | None:
    return badge(label, "dark", id) if label else None


def card(id: str, title: str, body: Any, *, stale_label: str | None = None,
         header_extra: Iterable[Any] = (), footer: Any = None) -> dbc.Card:
    """A titled card; when `stale_label` is set its body greys out and the header says how old it is."""
    header = dbc.CardHeader(
        [html.Span(title, className="ns-card-title"), html.Span(
            [*header_extra, stale_badge(stale_label, f"{id}-stale")], className="ns-card-badges")],
        className="d-flex justify-content-between align-items-center")
    parts = [header, dbc.CardBody(body)]
    if footer is not None:
        parts.append(dbc.CardFooter(footer, className="small text-muted"))
    cls = "ns-card h-100" + (" ns-stale" if stale_label else "")
    return dbc.Card(parts, id=id, className=cls)


def big_value(text: str, id: str) -> html.Div:
    return html.Div(text, id=id, className="ns-big-value")


def kpi_tile(label: str, value: str, id: str, hint: str | None = None) -> dbc.Col:
    return dbc.Col(html.Div([
        html.Div(label, className="ns-kpi-label"),
        html.Div(value, id=id, className="ns-kpi-value" + (" text-muted" if value == DASH else "")),
        html.Div(hint or "", className="ns-kpi-hint"),
    ], className="ns-kpi"), xs=6, md=4)


def table(columns: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]], id: str,
          empty: str = NO_DATA) -> Any:
    """A compact striped table; `columns` are (key, header); cells may be text or components."""
    if not rows:
        return no_data(empty, id=id)
    head = html.Thead(html.Tr([html.Th(h) for _, h in columns]))
    body = html.Tbody([html.Tr([html.Td(row.get(k, DASH)) for k, _ in columns]) for row in rows])
    return dbc.Table([head, body], id=id, striped=True, hover=True, size="sm", responsive=True,
                     className="ns-table mb-0")


def graph(id: str, figure: Figure, height: int) -> dcc.Graph:
    return dcc.Graph(id=id, figure=figure, config=GRAPH_CONFIG, style={"height": f"{height}px"})


# --- figures ---------------------------------------------------------------------
# Figures are plain {"data": [...], "layout": {...}} dicts, as plotly.js takes them: building
# them through plotly's graph objects validated and deep-copied the template on every call
# (most of a full Overview redraw at 1,000 holdings). The constant parts below are shared by
# every figure and never modified in place.


def _template(name: str, trace_types: Sequence[str]) -> dict:
    """Plotly's built-in template `name`, resolved once: its layout and the defaults of the traces we draw."""
    template = pio.templates[name].to_plotly_json()
    return {"layout": template["layout"], "data": {t: template["data"][t] for t in trace_types}}


TEMPLATE = _template("plotly_white", ("pie", "scatter"))
BASE_LAYOUT = {"template": TEMPLATE, "font": FONT, "margin": dict(l=40, r=16, t=16, b=32),
               "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)"}
# Two rows sharing the x axis, 70/30 of the height with 6 % between them (what
# make_subplots(rows=2, row_heights=[0.7, 0.3], vertical_spacing=0.06, shared_xaxes=True) lays out).
HISTORY_AXES: dict[str, dict[str, Any]] = {
    "xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
    "yaxis": {"anchor": "x", "domain": [0.342, 1.0]},
    "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
    "yaxis2": {"anchor": "x2", "domain": [0.0, 0.282]},
}


def _layout(**kw: Any) -> dict:
    return BASE_LAYOUT | kw


def _note(text: str, size: int, color: str | None = None) -> dict:
    """A text in the middle of the plot area."""
    font = {"size": size} | ({"color": color} if color else {})
    return {"text": text, "showarrow": False, "font": font, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}


def empty_figure(message: str) -> Figure:
    return {"data": [], "layout": _layout(annotations=[_note(message, 14, "#6c757d")],
                                          xaxis={"visible": False}, yaxis={"visible": False})}


def _group_small(slices: list[dict]) -> list[dict]:
    """Keep Futures and the largest holdings; fold the rest into one "Other (N assets)" slice."""
    if len(slices) <= MAX_DONUT_SLICES:
        return slices
    head, holdings = slices[:1], sorted(slices[1:], key=lambda s: s["value"], reverse=True)
    keep, rest = holdings[:MAX_DONUT_SLICES - 2], holdings[MAX_DONUT_SLICES - 2:]
    other = {"label": f"Other ({len(rest)} assets)", "name": "Other", "value": sum(s["value"] for s in rest),
             "usd_value": sum(s["usd_value"] for s in rest if s["usd_value"] is not None),
             "kind": "other", "note": None, "qty": None, "source": "several", "mark": None,
             "price_age_s": None}
    return head + keep + [other]


def slice_hover(s: Mapping[str, Any], aum_total: float | None, fx: float | None, ccy: str) -> list[str]:
    """Hover lines of one donut slice: USD, display currency, % of AUM, qty, source, price age."""
    usd = s.get("usd_value")
    share = fmt_pct(usd / aum_total, 2) if usd is not None and aum_total and aum_total > 0 else DASH
    local = fmt_ccy(usd * fx, ccy) if usd is not None and fx is not None else f"no USD{ccy} rate"
    if s.get("kind") == "futures":
        source = "futures account (nav_total)"
    else:
        source = TIER_NOTES.get(s.get("source") or "none", s.get("source") or DASH)
    return [fmt_usd(usd), local, share, fmt_qty(s.get("qty")), source, fmt_age(s.get("price_age_s"))]


def hover_text(label: str, lines: list[str]) -> str:
    usd, local, share, qty, source, age = lines
    return (f"<b>{label}</b><br>{usd}<br>{local}<br>{share} of AUM<br>qty {qty}<br>"
            f"source: {source}<br>price age: {age}")


def donut_figure(slices: list[dict], aum_total: Any, fx: float | None, ccy: str) -> Figure:
    """The AUM donut: one slice per entry (0 drawn for missing/negative, as labelled)."""
    shown = _group_small(slices)
    if not shown or not any(s["value"] > 0 for s in shown):
        fig = empty_figure(NO_DATA if not shown else "no AUM values to draw")
        if shown:  # keep the labels visible in the legend even when every value is 0
            fig["data"].append({"type": "pie", "labels": [s["label"] for s in shown], "values": [0] * len(shown),
                                "hole": 0.6})
        return fig
    total = num(aum_total)
    colors = [FUTURES_COLOR if s["kind"] == "futures" else PALETTE[i % len(PALETTE)]
              for i, s in enumerate(shown)]
    pie = {
        "type": "pie", "labels": [s["label"] for s in shown], "values": [s["value"] for s in shown], "hole": 0.6,
        "sort": False, "direction": "clockwise", "marker": {"colors": colors, "line": {"color": "#fff", "width": 2}},
        "textinfo": "percent", "textposition": "inside", "insidetextorientation": "horizontal",
        # Pie aggregates points by label, so customdata[i] indexing is unreliable: preformatted text.
        "hovertext": [hover_text(s["label"], slice_hover(s, total, fx, ccy)) for s in shown],
        "hovertemplate": "%{hovertext}<extra></extra>",
    }
    return {"data": [pie], "layout": _layout(
        annotations=[_note(f"AUM<br><b>{fmt_usd(total, 0)}</b>", 14)], showlegend=True,
        legend={"orientation": "v", "x": 1.0, "y": 0.5}, margin={"l": 8, "r": 8, "t": 8, "b": 8},
        uniformtext={"minsize": 10, "mode": "hide"})}


def _times(points: list[dict]) -> list[datetime]:
    return [datetime.fromtimestamp(p["ts"], tz=UTC) for p in points]


def _line(x: list, y: list, name: str, color: str, width: int, **kw: Any) -> dict:
    # One point draws no line: show it as a marker, so the first minute of history is visible.
    return {"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines" if len(x) > 1 else "markers",
            "line": {"color": color, "width": width}, "marker": {"color": color, "size": 7}, **kw}


def history_figure(points: list[dict]) -> Figure:
    """NAV and AUM over time (top) and drawdown from the peak (bottom), from hedge:nav:1m."""
    if not points:
        return empty_figure("no history yet")
    x = _times(points)
    top, bottom = {"xaxis": "x", "yaxis": "y"}, {"xaxis": "x2", "yaxis": "y2"}
    data = [
        _line(x, [p["aum_total"] for p in points], "AUM", "#f2a900", 2, **top),
        _line(x, [p["nav_total"] for p in points], "NAV (futures)", FUTURES_COLOR, 2, **top),
        _line(x, [scaled(p["dd_pct"], -100) for p in points], "drawdown %", "#d9534f", 1, fill="tozeroy", **bottom),
    ]
    axes = HISTORY_AXES | {
        "yaxis": HISTORY_AXES["yaxis"] | {"title": {"text": "USD"}, "tickformat": "$,.0f"},
        "yaxis2": HISTORY_AXES["yaxis2"] | {"title": {"text": "DD %"}, "ticksuffix": " %"},
    }
    return {"data": data, "layout": _layout(**axes, legend={"orientation": "h", "y": 1.08, "x": 0},
                                            hovermode="x unified")}


def ratio_figure(points: list[dict], series: Sequence[tuple[str, str, str]], *, percent: bool = True,
                 empty: str = "no history yet") -> Figure:
    """Lines of history fields over time: series = (field, name, color); gaps where a value is null."""
    if not points or not any(p.get(f) is not None for p in points for f, _, _ in series):
        return empty_figure(empty)
    x = _times(points)
    data = [_line(x, [scaled(p.get(field), 100 if percent else 1) for p in points], name, color, 2)
            for field, name, color in series]
    return {"data": data, "layout": _layout(yaxis={"ticksuffix": " %" if percent else ""},
                                            legend={"orientation": "h", "y": 1.12, "x": 0}, hovermode="x unified")}


def when(ts: Any) -> str:
    """An epoch time as UTC "HH:MM:SS", or "–"."""
    t = num(ts)
    if t is None:
        return DASH
    try:
        return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")
    except (OverflowError, ValueError, OSError):  # not a time a clock can show
        return DASH
