"""One-minute OHLC bars of a futures market, built from the mark prices in NAV snapshots.

A bar covers one wall-clock minute `[t, t + 60)` of snapshot time. It stays
"forming" until a mark of a later minute arrives, which closes it. Marks older
than the forming bar (or than the last closed bar) are ignored: bars only move forward.
Minutes without a snapshot produce no bar. The wire forms are in shared/contracts/bars.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.contracts.bars import BAR_S, Bar


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
