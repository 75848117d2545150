"""Each service's Prometheus endpoint, scraped the way a monitor would."""

from __future__ import annotations

import random
import re

import requests

from tests.support import eventually


def _scrape(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_services_export_prices_fallbacks_snapshots_nav_and_aum(env, r, marketsim, services):
    base = random.randrange(20_000, 60_000, 10)
    env.update(METRICS_PORT_BASE=str(base), PRICE_INTERVAL_S="0.3", ACCOUNT_INTERVAL_S="0.5")
    for name in ("pricer", "nav", "publisher"):
        services(name, env)
    nav_text = eventually(lambda: (t := _scrape(base + 2)) and 'navstream_snapshots_total{source="live"}' in t and t,
                          timeout=30, message="nav metrics with live snapshots")
    nav_total = _value(nav_text, "navstream_nav_total_usd")
    assert nav_total is not None and nav_total > 0
    assert _value(nav_text, "navstream_aum_total_usd") > nav_total
    assert _value(nav_text, "navstream_snapshot_latency_seconds_count") > 0

    pricer_text = _scrape(base + 1)
    assert 'navstream_prices_total{asset="BTC",source="mark"}' in pricer_text
    assert _value(pricer_text, "navstream_pricing_round_seconds_count") > 0
    eventually(lambda: re.search(r'navstream_state_writes_total\{result="ok"\} [1-9]', _scrape(base + 3)),
               timeout=10, message="publisher metrics counting state writes")
