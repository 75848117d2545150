"""Each service's Prometheus endpoint, scraped the way a monitor would."""

from __future__ import annotations

import math
import random
import re
import socket

import pytest
import requests

from shared.metrics import TIER_LEVELS
from tests.support import eventually


def _scrape(port: int, host: str = "127.0.0.1") -> str:
    return requests.get(f"http://{host}:{port}/metrics", timeout=2).text


def _value(text: str, name: str, labels: str | None = None) -> float | None:
    """The sample `name` (with exactly `labels`, e.g. 'asset="BTC"', when given), or None."""
    prefix = f"{name}{{{labels}}} " if labels is not None else None
    for line in text.splitlines():
        if prefix is not None:
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        elif line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _free_base() -> int:
    """A METRICS_PORT_BASE whose service ports (base + 1..9) are free now, below Linux's ephemeral range
    (32768+), so an outgoing connection elsewhere cannot hold one (a nav that cannot bind has no /metrics)."""
    while True:
        base = random.randrange(20_000, 32_000, 10)
        try:
            for port in range(base + 1, base + 10):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


@pytest.fixture
def base(env, r, marketsim, services) -> int:
    base = _free_base()
    env.update(METRICS_PORT_BASE=str(base), PRICE_INTERVAL_S="0.3", ACCOUNT_INTERVAL_S="0.5")
    for name in ("pricer", "nav", "publisher"):
        services(name, env)
    return base


def test_services_export_prices_fallbacks_snapshots_nav_and_aum(base):
    nav_text = eventually(lambda: (t := _scrape(base + 2)) and 'navstream_snapshots_total{source="live"}' in t and t,
                          timeout=30, message="nav metrics with live snapshots")
    nav_total = _value(nav_text, "navstream_nav_usd")
    assert nav_total is not None and nav_total > 0
    assert _value(nav_text, "navstream_aum_usd") > nav_total
    assert _value(nav_text, "navstream_snapshot_latency_seconds_count") > 0

    pricer_text = _scrape(base + 1)
    assert 'navstream_prices_total{asset="BTC",source="mark"}' in pricer_text
    assert _value(pricer_text, "navstream_pricing_round_seconds_count") > 0
    eventually(lambda: re.search(r'navstream_state_writes_total\{result="ok"\} [1-9]', _scrape(base + 3)),
               timeout=10, message="publisher metrics counting state writes")


def test_metrics_an_alert_rule_needs(base, r):
    """The gauges deploy/prometheus/alerts.yml reads, with values a user can check against the snapshot."""
    nav_text = eventually(lambda: (t := _scrape(base + 2)) and 'navstream_snapshots_total{source="live"}' in t and t,
                          timeout=30, message="nav metrics with live snapshots")
    snapshot_ts = _value(nav_text, "navstream_last_snapshot_timestamp_seconds")
    newest = r.xrevrange("hedge:nav", count=1)[0][1]
    assert abs(snapshot_ts - float(newest[b"ts"])) < 60
    assert _value(nav_text, "navstream_account_data_timestamp_seconds", 'account="main"') <= snapshot_ts
    assert _value(nav_text, "navstream_snapshot_degraded") in (0.0, 1.0)

    pricer_text = _scrape(base + 1)
    assert _value(pricer_text, "navstream_price_tier", 'asset="BTC"') == TIER_LEVELS["mark"]
    assert _value(pricer_text, "navstream_last_price_timestamp_seconds", 'asset="BTC"') > 0
    assert _value(pricer_text, "navstream_price_diverged", 'asset="BTC"') == 0
    # USDC is a stablecoin: it has a depeg ratio, BTC has none
    assert _value(pricer_text, "navstream_stablecoin_depeg_ratio", 'asset="USDC"') < 0.005
    assert _value(pricer_text, "navstream_stablecoin_depeg_ratio", 'asset="BTC"') is None

    pub = eventually(lambda: (t := _scrape(base + 3)) and _value(t, "navstream_drawdown_ratio") is not None and t,
                     timeout=15, message="publisher drawdown gauge")
    assert 0 <= _value(pub, "navstream_drawdown_ratio") < 1
    assert _value(pub, "navstream_drawdown_state") in (0.0, 1.0, 2.0)
    # what `navstream status` shows, from the publisher's /metrics
    assert _value(pub, "navstream_redis_up") == 1
    for service in ("pricer", "nav", "publisher"):
        assert _value(pub, "navstream_service_healthy", f'service="{service}"') == 1, pub
    assert _value(pub, "navstream_service_healthy", 'service="dashboard"') == 0   # not started here
    assert math.isnan(_value(pub, "navstream_heartbeat_age_seconds", 'service="dashboard"'))
    assert _value(pub, "navstream_consumer_lag_entries", 'group="nav",stream="hedge:prices"') is not None
    assert _value(pub, "navstream_consumer_pending_entries", 'group="publisher",stream="hedge:nav"') >= 0
    assert _value(pub, "navstream_stream_length_entries", 'stream="hedge:nav"') > 0
    # each service exports only its own figures: no 0 from a process that does not compute it
    assert "navstream_nav_usd" not in pricer_text and "navstream_price_tier" not in pub
    assert "navstream_last_snapshot_timestamp_seconds" not in pub and "navstream_unit_price" not in pub
    for port in (base + 1, base + 2, base + 3):
        assert re.search(r'navstream_build_info\{version="[^"]+"\} 1\.0', _scrape(port))


def test_metrics_listen_on_metrics_host(env, r, services):
    """METRICS_HOST decides the interface: on 127.0.0.2 the endpoint answers there and not on 127.0.0.1."""
    base = _free_base()
    env.update(METRICS_PORT_BASE=str(base), METRICS_HOST="127.0.0.2")
    services("publisher", env)
    text = eventually(lambda: _scrape(base + 3, host="127.0.0.2"), timeout=20, message="metrics on 127.0.0.2")
    assert "navstream_build_info" in text
    with pytest.raises(requests.ConnectionError):
        _scrape(base + 3)


def test_status_metrics_say_redis_down_instead_of_failing_the_scrape(base, redis_server):
    eventually(lambda: _value(_scrape(base + 3), "navstream_redis_up") == 1, timeout=20, message="redis up")
    redis_server.stop()
    text = eventually(lambda: (t := _scrape(base + 3)) and _value(t, "navstream_redis_up") == 0 and t,
                      timeout=20, message="navstream_redis_up 0 while Redis is down")
    assert "navstream_service_healthy" not in text.split("navstream_redis_up", 1)[1]
