"""Wire contract of one-minute mark-price bars: the `hedge:bars:<market>` streams (closed bars)
and the JSON of a forming bar (kept in `hedge:kpi:state`). The publisher writes and reads both.

Stream fields: `t` (minute start, epoch seconds), `o`, `h`, `l`, `c` (finite, > 0,
low <= open, close <= high). The JSON object has the same names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from shared.contracts._fields import json_object
from shared.errors import ContractError

BAR_S = 60


@dataclass(frozen=True, slots=True)
class Bar:
    t: int          # minute start, epoch seconds
    open: float
    high: float
    low: float
    close: float

    def extended(self, px: float) -> Bar:
        return Bar(self.t, self.open, max(self.high, px), min(self.low, px), px)


def encode_bar(bar: Bar) -> dict[str, str]:
    """Flat fields of one `hedge:bars:<market>` entry."""
    return {"t": str(bar.t), "o": repr(bar.open), "h": repr(bar.high),
            "l": repr(bar.low), "c": repr(bar.close)}


def decode_bar(fields: Mapping[Any, Any]) -> Bar:
    """A bar from stream fields or a JSON object; bad data raises ContractError."""
    def get(name: str) -> Any:
        return fields.get(name, fields.get(name.encode()))
    try:
        t = int(get("t"))
        o, h, lo, c = (float(get(n)) for n in ("o", "h", "l", "c"))
    except (TypeError, ValueError):
        raise ContractError(f"bar: fields t,o,h,l,c must be numbers, got {dict(fields)!r:.120}") from None
    if not all(math.isfinite(v) and v > 0 for v in (o, h, lo, c)) or not lo <= min(o, c) <= max(o, c) <= h:
        raise ContractError(f"bar at t={t}: prices must be positive, finite and low <= open,close <= high")
    return Bar(t, o, h, lo, c)


def bar_to_json(bar: Bar) -> bytes:
    """The forming bar as JSON (a field of `hedge:kpi:state`)."""
    return orjson.dumps({"t": bar.t, "o": bar.open, "h": bar.high, "l": bar.low, "c": bar.close})


def bar_from_json(raw: bytes | str) -> Bar:
    return decode_bar(json_object(raw, "forming bar"))
