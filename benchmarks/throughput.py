"""End-to-end throughput: full pricer rounds offered as fast as the nav consumer keeps up.

Rounds go out back to back through the pricer's publish_round. The only brake is the
stream bound: a round is held while the nav group's unacknowledged backlog is so large
that `MAXLEN ~` could trim entries the nav has not read yet (that would lose prices, not
measure them). After the last round, the clock stops when the nav group has acknowledged
every entry; the nav acknowledges in the same MULTI that adds the snapshot, so by then the
snapshot reflecting the last update is on hedge:nav (it is looked up and checked).
"""

from __future__ import annotations

import time

import orjson

from shared.keys import Keys

from benchmarks.feed import PricerFeed
from benchmarks.rig import BenchError, Rig
from benchmarks.synthetic import RoundMaker

KEYS = Keys()
MIN_ROUNDS = 3
WARMUP_ROUNDS = 2


def prices_maxlen(default_maxlen: int, round_size: int) -> int:
    """The MAXLEN the benchmark gives hedge:prices: the configured one, or three rounds if that is larger.

    With the default STREAM_MAXLEN (10,000) a round of 10,000+ prices trims entries the nav has not
    read yet: they are lost, not late (Redis 7.0 then even misreports the group's lag).
    """
    return max(default_maxlen, 3 * round_size)


def _backlog_limit(maxlen: int, round_size: int) -> int:
    return max(0, maxlen - round_size) // 2


def _first_reflecting(rig: Rig, sym: str, px: float, not_before_ms: int) -> tuple[int, int] | None:
    """(entry time in ms, seq) of the oldest hedge:nav snapshot whose mark for `sym` is >= px.

    Walks back one entry at a time from the newest: entries are whole snapshots (MBs at 10,000
    holdings) and the one wanted is normally among the last few.
    """
    found = None
    upper = "+"
    while True:
        page = rig.r.xrevrange(KEYS.nav, max=upper, min=not_before_ms, count=1)
        if not page:
            return found
        entry_id, fields = page[0]
        doc = orjson.loads(fields[b"snapshot"])
        mark = (doc["aum"]["offexchange"].get(sym) or {}).get("mark")
        if mark is None or mark < px:
            return found
        found = (int(entry_id.split(b"-")[0]), doc["seq"])
        upper = b"(" + entry_id


def run_throughput(rig: Rig, feed: PricerFeed, maker: RoundMaker, *, duration_s: float,
                   default_maxlen: int) -> dict:
    """Push full rounds for `duration_s` (at least MIN_ROUNDS rounds); see the module docstring."""
    round_size = len(maker.full_round(feed.tracked).prices)
    feed.maxlen = prices_maxlen(default_maxlen, round_size)
    limit = _backlog_limit(feed.maxlen, round_size)
    for _ in range(WARMUP_ROUNDS):
        feed.publish(maker.full_round(feed.tracked))
        rig.wait_drained()
    rig.publisher_drained()

    counts0 = rig.counters()
    cpu0 = rig.cpu_s()
    t0 = time.time()
    deadline = time.monotonic() + duration_s
    rounds = updates = held = 0
    last = None
    while rounds < MIN_ROUNDS or time.monotonic() < deadline:
        while rig.backlog() > limit:
            held += 1
            time.sleep(0.0005)
        last = maker.full_round(feed.tracked)
        feed.publish(last)
        rounds += 1
        updates += len(last.prices)
    t_pushed = time.time()
    t_drained = rig.wait_drained()
    cpu1 = rig.cpu_s()
    t_pub = rig.publisher_drained()

    marker = last.prices[len(maker.assets) - 1]   # the last asset price of the last round
    reflecting = _first_reflecting(rig, marker.sym, marker.px, int(t0 * 1000))
    if reflecting is None:
        raise BenchError(f"throughput run: no hedge:nav snapshot reflects the last update "
                         f"({marker.sym} at {marker.px}) although the nav group acknowledged it")
    counts1 = rig.counters()
    added = counts1["prices_added"] - counts0["prices_added"]
    consumed = (None if None in (counts1["nav_read"], counts0["nav_read"])
                else counts1["nav_read"] - counts0["nav_read"])
    snapshots = counts1["snapshots_added"] - counts0["snapshots_added"]
    if added != updates:
        raise BenchError(f"throughput run: published {updates} price updates but hedge:prices grew by {added}")
    elapsed = t_drained - t0
    rate = updates / elapsed
    return {
        "instruments": len(maker.assets),
        "round_size": round_size,
        "rounds": rounds,
        "updates": updates,
        "consumed": consumed,
        "seconds": round(elapsed, 3),
        "offered_per_s": round(updates / (t_pushed - t0)),
        "consumed_per_s": round(rate),
        "us_per_update": round(1e6 / rate, 2),
        "snapshots": snapshots,
        "updates_per_snapshot": round(updates / snapshots, 1) if snapshots else None,
        "prices_maxlen": feed.maxlen,
        "backlog_limit": limit,
        "held_polls": held,
        "drain_seen_after_snapshot_ms": round(t_drained * 1000 - reflecting[0], 1),
        "publisher_caught_up_ms": round((t_pub - t_drained) * 1000, 1),
        "cpu_us_per_update": {name: round((cpu1[name] - cpu0.get(name, 0.0)) * 1e6 / updates, 2)
                              for name in cpu1 if name in cpu0},
    }
