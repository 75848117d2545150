"""The dashboard in a real browser: a real process, a real Redis, state written like the pipeline writes it."""

from __future__ import annotations

import time

import pytest

from shared.contracts.health import decode_heartbeat
from tests.browser.dashboard_state import KEYS, publish, seed_all
from tests.documents import holding, kpis_doc, nav_doc
from tests.support import eventually, free_port

pytestmark = pytest.mark.browser

DONUT_LABELS_JS = "document.querySelector('#overview-aum-donut .js-plotly-plot').data[0].labels"


def donut_labels(tab) -> list[str]:
    """The labels of the drawn donut (the figure data plotly holds in the page)."""
    tab.page.wait_for_selector("#overview-aum-donut .js-plotly-plot .pielayer")
    return tab.page.evaluate(DONUT_LABELS_JS)


def wait_text(tab, selector: str, expected: str, timeout: float = 5.0) -> float:
    """Seconds until `selector`'s text contains `expected` (fails after `timeout`)."""
    started = time.monotonic()
    eventually(lambda: expected in tab.text(selector), timeout=timeout,
               message=f"{selector} to show {expected!r}")
    return time.monotonic() - started


def test_overview_renders_nav_aum_donut_kpis_and_positions(r, dashboard, dash_page):
    seed_all(r)
    dash = dashboard()
    assert dash.started_in_s < 5.0, f"dashboard took {dash.started_in_s:.1f} s to answer"
    tab = dash_page(dash.base_url)
    tab.open("/", ready="#overview-nav-value")
    assert tab.text("#overview-nav-value") == "$100,234.55"
    assert tab.text("#overview-aum-value") == "$107,291.83"
    assert tab.text("#overview-aum-display") == "ZAR 1,953,784.22"
    assert tab.text("#overview-nav-source") == "live"
    tab.page.wait_for_selector("#overview-aum-donut g.slice")
    assert tab.page.locator("#overview-aum-donut g.slice").count() == 4  # Futures + BTC, XAUT, USDC
    assert donut_labels(tab) == ["Futures", "BTC", "XAUT", "USDC"]
    ring = tab.page.locator("#overview-aum-donut .pielayer .trace").bounding_box()
    # The left of the ring: inside Futures (93 %, drawn clockwise from 12 o'clock).
    tab.page.mouse.move(ring["x"] + ring["width"] * 0.1, ring["y"] + ring["height"] / 2)
    tab.page.wait_for_selector("#overview-aum-donut .hoverlayer .hovertext")
    tooltip = tab.page.text_content("#overview-aum-donut .hoverlayer")  # SVG: text_content, not inner_text
    for expected in ("Futures", "$100,234.55", "ZAR 1,825,271.16", "93.42 % of AUM", "futures account"):
        assert expected in tooltip, (expected, tooltip)
    tab.page.mouse.move(5, 5)
    assert tab.text("#overview-kpi-maker-fill-ratio") == "62.0 %"
    assert tab.text("#overview-kpi-fallback-ratio") == "4.0 %"
    assert tab.text("#overview-kpi-router-quality") == "good"
    assert tab.text("#overview-kpi-fee-pnl-ratio") == "0.180"
    assert tab.text("#overview-kpi-dd-state") == "normal"
    assert tab.text("#overview-status-dd-pct") == "2.31 %"
    rows = tab.page.locator("#overview-positions-table tbody tr")
    assert rows.count() == 3
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(3)] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert "XAUT" in tab.text("#overview-holdings-table") and "coingecko" in tab.text("#overview-holdings-table")
    tab.page.wait_for_selector("#overview-history .scatterlayer .trace")
    tab.page.wait_for_timeout(300)  # let plotly finish laying out before the picture
    tab.screenshot("dashboard-overview.png")
    tab.assert_clean()
    beat = decode_heartbeat(eventually(lambda: r.get(KEYS.health("dashboard")), timeout=3, message="heartbeat"))
    assert beat.service == "dashboard"


def test_new_snapshot_shows_within_two_seconds_without_reload(r, dashboard, dash_page):
    nav, kpis = seed_all(r)
    tab = dash_page(dashboard().base_url)
    tab.open("/", ready="#overview-aum-donut g.slice")  # charts drawn: the page is polling
    wait_text(tab, "#overview-nav-value", "$100,234.55")
    tab.page.evaluate("window.__no_reload_marker = 42")
    newer = nav_doc(seq=nav["seq"] + 1, nav_total=100777.77)
    publish(r, newer, kpis_doc(nav=newer))
    took = wait_text(tab, "#overview-nav-value", "$100,777.77", timeout=2.0)
    assert tab.page.evaluate("window.__no_reload_marker") == 42, "the page reloaded"
    assert took <= 2.0
    assert tab.text("#overview-aum-value") == f"${newer['aum']['total']:,.2f}"
    wait_text(tab, "#app-feed-status", "seq 1043", timeout=2.0)
    tab.assert_clean()


def test_redis_down_and_no_state_files_shows_no_data_and_no_error(dashboard, dash_page):
    dash = dashboard(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    tab = dash_page(dash.base_url)
    started = time.monotonic()
    tab.open("/", ready="#overview-nav-card")
    assert time.monotonic() - started < 10
    assert "no data yet" in tab.text("#overview-nav-card")
    assert tab.text("#overview-nav-value") == "–"
    assert "no data yet" in tab.text("#overview-positions")
    body = tab.page.inner_text("body")
    assert "$0.00" not in body
    wait_text(tab, "#app-feed-status", "Redis unreachable")
    tab.page.wait_for_timeout(1600)  # two polls: they must not raise either
    tab.screenshot("dashboard-overview-no-data.png")
    tab.assert_clean()


def test_state_files_stand_in_when_redis_is_down(dashboard, dash_page, env):
    from pathlib import Path

    from tests.browser.dashboard_state import write_state_files

    nav = nav_doc(seq=77)
    write_state_files(Path(env["DASHBOARD_STATE_DIR"]), nav, kpis_doc(nav=nav))
    tab = dash_page(dashboard(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").base_url)
    tab.open("/", ready="#overview-nav-value")
    assert tab.text("#overview-nav-value") == "$100,234.55"
    assert "showing the mirrored state file" in tab.text("#overview-alerts")
    tab.assert_clean()


def test_stale_cache_and_degraded_snapshot_are_labelled(r, dashboard, dash_page):
    now = time.time()
    nav = nav_doc(ts=now - 130, source="cache", nav_age_s=150.0,
                  holdings={"BTC": holding(0.035, 61000.0, None, "none"),
                            "XAUT": holding(0.59, 2350.0, 2650.4, "coingecko", age=35.0),
                            "USDC": holding(2098.96, 1.0, 1.0, "avg_cost", age=4000.0)})
    publish(r, nav, kpis_doc(ts=now - 130, nav=nav))
    tab = dash_page(dashboard().base_url)
    tab.open("/", ready="#overview-nav-value")
    assert tab.text("#overview-aum-card-stale") == "stale: 2 min old"
    assert "last snapshot 2 min old" in tab.text("#app-feed-status")
    assert tab.text("#overview-status-pipeline") == "stale (last snapshot 2 min old)"   # age before reasons
    assert "ns-stale" in tab.page.get_attribute("#overview-aum-card", "class")
    assert tab.text("#overview-nav-source") == "cache"
    assert "BTC: no price from any source" in tab.text("#overview-degraded")
    assert donut_labels(tab) == ["Futures", "BTC (no price)", "XAUT", "USDC"]
    assert "avg_cost" in tab.text("#overview-holdings-table")
    tab.screenshot("dashboard-overview-stale.png")
    tab.assert_clean()


def test_operator_pages_render_their_content(r, dashboard, dash_page):
    seed_all(r)
    tab = dash_page(dashboard().base_url)
    tab.open("/", ready="#overview-nav-value")
    tab.page.click("#app-nav-pipeline")  # the navbar, not a reload
    tab.page.wait_for_selector("#pipeline-services-table")
    assert "down/no heartbeat" not in tab.text("#pipeline-status-pricer")
    assert "rounds=812" in tab.text("#pipeline-services-table")
    # the dashboard's own heartbeat starts with its live feed: on a loaded machine the first page
    # can come before the first beat; the page polls, so wait for the next poll to show it
    tab.page.wait_for_function("document.querySelector('#pipeline-status-dashboard')?.innerText === 'ok'",
                               timeout=15_000)
    groups = tab.text("#pipeline-groups-table")
    assert "nav" in groups and "publisher" in groups
    tab.screenshot("dashboard-pipeline.png")

    tab.page.click("#app-nav-router")
    tab.page.wait_for_selector("#router-fills-table")
    assert tab.text("#router-maker-fill-ratio") == "62.0 %"
    assert tab.page.locator("#router-fills-table tbody tr").count() == 12
    tab.page.wait_for_selector("#router-ratios-chart .scatterlayer .trace")
    tab.screenshot("dashboard-router.png")

    tab.page.click("#app-nav-intel")
    tab.page.wait_for_selector("#intel-assets-table")
    assets = tab.text("#intel-assets-table")
    assert "market XAUTUSDT is delisted" in assets and "spot_cache" in assets
    markets = tab.text("#intel-markets-table")
    assert "BTCUSDT" in markets and "high" in markets
    assert "USDZAR" in tab.text("#intel-fx-table")
    tab.screenshot("dashboard-intel.png")
    tab.assert_clean()


def test_redis_dying_under_an_open_page_keeps_the_last_data(r, redis_server, dashboard, dash_page):
    seed_all(r)
    tab = dash_page(dashboard().base_url)
    tab.open("/", ready="#overview-nav-value")
    wait_text(tab, "#app-feed-status", "live")
    redis_server.kill()
    wait_text(tab, "#app-feed-status", "Redis unreachable", timeout=6)
    assert tab.text("#overview-nav-value") == "$100,234.55"
    tab.page.wait_for_timeout(1000)
    tab.assert_clean()
