"""Which fills fall inside the KPI window, by stream-entry time (entry ids are ms timestamps),
and the running totals over them that the fee and router KPIs read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.contracts.fills import Fill
from shared.errors import ContractError
from shared.contracts.stream_ids import entry_pos


@dataclass(frozen=True, slots=True)
class TimedFill:
    ms: int         # the stream entry's time: the first part of its id
    fill: Fill


def entry_ms(entry_id: bytes | str) -> int:
    """`1763726400125-0` -> 1763726400125; ContractError for an id that is not one."""
    try:
        return entry_pos(entry_id)[0]
    except ValueError:
        raise ContractError(f"stream entry id {entry_id!r} does not start with a millisecond time") from None


def window_start_ms(now: float, window_s: float) -> int:
    return int((now - window_s) * 1000)


_SHIFT = 1074              # 2**-1074 is the smallest step between floats
_ONE = 1 << _SHIFT


class ExactSum:
    """A sum of floats that terms can leave again without drift, for a sliding window.

    Kept as an integer count of 2**-1074 (the smallest step between floats, so every
    finite float is a whole number of them): adding and removing are exact, and
    `value` is the correctly rounded sum of the current terms: equal to math.fsum
    over them.
    """

    __slots__ = ("_units",)

    def __init__(self) -> None:
        self._units = 0

    def add(self, x: float) -> None:
        self._units += _units(x)

    def remove(self, x: float) -> None:
        self._units -= _units(x)

    @property
    def value(self) -> float:
        return self._units / _ONE   # int / int is correctly rounded


def _units(x: float) -> int:
    num, den = x.as_integer_ratio()          # den is a power of two, at most 2**1074
    return num << (_SHIFT - den.bit_length() + 1)


class FillTotals:
    """Counts and exact sums over a window of fills, updated as fills enter and leave it,
    so the fee and router KPIs cost the same at 10 fills as at 50,000."""

    __slots__ = ("fills", "maker_fills", "fallback_fills", "fees_usd", "realized_pnl_usd", "slippage_bps")

    def __init__(self) -> None:
        self.fills = 0
        self.maker_fills = 0
        self.fallback_fills = 0
        self.fees_usd = ExactSum()
        self.realized_pnl_usd = ExactSum()
        self.slippage_bps = ExactSum()

    @classmethod
    def of(cls, fills: Iterable[Fill]) -> FillTotals:
        totals = cls()
        for fill in fills:
            totals.add(fill)
        return totals

    def add(self, fill: Fill) -> None:
        self._count(fill, 1)
        self.fees_usd.add(fill.fee_usd)
        self.realized_pnl_usd.add(fill.realized_pnl_usd)
        self.slippage_bps.add(fill.slippage_bps)

    def remove(self, fill: Fill) -> None:
        self._count(fill, -1)
        self.fees_usd.remove(fill.fee_usd)
        self.realized_pnl_usd.remove(fill.realized_pnl_usd)
        self.slippage_bps.remove(fill.slippage_bps)

    def _count(self, fill: Fill, step: int) -> None:
        self.fills += step
        self.maker_fills += step if fill.liquidity == "maker" else 0
        self.fallback_fills += step if fill.fallback else 0
