"""Every marketsim fault at once: snapshots keep coming every round, all with aum, provenance right."""

from __future__ import annotations

import time
from itertools import pairwise

import orjson

from tests.support import eventually

ALL_AT_ONCE = [("mark", "down"), ("spot", "429"), ("coingecko", "418"), ("account", "down")]


def _snapshots_since(r, since_ms: int) -> list[tuple[int, dict]]:
    return [(int(eid.split(b"-")[0]), orjson.loads(f[b"snapshot"])) for eid, f in r.xrange("hedge:nav", min=since_ms)]


def test_every_source_failing_at_once(pipeline):
    r = pipeline.r
    for source, mode in ALL_AT_ONCE:
        pipeline.fault(source, mode)
    start_ms = int(time.time() * 1000)
    # Within two rounds (plus the source timeout) every asset falls to avg_cost and NAV to cache.
    eventually(lambda: (s := pipeline.last_snapshot())["source"] == "cache"
               and all(h["source"] == "avg_cost" for h in s["aum"]["offexchange"].values()),
               timeout=10, message="avg_cost pricing and cached NAV")
    time.sleep(8)
    snaps = _snapshots_since(r, start_ms)
    stamps = [ms for ms, _ in snaps]
    gaps = [(b - a) / 1000 for a, b in pairwise(stamps)]
    assert len(snaps) >= 8 / 0.3 * 0.5, f"snapshots every round, got {len(snaps)} in ~10 s"
    assert max(gaps) < 1.5, f"no snapshot gap beyond a few rounds, got {max(gaps):.2f} s"
    for _ms, s in snaps:
        assert set(s["aum"]) == {"futures", "offexchange", "total"}
        assert s["aum"]["futures"] == s["nav_total"]
    last = snaps[-1][1]
    assert last["status"]["degraded"] is True
    assert last["nav_age_s"] > 5, "cached NAV shows its growing age"
    for asset, h in last["aum"]["offexchange"].items():
        assert h["source"] == "avg_cost" and h["mark"] == h["avg_cost"], asset
    hits = orjson.loads(r.hget("hedge:prices:sources", "BTC"))
    assert {"mark", "spot_cache", "coingecko"} <= set(hits["errors"]), hits["errors"]

    pipeline.clear_faults()
    eventually(lambda: (s := pipeline.last_snapshot())["source"] == "live"
               and s["aum"]["offexchange"]["BTC"]["source"] == "mark", timeout=10,
               message="recovery to live NAV and mark prices")


def test_per_symbol_price_faults(pipeline):
    pipeline.fault("mark", "zero", "BTC")
    pipeline.fault("mark", "stale", "XAUT")
    pipeline.fault("mark", "delisted", "USDC")
    snap = eventually(lambda: (s := pipeline.last_snapshot()) and all(
        s["aum"]["offexchange"][a]["source"] == "spot_cache" for a in ("BTC", "XAUT", "USDC")) and s,
        timeout=10, message="all three assets on spot_cache")
    for h in snap["aum"]["offexchange"].values():
        assert h["mark"] > 0 and h["price_age_s"] >= 0
