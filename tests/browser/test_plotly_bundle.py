"""The dashboard's plotly.js: the partial bundle `make` installs draws every chart; without it, Dash's full one does.

The partial bundle is not in git (`make plotly-bundle` fetches it with npm): the tests that need
it skip without it, except in CI (CI=true), where a missing bundle is a failure.
"""

from __future__ import annotations


import pytest
import requests
from plotly.offline import get_plotlyjs_version

from services.dashboard.app import DASH_PLOTLY, PLOTLY_MAX_AGE_S, PLOTLY_ROUTE
from services.dashboard.plotlyjs import DEFAULT_BUNDLE, header_version
from tests.browser.dashboard_state import seed_all
from tests.support import missing

pytestmark = pytest.mark.browser

DONUT_SLICE = "#overview-aum-donut g.slice"
HISTORY_TRACE = "#overview-history .scatterlayer .trace"


def require_bundle() -> str:
    """The installed partial bundle's version (skips, or fails in CI, when it is not installed)."""
    if not DEFAULT_BUNDLE.exists():
        missing(str(DEFAULT_BUNDLE), "`make plotly-bundle` fetches it (needs npm: apt-get install npm)")
    version = header_version(DEFAULT_BUNDLE.read_bytes()[:512])
    assert version is not None, f"{DEFAULT_BUNDLE} names no plotly.js version in its header"
    return version


def open_overview(tab) -> list[str]:
    """Open / and wait for both Overview charts; the URLs of the scripts the page asked for."""
    scripts: list[str] = []
    tab.page.on("request", lambda req: scripts.append(req.url) if req.resource_type == "script" else None)
    tab.open("/", ready="#overview-nav-value")
    tab.page.wait_for_selector(DONUT_SLICE, state="visible")
    tab.page.wait_for_selector(HISTORY_TRACE)
    assert tab.page.locator(DONUT_SLICE).count() == 4   # Futures + BTC, XAUT, USDC
    return scripts


def test_the_page_loads_the_partial_bundle_ahead_of_dashs_scripts(r, dashboard):
    require_bundle()
    dash = dashboard()
    html = requests.get(dash.base_url + "/", timeout=5).text
    bundle_at = html.find(f'src="{PLOTLY_ROUTE}?v=')
    assert bundle_at > 0, "the page has no script tag for the partial bundle"
    for script in ("dash-renderer/build/dash_renderer", "dcc/dash_core_components"):   # their <script src> tags
        assert bundle_at < html.index(script), f"the partial bundle comes after {script}"
    assert DASH_PLOTLY not in html   # neither a script nor a preload of Dash's full bundle
    src = html[bundle_at + 5:html.index('"', bundle_at + 5)]
    resp = requests.get(dash.base_url + src, timeout=5)
    assert resp.ok and resp.content == DEFAULT_BUNDLE.read_bytes()
    assert resp.headers["Content-Type"].startswith("text/javascript")
    assert f"max-age={PLOTLY_MAX_AGE_S}" in resp.headers["Cache-Control"]


def test_dcc_graph_draws_with_the_partial_bundle_and_never_fetches_dashs(r, dashboard, dash_page):
    version = require_bundle()
    seed_all(r)
    tab = dash_page(dashboard().base_url)
    scripts = open_overview(tab)
    assert tab.page.evaluate("window.Plotly.version") == version
    assert [u for u in scripts if PLOTLY_ROUTE in u], scripts
    assert not [u for u in scripts if DASH_PLOTLY in u], "Dash's full plotly.js was fetched too"
    tab.page.click("#app-nav-router")   # scatter lines on another page, same bundle
    tab.page.wait_for_selector("#router-ratios-chart .scatterlayer .trace")
    tab.page.wait_for_selector("#router-feepnl-chart .scatterlayer .trace")
    assert not [u for u in scripts if DASH_PLOTLY in u]
    tab.assert_clean()


def test_without_the_bundle_the_page_draws_with_dashs_full_plotly_js(r, dashboard, dash_page, tmp_path):
    missing = tmp_path / "vendor" / "plotly-basic.min.js"
    seed_all(r)
    dash = dashboard(DASH_PLOTLY_JS=str(missing))
    log = dash.proc.log_text()
    assert "WARNING" in log and f"plotly.js partial bundle {missing} not readable" in log, log
    assert "serving Dash's full plotly.js" in log
    tab = dash_page(dash.base_url)
    scripts = open_overview(tab)
    assert tab.page.evaluate("window.Plotly.version") == get_plotlyjs_version()
    assert [u for u in scripts if DASH_PLOTLY in u], scripts
    assert not [u for u in scripts if PLOTLY_ROUTE in u]
    tab.assert_clean()
