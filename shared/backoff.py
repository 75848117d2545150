"""Exponential backoff with jitter, and a logger that speaks once per outage episode."""

from __future__ import annotations

import logging
import random
import time


class Backoff:
    """`next_delay()` doubles from `base_s` up to `cap_s`, with ±20 % jitter; `reset()` after success."""

    def __init__(self, base_s: float = 0.2, cap_s: float = 5.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap_s, self.base_s * (2 ** self.attempt))
        self.attempt += 1
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.attempt = 0


class Episode:
    """Log a problem once when it starts and once when it ends, never every retry.

    A service that cannot reach Redis for a minute writes two lines, not thousands.
    """

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.since: float | None = None
        self.failures = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, error: object, action: str) -> None:
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("%s: %s; %s", self.what, error, action)

    def recovered(self) -> None:
        if self.since is not None:
            self.log.warning("%s: recovered after %.1f s and %d failed attempts",
                             self.what, time.monotonic() - self.since, self.failures)
            self.since = None
            self.failures = 0
