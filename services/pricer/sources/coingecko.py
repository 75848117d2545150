"""CoinGecko `/api/v3/simple/price` over requests, by a pinned id map; also the source of FX.

One batched call asks for every needed id (the holdings' ids plus the FX ids) in USD and
the display currency, with `include_last_updated_at`. Answers are cached for
COINGECKO_TTL_S: the source calls again only when the TTL has passed or the cache lacks an
id the holdings now need. An asset without a pinned id has no CoinGecko tier; an id is
never guessed from a symbol.

A price whose answer has no usable `last_updated_at` has no age: it is never stamped "now",
so it cannot pass as a fresh tier, and provenance says why. With COINGECKO_API_KEY the key
goes in the Demo (`x-cg-demo-api-key`) or Pro (`x-cg-pro-api-key`) header (COINGECKO_PLAN);
it is never logged.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from shared.contracts._fields import json_object
from shared.errors import ConfigError, SourceBadData
from shared.holdings import Holding
from shared.watched import WatchedFile

from services.pricer.chain import Quote
from services.pricer.sources.base import SourceAnswer, Want, to_float
from services.pricer.sources.http import get_json

FX_IDS = ("tether", "usd-coin")
"""Coins whose <ccy>/usd ratio gives USD<CCY>, in order of preference."""


class IdMapFile(WatchedFile[Mapping[str, str]]):
    """The pinned symbol -> CoinGecko id map (COINGECKO_IDS_FILE), re-read when it changes (shared/watched.py).

    A bad edit is reported (`error`) and the last good map stays in use.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, parse_id_map, what="coingecko id map", kept="id map", empty={},
                         none_in_use="no CoinGecko ids in use")

    @property
    def ids(self) -> Mapping[str, str]:
        return self.value


def parse_id_map(raw: bytes, path: Path | str) -> dict[str, str]:
    """`{"BTC": "bitcoin", ...}`; a ConfigError names the file and the bad entry."""
    doc = json_object(raw, f"coingecko id map {path}", ConfigError, what="a JSON object of SYMBOL -> coingecko id")
    for symbol, cg_id in doc.items():
        if not isinstance(cg_id, str) or not cg_id.strip():
            raise ConfigError(f"coingecko id map {path}: {symbol} is {cg_id!r}, not a CoinGecko id string")
    return {symbol: cg_id.strip() for symbol, cg_id in doc.items()}


@dataclass(frozen=True, slots=True)
class CoinPrice:
    usd: float
    local: float        # in the display currency (NaN when not asked or not given)
    ts: float           # CoinGecko's last_updated_at; NaN when the answer gave none (no age)
    untimed: str | None = None   # why `ts` is NaN


def parse_simple_price(doc: object, currency: str) -> dict[str, CoinPrice]:
    """id -> CoinPrice from a /simple/price answer; ids CoinGecko left out are simply absent.

    A missing, non-numeric or non-positive `last_updated_at` leaves the price without a time
    (ts NaN, `untimed` says why): never "now", so it cannot count as fresh.
    """
    if not isinstance(doc, dict):
        raise SourceBadData("coingecko", f"simple/price answer is a {type(doc).__name__}, not an object")
    out: dict[str, CoinPrice] = {}
    for cg_id, entry in doc.items():
        if not isinstance(entry, dict):
            continue
        raw = entry.get("last_updated_at")
        updated = to_float(raw)
        untimed = None
        if not (math.isfinite(updated) and updated > 0):
            updated = math.nan
            untimed = (f"CoinGecko gave no last_updated_at for {cg_id!r}" if raw is None else
                       f"CoinGecko's last_updated_at for {cg_id!r} is {raw!r}, not a time")
            untimed += ": the price has no age, so it is not used as a fresh tier"
        out[cg_id] = CoinPrice(to_float(entry.get("usd")), to_float(entry.get(currency.lower())), updated, untimed)
    return out


KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}


def key_headers(api_key: str | None, plan: str) -> dict[str, str]:
    """The header that carries the CoinGecko API key for `plan` (demo or pro); none without a key."""
    return {KEY_HEADERS[plan]: api_key} if api_key else {}


class CoingeckoSource:
    name = "coingecko"

    def __init__(self, session: requests.Session, base_url: str, ids: IdMapFile, *,
                 ttl_s: float, timeout_s: float, currency: str, headers: Mapping[str, str] | None = None) -> None:
        self.session = session
        self.headers = dict(headers or {})
        self.url = f"{base_url.rstrip('/')}/api/v3/simple/price"
        self.ids = ids
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.currency = currency.upper()
        self.calls = 0
        self._lock = threading.Lock()
        self._prices: dict[str, CoinPrice] = {}
        self._asked: frozenset[str] = frozenset()
        self._called_at: float | None = None

    def id_of(self, holding: Holding) -> str | None:
        return holding.coingecko_id or self.ids.ids.get(holding.symbol)

    def _needed(self, holdings: Mapping[str, Holding]) -> frozenset[str]:
        needed = {cg for h in holdings.values() if (cg := self.id_of(h))}
        if self.currency != "USD":
            needed.update(FX_IDS)
        return frozenset(needed)

    def fetch(self, want: Want, now: float) -> SourceAnswer:
        needed = self._needed(want.holdings)
        with self._lock:
            due = (self._called_at is None or now - self._called_at >= self.ttl_s
                   or not needed <= self._asked)
        if due and needed:
            vs = "usd" if self.currency == "USD" else f"usd,{self.currency.lower()}"
            params = {"ids": ",".join(sorted(needed)), "vs_currencies": vs, "include_last_updated_at": "true"}
            self.calls += 1
            doc = get_json(self.session, self.name, self.url, params, self.timeout_s, headers=self.headers)
            prices = parse_simple_price(doc, self.currency)
            with self._lock:
                self._prices, self._asked, self._called_at = prices, needed, now
        return self.cached(want, now)

    def cached(self, want: Want, now: float) -> SourceAnswer:
        with self._lock:
            prices, asked = dict(self._prices), self._asked
        quotes: dict[str, Quote] = {}
        problems: dict[str, str] = {}
        for asset, holding in want.holdings.items():
            cg_id = self.id_of(holding)
            if cg_id is None:
                problems[asset] = (f"no CoinGecko id pinned for {asset} in {self.ids.path} "
                                   "(or as coingecko_id in the holdings file); not guessing one")
            elif cg_id in prices:
                price = prices[cg_id]
                quotes[asset] = Quote(price.usd, price.ts)
                if price.untimed is not None:
                    problems[asset] = price.untimed
            elif cg_id in asked:
                problems[asset] = f"CoinGecko returned no price for id {cg_id!r} (unknown or delisted id)"
            else:
                problems[asset] = f"id {cg_id!r} not asked yet"
        fx, fx_problem = self._fx(prices)
        return SourceAnswer(quotes, problems, fx, fx_problem)

    def _fx(self, prices: Mapping[str, CoinPrice]) -> tuple[Quote | None, str | None]:
        if self.currency == "USD":
            return None, None
        for cg_id in FX_IDS:
            coin = prices.get(cg_id)
            if coin and coin.untimed is None and all(math.isfinite(v) and v > 0 for v in (coin.usd, coin.local)):
                return Quote(coin.local / coin.usd, coin.ts), None
        return None, (f"CoinGecko gave no usable, timed usd/{self.currency.lower()} price for "
                      f"{' or '.join(FX_IDS)}")

    def close(self) -> None:
        self.session.close()
