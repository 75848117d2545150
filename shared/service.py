"""The skeleton of every service process: settings, logging, signals, the Redis retry loop.

A service supplies `setup()` (run again after Redis comes back) and `step()` (one
iteration of its loop). This module turns SIGINT/SIGTERM into a clean stop, keeps
the heartbeat going, and backs off while Redis is unreachable, logging the outage
once when it starts and once when it ends.
"""

from __future__ import annotations

import functools
import gc
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

import redis

from shared.backoff import Backoff, Episode
from shared.errors import ConfigError
from shared.heartbeat import Heartbeat
from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.redis_io import RedisUnavailable, connect
from shared.settings import Settings, load_settings


def exits_on_config_error(service: str) -> Callable[[Callable[[], int]], Callable[[], int]]:
    """Decorate a service's `main()`: a ConfigError (bad environment or config) becomes one
    line on stderr naming the problem, and exit code 2, instead of a traceback."""
    def wrap(main: Callable[[], int]) -> Callable[[], int]:
        @functools.wraps(main)
        def run() -> int:
            try:
                return main()
            except ConfigError as exc:
                print(f"{service}: {exc}; exiting", file=sys.stderr)
                return 2
        return run
    return wrap


class ServiceContext:
    """What a service's code gets: settings, keys, a Redis client, its logger, heartbeat, stop flag."""

    def __init__(self, name: str, settings: Settings, interval_s: float) -> None:
        self.name = name
        self.settings = settings
        self.keys = settings.keys
        self.log = setup_logging(name, settings.log_level, settings.secret_values(), fmt=settings.log_format)
        self.r = connect(settings.effective_redis_url, name=f"navstream-{name}")
        self.heartbeat = Heartbeat(self.r, self.keys, name, interval_s)
        self.stop = threading.Event()

    def install_signal_handlers(self) -> None:
        def _stop(signum, _frame):
            self.log.info("received %s; stopping", signal.Signals(signum).name)
            self.stop.set()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


class Loop(Protocol):
    """One service's work. State that must outlive a Redis outage lives on the object."""

    def setup(self) -> None:
        """(Re)create consumer groups, reclaim pending entries. Runs at start and after an outage."""

    def step(self) -> None:
        """One iteration: read, compute, publish. Returns within about a second."""

    def close(self) -> None:
        """Release outside resources (HTTP sessions, threads)."""


def run_service(name: str, interval_s: float, make_loop: Callable[[ServiceContext], Loop],
                settings: Settings | None = None) -> int:
    """Run a service until SIGINT/SIGTERM; returns the process exit code."""
    ctx = ServiceContext(name, settings or load_settings(), interval_s)
    ctx.install_signal_handlers()
    ctx.log.info("starting (mode=%s, redis=%s)", ctx.settings.mode.value, ctx.settings.redacted_redis_url())
    serve_metrics(name, ctx.settings)
    loop = make_loop(ctx)
    outage = Episode(ctx.log, "redis unreachable")
    backoff = Backoff(base_s=0.2, cap_s=5.0)
    needs_setup = True
    try:
        while not ctx.stop.is_set():
            try:
                if needs_setup:
                    loop.setup()
                    needs_setup = False
                    # Everything alive now (imports, clients, config) lives for the whole process;
                    # moving it out of the collector's reach keeps full collections from adding
                    # tens of milliseconds to the latency tail.
                    gc.freeze()
                loop.step()
                ctx.heartbeat.beat()
                if outage.active:
                    outage.recovered()
                    ctx.heartbeat.beat(force=True)
                backoff.reset()
            except RedisUnavailable as exc:
                outage.failed(exc, "backing off and retrying")
                ctx.heartbeat.error(f"redis unreachable: {exc}")
                needs_setup = True  # groups may be gone when it returns
                ctx.stop.wait(backoff.next_delay())
            except redis.ResponseError as exc:
                # LOADING, READONLY, OOM...: Redis answered but refused. Same handling, said plainly.
                outage.failed(exc, "Redis refused the command; backing off and retrying")
                ctx.heartbeat.error(f"redis error: {exc}")
                needs_setup = True
                ctx.stop.wait(backoff.next_delay())
    finally:
        loop.close()
    ctx.log.info("stopped")
    return 0
