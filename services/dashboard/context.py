"""Everything the dashboard process keeps between requests, in one object made by create_app():
the read source (Redis client, state folder, outage memory), the live feed's cache, and the
pages' caches of what they built for the last snapshot and the last history point.

Dash page modules register callbacks at import and cannot be handed an object, so the app's
context is installed once here and pages reach it through `current()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import redis

from services.dashboard.live import LiveCache
from services.dashboard.source import StateSource
from shared.settings import Settings, load_settings


@dataclass
class Memo:
    """The last thing a page built and what it was built from; an unchanged poll reuses it."""

    last: tuple[Any, ...] | None = None


@dataclass
class DashboardContext:
    settings: Settings
    source: StateSource
    live: LiveCache = field(default_factory=LiveCache)
    slices: Memo = field(default_factory=Memo)    # overview: donut slices of the last snapshot document
    history: Memo = field(default_factory=Memo)   # overview: the chart of the last history point

    @classmethod
    def from_settings(cls, settings: Settings, r: redis.Redis | None = None) -> DashboardContext:
        return cls(settings, StateSource(settings, r))


_current: DashboardContext | None = None
_lock = threading.Lock()


def install(context: DashboardContext) -> DashboardContext:
    """Make `context` the one the pages read through (create_app does this once)."""
    global _current
    with _lock:
        _current = context
        return context


def current() -> DashboardContext:
    """The installed context; one from the environment's settings if no app installed one yet."""
    global _current
    with _lock:
        if _current is None:
            _current = DashboardContext.from_settings(load_settings())
        return _current
