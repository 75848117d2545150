"""One-minute OHLC bars of a futures market, built from the mark prices in NAV snapshots.

A bar covers one wall-clock minute `[t, t + 60)` of snapshot time. It stays
"forming" until a mark of a later minute arrives, which closes it. Marks older
than the forming bar (or than the last closed bar) are ignored: bars only move forward.
Minutes without a snapshot produce no bar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
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


@dataclass(frozen=True, slots=True)
class BarUpdate:
    closed: tuple[Bar, ...]
    forming: Bar | None


def minute_of(ts: float) -> int:
    return int(ts // BAR_S) * BAR_S


def fold_marks(forming: Bar | None, last_closed_t: int | None,
               marks: Iterable[tuple[float, float]]) -> BarUpdate:
    """Fold `(ts, price)` marks, in arrival order, into the forming bar; return bars that closed."""
    closed: list[Bar] = []
    floor_t = last_closed_t
    for ts, px in marks:
        t = minute_of(ts)
        if forming is None:
            if floor_t is not None and t <= floor_t:
                continue
            forming = Bar(t, px, px, px, px)
        elif t == forming.t:
            forming = forming.extended(px)
        elif t > forming.t:
            closed.append(forming)
            floor_t = forming.t
            forming = Bar(t, px, px, px, px)
    return BarUpdate(tuple(closed), forming)


# --- wire forms: stream entry `hedge:bars:<market>` and the forming bar's JSON --------

def encode_bar(bar: Bar) -> dict[str, str]:
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
    return orjson.dumps({"t": bar.t, "o": bar.open, "h": bar.high, "l": bar.low, "c": bar.close})


def bar_from_json(raw: bytes | str) -> Bar:
    return decode_bar(json_object(raw, "forming bar"))
