"""Heartbeats: each service SETs `hedge:health:<service>` (JSON, TTL) so others can see it alive."""

from __future__ import annotations

import os
import time
from collections import Counter

import redis

from shared.contracts.health import HeartbeatDoc, encode_heartbeat
from shared.keys import Keys


class Heartbeat:
    """Counters and the last error of one service, written to Redis at most once a second.

    TTL is three loop intervals (at least 5 s): a key that vanished means the
    service stopped beating.
    """

    def __init__(self, r: redis.Redis, keys: Keys, service: str, interval_s: float) -> None:
        self.r = r
        self.key = keys.health(service)
        self.service = service
        self.ttl_s = max(5, int(3 * interval_s + 0.999))
        self.counters: Counter[str] = Counter()
        self.gauges: dict[str, object] = {}
        self.last_error: str | None = None
        self.last_error_ts: float | None = None
        self.status = "ok"
        self._last_write = 0.0

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def error(self, message: str) -> None:
        self.last_error = message
        self.last_error_ts = time.time()
        self.counters["errors"] += 1

    def doc(self) -> HeartbeatDoc:
        return HeartbeatDoc(
            service=self.service, pid=os.getpid(), ts=time.time(), status=self.status,
            last_error=self.last_error, counters=dict(self.counters),
            last_error_ts=self.last_error_ts, **self.gauges,
        )

    def beat(self, *, force: bool = False, pipe: redis.client.Pipeline | None = None) -> None:
        """Write the heartbeat if a second has passed (or `force`); into `pipe` if given."""
        now = time.monotonic()
        if not force and now - self._last_write < 1.0:
            return
        self._last_write = now
        target = pipe if pipe is not None else self.r
        target.set(self.key, encode_heartbeat(self.doc()), ex=self.ttl_s)
