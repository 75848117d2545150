"""The off-exchange holdings file: parsing with errors that name file, symbol and field,
and a watcher that re-reads it on change and keeps the last good holdings on a bad edit.

File shape (HOLDINGS_FILE, default config/offexchange_holdings.json):

    {"BTC": {"qty": 0.035, "avg_cost": 61000.0},
     "XAUT": {"qty": 0.59, "avg_cost": 2350.0, "market": "XAUTUSDT", "coingecko_id": "tether-gold"}}

Optional per-asset keys: `market` (the USD-M market whose mark prices it; default
`<SYMBOL>USDT`) and `coingecko_id` (overrides the pinned id map).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from shared.errors import HoldingsError
from shared.watched import WatchedFile

SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9_.\-]{0,31}$")
_REQUIRED = ("qty", "avg_cost")
_OPTIONAL = ("market", "coingecko_id")
MAX_QTY = 1e15


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    qty: float
    avg_cost: float | None
    market: str
    coingecko_id: str | None = None


Holdings = dict[str, Holding]


def parse_holdings(raw: bytes, path: Path | str) -> Holdings:
    """Parse the holdings file's bytes; raise HoldingsError naming file, symbol and field."""
    where = str(path)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise HoldingsError(f"holdings file {where}: starts with a UTF-8 byte-order mark; save it as plain UTF-8")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HoldingsError(f"holdings file {where}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise HoldingsError(f"holdings file {where}: must be a JSON object of SYMBOL -> {{qty, avg_cost}}, "
                            f"not {type(doc).__name__}")
    return {symbol: _parse_one(where, symbol, entry) for symbol, entry in doc.items()}


def _parse_one(where: str, symbol: str, entry: object) -> Holding:
    if not SYMBOL_RE.match(symbol):
        raise HoldingsError(f"holdings file {where}: symbol {symbol!r} is not valid "
                            "(use upper-case letters, digits, '.', '_' or '-', at most 32)")
    if not isinstance(entry, dict):
        raise HoldingsError(f"holdings file {where}: {symbol} must be an object with qty and avg_cost")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise HoldingsError(f"holdings file {where}: {symbol} has unknown field(s) {', '.join(unknown)} "
                            f"(allowed: {', '.join(_REQUIRED + _OPTIONAL)})")
    if "qty" not in entry:
        raise HoldingsError(f"holdings file {where}: {symbol}.qty is missing")
    qty = _number(where, symbol, "qty", entry["qty"])
    if qty < 0:
        raise HoldingsError(f"holdings file {where}: {symbol}.qty is {entry['qty']!r}; it cannot be negative")
    avg_cost = None
    if entry.get("avg_cost") is not None:
        avg_cost = _number(where, symbol, "avg_cost", entry["avg_cost"])
        if avg_cost < 0:
            raise HoldingsError(f"holdings file {where}: {symbol}.avg_cost is {entry['avg_cost']!r}; "
                                "it cannot be negative")
    market = entry.get("market", f"{symbol}USDT")
    cg_id = entry.get("coingecko_id")
    for field, value in (("market", market), ("coingecko_id", cg_id)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise HoldingsError(f"holdings file {where}: {symbol}.{field} is {value!r}, not a non-empty string")
    return Holding(symbol, qty, avg_cost, market, cg_id)


def _number(where: str, symbol: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HoldingsError(f"holdings file {where}: {symbol}.{field} is {value!r}, not a number")
    value = float(value)
    if not math.isfinite(value) or abs(value) > MAX_QTY:
        raise HoldingsError(f"holdings file {where}: {symbol}.{field} is {value!r}, "
                            f"not a finite number below {MAX_QTY:g}")
    return value


class HoldingsWatcher(WatchedFile[Holdings]):
    """Re-reads the holdings file when its mtime, size or inode changes (shared/watched.py).

    `current` is always the last good holdings; `error` is the message of the last
    failed read (None when the file on disk is good). A missing file is an error
    too, with no holdings until one appears.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, parse_holdings, what="holdings file", kept="holdings", empty={},
                         none_in_use="no holdings in use")

    @property
    def current(self) -> Holdings:
        return self.value
