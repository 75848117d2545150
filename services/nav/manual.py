"""Operator-set NAV: `hedge:nav:manual` (JSON `{nav_total, ts, note}`) and the MANUAL_NAV setting.

`navstream nav set 123456 --note "exchange maintenance"` calls `set_manual_nav`,
`navstream nav clear` calls `clear_manual_nav`. While a manual NAV is active the nav
service publishes `source: "manual"` with `nav_age_s` = the age of the setting.
The Redis key wins over the setting, so an operator can override either at runtime.
"""

from __future__ import annotations

import time

import redis

from shared.contracts.manual_nav import (  # noqa: F401 - the contract, re-exported for the nav's readers
    ManualNav,
    check_nav_value,
    decode_manual_nav,
    encode_manual_nav,
)
from shared.keys import Keys


def set_manual_nav(r: redis.Redis, keys: Keys, value: float, note: str = "",
                   *, now: float | None = None) -> ManualNav:
    """Make `value` the published NAV until cleared; returns what was stored."""
    manual = ManualNav(check_nav_value(value, "manual NAV"), time.time() if now is None else now, note or "")
    r.set(keys.nav_manual, encode_manual_nav(manual))
    return manual


def clear_manual_nav(r: redis.Redis, keys: Keys) -> bool:
    """Go back to measured NAV; True if a manual NAV was set in Redis."""
    return bool(r.delete(keys.nav_manual))


def manual_from_setting(value: float | None, started_at: float) -> ManualNav | None:
    """MANUAL_NAV as a ManualNav dated at process start (its age is how long it has been in force)."""
    if value is None:
        return None
    return ManualNav(check_nav_value(value, "MANUAL_NAV"), started_at, "MANUAL_NAV setting", "setting")
