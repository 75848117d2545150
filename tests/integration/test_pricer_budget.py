"""The pricer process against marketsim: listing reloads, request weight, the CoinGecko key, tracked assets.

One pricer runs for the module's checks: an asset listed nowhere costs no listing reload per round (a
counter proves it), Binance's X-MBX-USED-WEIGHT-1M is exported as navstream_binance_used_weight, the
pricer's own weight stays under 10 % of Binance's 2,400 a minute, the CoinGecko key goes in its header
and nowhere else, and margin assets in hedge:assets:tracked are priced like holdings.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import orjson
import requests

from shared.contracts.prices import decode_latest
from tests.support import eventually

CG_KEY = "cg-demo-KEY-5f1e0c9a"


def _metric(port: int, name: str, labels: str) -> float | None:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_unlisted_asset_weight_metric_coingecko_key_and_tracked_assets(env, r, marketsim, services, tmp_path):
    holdings = json.loads(Path(env["HOLDINGS_FILE"]).read_text())
    holdings["GOLDX"] = {"qty": 3.0, "avg_cost": 2000.0}          # on no listing at all
    Path(env["HOLDINGS_FILE"]).write_text(json.dumps(holdings))
    port_base = random.randrange(20_000, 60_000, 10)
    env.update(METRICS_PORT_BASE=str(port_base), PRICE_INTERVAL_S="0.2", COINGECKO_API_KEY=CG_KEY,
               LOG_LEVEL="DEBUG", MARKETSIM_FILL_INTERVAL_S="0")
    r.sadd("hedge:assets:tracked", "ETH", "USDT")
    pricer = services("pricer", env)
    sim = f"http://127.0.0.1:{env['MARKETSIM_PORT']}"

    def health() -> dict:
        raw = r.get("hedge:health:pricer")
        return orjson.loads(raw) if raw else {}

    eventually(lambda: health().get("counters", {}).get("rounds", 0) >= 40, timeout=30, message="40 rounds")
    hb = health()
    weight = hb["binance_weight"]
    # GOLDX: looked for once after a fresh listing, then remembered as absent: no reload per round
    assert weight["mark"]["listing_reloads"] == 1 and weight["spot_cache"]["listing_reloads"] == 1
    assert weight["mark"]["absent"] == ["GOLDXUSDT"] and weight["spot_cache"]["absent"] == ["GOLDX/USDT"]
    sources = orjson.loads(r.hget("hedge:prices:sources", "GOLDX"))
    assert sources["chosen"]["src"] == "avg_cost" and "not listed" in sources["errors"]["mark"]
    # request weight: the pricer's own spend under 10 % of 2,400/min, Binance's count exported
    assert 0 < weight["mark"]["weight_1m"] <= 240
    used = eventually(lambda: _metric(port_base + 1, "navstream_binance_used_weight", 'venue="usdm"'), timeout=5,
                      message="the used-weight gauge")
    assert used > 0 and weight["mark"]["used_weight_1m"] > 0
    assert _metric(port_base + 1, "navstream_listing_reloads_total", 'source="mark"') == 1.0
    # the CoinGecko key went in the Demo header, and is in no log line, heartbeat or price
    counters = requests.get(f"{sim}/_sim/state", timeout=2).json()["counters"]
    assert counters.get("requests.coingecko.key.demo", 0) >= 1
    assert CG_KEY not in pricer.log_text() and CG_KEY not in marketsim.log_text()
    for key in r.keys("hedge:*"):
        if r.type(key) == b"string":
            assert CG_KEY.encode() not in r.get(key)
    # a margin asset nav needs is priced like a holding; USDT is par (nav's), not priced
    latest = {k.decode(): decode_latest(k, v) for k, v in r.hgetall("hedge:prices:latest").items()}
    assert latest["ETH"].src == "mark" and 3_000 < latest["ETH"].px < 4_000 and "USDT" not in latest
    assert hb["tracked_assets"] == ["ETH", "USDT"]
