"""Pipeline: is every service alive, and is data flowing through the streams?

Per service: heartbeat age and status ("down/no heartbeat" when its key is gone),
counters and last error. Per stream: length and newest entry age; per consumer
group: lag, pending entries and when it last took an entry.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from services.dashboard import components as c
from services.dashboard import context, data
from services.dashboard.views import DASH, HEARTBEAT_LATE_S, as_mapping, fmt_age, fmt_num, num

dash.register_page(__name__, path="/pipeline", name="Pipeline", title="navstream · Pipeline", order=1)

POLL_MS = 2000
_STATUS_COLORS = {"ok": "success", "late": "warning", "degraded": "warning", "error": "danger",
                  "down/no heartbeat": "danger", "malformed": "danger"}


def service_rows(heartbeats: dict[str, dict], now: float) -> list[dict[str, Any]]:
    rows = []
    for service, hb in heartbeats.items():
        if not hb:
            status, age = "down/no heartbeat", None
        elif "malformed" in hb:
            status, age = "malformed", None
        else:
            age = now - hb["ts"] if num(hb.get("ts")) is not None else None
            status = str(hb.get("status") or "ok")
            if age is not None and age > HEARTBEAT_LATE_S:
                status = "late"
        counters = as_mapping(hb.get("counters"))
        gauges = {k: v for k, v in hb.items()
                  if k not in ("service", "pid", "ts", "status", "last_error", "last_error_ts", "counters")}
        detail = ", ".join(f"{k}={v}" for k, v in sorted({**counters, **gauges}.items())) or DASH
        error = hb.get("last_error") or hb.get("malformed")
        if error and num(hb.get("last_error_ts")) is not None:
            error = f"{error} ({fmt_age(now - hb['last_error_ts'])} ago)"
        rows.append({
            "service": html.Strong(service),
            "status": c.badge(status, _STATUS_COLORS.get(status, "secondary"), id=f"pipeline-status-{service}"),
            "age": fmt_age(age), "pid": str(hb.get("pid", DASH)), "counters": html.Small(detail),
            "error": html.Small(error or DASH, className="text-danger" if error else "text-muted"),
        })
    return rows


def stream_rows(stats: list[dict], now: float) -> tuple[list[dict], list[dict]]:
    streams, groups = [], []
    for s in stats:
        streams.append({
            "stream": html.Code(s["stream"]),
            "length": fmt_num(s["length"], 0) if s["exists"] else "missing",
            "added": fmt_num(s.get("entries_added"), 0),
            "newest": fmt_age(now - s["last_ts"]) if s["last_ts"] else DASH,
            "groups": str(len(s["groups"])),
        })
        for g in s["groups"]:
            delivered = g["last_delivered_ts"]
            groups.append({
                "stream": html.Code(s["stream"]), "group": g["name"], "consumers": fmt_num(g["consumers"], 0),
                "pending": fmt_num(g["pending"], 0), "lag": fmt_num(g["lag"], 0),
                "delivered": fmt_age(now - delivered) + " ago" if delivered else "never",
            })
    return streams, groups


def live_feed_rows(now: float) -> list[dict]:
    st = context.current().live.get()
    snap = st.snapshot or {}
    return [{
        "feed": "hedge:nav → dashboard",
        "state": c.badge("connected" if st.connected else "disconnected",
                         "success" if st.connected else "danger", id="pipeline-feed-state"),
        "seq": str(snap.get("seq", DASH)),
        "received": fmt_age(now - st.received_at) + " ago" if st.received_at else "nothing yet",
        "error": st.error or DASH,
    }]


def content(now: float) -> list:
    src = data.default_source()
    try:
        heartbeats = data.load_heartbeats(src)
        stats = data.load_stream_stats(src)
        problem = None
    except data.RedisDown as exc:
        heartbeats, stats, problem = {}, [], str(exc)
    streams, groups = stream_rows(stats, now)
    out = []
    if problem:
        out.append(dbc.Alert(f"{problem}. Heartbeats and streams live in Redis: nothing to show until it "
                             "answers.", color="danger", id="pipeline-redis-down", className="py-2"))
    out += [
        c.card("pipeline-services", "Services (heartbeats)", c.table(
            [("service", "service"), ("status", "status"), ("age", "heartbeat age"), ("pid", "pid"),
             ("counters", "counters"), ("error", "last error")],
            service_rows(heartbeats, now), "pipeline-services-table", empty="no heartbeats (Redis unreachable)")),
        dbc.Row([
            dbc.Col(c.card("pipeline-streams", "Streams", c.table(
                [("stream", "stream"), ("length", "length"), ("added", "entries added"),
                 ("newest", "newest entry age"), ("groups", "groups")],
                streams, "pipeline-streams-table", empty="no stream data")), lg=6),
            dbc.Col(c.card("pipeline-groups", "Consumer groups", c.table(
                [("stream", "stream"), ("group", "group"), ("consumers", "consumers"), ("pending", "pending"),
                 ("lag", "lag"), ("delivered", "last delivered")],
                groups, "pipeline-groups-table", empty="no consumer groups yet")), lg=6),
        ], className="g-3 my-1"),
        c.card("pipeline-live", "Dashboard live feed", c.table(
            [("feed", "feed"), ("state", "state"), ("seq", "last seq"), ("received", "received"),
             ("error", "error")], live_feed_rows(now), "pipeline-live-table")),
    ]
    return out


def layout(**_query: str) -> html.Div:
    return html.Div([
        dcc.Interval(id="pipeline-interval", interval=POLL_MS),
        html.Div(content(time.time()), id="pipeline-content", className="ns-stack"),
    ], className="ns-page")


@callback(Output("pipeline-content", "children"), Input("pipeline-interval", "n_intervals"),
          prevent_initial_call=True)
def refresh(_n: int) -> list:
    return content(time.time())
