"""Binance price sources over ccxt: futures marks (`mark`) and cached spot prices (`spot_cache`).

Both keep ccxt's market list (exchangeInfo) and refresh it every MARKETS_REFRESH_S, not every
round. A market needed but not listed triggers one early reload; if it is still absent from that
fresh listing it is remembered as absent (`MarketDirectory.absent`) and costs nothing more until
the next regular refresh: an asset listed nowhere (XAUT) reloads no listing per round. A refresh
that fails keeps the markets already known.

Marks come from premiumIndex as Binance sends them (the raw rows, not ccxt's unification, which
refuses to mix perpetual and dated contracts in one call): one call per market when that weighs
less than the unfiltered call (weight 1 each against 10), and no more often than the weight budget
allows (sources/weight.py). Between polls the last marks are served with their own timestamps.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping

from shared.ccxt_lite import ccxt

from shared.errors import SourceError
from shared.exchange_errors import exchange_errors, translate
from shared.metrics import LISTING_RELOADS, record_used_weight

from services.pricer.chain import Quote
from services.pricer.sources.base import SourceAnswer, Want, epoch_seconds, to_float
from services.pricer.sources.weight import (
    EXCHANGE_INFO_FAPI, EXCHANGE_INFO_SPOT, VENUES, WeightMeter, mark_poll_plan, min_poll_interval,
    spot_ticker_weight, used_weight,
)
from services.pricer.units import ContractInfo

MARKETS_REFRESH_S = 600.0
"""Reload exchangeInfo this often (listings and statuses change rarely)."""
UNKNOWN_MARKET_REFRESH_S = 60.0
"""At most this often, reload early for a market that is needed and not yet looked for."""
SPOT_QUOTE = "USDT"

log = logging.getLogger(__name__)


class MarketDirectory:
    """ccxt's loaded markets for one client, refreshed when due, with what a fresh listing lacked."""

    def __init__(self, exchange: ccxt.Exchange, source: str, timeout_s: float, *, api: str = "fapi",
                 weight: int = EXCHANGE_INFO_FAPI, meter: WeightMeter | None = None) -> None:
        self.exchange = exchange
        self.source = source
        self.timeout_s = timeout_s
        self.api = api
        self.weight = weight
        self.meter = meter or WeightMeter()
        self.loaded_at: float | None = None
        self.failed_at: float | None = None
        self.absent: dict[str, float] = {}
        """Markets looked for right after a fresh listing and not in it -> when."""
        self.reloads = 0

    def ensure(self, now: float, needed: Iterable[str], known: Callable[[str], bool]) -> None:
        """Load the markets if none are loaded, or refresh them when due.

        Due: the regular refresh, or a needed market that is unknown and not already found absent
        from a fresh listing. A failed refresh keeps the markets already known and is retried a
        minute later; only a failed first load raises.
        """
        needed = list(needed)
        if self.loaded_at is not None:
            since_try = now - max(self.loaded_at, self.failed_at or 0.0)
            regular = now - self.loaded_at >= MARKETS_REFRESH_S
            new_unknown = any(not known(n) and n not in self.absent for n in needed)
            if not (regular or new_unknown) or since_try < UNKNOWN_MARKET_REFRESH_S:
                return
        self._reload(now)
        if self.loaded_at == now:
            self.absent = {n: now for n in needed if not known(n)}

    def _reload(self, now: float) -> None:
        self.reloads += 1
        LISTING_RELOADS.labels(self.source).inc()
        self.meter.spend(now, self.weight)
        try:
            with exchange_errors(self.source, "load_markets", timeout_s=self.timeout_s, exchange=self.exchange):
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
        finally:
            report_used_weight(self.exchange, self.api)
        if self.failed_at is not None:
            log.warning("%s: market list refreshed again", self.source)
        self.loaded_at, self.failed_at = now, None


def report_used_weight(exchange: ccxt.Exchange, api: str) -> int | None:
    """Export Binance's X-MBX-USED-WEIGHT-1M of the last answer (navstream_binance_used_weight)."""
    used = used_weight(getattr(exchange, "last_response_headers", None))
    if used is not None:
        venue, limit = VENUES[api]
        record_used_weight(venue, used, limit)
    return used


def contract_info(market: Mapping) -> ContractInfo:
    info = market.get("info") or {}
    return ContractInfo(market=market["id"], base=str(info.get("baseAsset") or market.get("base")),
                        quote=str(market.get("quote")), settle=str(market.get("settle")),
                        perpetual=bool(market.get("swap")),
                        contract_type=str(info.get("contractType") or ("PERPETUAL" if market.get("swap") else "")))


class MarkSource:
    """Futures mark prices of USD-M contracts (perpetual and dated), within the weight budget."""

    name = "mark"
    budget = True
    """Space polls by the weight budget (tests of single calls turn it off)."""

    def __init__(self, exchange: ccxt.binanceusdm, timeout_s: float) -> None:
        self.exchange = exchange
        self.timeout_s = timeout_s
        self.meter = WeightMeter()
        self.directory = MarketDirectory(exchange, self.name, timeout_s, api="fapi", weight=EXCHANGE_INFO_FAPI,
                                         meter=self.meter)
        self.used_weight: int | None = None
        self._last: SourceAnswer | None = None
        self._last_poll: float | None = None
        self._last_asked: frozenset[str] = frozenset()

    def _market(self, market_id: str) -> dict | None:
        by_id = self.exchange.markets_by_id or {}
        for market in by_id.get(market_id, ()):
            if market.get("linear") and (market.get("swap") or market.get("future")):
                return market
        return None

    def fetch(self, want: Want, now: float) -> SourceAnswer:
        needed = sorted(want.all_markets)
        if not needed:
            return SourceAnswer()
        self.directory.ensure(now, needed, lambda m: self._market(m) is not None)
        problems: dict[str, str] = {}
        contracts: dict[str, ContractInfo] = {}
        for market_id in needed:
            market = self._market(market_id)
            if market is None:
                problems[market_id] = f"{market_id} is not listed on Binance USD-M"
            elif market.get("active") is False:
                status = (market.get("info") or {}).get("status", "not trading")
                problems[market_id] = f"{market_id} is not trading (status {status})"
            else:
                contracts[market_id] = contract_info(market)
        asked = frozenset(contracts)
        if not asked:
            return SourceAnswer({}, problems)
        if self._reuse(now, asked):
            assert self._last is not None
            return SourceAnswer({m: q for m, q in self._last.quotes.items() if m in asked},
                                {**{m: p for m, p in self._last.problems.items() if m in asked}, **problems},
                                contracts=contracts)
        quotes = self._poll(sorted(asked), now, problems)
        self._last, self._last_poll, self._last_asked = SourceAnswer(quotes, dict(problems)), now, asked
        return SourceAnswer(quotes, problems, contracts=contracts)

    def _reuse(self, now: float, asked: frozenset[str]) -> bool:
        """Serve the last marks: the budget does not allow another poll yet and nothing new is needed."""
        if not self.budget or self._last_poll is None or not asked <= self._last_asked:
            return False
        weight, _ = mark_poll_plan(len(self._last_asked))
        return now - self._last_poll < min_poll_interval(weight)

    def _poll(self, market_ids: list[str], now: float, problems: dict[str, str]) -> dict[str, Quote]:
        weight, one_by_one = mark_poll_plan(len(market_ids))
        self.meter.spend(now, weight)
        if one_by_one:
            rows = [row for m in market_ids if (row := self._one(m, problems)) is not None]
        else:
            with exchange_errors(self.name, "premiumIndex", timeout_s=self.timeout_s, exchange=self.exchange):
                try:
                    rows = self.exchange.fapiPublicGetPremiumIndex()
                finally:
                    self.used_weight = report_used_weight(self.exchange, "fapi")
        by_id = {r.get("symbol"): r for r in rows if isinstance(r, dict)}
        quotes: dict[str, Quote] = {}
        for market_id in market_ids:
            row = by_id.get(market_id)
            if row is None:
                problems[market_id] = f"{market_id} is missing from the mark price answer (delisted?)"
                continue
            quotes[market_id] = Quote(to_float(row.get("markPrice")), epoch_seconds(row.get("time"), math.nan))
        return quotes

    def _one(self, market_id: str, problems: dict[str, str]) -> dict | None:
        """premiumIndex?symbol=: a refusal of this one market (-1121 invalid symbol: just delisted) is that
        market's problem; any other failure fails the poll."""
        what = f"premiumIndex {market_id}"
        try:
            return self.exchange.fapiPublicGetPremiumIndex({"symbol": market_id})
        except ccxt.BaseError as exc:
            failure = translate(exc, what, timeout_s=self.timeout_s,
                                headers=getattr(self.exchange, "last_response_headers", None))
            assert failure is not None, "every ccxt error has a meaning"
            if failure.meaning != "bad_data":
                raise failure.error(self.name) from exc
            problems[market_id] = failure.message
            return None
        finally:
            self.used_weight = report_used_weight(self.exchange, "fapi")

    def cached(self, want: Want, now: float) -> SourceAnswer:
        return SourceAnswer()  # a failed poll serves nothing: the spot cache is the next tier

    def weight_last_minute(self, now: float) -> int:
        return self.meter.last_minute(now)

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
        self.meter = WeightMeter()
        self.directory = MarketDirectory(exchange, self.name, timeout_s, api="spot", weight=EXCHANGE_INFO_SPOT,
                                         meter=self.meter)
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
            self.meter.spend(now, spot_ticker_weight(len(asked)))
            with exchange_errors(self.name, "fetch_tickers", timeout_s=self.timeout_s, exchange=self.exchange):
                try:
                    tickers = self.exchange.fetch_tickers(sorted(asked.values()))
                finally:
                    report_used_weight(self.exchange, "spot")
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

    def weight_last_minute(self, now: float) -> int:
        return self.meter.last_minute(now)

    def close(self) -> None:
        self.exchange.session.close()


def raw_price(ticker: dict, field: str) -> float:
    """The venue's own number from a ccxt ticker's raw payload.

    Not ccxt's unified `last`/`close`: ccxt treats a 0 there as missing and rebuilds it from
    the 24 h open and change, which would turn a zero price into a plausible wrong one.
    """
    return to_float((ticker.get("info") or {}).get(field))
