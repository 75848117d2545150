"""Binance price sources over ccxt: futures marks (`mark`) and cached spot prices (`spot_cache`).

Both keep ccxt's market list (exchangeInfo) and refresh it every MARKETS_REFRESH_S, not
every round; a refresh that fails keeps the markets already known (a stale listing only
delays noticing a delisting, and a delisted market drops out of the price answers anyway).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable

import ccxt

from shared.errors import SourceError

from services.pricer.chain import Quote
from services.pricer.sources.base import SourceAnswer, Want, epoch_seconds, to_float
from services.pricer.sources.ccxt_errors import ccxt_errors

MARKETS_REFRESH_S = 600.0
"""Reload exchangeInfo this often (listings and statuses change rarely)."""
UNKNOWN_MARKET_REFRESH_S = 60.0
"""...or this often while a market we need is not in the list (it may just have been listed)."""
SPOT_QUOTE = "USDT"

log = logging.getLogger(__name__)


class MarketDirectory:
    """ccxt's loaded markets for one client, refreshed when due."""

    def __init__(self, exchange: ccxt.Exchange, source: str, timeout_s: float) -> None:
        self.exchange = exchange
        self.source = source
        self.timeout_s = timeout_s
        self.loaded_at: float | None = None
        self.failed_at: float | None = None

    def ensure(self, now: float, needed: Iterable[str], known: Callable[[str], bool]) -> None:
        """Load the markets if none are loaded, or refresh them when due.

        A failed refresh keeps the markets already known and is retried a minute later;
        only a failed first load raises.
        """
        if self.loaded_at is not None:
            since_try = now - max(self.loaded_at, self.failed_at or 0.0)
            due = now - self.loaded_at >= MARKETS_REFRESH_S or any(not known(n) for n in needed)
            if not due or since_try < UNKNOWN_MARKET_REFRESH_S:
                return
        try:
            with ccxt_errors(self.source, "load_markets", self.timeout_s):
                self.exchange.load_markets(reload=True)
        except SourceError as exc:
            if self.loaded_at is None:
                raise
            if self.failed_at is None:
                log.warning("%s: market list refresh failed (%s); keeping the list from %.0f s ago, "
                            "retrying every %.0f s", self.source, exc.detail, now - self.loaded_at,
                            UNKNOWN_MARKET_REFRESH_S)
            self.failed_at = now
            return
        if self.failed_at is not None:
            log.warning("%s: market list refreshed again", self.source)
        self.loaded_at, self.failed_at = now, None


class MarkSource:
    """Futures mark prices of USD-M markets: one fetch_mark_prices call per round for all of them."""

    name = "mark"

    def __init__(self, exchange: ccxt.binanceusdm, timeout_s: float) -> None:
        self.exchange = exchange
        self.timeout_s = timeout_s
        self.directory = MarketDirectory(exchange, self.name, timeout_s)

    def _market(self, market_id: str) -> dict | None:
        by_id = self.exchange.markets_by_id or {}
        for market in by_id.get(market_id, ()):
            if market.get("swap") and market.get("linear"):
                return market
        return None

    def fetch(self, want: Want, now: float) -> SourceAnswer:
        needed = sorted(want.all_markets)
        if not needed:
            return SourceAnswer()
        self.directory.ensure(now, needed, lambda m: self._market(m) is not None)
        problems: dict[str, str] = {}
        symbols: dict[str, str] = {}
        for market_id in needed:
            market = self._market(market_id)
            if market is None:
                problems[market_id] = f"{market_id} is not listed on Binance USD-M"
            elif market.get("active") is False:
                status = (market.get("info") or {}).get("status", "not trading")
                problems[market_id] = f"{market_id} is not trading (status {status})"
            else:
                symbols[market_id] = market["symbol"]
        quotes: dict[str, Quote] = {}
        if symbols:
            with ccxt_errors(self.name, "fetch_mark_prices", self.timeout_s):
                tickers = self.exchange.fetch_mark_prices(sorted(symbols.values()))
            for market_id, symbol in symbols.items():
                ticker = tickers.get(symbol)
                if ticker is None:
                    problems[market_id] = f"{market_id} is missing from the mark price answer (delisted?)"
                    continue
                quotes[market_id] = Quote(raw_price(ticker, "markPrice"), epoch_seconds(ticker.get("timestamp"), now))
        return SourceAnswer(quotes, problems)

    def cached(self, want: Want, now: float) -> SourceAnswer:
        return SourceAnswer()  # a mark is live or nothing: the spot cache is the next tier

    def close(self) -> None:
        self.exchange.session.close()


class SpotSource:
    """Binance spot <ASSET>/USDT last prices, cached: serves the last good price of each asset.

    Each round asks for fresh tickers; a failed or refused answer leaves the cache as it was.
    The chain refuses cached prices older than SPOT_CACHE_TTL_S by their own timestamps.
    """

    name = "spot_cache"

    def __init__(self, exchange: ccxt.binance, timeout_s: float) -> None:
        self.exchange = exchange
        self.timeout_s = timeout_s
        self.directory = MarketDirectory(exchange, self.name, timeout_s)
        self._cache: dict[str, Quote] = {}
        self._lock = threading.Lock()

    @staticmethod
    def pair(asset: str) -> str:
        return f"{asset}/{SPOT_QUOTE}"

    def _listed(self, symbol: str) -> bool:
        return symbol in (self.exchange.markets or {})

    def fetch(self, want: Want, now: float) -> SourceAnswer:
        pairs = {asset: self.pair(asset) for asset in sorted(want.holdings)}
        if not pairs:
            return SourceAnswer()
        self.directory.ensure(now, pairs.values(), self._listed)
        problems: dict[str, str] = {}
        asked: dict[str, str] = {}
        for asset, symbol in pairs.items():
            market = (self.exchange.markets or {}).get(symbol)
            if market is None:
                problems[asset] = f"{symbol} is not listed on Binance spot"
            elif market.get("active") is False:
                problems[asset] = f"{symbol} is not trading on Binance spot"
            else:
                asked[asset] = symbol
        if asked:
            with ccxt_errors(self.name, "fetch_tickers", self.timeout_s):
                tickers = self.exchange.fetch_tickers(sorted(asked.values()))
            problems.update(self._remember(asked, tickers, now))
        return SourceAnswer(self.cached(want, now).quotes, problems)

    def _remember(self, asked: dict[str, str], tickers: dict, now: float) -> dict[str, str]:
        """Cache the good prices; return why the others were refused."""
        problems: dict[str, str] = {}
        with self._lock:
            for asset, symbol in asked.items():
                ticker = tickers.get(symbol)
                if ticker is None:
                    problems[asset] = f"{symbol} is missing from the ticker answer"
                    continue
                px = raw_price(ticker, "lastPrice")
                ts = epoch_seconds(ticker.get("timestamp"), now)
                if not math.isfinite(px) or px <= 0:
                    problems[asset] = f"{symbol} last price {px!r} is not usable; kept the last good one"
                    continue
                previous = self._cache.get(asset)
                if previous is None or ts >= previous.ts:
                    self._cache[asset] = Quote(px, ts)
        return problems

    def cached(self, want: Want, now: float) -> SourceAnswer:
        with self._lock:
            quotes = {a: self._cache[a] for a in want.holdings if a in self._cache}
        return SourceAnswer(quotes)

    def close(self) -> None:
        self.exchange.session.close()


def raw_price(ticker: dict, field: str) -> float:
    """The venue's own number from a ccxt ticker's raw payload.

    Not ccxt's unified `last`/`close`: ccxt treats a 0 there as missing and rebuilds it from
    the 24 h open and change, which would turn a zero price into a plausible wrong one.
    """
    return to_float((ticker.get("info") or {}).get(field))
