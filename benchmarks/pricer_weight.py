"""The pricer's Binance request weight per minute at the default 1 s interval (a separate figure).

Runs the real pricer against the rig's marketsim with the default holdings file and the account's
tracked markets, then reads what the pricer says it spent (its heartbeat's `binance_weight`) and
what marketsim counted (X-MBX-USED-WEIGHT-1M, which includes nav's account polls). Budget: 10 % of
Binance's 2,400 a minute on USD-M.
"""

from __future__ import annotations

import time

import orjson

from benchmarks.rig import KEYS, Rig
from services.pricer.sources.weight import BUDGET_SHARE, FAPI_LIMIT_PER_MIN
from services.harness import ROOT


def measure_pricer_weight(rig: Rig, seconds: float) -> dict:
    r = rig.r
    assert r is not None, "the rig is started"
    proc = rig.add_service("pricer", PRICE_INTERVAL_S="1",
                           HOLDINGS_FILE=str(ROOT / "config" / "offexchange_holdings.json"))
    try:
        rig.wait_for(lambda: r.get(KEYS.health("pricer")), "the pricer's first heartbeat")
        started = time.monotonic()
        time.sleep(seconds)
        doc = orjson.loads(r.get(KEYS.health("pricer")) or b"{}")
        elapsed = time.monotonic() - started
    finally:
        proc.stop(timeout=10)
        rig.procs.pop("pricer", None)
    mark, spot = doc["binance_weight"]["mark"], doc["binance_weight"]["spot_cache"]
    per_min = 60.0 / min(60.0, elapsed)   # the pricer's window is the last 60 s (or the run, if shorter)
    return {"interval_s": 1.0, "seconds": round(elapsed, 1),
            "fapi_weight_per_min": round(mark["weight_1m"] * per_min, 1),
            "fapi_budget_per_min": FAPI_LIMIT_PER_MIN * BUDGET_SHARE,
            "fapi_used_weight_1m_reported": mark["used_weight_1m"],
            "spot_weight_per_min": round(spot["weight_1m"] * per_min, 1),
            "listing_reloads": {"fapi": mark["listing_reloads"], "spot": spot["listing_reloads"]},
            "absent": mark["absent"] + spot["absent"]}
