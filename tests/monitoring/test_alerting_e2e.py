"""End to end: the real system under `navstream up`, a real Prometheus scraping it with the shipped
rules, a real Alertmanager with the shipped routing posting to a webhook in the test.

`navstream sim fault mark down` must give exactly one FIRING notification of NavstreamPriceFallback
(the shipped rule, `for: 1m`) within FIRING_BOUND_S, no repeat of it while it keeps firing, and a
RESOLVED after `navstream sim clear` within RESOLVED_BOUND_S. The measured timings are printed and
written to test-artifacts/alert_timings.json.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.monitoring.deploy_files import alertmanager, dashboard_panels, prometheus
from tests.monitoring.stack import (
    ToolProcess,
    WebhookReceiver,
    alertmanager_test_config,
    instant_value,
    prometheus_test_config,
    query,
    start_alertmanager,
    start_prometheus,
)
from tests.support import NavstreamUp, RedisServer, eventually

INTERVAL = "1s"            # test Prometheus: scrape and evaluation interval
GROUP_WAIT = "1s"          # test Alertmanager: every route
GROUP_INTERVAL = "2s"
REPEAT_INTERVAL = "2m"     # longer than the whole firing window below, so any repeat is a duplicate
FOR_S = 60                 # the shipped NavstreamPriceFallback `for:`
# fault -> the pricer's next round (0.5 s) -> scrape (1 s) -> evaluation (1 s) -> `for` (60 s) ->
# group_wait (1 s); 30 s of slack for a loaded CI machine.
FIRING_BOUND_S = FOR_S + 4 + 30
# clear -> next round -> scrape -> evaluation resolves it -> next group_interval flush (2 s); slack.
RESOLVED_BOUND_S = 5 + 30
RESENDS_WHILE_FIRING = 5   # Prometheus re-sends the firing alert this often before we count


@dataclass
class Stack:
    up: NavstreamUp
    webhook: WebhookReceiver
    alertmanager: ToolProcess
    prometheus: ToolProcess

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=self.up.workdir, env=self.up.env,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    prom_bin, am_bin = prometheus(), alertmanager()
    tmp = tmp_path_factory.mktemp("alerting")
    redis = RedisServer(tmp / "redis")
    redis.start()
    base = random.randrange(20_000, 60_000, 10)
    (tmp / "system").mkdir()
    up = NavstreamUp(redis.url, tmp / "system", PRICE_INTERVAL_S=0.5, ACCOUNT_INTERVAL_S=1,
                     METRICS_PORT_BASE=base).start()
    webhook = WebhookReceiver()
    started: list[ToolProcess] = []
    try:
        am_config = alertmanager_test_config(am_bin, webhook.url, group_wait=GROUP_WAIT,
                                             group_interval=GROUP_INTERVAL, repeat_interval=REPEAT_INTERVAL)
        started.append(start_alertmanager(am_bin, tmp / "alertmanager", am_config))
        # resend-delay: Prometheus re-sends a firing alert every 2 s (default 1 m), so the test sees
        # Alertmanager deduplicate many re-sends, not one.
        prom = start_prometheus(prom_bin, tmp / "prometheus", prometheus_test_config(base, started[0].port, INTERVAL),
                                extra_args=["--rules.alert.resend-delay=2s"])
        started.append(prom)
        yield Stack(up, webhook, started[0], prom)
    finally:
        for proc in reversed(started):
            proc.stop()
        webhook.close()
        up.stop()
        redis.stop()


def _sent_to_alertmanager(stack: Stack) -> float:
    text = requests.get(f"{stack.prometheus.url}/metrics", timeout=5).text
    found = re.search(r"^prometheus_notifications_sent_total\{[^}]*\} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.timeout(FIRING_BOUND_S + RESOLVED_BOUND_S + 180)
def test_mark_down_fires_the_fallback_alert_once_and_clear_resolves_it(stack, artifacts_dir):
    prom, webhook = stack.prometheus, stack.webhook
    eventually(lambda: instant_value(prom, 'navstream_price_tier{asset="BTC"}') == 0, timeout=90,
               message="Prometheus to see BTC priced by its mark")
    assert not webhook.notifications("NavstreamPriceFallback")

    stack.cli("sim", "fault", "mark", "down")
    fault_at = time.monotonic()
    eventually(lambda: instant_value(prom, 'navstream_price_tier{asset="BTC"}') in (1, 2), timeout=15,
               message="Prometheus to see BTC on a fallback tier")
    firing = eventually(lambda: webhook.notifications("NavstreamPriceFallback", "firing"), timeout=FIRING_BOUND_S,
                        message=f"a FIRING NavstreamPriceFallback notification within {FIRING_BOUND_S} s")[0]
    to_firing = firing.at - fault_at
    assert to_firing >= FOR_S - 5, "the shipped rule waits its `for: 1m` before firing"
    assert firing.receiver == "warning", "severity warning routes to the warning receiver"
    by_asset = {a["labels"]["asset"]: a for a in firing.body["alerts"]}
    assert "BTC" in by_asset
    btc = by_asset["BTC"]
    assert btc["status"] == "firing" and btc["labels"]["severity"] == "warning"
    assert re.fullmatch(r"BTC is priced by the fallback tier (spot_cache|coingecko), not its futures mark",
                        btc["annotations"]["summary"])
    assert btc["annotations"]["runbook_url"] == "docs/alerts.md#navstreampricefallback"

    # It keeps firing: Prometheus re-sends it, Alertmanager flushes the group every 2 s; no repeat.
    sent = _sent_to_alertmanager(stack)
    eventually(lambda: _sent_to_alertmanager(stack) >= sent + RESENDS_WHILE_FIRING, timeout=60,
               message="Prometheus to re-send the firing alerts")
    assert time.monotonic() - firing.at < 120, "the check ran within the repeat interval"
    assert len(webhook.notifications("NavstreamPriceFallback", "firing")) == 1

    stack.cli("sim", "clear")
    clear_at = time.monotonic()
    resolved = eventually(lambda: webhook.notifications("NavstreamPriceFallback", "resolved"),
                          timeout=RESOLVED_BOUND_S,
                          message=f"a RESOLVED NavstreamPriceFallback notification within {RESOLVED_BOUND_S} s")[0]
    to_resolved = resolved.at - clear_at
    assert all(a["status"] == "resolved" for a in resolved.body["alerts"])
    assert "BTC" in {a["labels"]["asset"] for a in resolved.body["alerts"]}
    assert len(webhook.notifications("NavstreamPriceFallback", "firing")) == 1

    timings = {"fault_to_firing_s": round(to_firing, 1), "clear_to_resolved_s": round(to_resolved, 1),
               "firing_bound_s": FIRING_BOUND_S, "resolved_bound_s": RESOLVED_BOUND_S,
               "assets_in_notification": sorted(by_asset), "scrape_and_eval_interval": INTERVAL,
               "group_wait": GROUP_WAIT, "group_interval": GROUP_INTERVAL}
    (artifacts_dir / "alert_timings.json").write_text(json.dumps(timings, indent=2))
    print(f"\nalerting e2e: fault -> FIRING {to_firing:.1f} s (bound {FIRING_BOUND_S} s), "
          f"clear -> RESOLVED {to_resolved:.1f} s (bound {RESOLVED_BOUND_S} s); assets {sorted(by_asset)}")


def test_the_watchdog_reaches_the_deadmans_switch(stack):
    note = eventually(lambda: [n for n in stack.webhook.received if n.receiver == "deadmans-switch"], timeout=30,
                      message="a Watchdog notification at the deadmans-switch receiver")[0]
    assert note.alertname == "NavstreamWatchdog" and note.status == "firing"


# Panels whose metrics the running system (no ledger, nothing setting Binance's weight yet) exports.
PANELS_WITH_DATA = ("NAV (futures)", "AUM", "Drawdown", "NAV and AUM", "Pricing tier per asset",
                    "Price age per asset", "Pricing round time", "Snapshot latency (price to hedge:nav)",
                    "Snapshot and account data age", "Consumer lag", "Service health", "Services scraped")


def test_every_grafana_panel_query_is_valid_promql_with_data_where_the_system_exports_it(stack):
    prom = stack.prometheus
    assert query(prom, "navstream_nav_usd{")["status"] == "error"   # the check can tell a bad query
    eventually(lambda: instant_value(prom, "navstream_nav_usd") is not None, timeout=90,
               message="Prometheus to have NAV")
    panels = dashboard_panels()
    assert {p["title"] for p in panels} >= set(PANELS_WITH_DATA)
    for panel in panels:
        for target in panel["targets"]:
            answer = query(prom, target["expr"])
            assert answer["status"] == "success", f"{panel['title']}: {target['expr']}: {answer}"
    for panel in panels:
        if panel["title"] in PANELS_WITH_DATA:
            expr = panel["targets"][0]["expr"]
            eventually(lambda e=expr: query(prom, e)["data"]["result"], timeout=60,
                       message=f"data for panel {panel['title']!r} ({expr})")
