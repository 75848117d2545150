"""The live feed thread against a real redis-server: newest snapshot in memory, outages survived."""

from __future__ import annotations

import logging
import time

import orjson
import pytest

from services.dashboard.live import LiveCache, LiveFeed
from shared.contracts.health import decode_heartbeat
from shared.heartbeat import Heartbeat
from shared.redis_io import connect
from tests.browser.dashboard_state import KEYS, publish
from tests.documents import nav_doc
from tests.support import eventually


@pytest.fixture
def feed(redis_server):
    r = connect(redis_server.url, name="test-live")
    cache = LiveCache()
    feed = LiveFeed(r, KEYS, cache, Heartbeat(r, KEYS, "dashboard", 1.0), block_ms=200)
    yield feed
    feed.stop()
    feed.join(timeout=3)
    assert not feed.is_alive(), "live feed did not stop within 3 s"


def test_seeds_with_the_newest_snapshot_then_follows_new_ones(r, feed):
    publish(r, nav_doc(seq=1))
    publish(r, nav_doc(seq=2))
    feed.start()
    eventually(lambda: feed.cache.get().snapshot and feed.cache.get().snapshot["seq"] == 2, timeout=3,
               message="seeded snapshot")
    started = time.monotonic()
    publish(r, nav_doc(seq=3, nav_total=123.0))
    eventually(lambda: feed.cache.get().snapshot["seq"] == 3, timeout=2, message="new snapshot")
    assert time.monotonic() - started < 1.5
    state = feed.cache.get()
    assert state.connected and state.snapshot["nav_total"] == 123.0 and state.version == 2


def test_empty_stream_then_first_snapshot(r, feed):
    feed.start()
    eventually(lambda: feed.cache.get().connected, timeout=3, message="feed connected")
    assert feed.cache.get().snapshot is None
    publish(r, nav_doc(seq=1))
    eventually(lambda: feed.cache.get().snapshot is not None, timeout=2, message="first snapshot")


def test_bad_entries_are_skipped(r, feed, caplog):
    feed.start()
    eventually(lambda: feed.cache.get().connected, timeout=3, message="feed connected")
    with caplog.at_level(logging.WARNING, logger="dashboard.live"):
        r.xadd(KEYS.nav, {"seq": "1", "snapshot": b"{broken"})
        eventually(lambda: "skipping it" in caplog.text, timeout=2, message="warning about the bad entry")
    assert feed.cache.get().snapshot is None
    publish(r, nav_doc(seq=2))
    eventually(lambda: feed.cache.get().snapshot is not None, timeout=2, message="next good snapshot")
    assert feed.heartbeat.counters["bad_entries"] == 1


def test_writes_the_dashboard_heartbeat(r, feed):
    feed.start()
    raw = eventually(lambda: r.get(KEYS.health("dashboard")), timeout=3, message="heartbeat key")
    doc = decode_heartbeat(raw)
    assert doc.service == "dashboard" and doc.status == "ok"
    assert 0 < r.ttl(KEYS.health("dashboard")) <= 5


def test_redis_restart_keeps_the_last_snapshot_and_reconnects(r, redis_server, feed, caplog):
    publish(r, nav_doc(seq=5))
    feed.start()
    eventually(lambda: feed.cache.get().snapshot is not None, timeout=3, message="seeded")
    with caplog.at_level(logging.WARNING, logger="dashboard.live"):
        redis_server.kill()
        eventually(lambda: not feed.cache.get().connected, timeout=5, message="feed noticing the outage")
        assert feed.cache.get().snapshot["seq"] == 5  # still shown meanwhile
        time.sleep(0.5)  # several failed attempts: still one log line
        redis_server.start()
        r2 = redis_server.client()
        publish(r2, nav_doc(seq=6))
        eventually(lambda: feed.cache.get().snapshot["seq"] == 6, timeout=8, message="snapshot after restart")
        assert feed.cache.get().connected
    outage_lines = [rec.getMessage() for rec in caplog.records if "cannot read" in rec.getMessage()]
    assert len(outage_lines) == 2, outage_lines  # started, recovered: not one line per retry
    assert "recovered after" in outage_lines[1]


def test_cache_state_is_consistent():
    cache = LiveCache()
    cache.put(orjson.loads(orjson.dumps(nav_doc(seq=1))), "1-0", 10.0)
    cache.set_disconnected("boom")
    s = cache.get()
    assert (s.snapshot["seq"], s.connected, s.error, s.version) == (1, False, "boom", 1)
    cache.set_connected()
    assert cache.get().connected and cache.get().error is None
