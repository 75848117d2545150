"""Live NAV feed: a background thread follows hedge:nav and keeps the newest snapshot in memory.

Pages poll the app's LiveCache (context.py; dcc.Interval) instead of Redis, so a new snapshot shows within
about a second of being published and a Redis outage never blocks a page. The thread
also writes the dashboard's heartbeat (hedge:health:dashboard).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis

from shared.backoff import Backoff, Episode
from shared.contracts.nav import decode_nav_entry
from shared.errors import ContractError
from shared.heartbeat import Heartbeat
from shared.keys import Keys
from shared.redis_io import MAX_BLOCK_MS, RedisUnavailable

log = logging.getLogger("dashboard.live")


@dataclass(frozen=True, slots=True)
class LiveState:
    snapshot: dict | None     # the newest nav.v7 document read from hedge:nav
    entry_id: str | None
    received_at: float | None  # wall time it arrived
    version: int               # +1 per new snapshot
    connected: bool
    error: str | None


class LiveCache:
    """The newest snapshot and the feed's connection state, shared between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = LiveState(None, None, None, 0, False, None)

    def get(self) -> LiveState:
        with self._lock:
            return self._state

    def put(self, snapshot: dict, entry_id: str, now: float) -> None:
        with self._lock:
            s = self._state
            self._state = LiveState(snapshot, entry_id, now, s.version + 1, True, None)

    def set_connected(self) -> None:
        with self._lock:
            s = self._state
            if not s.connected:
                self._state = LiveState(s.snapshot, s.entry_id, s.received_at, s.version, True, None)

    def set_disconnected(self, error: str) -> None:
        with self._lock:
            s = self._state
            self._state = LiveState(s.snapshot, s.entry_id, s.received_at, s.version, False, error)


class LiveFeed(threading.Thread):
    """Blocking XREAD on hedge:nav (BLOCK <= 1 s) into a LiveCache, reconnecting with backoff."""

    def __init__(self, r: redis.Redis, keys: Keys, cache: LiveCache, heartbeat: Heartbeat | None = None,
                 *, block_ms: int = MAX_BLOCK_MS) -> None:
        super().__init__(name="dashboard-live-feed", daemon=True)
        self.r = r
        self.keys = keys
        self.cache = cache
        self.heartbeat = heartbeat
        self.block_ms = min(block_ms, MAX_BLOCK_MS)
        self.stop_event = threading.Event()
        self.last_id: str | None = None   # None: seed from the newest entry first
        self._outage = Episode(log, f"live feed: cannot read {keys.nav}")
        self._backoff = Backoff(base_s=0.2, cap_s=5.0)

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
            except (*RedisUnavailable, redis.ResponseError) as exc:
                self._outage.failed(exc, "pages keep the last snapshot and fall back to the state files; "
                                         "retrying with backoff")
                self.cache.set_disconnected(f"{type(exc).__name__}: {exc}")
                if self.heartbeat is not None:
                    self.heartbeat.error(f"live feed: {exc}")
                self.last_id = None  # re-seed on reconnect: take the newest entry first
                self.stop_event.wait(self._backoff.next_delay())

    def step(self) -> None:
        """One round: seed if needed, block for new entries, keep the newest, beat."""
        if self.last_id is None:
            self._seed()
            self._answered()
        reply = self.r.xread({self.keys.nav: self.last_id}, count=1000, block=self.block_ms)
        self._answered()
        for _stream, entries in reply or []:
            if entries:
                self._take(entries)
        if self.heartbeat is not None:
            self.heartbeat.gauges["live_version"] = self.cache.get().version
            self.heartbeat.beat()

    def _answered(self) -> None:
        """Redis answered: the feed is connected (and an outage, if any, is over)."""
        self.cache.set_connected()
        if self._outage.active:
            self._outage.recovered()
        self._backoff.reset()

    def _seed(self) -> None:
        newest = self.r.xrevrange(self.keys.nav, "+", "-", count=1)
        if newest:
            self._take(newest)
        else:
            # Empty or missing stream: read from the start, so nothing added meanwhile is missed.
            self.last_id = "0-0"

    def _take(self, entries: list) -> None:
        """Keep the newest decodable entry of a batch (older ones are superseded anyway)."""
        self.last_id = _s(entries[-1][0])
        if self.last_id == self.cache.get().entry_id:
            return  # re-seeded after an outage and nothing new arrived
        for entry_id, fields in reversed(entries):
            try:
                doc = decode_nav_entry(fields)
            except ContractError as exc:
                log.warning("%s entry %s: %s; skipping it", self.keys.nav, _s(entry_id), exc)
                if self.heartbeat is not None:
                    self.heartbeat.count("bad_entries")
                continue
            self.cache.put(doc, _s(entry_id), time.time())
            if self.heartbeat is not None:
                self.heartbeat.count("snapshots")
            return


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
