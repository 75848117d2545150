"""Where the dashboard reads from: a Redis client that fails fast, the state folder, and a
short memory of an outage (so a page does not wait on a dead Redis again and again).

One `StateSource` per app, held by the app's `DashboardContext` (context.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.backoff import Episode
from shared.redis_io import RedisUnavailable
from shared.settings import Settings

log = logging.getLogger("dashboard.data")
T = TypeVar("T")

READ_TIMEOUT_S = 0.5       # one dashboard read never waits longer than this
UNREACHABLE_HOLD_S = 2.0   # after a failed read, go straight to the files for this long


class RedisDown(Exception):
    """Redis did not answer (or was found unreachable a moment ago); read the files instead."""


def fast_client(url: str, *, name: str = "navstream-dashboard") -> redis.Redis:
    """A client for page reads: short timeouts and no retries.

    shared.redis_io.connect fixes 5 s socket timeouts and keeps redis-py's default
    retries; a page read against a frozen Redis would then hang for many seconds.
    """
    return redis.Redis.from_url(url, socket_timeout=READ_TIMEOUT_S, socket_connect_timeout=READ_TIMEOUT_S,
                                retry=Retry(NoBackoff(), 0), health_check_interval=0,
                                client_name=name, decode_responses=False)


class StateSource:
    """The dashboard's Redis client and state folder, failing fast and remembering an outage briefly."""

    def __init__(self, settings: Settings, r: redis.Redis | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.keys = settings.keys
        self.state_dir = Path(settings.dashboard_state_dir)
        self.r = r if r is not None else fast_client(settings.effective_redis_url)
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.last_error: str | None = None
        self._outage = Episode(log, f"dashboard reads: Redis {settings.redacted_redis_url()} unreachable")
        self._warned: dict[str, str] = {}

    @property
    def reachable(self) -> bool:
        """False while the last read failed (within the hold time)."""
        return self.last_error is None

    def call(self, fn: Callable[[redis.Redis], T]) -> T:
        """`fn(client)`, or RedisDown at once if Redis failed a moment ago or fails now."""
        with self._lock:
            if self._clock() < self._down_until:
                raise RedisDown(self.last_error)
        try:
            result = fn(self.r)
        except RedisUnavailable as exc:
            with self._lock:
                self._down_until = self._clock() + UNREACHABLE_HOLD_S
                self.last_error = f"Redis unreachable: {exc}"
                self._outage.failed(exc, "pages show the last snapshot and the state files")
            raise RedisDown(self.last_error) from None
        with self._lock:
            if self.last_error is not None:
                self.last_error = None
                self._outage.recovered()
        return result

    def warn_once(self, where: str, message: str) -> None:
        """Log a bad document once per distinct problem, not on every page poll."""
        if self._warned.get(where) != message:
            self._warned[where] = message
            log.warning("%s", message)

    def read_ok(self, where: str) -> None:
        """`where` read fine again: its next problem is worth a warning."""
        self._warned.pop(where, None)
