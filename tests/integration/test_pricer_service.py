"""`python -m services.pricer` as a real process against marketsim and a real redis-server.

Each test injects faults into marketsim and asserts what a user of Redis sees: which tier
prices each asset (hedge:prices:latest, hedge:prices:sources), how old it is, that the
failure is visible in health, and that rounds keep their pace.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import orjson
import pytest
import requests

from services.marketsim.client import clear_faults, set_fault
from shared.contracts.prices import decode_latest, decode_price
from tests.support import eventually

INTERVAL_S = 0.2
TIMEOUT_S = 0.5
ASSETS = {"BTC", "XAUT", "USDC"}


@pytest.fixture
def sim(env, marketsim) -> str:
    return f"http://127.0.0.1:{env['MARKETSIM_PORT']}"


@pytest.fixture
def pricer_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PRICE_INTERVAL_S": str(INTERVAL_S), "SOURCE_TIMEOUT_S": str(TIMEOUT_S),
            "MARKETSIM_FILL_INTERVAL_S": "0"}


def latest(r) -> dict:
    return {k.decode(): decode_latest(k, v) for k, v in r.hgetall("hedge:prices:latest").items()}


def provenance(r, asset: str) -> dict | None:
    raw = r.hget("hedge:prices:sources", asset)
    return orjson.loads(raw) if raw else None


def health(r) -> dict:
    return orjson.loads(r.get("hedge:health:pricer"))


def priced_by(r, expected: dict[str, str]) -> dict | None:
    """Latest prices when every asset in `expected` is priced by the given tier (else None)."""
    got = latest(r)
    if all(sym in got and got[sym].src == src for sym, src in expected.items()):
        return got
    return None


def sim_counters(sim: str) -> dict[str, int]:
    return requests.get(f"{sim}/_sim/state", timeout=2).json()["counters"]


def write_holdings(env, doc: dict) -> None:
    path = Path(env["HOLDINGS_FILE"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def test_healthy_round_publishes_assets_marks_and_fx_with_provenance(r, sim, pricer_env, services):
    services("pricer", pricer_env)
    got = eventually(lambda: priced_by(r, {"BTC": "mark", "XAUT": "mark", "USDC": "mark", "BTCUSDT": "mark",
                                           "XAUTUSDT": "mark", "USDCUSDT": "mark", "USDZAR": "coingecko"}),
                     timeout=15, message="every asset, mark and FX priced")
    now = time.time()
    assert 90_000 < got["BTC"].px < 105_000 and got["BTC"].px == got["BTCUSDT"].px
    assert 17 < got["USDZAR"].px < 19.5
    assert all(0 <= now - got[a].ts < 2 for a in ASSETS)
    doc = provenance(r, "BTC")
    assert set(doc) == {"asset", "market", "chosen", "sources", "errors", "diverged", "spread_pct", "depeg"}
    assert doc["chosen"]["src"] == "mark" and doc["market"] == "BTCUSDT" and doc["errors"] == {}
    assert set(doc["sources"]) == {"mark", "spot_cache", "coingecko", "avg_cost"}
    assert all(doc["sources"][t]["px"] > 0 for t in doc["sources"])
    assert doc["diverged"] is False and 0 <= doc["spread_pct"] < 1 and doc["depeg"] is False

    # the stream carries the same observations, one per symbol per round
    entries = r.xrevrange("hedge:prices", count=50)
    syms = {decode_price(fields).sym for _, fields in entries}
    assert syms >= ASSETS | {"BTCUSDT", "XAUTUSDT", "USDCUSDT", "USDZAR"}

    # markets the nav service tracks get marks too
    r.sadd("hedge:markets:tracked", "ETHUSDT")
    eventually(lambda: "ETHUSDT" in latest(r), timeout=5, message="a tracked market's mark")

    # one spot call per round; marks (one weight-1 call per market) no more often than the weight budget
    # allows; CoinGecko only once per TTL (30 s)
    rounds0, calls0 = health(r)["counters"]["rounds"], sim_counters(sim)
    hb = eventually(lambda: (h := health(r))["counters"]["rounds"] >= rounds0 + 12 and h, timeout=10,
                    message="twelve rounds")
    calls = sim_counters(sim)
    rounds = hb["counters"]["rounds"] - rounds0
    assert abs(calls["requests.spot"] - calls0["requests.spot"] - rounds) <= 1, (calls, rounds)
    assert 0 < calls["requests.mark"] - calls0["requests.mark"] < 4 * rounds
    weight = hb["binance_weight"]["mark"]
    assert 0 < weight["weight_1m"] <= 240 and weight["used_weight_1m"] > 0
    assert calls["requests.coingecko"] == 1
    assert hb["status"] == "ok" and hb["counters"]["prices_by_source.mark"] >= 15
    assert {s["state"] for s in hb["sources"].values()} == {"ok"}
    assert hb["prices_by_source"] == {"mark": 3}


def test_slow_mark_is_abandoned_at_its_timeout_and_rounds_keep_their_pace(r, sim, pricer_env, services):
    proc = services("pricer", pricer_env)
    eventually(lambda: priced_by(r, {"BTC": "mark"}), timeout=15, message="first mark price")
    set_fault(sim, "mark", "slow", delay_s=3)
    eventually(lambda: priced_by(r, {a: "spot_cache" for a in ASSETS}), timeout=5, message="spot_cache tier")
    rounds_before, t0 = health(r)["counters"]["rounds"], time.monotonic()
    time.sleep(2)  # a window of rounds to measure: the pace is the assertion here
    hb = health(r)
    rounds = hb["counters"]["rounds"] - rounds_before
    elapsed = time.monotonic() - t0
    # each round lasts at most interval + timeout (0.7 s) even though the mark answers after 3 s
    assert rounds >= elapsed / (INTERVAL_S + TIMEOUT_S + 0.15) - 1, (rounds, elapsed)
    assert hb["round"]["max_ms"] < TIMEOUT_S * 1000 + 200
    assert hb["sources"]["mark"]["state"] in ("timeout", "busy", "backoff")
    assert hb["status"] == "degraded"
    doc = provenance(r, "BTC")
    assert doc["chosen"]["src"] == "spot_cache" and "mark" in doc["errors"]
    assert now_age(latest(r)["BTC"]) < 2
    assert "price source mark: no answer within 0.5 s" in proc.log_text()
    assert proc.log_text().count("price source mark: no answer") == 1, "logged once per episode"

    clear_faults(sim)
    eventually(lambda: priced_by(r, {a: "mark" for a in ASSETS}), timeout=10, message="back to mark")
    assert "price source mark: recovered" in proc.log_text()


def now_age(obs) -> float:
    return time.time() - obs.ts


@pytest.mark.parametrize("mode", ["429", "418"])
def test_rate_limited_mark_backs_off_for_retry_after(r, sim, pricer_env, services, mode):
    services("pricer", pricer_env)
    eventually(lambda: priced_by(r, {"BTC": "mark"}), timeout=15, message="first mark price")
    set_fault(sim, "mark", mode, retry_after_s=3)
    faulted_at = time.time()
    eventually(lambda: priced_by(r, {a: "spot_cache" for a in ASSETS}), timeout=5, message="spot_cache tier")
    mark = eventually(lambda: (m := health(r)["sources"]["mark"])["state"] == "rate_limited" and m, timeout=5,
                      message="mark rate limited in health")
    assert f"HTTP {mode}" in mark["error"] and "pausing polls for 3 s" in mark["error"]
    assert faulted_at + 2.5 < mark["backoff_until"] < time.time() + 3.5
    assert f"HTTP {mode}" in provenance(r, "BTC")["errors"]["mark"]
    # not asked again before Retry-After: the fault stays on, and marketsim sees no new mark request
    asked = sim_counters(sim)["requests.mark"]
    time.sleep(max(0.0, mark["backoff_until"] - 0.7 - time.time()))
    assert sim_counters(sim)["requests.mark"] == asked
    assert priced_by(r, {"BTC": "spot_cache"}) is not None
    clear_faults(sim)
    eventually(lambda: priced_by(r, {a: "mark" for a in ASSETS}), timeout=8, message="back to mark")
    assert time.time() >= mark["backoff_until"]


def test_zero_stale_and_delisted_marks_fall_back_per_asset(r, sim, pricer_env, services):
    set_fault(sim, "mark", "zero", symbol="BTC")
    set_fault(sim, "mark", "stale", symbol="XAUT")
    set_fault(sim, "mark", "delisted", symbol="USDC")
    r.sadd("hedge:markets:tracked", "ETHUSDT")
    services("pricer", pricer_env)
    got = eventually(lambda: priced_by(r, {"BTC": "spot_cache", "XAUT": "spot_cache", "USDC": "spot_cache",
                                           "ETHUSDT": "mark"}),
                     timeout=15, message="faulted assets on spot_cache")
    assert all(now_age(got[a]) < 2 for a in ASSETS)
    assert not {"BTCUSDT", "XAUTUSDT", "USDCUSDT"} & set(got), "unusable marks are not published"
    assert provenance(r, "BTC")["errors"]["mark"] == "price 0.0 is not positive"
    assert provenance(r, "BTC")["sources"]["mark"] is None
    assert "s old (limit 30 s)" in provenance(r, "XAUT")["errors"]["mark"]
    assert provenance(r, "USDC")["errors"]["mark"].startswith("USDCUSDT is not")
    hb = health(r)
    assert hb["sources"]["mark"]["state"] == "ok", "the source answered; only some of its prices were refused"
    assert sorted(hb["fallback_assets"]) == sorted(ASSETS)


def test_down_the_chain_to_coingecko_then_avg_cost_and_config_fx(r, sim, pricer_env, services):
    set_fault(sim, "mark", "down")
    set_fault(sim, "spot", "down")
    services("pricer", {**pricer_env, "SPOT_CACHE_TTL_S": "1", "COINGECKO_TTL_S": "1"})
    got = eventually(lambda: priced_by(r, {a: "coingecko" for a in ASSETS} | {"USDZAR": "coingecko"}),
                     timeout=15, message="coingecko tier")
    assert all(now_age(got[a]) < 35 for a in ASSETS)
    doc = provenance(r, "XAUT")
    assert re.search(r"/fapi/v1/(exchangeInfo|premiumIndex) .*Connection aborted", doc["errors"]["mark"])
    assert re.search(r"/api/v3/(exchangeInfo|ticker/24hr) .*Connection aborted", doc["errors"]["spot_cache"])
    assert doc["sources"]["mark"] is None and doc["sources"]["spot_cache"] is None

    set_fault(sim, "coingecko", "stale")  # CoinGecko answers, 180 s old: refused (limit TTL 1 + 120 s)
    mtime = Path(pricer_env["HOLDINGS_FILE"]).stat().st_mtime
    got = eventually(lambda: priced_by(r, {a: "avg_cost" for a in ASSETS} | {"USDZAR": "config"}),
                     timeout=10, message="avg_cost tier and config FX")
    assert got["BTC"].px == 61000.0 and got["BTC"].ts == pytest.approx(mtime)
    assert got["USDZAR"].px == 18.0
    assert "s old (limit 121 s)" in provenance(r, "BTC")["errors"]["coingecko"]
    hb = health(r)
    assert hb["prices_by_source"] == {"avg_cost": 3} and hb["fx"]["problem"]


def test_a_coingecko_answer_without_last_updated_at_is_never_a_fresh_tier(r, sim, pricer_env, services):
    set_fault(sim, "mark", "down")
    set_fault(sim, "spot", "down")
    set_fault(sim, "coingecko", "untimed", "BTC")     # BTC's entry comes without last_updated_at
    services("pricer", {**pricer_env, "SPOT_CACHE_TTL_S": "1", "COINGECKO_TTL_S": "1"})
    got = eventually(lambda: priced_by(r, {"BTC": "avg_cost", "XAUT": "coingecko", "USDC": "coingecko"}),
                     timeout=15, message="BTC on avg_cost, the timed ones on coingecko")
    assert got["BTC"].px == 61000.0
    doc = provenance(r, "BTC")
    assert "no last_updated_at for 'bitcoin'" in doc["errors"]["coingecko"] and "no age" in doc["errors"]["coingecko"]
    assert doc["sources"]["coingecko"] is None             # a price without a time is not shown as current
    set_fault(sim, "coingecko", "untimed")                 # all of them: FX has no time either
    eventually(lambda: priced_by(r, {"XAUT": "avg_cost", "USDZAR": "config"}), timeout=10,
               message="no CoinGecko tier and the configured FX")


def test_unknown_coingecko_id_has_no_coingecko_tier(r, sim, pricer_env, services):
    write_holdings(pricer_env, {"BTC": {"qty": 0.035, "avg_cost": 61000.0, "coingecko_id": "no-such-coin"},
                                "XAUT": {"qty": 0.59, "avg_cost": 2350.0},
                                "ZZZ": {"qty": 5, "avg_cost": None}})
    set_fault(sim, "mark", "down")
    set_fault(sim, "spot", "down")
    services("pricer", {**pricer_env, "SPOT_CACHE_TTL_S": "1"})
    eventually(lambda: priced_by(r, {"BTC": "avg_cost", "XAUT": "coingecko"}), timeout=15,
               message="BTC on avg_cost, XAUT on coingecko")
    assert "returned no price for id 'no-such-coin'" in provenance(r, "BTC")["errors"]["coingecko"]
    zzz = provenance(r, "ZZZ")
    assert zzz["chosen"] is None and "not guessing" in zzz["errors"]["coingecko"]
    assert "ZZZ" not in latest(r), "an asset no tier prices is not published"
    assert health(r)["unpriced"] == ["ZZZ"]


def test_divergence_is_flagged_and_logged_once_per_episode(r, sim, pricer_env, services):
    # A wrong pinned id makes CoinGecko disagree with the mark: a divergence a user would want flagged.
    write_holdings(pricer_env, {"BTC": {"qty": 0.035, "avg_cost": 61000.0, "coingecko_id": "ethereum"},
                                "XAUT": {"qty": 0.59, "avg_cost": 2350.0}})
    proc = services("pricer", pricer_env)
    eventually(lambda: (b := latest(r).get("BTC")) and b.diverged, timeout=15, message="BTC flagged diverged")
    doc = provenance(r, "BTC")
    assert doc["diverged"] is True and doc["spread_pct"] > 100 and doc["chosen"]["src"] == "mark"
    assert latest(r)["BTCUSDT"].diverged and not latest(r)["XAUT"].diverged
    rounds = health(r)["counters"]["rounds"]
    eventually(lambda: health(r)["counters"]["rounds"] >= rounds + 5, timeout=5, message="five more rounds")
    hb = health(r)
    assert hb["counters"]["divergences"] == 1 and hb["diverged"] == ["BTC"] and hb["status"] == "degraded"
    assert proc.log_text().count("flagged diverged") == 1

    write_holdings(pricer_env, {"BTC": {"qty": 0.035, "avg_cost": 61000.0}})
    eventually(lambda: provenance(r, "BTC")["diverged"] is False and "XAUT" not in latest(r), timeout=5,
               message="divergence cleared and XAUT gone")
    assert provenance(r, "XAUT") is None, "a removed holding leaves hedge:prices:sources"
    assert not latest(r)["BTC"].diverged
    assert proc.log_text().count("divergence flag cleared") == 1
