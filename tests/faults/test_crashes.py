"""SIGKILL at any moment loses no acknowledged snapshot; duplicate prices change nothing."""

from __future__ import annotations

import random
import time

import orjson

from shared.contracts.prices import PriceObservation, encode_price
from tests.support import eventually


def _all_snapshots(r) -> list[dict]:
    return [orjson.loads(f[b"snapshot"]) for _id, f in r.xrange("hedge:nav")]


def _pending(r, stream: str, group: str) -> int:
    return r.xpending(stream, group)["pending"]


def test_sigkill_nav_then_publisher_repeatedly_loses_nothing(pipeline, services):
    r = pipeline.r
    rng = random.Random(5)
    for victim in ("nav", "publisher", "nav", "publisher", "nav"):
        time.sleep(rng.uniform(0.1, 0.8))
        pipeline.procs[victim].kill()
        time.sleep(rng.uniform(0.0, 0.5))  # prices keep arriving while it is dead
        pipeline.procs[victim] = services(victim, pipeline.env)
    seq = pipeline.last_snapshot()["seq"]
    pipeline.wait_for_seq_beyond(seq, timeout=15)

    # Every price entry was eventually acknowledged by nav, every snapshot by the publisher.
    eventually(lambda: _pending(r, "hedge:prices", "nav") == 0, timeout=10, message="nav pending to drain")
    eventually(lambda: _pending(r, "hedge:nav", "publisher") == 0, timeout=10,
               message="publisher pending to drain")
    seqs = [s["seq"] for s in _all_snapshots(r)]
    assert seqs == sorted(set(seqs)), "seq is strictly increasing across crashes"
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "no seq lost or reused across crashes"
    newest = seqs[-1]
    eventually(lambda: pipeline.nav_json()["seq"] >= newest, timeout=10,
               message="nav.json to catch up with the newest acknowledged snapshot")
    assert all("aum" in s for s in _all_snapshots(r))


def test_duplicate_price_entries_change_nothing(pipeline):
    """The same observation delivered again (at-least-once delivery) leaves the valuation as it was."""
    r = pipeline.r
    pipeline.procs["pricer"].stop()   # hold prices still so only the duplicates arrive
    pipeline.fault("account", "down")  # and the account too: nav_total stays on cached data
    now = time.time()
    obs = [PriceObservation("BTC", 90_000.0, "coingecko", now), PriceObservation("XAUT", 2_600.0, "coingecko", now),
           PriceObservation("USDC", 1.0, "coingecko", now)]
    for o in obs:
        r.xadd("hedge:prices", encode_price(o))
    injected = {o.sym: o.px for o in obs}
    first = eventually(lambda: (s := pipeline.last_snapshot()) and all(
        s["aum"]["offexchange"][a]["mark"] == px for a, px in injected.items()) and s,
        timeout=10, message="the injected prices in a snapshot")
    for _ in range(3):
        for o in obs:
            r.xadd("hedge:prices", encode_price(o))
    later = pipeline.wait_for_seq_beyond(first["seq"], timeout=10)
    for asset in ("BTC", "XAUT", "USDC"):
        a, b = first["aum"]["offexchange"][asset], later["aum"]["offexchange"][asset]
        assert (a["mark"], a["usd_value"], a["source"]) == (b["mark"], b["usd_value"], b["source"])
    assert later["nav_total"] == first["nav_total"]
    assert later["aum"]["total"] == first["aum"]["total"]
