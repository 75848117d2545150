"""The Dash app: pages from services/dashboard/pages, a navbar from dash.page_registry, the server.

`python -m services.dashboard` starts the live feed (background XREAD on hedge:nav,
which also writes the dashboard's heartbeat) and serves the app on
DASH_HOST:DASH_PORT (127.0.0.1:8050 by default) with waitress, a production WSGI server:
one process with a thread pool, so the live feed's cache is shared by every request.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
from bootstrap_wrapper import get_bootstrap_css_dir
from dash import Input, Output, dcc, html
from waitress import create_server

from services.dashboard import components as c
from services.dashboard import data, plotlyjs
from services.dashboard.context import DashboardContext, current, install
from services.dashboard.live import LiveFeed
from services.dashboard.views import SNAPSHOT_STALE_S, fmt_age, freshness
from shared.heartbeat import Heartbeat
from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.redis_io import connect
from shared.service import exits_on_config_error
from shared.settings import Settings, load_settings

HERE = Path(__file__).resolve().parent
STATUS_POLL_MS = 1000
WSGI_THREADS = 8
# Bootstrap 5's compiled CSS from the bootstrap-wrapper package (package data), served by us:
# no CDN, works offline, nothing committed.
BOOTSTRAP_CSS = get_bootstrap_css_dir() / "bootstrap.min.css"
BOOTSTRAP_ROUTE = "/_navstream/bootstrap.min.css"
# dcc.Graph fetches its code chunk (and, without window.Plotly, Dash's full plotly.js) only once
# the first graph is on the page, i.e. after the page content arrived. Preloading them (the URLs
# dcc asks for) overlaps the download with the page's own scripts. They are still run only by a
# page that has a graph.
GRAPH_CHUNK = "dash/dcc/async-graph.js"
DASH_PLOTLY = "plotly/package_data/plotly.min.js"
# plotly.js's partial bundle (plotlyjs.py): a script of every page, so dcc.Graph finds window.Plotly.
PLOTLY_ROUTE = "/_navstream/plotly-basic.min.js"
PLOTLY_MAX_AGE_S = 365 * 86400   # the URL carries the content's digest


def navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact",
                                     id=f"app-nav-{page['module'].rsplit('.', 1)[-1]}"))
             for page in sorted(dash.page_registry.values(), key=lambda p: p.get("order") or 0)]
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("navstream", href="/", className="fw-bold"),
        dbc.Nav(links, navbar=True, className="me-auto"),
        html.Span(feed_status(), id="app-feed-status"),
    ], fluid=True), color="dark", dark=True, className="mb-3 ns-navbar")


def feed_status() -> dbc.Badge:
    """The live feed in one badge: live with the last seq, waiting, or Redis unreachable."""
    st = current().live.get()
    problem = data.redis_status()
    if not st.connected or problem:
        return c.badge("Redis unreachable: last data / state files", "danger", "app-feed-badge",
                       title=st.error or problem)
    if st.snapshot is None:
        return c.badge("live feed connected, waiting for data", "secondary", "app-feed-badge")
    seq = st.snapshot.get("seq", "–")
    fresh = freshness(st.snapshot.get("ts"), time.time(), SNAPSHOT_STALE_S)
    if fresh.stale:
        return c.badge(f"live feed · seq {seq} · last snapshot {fmt_age(fresh.age_s)} old", "warning",
                       "app-feed-badge")
    return c.badge(f"live · seq {seq}", "success", "app-feed-badge")


def build_layout() -> html.Div:
    return html.Div([
        navbar(),
        dbc.Container(dash.page_container, fluid=True, className="ns-main"),
        dcc.Interval(id="app-status-interval", interval=STATUS_POLL_MS),
    ])


def graph_preloads(prefix: str, dash_plotly: bool) -> list[dict[str, str]]:
    """<link rel=preload> attributes for the graph scripts, as Dash renders dict stylesheets.

    `dash_plotly`: Dash's full plotly.js is what dcc.Graph will load (no partial bundle served).
    """
    paths = (DASH_PLOTLY, GRAPH_CHUNK) if dash_plotly else (GRAPH_CHUNK,)
    return [{"rel": "preload", "as": "script", "href": f"{prefix}_dash-component-suites/{path}"} for path in paths]


def serve_plotly_bundle(app: dash.Dash, bundle: plotlyjs.PlotlyBundle) -> None:
    """The partial bundle as a script of the page, ahead of Dash's renderer and dcc."""
    app.config.external_scripts.append({"src": app.config.requests_pathname_prefix.rstrip("/")
                                        + bundle.url(PLOTLY_ROUTE)})
    app.server.add_url_rule(PLOTLY_ROUTE, "navstream_plotly_js", lambda: flask.send_file(
        str(bundle.path), mimetype="text/javascript", max_age=PLOTLY_MAX_AGE_S))


def create_app(settings: Settings) -> dash.Dash:
    """The Dash app reading through `settings` (Redis URL, state dir, display currency).

    Makes the process's one DashboardContext (read source, live cache, page memos) and
    installs it for the pages; `app.server.extensions["navstream"]` holds it too.
    """
    ctx = install(DashboardContext.from_settings(settings))
    app = dash.Dash(
        "services.dashboard", use_pages=True, pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"), title="navstream",
        update_title=None,  # type: ignore[arg-type]  # Dash documents None: no "Updating..." title
        suppress_callback_exceptions=True, serve_locally=True, external_stylesheets=[BOOTSTRAP_ROUTE],
    )
    bundle = plotlyjs.load_bundle(settings.dash_plotly_js or plotlyjs.DEFAULT_BUNDLE)
    if bundle is not None:
        serve_plotly_bundle(app, bundle)
    app.config.external_stylesheets.extend(graph_preloads(app.config.requests_pathname_prefix,
                                                          dash_plotly=bundle is None))
    app.layout = build_layout
    app.server.extensions["navstream"] = ctx
    app.server.add_url_rule(BOOTSTRAP_ROUTE, "navstream_bootstrap_css", lambda: flask.send_file(
        str(BOOTSTRAP_CSS), mimetype="text/css", max_age=86400))

    @app.callback(Output("app-feed-status", "children"), Input("app-status-interval", "n_intervals"),
                  prevent_initial_call=True)
    def _feed_status(_n: int) -> dbc.Badge:
        return feed_status()

    return app


def serve(app: dash.Dash, settings: Settings, log: logging.Logger) -> int:
    """Serve with waitress until SIGINT/SIGTERM; Dash's dev server (reloader off) when DASH_DEBUG is set."""
    if settings.dash_debug:
        log.warning("DASH_DEBUG is on: Dash dev tools and tracebacks are shown in the browser")
        app.run(host=settings.dash_host, port=settings.dash_port, debug=True, use_reloader=False)
        return 0
    try:
        server = create_server(app.server, host=settings.dash_host, port=settings.dash_port,
                               threads=WSGI_THREADS, ident="navstream")
    except OSError as exc:
        log.error("cannot listen on %s:%d (%s); exiting", settings.dash_host, settings.dash_port, exc)
        return 1

    def _stop(signum, _frame):
        log.info("received %s; stopping", signal.Signals(signum).name)
        raise SystemExit(0)   # waitress's run() catches it, finishes its threads and returns

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("serving on http://%s:%d (waitress, %d threads)", settings.dash_host, settings.dash_port, WSGI_THREADS)
    server.run()
    return 0


@exits_on_config_error("dashboard")
def main() -> int:
    settings = load_settings()
    log = setup_logging("dashboard", settings.log_level, settings.secret_values(), fmt=settings.log_format)
    log.info("starting (mode=%s, redis=%s, state dir=%s)", settings.mode.value, settings.redacted_redis_url(),
             settings.dashboard_state_dir)
    serve_metrics("dashboard", settings)
    app = create_app(settings)
    live_r = connect(settings.effective_redis_url, name="navstream-dashboard-live")
    heartbeat = Heartbeat(live_r, settings.keys, "dashboard", interval_s=1.0)
    heartbeat.gauges["url"] = f"http://{settings.dash_host}:{settings.dash_port}"
    feed = LiveFeed(live_r, settings.keys, current().live, heartbeat)
    # The app, its pages and the clients live as long as the process: out of the collector's
    # reach, a full collection takes ~0 ms instead of 20-30 ms in the middle of a page callback.
    gc.freeze()
    feed.start()
    try:
        return serve(app, settings, log)
    finally:
        feed.stop()
        feed.join(timeout=2.0)
        log.info("stopped")
