"""Off-exchange holdings as the ledger sees them, the pure core: which assets' quantities changed
between two snapshots, what each change is worth in USD, and when two USD amounts match."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Holding:
    """One off-exchange asset in a snapshot: its quantity and the USD price it was valued at."""

    asset: str
    qty: float
    mark: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """An asset's quantity moved from `qty_before` to `qty_after`, valued at `mark` (None: no price)."""

    asset: str
    qty_before: float
    qty_after: float
    mark: float | None

    @property
    def delta(self) -> float:
        return self.qty_after - self.qty_before

    @property
    def amount_usd(self) -> float | None:
        """+ money into the holding, - out of it; None when there is no price (never 0 for unknown)."""
        return None if self.mark is None else self.delta * self.mark


def holding_changes(last: Mapping[str, Holding], now: Sequence[Holding]) -> list[Change]:
    """Every asset whose quantity differs between `last` and `now`, by asset name. An asset new in
    `now` moves from 0; one gone from `now` moves to 0 and is valued at its last mark (the price it
    was counted at in aum.total until it left)."""
    current = {h.asset: h for h in now}
    changes = []
    for asset in sorted(set(last) | set(current)):
        before, after = last.get(asset), current.get(asset)
        qty_before = before.qty if before else 0.0
        qty_after = after.qty if after else 0.0
        if math.isclose(qty_before, qty_after, rel_tol=1e-12, abs_tol=0.0):
            continue
        mark = after.mark if after else before.mark if before else None
        changes.append(Change(asset, qty_before, qty_after, mark))
    return changes


def amounts_match(a: float, b: float, tolerance: float) -> bool:
    """Same direction and within `tolerance` (a fraction of the larger amount) of each other."""
    if a == 0 or b == 0 or (a > 0) != (b > 0):
        return False
    return abs(a - b) <= tolerance * max(abs(a), abs(b))
