"""The Performance page in headless Chromium, on a record the real ledger wrote: unit price and
underwater charts, monthly returns, flows and strikes; still all there after Redis is wiped."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from services.ledger.schema import nav_history
from shared.contracts.nav import encode_nav_entry

from tests.integration.test_ledger_service import ledger_env
from tests.ledger_support import navstream, snapshot, xadd_snapshot
from tests.support import eventually

pytestmark = pytest.mark.browser

HOURS = 24 * 45   # 45 days of hourly history: two calendar months at least


def plot_points(tab, graph_id: str) -> int:
    tab.page.wait_for_selector(f"#{graph_id} .js-plotly-plot .scatterlayer")
    return tab.page.evaluate(f"document.querySelector('#{graph_id} .js-plotly-plot').data[0].x.length")


def test_performance_page_shows_the_record_and_survives_a_redis_wipe(r, env, services, dashboard, dash_page,
                                                                      tmp_path):
    url = f"sqlite:///{tmp_path / 'record.sqlite3'}"
    # strikes fall due 12 hours ago each day: the ledger strikes every day of the replayed history from
    # that day's snapshot, and alice's subscription (10 hours ago) comes after the newest strike
    strike_time = time.strftime("%H:%M", time.gmtime(time.time() - 12 * 3600))
    lenv = ledger_env(env, url, LEDGER_HISTORY_INTERVAL_S="3600", STRIKE_TIME_UTC=strike_time)
    start = (time.time() // 3600) * 3600 - HOURS * 3600
    pipe = r.pipeline(transaction=False)
    for i in range(HOURS):   # a gently rising fund with dips; alice's 25,000 USD arrives 9 hours before the end
        wave = 1_000.0 * ((i % 240) - 120) / 120
        money_in = 25_000.0 if i >= HOURS - 9 else 0.0
        doc = snapshot(i + 1, start + i * 3600 + 5, 98_000.0 + 2.0 * i - abs(wave) + money_in)
        pipe.xadd("hedge:nav", encode_nav_entry(doc))
    pipe.execute()
    ledger = services("ledger", lenv)
    engine = sa.create_engine(url)
    eventually(lambda: _rows(engine) == HOURS, timeout=60, message="the ledger to record the history")
    sub = navstream(lenv, "flow", "subscribe", "25000", "--investor", "alice", "--note", "seed round",
                    "--at", str(start + (HOURS - 10) * 3600 + 10))
    assert sub.returncode == 0, sub.stderr
    eventually(lambda: "locked" in navstream(lenv, "strike", "list").stdout, timeout=30,
               message="the ledger to lock the history's strikes")

    dash = dashboard(DATABASE_URL=url)
    tab = dash_page(dash.base_url)
    _check_page(tab)
    tab.screenshot("performance.png")

    # FLUSHALL and restart everything: the page still shows the whole history, the unit price, the strikes
    r.flushall()
    ledger.kill()
    dash.proc.kill()
    services("ledger", lenv)
    xadd_snapshot(r, snapshot(HOURS + 1, time.time(), 98_000.0 + 2.0 * HOURS + 25_000.0))
    dash2 = dashboard(DATABASE_URL=url)
    tab2 = dash_page(dash2.base_url)
    _check_page(tab2)
    tab2.assert_clean()
    engine.dispose()


def _rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(nav_history)
                            .where(nav_history.c.kind == "minute")).scalar_one()


def _check_page(tab) -> None:
    tab.open("/performance", ready="#performance-unit-price")
    price = tab.text("#performance-unit-price")
    assert price not in ("–", "") and float(price) > 0.9
    assert tab.text("#performance-twr-itd").endswith("%")
    assert plot_points(tab, "performance-price-chart") >= HOURS - 1
    assert plot_points(tab, "performance-underwater-chart") >= HOURS - 1
    monthly = tab.text("#performance-monthly-table")
    assert "%" in monthly and len(tab.page.locator("#performance-monthly-table tbody tr").all()) >= 1
    flows = tab.text("#performance-flows-table")
    assert "alice" in flows and "seed round" in flows and "subscription" in flows and "inception" in flows
    strikes = tab.text("#performance-strikes-table")
    assert "locked" in strikes
    hash_cell = tab.page.locator("#performance-strikes-table code").first
    assert len(hash_cell.inner_text()) == 16 and len(hash_cell.get_attribute("title")) == 64
    # 45 daily closes: the annualised ratios are figures (with fewer than 7 they are "–" and the reason)
    for ratio in ("#performance-sharpe-365", "#performance-sortino-365"):
        assert float(tab.text(ratio)) != 0
    assert tab.text("#performance-vol-365").endswith("%")
    tab.assert_clean()


def test_a_quiet_unit_price_gets_distinct_axis_ticks(r, env, services, dashboard, dash_page, tmp_path):
    """A fund that barely moved (unit price within 0.00005 of 1.0) still reads on the chart: every
    tick of the unit-price axis is a different number (a fixed 4-decimal format printed 1.0000 on
    all of them), and the hover gives six decimals."""
    url = f"sqlite:///{tmp_path / 'record.sqlite3'}"
    start = (time.time() // 3600) * 3600 - 48 * 3600
    pipe = r.pipeline(transaction=False)
    for i in range(48):
        pipe.xadd("hedge:nav", encode_nav_entry(snapshot(i + 1, start + i * 3600 + 5, 98_000.0 - 0.1 * i)))
    pipe.execute()
    services("ledger", ledger_env(env, url, LEDGER_HISTORY_INTERVAL_S="3600"))
    engine = sa.create_engine(url)
    eventually(lambda: _rows(engine) == 48, timeout=60, message="the ledger to record the history")
    engine.dispose()
    tab = dash_page(dashboard(DATABASE_URL=url).base_url)
    tab.open("/performance", ready="#performance-unit-price")
    tab.page.wait_for_selector("#performance-price-chart .js-plotly-plot .ytick")
    ticks = tab.page.evaluate("Array.from(document.querySelectorAll('#performance-price-chart .ytick text'))"
                              ".map(t => t.textContent)")
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    assert tab.page.evaluate("document.querySelector('#performance-price-chart .js-plotly-plot')"
                             ".layout.yaxis.hoverformat") == ",.6f"
    tab.assert_clean()
