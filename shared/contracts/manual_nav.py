"""Wire contract of the operator-set NAV: the Redis string `hedge:nav:manual`.

JSON `{"nav_total": <finite number >= 0>, "ts": <epoch seconds > 0>, "note": <string>}`.
`navstream nav set` writes it, `navstream nav clear` deletes it, the nav service reads it
on every snapshot and publishes `source: "manual"` while it is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from shared.contracts._fields import json_object
from shared.errors import ConfigError, ContractError


@dataclass(frozen=True, slots=True)
class ManualNav:
    """An operator-set NAV: from `hedge:nav:manual` (origin "redis") or MANUAL_NAV ("setting")."""

    nav_total: float
    ts: float
    note: str = ""
    origin: str = "redis"


def check_nav_value(value: object, where: str) -> float:
    """`value` as a NAV an operator may set; ConfigError naming `where` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
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
        nav_total = check_nav_value(doc.get("nav_total"), where)
    except ConfigError as exc:
        raise ContractError(str(exc)) from None
    ts = doc.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts <= 0:
        raise ContractError(f"{where}: ts is {ts!r}, not a positive epoch time")
    note = doc.get("note") or ""
    if not isinstance(note, str):
        raise ContractError(f"{where}: note is {note!r}, not a string")
    return ManualNav(nav_total, float(ts), note, "redis")
