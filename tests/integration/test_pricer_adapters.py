"""The pricer's real adapters (ccxt, requests) against marketsim, fault by fault.

One marketsim for the module; every test starts with no faults. The services-level
behaviour (what ends up in Redis) is in test_pricer_service.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from services.marketsim.client import clear_faults, set_fault
from services.pricer.chain import Quote, TierLimits, tier_problem
from services.pricer.loop import build_sources
from services.pricer.sources.base import Want
from services.pricer.sources.coingecko import IdMapFile
from services.pricer.sources.weight import min_poll_interval
from shared.errors import SourceRateLimited, SourceUnavailable
from shared.holdings import Holding, HoldingsWatcher
from shared.settings import Settings
from tests.support import ROOT, RedisServer, ServiceProcess, eventually, free_port, service_env

TIMEOUT_S = 0.5
LIMITS = TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0)
HOLDINGS = {
    "BTC": Holding("BTC", 0.035, 61000.0, "BTCUSDT"),
    "XAUT": Holding("XAUT", 0.59, 2350.0, "XAUTUSDT"),
    "USDC": Holding("USDC", 2098.96, 1.0, "USDCUSDT"),
}
WANT = Want(HOLDINGS, frozenset({"ETHUSDT"}))


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("pricer-adapters")
    redis_server = RedisServer(tmp / "redis", appendonly=False)
    redis_server.start()
    port = free_port()
    env = service_env(redis_server.url, tmp, MARKETSIM_PORT=port, MARKETSIM_FILL_INTERVAL_S=0)
    proc = ServiceProcess("marketsim", env, tmp / "logs").start()
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: requests.get(f"{base}/_sim/faults", timeout=1).ok, timeout=15, message="marketsim")
        yield base
    finally:
        proc.kill()
        redis_server.stop()


@pytest.fixture
def sources(sim: str, tmp_path: Path):
    clear_faults(sim)
    settings = Settings(mode="sim", marketsim_port=int(sim.rsplit(":", 1)[1]), source_timeout_s=TIMEOUT_S,
                        coingecko_ttl_s=30, display_currency="ZAR")
    ids = IdMapFile(ROOT / "config" / "coingecko_ids.json")
    ids.poll()
    made = {s.name: s for s in build_sources(settings, HoldingsWatcher(tmp_path / "none.json"), ids)}
    made["mark"].budget = False   # every fetch polls: these tests look at single answers (budget: below)
    yield made
    for source in made.values():
        source.close()
    clear_faults(sim)


def fresh(quote: Quote, tier: str) -> bool:
    return tier_problem(tier, quote, time.time(), LIMITS) is None


# --- mark -------------------------------------------------------------------------------
def test_mark_prices_ask_only_for_the_needed_markets_within_the_weight_budget(sources):
    mark = sources["mark"]
    mark.budget = True
    urls: list[str] = []
    original = mark.exchange.fetch
    mark.exchange.fetch = lambda url, *a, **kw: (urls.append(url), original(url, *a, **kw))[1]
    answer = mark.fetch(WANT, time.time())
    assert set(answer.quotes) == {"BTCUSDT", "XAUTUSDT", "USDCUSDT", "ETHUSDT"}
    assert all(fresh(q, "mark") for q in answer.quotes.values())
    assert 90_000 < answer.quotes["BTCUSDT"].px < 105_000
    # four markets: four calls of weight 1 (symbol=...) weigh less than one unfiltered call (10)
    assert [u.split("?")[0].rsplit("/", 1)[1] for u in urls] == ["exchangeInfo"] + ["premiumIndex"] * 4
    assert all("symbol=" in u for u in urls[1:])
    urls.clear()
    again = mark.fetch(WANT, time.time())
    assert urls == [] and again.quotes == answer.quotes, "within the budget's interval: the last marks, no call"
    later = time.time() + min_poll_interval(4)
    mark.fetch(WANT, later)
    assert [u.split("?")[0].rsplit("/", 1)[1] for u in urls] == ["premiumIndex"] * 4, "no listing reload per round"
    assert mark.weight_last_minute(later) == 1 + 4 + 4 and mark.used_weight is not None


def test_mark_unknown_market_is_a_problem_not_a_failure(sources):
    answer = sources["mark"].fetch(Want({}, frozenset({"NOPEUSDT", "BTCUSDT"})), time.time())
    assert set(answer.quotes) == {"BTCUSDT"}
    assert answer.problems == {"NOPEUSDT": "NOPEUSDT is not listed on Binance USD-M"}


def test_mark_down_is_unavailable(sim, sources):
    sources["mark"].fetch(WANT, time.time())
    set_fault(sim, "mark", "down")
    with pytest.raises(SourceUnavailable, match="premiumIndex"):
        sources["mark"].fetch(WANT, time.time())


def test_mark_slow_times_out_at_the_source_timeout(sim, sources):
    sources["mark"].fetch(WANT, time.time())
    set_fault(sim, "mark", "slow", delay_s=3)
    t0 = time.monotonic()
    with pytest.raises(SourceUnavailable, match=f"no answer within {TIMEOUT_S:g} s"):
        sources["mark"].fetch(WANT, time.time())
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5


@pytest.mark.parametrize("mode", ["429", "418"])
def test_mark_rate_limit_carries_retry_after(sim, sources, mode):
    sources["mark"].fetch(WANT, time.time())
    set_fault(sim, "mark", mode, retry_after_s=7)
    with pytest.raises(SourceRateLimited) as exc:
        sources["mark"].fetch(WANT, time.time())
    assert exc.value.retry_after_s == 7.0
    assert f"HTTP {mode}" in exc.value.detail


def test_mark_zero_stale_and_delisted_are_refused_per_market(sim, sources):
    sources["mark"].fetch(WANT, time.time())
    set_fault(sim, "mark", "zero", symbol="BTC")
    set_fault(sim, "mark", "stale", symbol="XAUT")
    set_fault(sim, "mark", "delisted", symbol="USDC")
    now = time.time()
    answer = sources["mark"].fetch(WANT, now)
    assert tier_problem("mark", answer.quotes["BTCUSDT"], now, LIMITS) == "price 0.0 is not positive"
    assert "s old (limit 30 s)" in tier_problem("mark", answer.quotes["XAUTUSDT"], now, LIMITS)
    assert "USDCUSDT" not in answer.quotes and "USDCUSDT" in answer.problems
    assert fresh(answer.quotes["ETHUSDT"], "mark")


def test_mark_delisted_market_is_seen_as_not_trading_after_a_market_refresh(sim, sources):
    set_fault(sim, "mark", "delisted", symbol="BTC")
    answer = sources["mark"].fetch(WANT, time.time())  # first fetch loads exchangeInfo
    assert answer.problems["BTCUSDT"].startswith("BTCUSDT is not")
    assert "BTCUSDT" not in answer.quotes


# --- spot cache --------------------------------------------------------------------------
def test_spot_serves_the_last_good_price_when_down_or_zero(sim, sources):
    spot = sources["spot_cache"]
    first = spot.fetch(WANT, time.time())
    assert set(first.quotes) == {"BTC", "XAUT", "USDC"} and all(fresh(q, "spot_cache") for q in first.quotes.values())
    set_fault(sim, "spot", "zero", symbol="BTC")
    answer = spot.fetch(WANT, time.time())
    assert answer.quotes["BTC"] == first.quotes["BTC"], "the zero is refused; the last good price stays"
    assert "kept the last good one" in answer.problems["BTC"]
    assert answer.quotes["XAUT"].ts >= first.quotes["XAUT"].ts
    set_fault(sim, "spot", "down")
    with pytest.raises(SourceUnavailable):
        spot.fetch(WANT, time.time())
    cached = spot.cached(WANT, time.time())
    assert cached.quotes["BTC"] == first.quotes["BTC"]


def test_spot_asset_without_a_usdt_pair_is_a_problem(sources):
    want = Want({"USDT": Holding("USDT", 1.0, 1.0, "USDTUSDT")}, frozenset())
    answer = sources["spot_cache"].fetch(want, time.time())
    assert answer.quotes == {} and answer.problems == {"USDT": "USDT/USDT is not listed on Binance spot"}


# --- coingecko ------------------------------------------------------------------------------
def test_coingecko_batches_caches_and_gives_fx(sources):
    cg = sources["coingecko"]
    answer = cg.fetch(WANT, time.time())
    assert set(answer.quotes) == {"BTC", "XAUT", "USDC"} and cg.calls == 1
    assert all(fresh(q, "coingecko") for q in answer.quotes.values())
    assert 17 < answer.fx.px < 19.5 and answer.fx_problem is None
    cg.fetch(WANT, time.time() + 5)
    assert cg.calls == 1, "within the TTL the cache answers"
    with_eth = Want({**HOLDINGS, "ETH": Holding("ETH", 1.0, None, "ETHUSDT")}, frozenset())
    assert "ETH" in cg.fetch(with_eth, time.time() + 6).quotes and cg.calls == 2, "a missing id is fetched at once"
    cg.fetch(with_eth, time.time() + 37)
    assert cg.calls == 3, "after the TTL it asks again"


def test_coingecko_never_guesses_an_id_and_reports_unknown_ids(sources):
    holdings = {"BTC": Holding("BTC", 1.0, 1.0, "BTCUSDT", coingecko_id="no-such-coin"),
                "ZZZ": Holding("ZZZ", 1.0, 1.0, "ZZZUSDT")}
    answer = sources["coingecko"].fetch(Want(holdings, frozenset()), time.time())
    assert answer.quotes == {}
    assert "returned no price for id 'no-such-coin'" in answer.problems["BTC"]
    assert "no CoinGecko id pinned for ZZZ" in answer.problems["ZZZ"] and "not guessing" in answer.problems["ZZZ"]


def test_coingecko_429_and_down(sim, sources):
    set_fault(sim, "coingecko", "429", retry_after_s=9)
    with pytest.raises(SourceRateLimited) as exc:
        sources["coingecko"].fetch(WANT, time.time())
    assert exc.value.retry_after_s == 9.0
    set_fault(sim, "coingecko", "down")
    with pytest.raises(SourceUnavailable, match="unreachable"):
        sources["coingecko"].fetch(WANT, time.time())
