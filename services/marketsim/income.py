"""The simulated income history (`GET /fapi/v1/income`): records, the log, and Binance's paging (pure).

Every change of a simulated wallet is one income record, except an unrecorded transfer
(`navstream sim transfer ... --unrecorded`), which is the point of it:
  FUNDING_FEE   every funding interval, per open position: −positionAmt × mark × funding rate
  COMMISSION    per router fill: −fee;  REALIZED_PNL  per closing fill: its realised PnL
  TRANSFER      per `navstream sim transfer` (a deposit > 0, a withdrawal < 0)

Paging as Binance documents it: `startTime`/`endTime` inclusive, neither → the last 7 days,
`limit` default 100 and at most 1000, records ascending by time and the first `limit` of the
window returned; `tranId` is unique per income type and account (here unique per account).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass

INCOME_TYPES = ("TRANSFER", "FUNDING_FEE", "COMMISSION", "REALIZED_PNL")
FUNDING_RATE = 0.0001
"""The funding rate every contract pays (premiumIndex shows it as lastFundingRate)."""
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_WINDOW_MS = 7 * 86_400_000
FIRST_TRAN_ID = 1_000_000_001


class IncomeQueryError(ValueError):
    """A bad /fapi/v1/income parameter: Binance's error code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    time_ms: int
    tran_id: int
    income_type: str
    asset: str
    amount: float
    symbol: str = ""
    trade_id: str = ""

    def to_binance(self) -> dict:
        return {"symbol": self.symbol, "incomeType": self.income_type, "income": f"{self.amount:.8f}",
                "asset": self.asset, "info": self.income_type, "time": self.time_ms,
                "tranId": self.tran_id, "tradeId": self.trade_id}


class IncomeLog:
    """One account's records, in time order (appends come in time order; not thread-safe alone)."""

    def __init__(self) -> None:
        self.records: list[IncomeRecord] = []
        self._times: list[int] = []
        self._next_tran = FIRST_TRAN_ID

    def add(self, time_ms: int, income_type: str, asset: str, amount: float, *, symbol: str = "",
            trade_id: str = "") -> IncomeRecord:
        record = IncomeRecord(time_ms, self._next_tran, income_type, asset, amount, symbol, trade_id)
        self._next_tran += 1
        at = bisect.bisect_right(self._times, time_ms)
        self.records.insert(at, record)
        self._times.insert(at, time_ms)
        return record

    def window(self, start_ms: int, end_ms: int) -> list[IncomeRecord]:
        lo = bisect.bisect_left(self._times, start_ms)
        hi = bisect.bisect_right(self._times, end_ms)
        return self.records[lo:hi]


@dataclass(frozen=True, slots=True)
class IncomeQuery:
    start_ms: int
    end_ms: int
    limit: int
    income_type: str | None
    symbol: str | None


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise IncomeQueryError(-1100, f"Illegal characters found in parameter '{name}'; "
                                      "legal range is '^[0-9]{1,20}$'.")
    return int(raw)


def _window(start: int | None, end: int | None, now_ms: int) -> tuple[int, int]:
    """Binance's defaults: neither bound -> the last 7 days; one bound -> 7 days from it, or up to now."""
    if end is None:
        return (now_ms - DEFAULT_WINDOW_MS if start is None else start), now_ms
    return (end - DEFAULT_WINDOW_MS if start is None else start), end


def parse_income_query(params: Mapping[str, str], now_ms: int) -> IncomeQuery:
    """The window, limit and filters of a /fapi/v1/income request; IncomeQueryError as Binance words it."""
    start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
    limit = _int_param(params, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise IncomeQueryError(-1130, "Data sent for parameter 'limit' is not valid.")
    income_type = params.get("incomeType") or None
    if income_type is not None and income_type not in INCOME_TYPES:
        raise IncomeQueryError(-1130, "Data sent for parameter 'incomeType' is not valid.")
    start, end = _window(start, end, now_ms)
    if start > end:
        raise IncomeQueryError(-1127, "Start time is greater than end time.")
    return IncomeQuery(start, end, limit, income_type, (params.get("symbol") or "").upper() or None)


def select(log: IncomeLog, query: IncomeQuery) -> list[dict]:
    """The first `limit` records of the window that pass the filters, ascending by time."""
    out = []
    for record in log.window(query.start_ms, query.end_ms):
        if query.income_type and record.income_type != query.income_type:
            continue
        if query.symbol and record.symbol != query.symbol:
            continue
        out.append(record.to_binance())
        if len(out) == query.limit:
            break
    return out


def funding_times(start_s: float, interval_s: float, done: int, now_s: float) -> list[int]:
    """Funding events k = done+1, done+2, ... that fell due by `now_s` (epoch ms each)."""
    if interval_s <= 0:
        return []
    due = int(math.floor((now_s - start_s) / interval_s))
    return [int((start_s + k * interval_s) * 1000) for k in range(done + 1, due + 1)]


def funding_fee(amount: float, mark: float, rate: float = FUNDING_RATE) -> float:
    """What a position receives at a funding time (negative: it pays). Longs pay a positive rate."""
    return -amount * mark * rate
