"""Shared building blocks of the pages: cards, KPI tiles, tables, badges and plotly figures.

Everything here takes already-read data and returns Dash components or figures;
nothing reads Redis, files or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

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
GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12)


# --- small pieces ---------------------------------------------------------------

def no_data(message: str = NO_DATA, id: str | None = None) -> html.Div:
    kw = {"id": id} if id else {}
    return html.Div(message, className="ns-no-data text-muted", **kw)


def badge(text: str, color: str = "secondary", id: str | None = None, title: str | None = None) -> dbc.Badge:
    kw = {"id": id} if id else {}
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
    t = tier if isinstance(tier, str) else "none"
    color = "success" if t == "mark" else ("danger" if t == "none" else "warning")
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


def graph(id: str, figure: go.Figure, height: int) -> dcc.Graph:
    return dcc.Graph(id=id, figure=figure, config=GRAPH_CONFIG, style={"height": f"{height}px"})


# --- figures ---------------------------------------------------------------------

def _layout(fig: go.Figure, **kw: Any) -> go.Figure:
    base = dict(template="plotly_white", font=FONT, margin=dict(l=40, r=16, t=16, b=32),
                paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    fig.update_layout(**(base | kw))
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#6c757d"),
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig)


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


def donut_figure(slices: list[dict], aum_total: Any, fx: float | None, ccy: str) -> go.Figure:
    """The AUM donut: one slice per entry (0 drawn for missing/negative, as labelled)."""
    shown = _group_small(slices)
    if not shown or not any(s["value"] > 0 for s in shown):
        fig = empty_figure(NO_DATA if not shown else "no AUM values to draw")
        if shown:  # keep the labels visible in the legend even when every value is 0
            fig.add_trace(go.Pie(labels=[s["label"] for s in shown], values=[0] * len(shown), hole=0.6))
        return fig
    total = num(aum_total)
    colors = [FUTURES_COLOR if s["kind"] == "futures" else PALETTE[i % len(PALETTE)]
              for i, s in enumerate(shown)]
    fig = go.Figure(go.Pie(
        labels=[s["label"] for s in shown], values=[s["value"] for s in shown], hole=0.6, sort=False,
        direction="clockwise", marker=dict(colors=colors, line=dict(color="#fff", width=2)),
        textinfo="percent", textposition="inside", insidetextorientation="horizontal",
        # Pie aggregates points by label, so customdata[i] indexing is unreliable: preformatted text.
        hovertext=[hover_text(s["label"], slice_hover(s, total, fx, ccy)) for s in shown],
        hovertemplate="%{hovertext}<extra></extra>",
    ))
    fig.add_annotation(text=f"AUM<br><b>{fmt_usd(total, 0)}</b>", showarrow=False, font=dict(size=14),
                       x=0.5, y=0.5, xref="paper", yref="paper")
    return _layout(fig, showlegend=True, legend=dict(orientation="v", x=1.0, y=0.5),
                   margin=dict(l=8, r=8, t=8, b=8), uniformtext=dict(minsize=10, mode="hide"))


def _times(points: list[dict]) -> list[datetime]:
    return [datetime.fromtimestamp(p["ts"], tz=UTC) for p in points]


def history_figure(points: list[dict]) -> go.Figure:
    """NAV and AUM over time (top) and drawdown from the peak (bottom), from hedge:nav:1m."""
    if not points:
        return empty_figure("no history yet")
    x = _times(points)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=x, y=[p["aum_total"] for p in points], name="AUM", mode="lines",
                             line=dict(color="#f2a900", width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=[p["nav_total"] for p in points], name="NAV (futures)", mode="lines",
                             line=dict(color=FUTURES_COLOR, width=2)), row=1, col=1)
    dd = [scaled(p["dd_pct"], -100) for p in points]
    fig.add_trace(go.Scatter(x=x, y=dd, name="drawdown %", mode="lines", fill="tozeroy",
                             line=dict(color="#d9534f", width=1)), row=2, col=1)
    fig.update_yaxes(title_text="USD", tickformat="$,.0f", row=1, col=1)
    fig.update_yaxes(title_text="DD %", ticksuffix=" %", row=2, col=1)
    return _layout(fig, legend=dict(orientation="h", y=1.08, x=0), hovermode="x unified")


def ratio_figure(points: list[dict], series: Sequence[tuple[str, str, str]], *, percent: bool = True,
                 empty: str = "no history yet") -> go.Figure:
    """Lines of history fields over time: series = (field, name, color); gaps where a value is null."""
    if not points or not any(p.get(f) is not None for p in points for f, _, _ in series):
        return empty_figure(empty)
    x = _times(points)
    fig = go.Figure()
    for field, name, color in series:
        y = [scaled(p.get(field), 100 if percent else 1) for p in points]
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", line=dict(color=color, width=2)))
    fig.update_yaxes(ticksuffix=" %" if percent else "")
    return _layout(fig, legend=dict(orientation="h", y=1.12, x=0), hovermode="x unified")


def when(ts: Any) -> str:
    """An epoch time as UTC "HH:MM:SS", or "–"."""
    t = num(ts)
    if t is None:
        return DASH
    try:
        return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")
    except (OverflowError, ValueError, OSError):  # not a time a clock can show
        return DASH
