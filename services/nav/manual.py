"""Operator-set NAV: `hedge:nav:manual` (JSON `{nav_total, ts, note}`) and the MANUAL_NAV setting.

`navstream nav set 123456 --note "exchange maintenance"` calls `set_manual_nav`,
`navstream nav clear` calls `clear_manual_nav`. While a manual NAV is active the nav
service publishes `source: "manual"` with `nav_age_s` = the age of the setting.
The Redis key wins over the setting, so an operator can override either at runtime.
"""

from __future__ import annotations

import math
import time

import orjson
import redis

from shared.contracts._fields import json_object
from shared.errors import ConfigError, ContractError
from shared.keys import Keys

from services.nav.model import ManualNav


def _check_value(value: float, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: nav_total is {value!r}, not a number")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: nav_total is {value!r}; it must be a finite number ≥ 0")
    return value


def encode_manual_nav(manual: ManualNav) -> bytes:
    return orjson.dumps({"nav_total": manual.nav_total, "ts": manual.ts, "note": manual.note})


def decode_manual_nav(raw: bytes | str, where: str = "hedge:nav:manual") -> ManualNav:
    """Parse the key's JSON; a bad value raises ContractError naming the field."""
    doc = json_object(raw, where, what="a JSON object {nav_total, ts, note}")
    try:
        nav_total = _check_value(doc.get("nav_total"), where)
    except ConfigError as exc:
        raise ContractError(str(exc)) from None
    ts = doc.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts) or ts <= 0:
        raise ContractError(f"{where}: ts is {ts!r}, not a positive epoch time")
    note = doc.get("note") or ""
    if not isinstance(note, str):
        raise ContractError(f"{where}: note is {note!r}, not a string")
    return ManualNav(nav_total, float(ts), note, "redis")


def set_manual_nav(r: redis.Redis, keys: Keys, value: float, note: str = "",
                   *, now: float | None = None) -> ManualNav:
    """Make `value` the published NAV until cleared; returns what was stored."""
    manual = ManualNav(_check_value(value, "manual NAV"), time.time() if now is None else now, note or "")
    r.set(keys.nav_manual, encode_manual_nav(manual))
    return manual


def clear_manual_nav(r: redis.Redis, keys: Keys) -> bool:
    """Go back to measured NAV; True if a manual NAV was set in Redis."""
    return bool(r.delete(keys.nav_manual))


def read_manual_nav(r: redis.Redis, keys: Keys) -> ManualNav | None:
    """The manual NAV in Redis, or None; a malformed value raises ContractError."""
    raw = r.get(keys.nav_manual)
    if raw is None:
        return None
    return decode_manual_nav(raw, keys.nav_manual)


def manual_from_setting(value: float | None, started_at: float) -> ManualNav | None:
    """MANUAL_NAV as a ManualNav dated at process start (its age is how long it has been in force)."""
    if value is None:
        return None
    return ManualNav(_check_value(value, "MANUAL_NAV"), started_at, "MANUAL_NAV setting", "setting")
