"""A whole pricing round, from observations to what is published (pure)."""

from __future__ import annotations

import math

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.pricer.assemble import ANY, Observed, Policy, assemble_round
from services.pricer.chain import Quote, TierLimits
from services.pricer.units import ContractInfo
from shared.contracts.prices import decode_latest, encode_latest
from shared.contracts.vocabulary import TIERS
from shared.holdings import Holding

NOW = 1_800_000_000.0
POLICY = Policy(limits=TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0), divergence_threshold=0.02,
                depeg_threshold=0.005, display_currency="ZAR", fx_fallback_rate=18.0)
HOLDINGS = {
    "BTC": Holding("BTC", 0.035, 61000.0, "BTCUSDT"),
    "XAUT": Holding("XAUT", 0.59, 2350.0, "XAUTUSDT"),
    "USDC": Holding("USDC", 2098.96, 1.0, "USDCUSDT"),
}
FILE_TS = NOW - 86400
CONTRACTS = {m: ContractInfo.linear_perpetual(m, m[:-4]) for m in ("BTCUSDT", "XAUTUSDT", "USDCUSDT", "ETHUSDT")}


def avg_costs(holdings=HOLDINGS) -> dict[str, Quote]:
    return {a: Quote(h.avg_cost, FILE_TS) for a, h in holdings.items() if h.avg_cost is not None}


def test_healthy_round_prices_everything_by_mark_and_publishes_marks_and_fx():
    observed = Observed(contracts=CONTRACTS,
        quotes={"mark": {"BTCUSDT": Quote(97000.0, NOW - 1), "XAUTUSDT": Quote(2650.0, NOW - 1),
                         "USDCUSDT": Quote(1.0001, NOW - 1), "ETHUSDT": Quote(3500.0, NOW - 1)},
                "spot_cache": {"BTC": Quote(97010.0, NOW - 2)},
                "coingecko": {"BTC": Quote(96990.0, NOW - 20)},
                "avg_cost": avg_costs()},
        fx=Quote(18.2, NOW - 20))
    result = assemble_round(HOLDINGS, {"BTCUSDT", "XAUTUSDT", "USDCUSDT", "ETHUSDT"}, observed, NOW, POLICY)
    by_sym = {p.sym: p for p in result.prices}
    assert {s: (p.px, p.src) for s, p in by_sym.items()} == {
        "BTC": (97000.0, "mark"), "XAUT": (2650.0, "mark"), "USDC": (1.0001, "mark"),
        "BTCUSDT": (97000.0, "mark"), "XAUTUSDT": (2650.0, "mark"), "USDCUSDT": (1.0001, "mark"),
        "ETHUSDT": (3500.0, "mark"), "USDZAR": (18.2, "coingecko")}
    assert by_sym["BTC"].ts == NOW - 1 and by_sym["USDZAR"].ts == NOW - 20
    assert result.unpublished == () and result.fallbacks == () and result.unpriced == ()
    doc = result.assets["BTC"].report()
    assert doc == {
        "asset": "BTC", "market": "BTCUSDT",
        "chosen": {"px": 97000.0, "src": "mark", "ts": NOW - 1},
        "sources": {"mark": {"px": 97000.0, "ts": NOW - 1}, "spot_cache": {"px": 97010.0, "ts": NOW - 2},
                    "coingecko": {"px": 96990.0, "ts": NOW - 20}, "avg_cost": {"px": 61000.0, "ts": FILE_TS}},
        "errors": {}, "diverged": False, "spread_pct": doc["spread_pct"], "depeg": False}
    assert 0 < doc["spread_pct"] < 0.03


def test_provenance_says_why_each_tier_was_skipped():
    observed = Observed(contracts=CONTRACTS,
        quotes={"mark": {"BTCUSDT": Quote(0.0, NOW)}, "spot_cache": {"BTC": Quote(97000.0, NOW - 300)},
                "coingecko": {}, "avg_cost": avg_costs()},
        problems={"spot_cache": {ANY: "fetch_tickers: no answer within 0.5 s"},
                  "coingecko": {"BTC": "CoinGecko returned no price for id 'bitcoin'"}})
    result = assemble_round({"BTC": HOLDINGS["BTC"]}, {"BTCUSDT"}, observed, NOW, POLICY)
    doc = result.assets["BTC"].report()
    assert doc["chosen"] == {"px": 61000.0, "src": "avg_cost", "ts": FILE_TS}
    assert doc["sources"]["mark"] is None, "a zero price is never shown as a price"
    assert doc["sources"]["spot_cache"] == {"px": 97000.0, "ts": NOW - 300}
    assert doc["errors"]["mark"] == "price 0.0 is not positive"
    assert doc["errors"]["spot_cache"] == "fetch_tickers: no answer within 0.5 s; price is 300 s old (limit 60 s)"
    assert "no price for id 'bitcoin'" in doc["errors"]["coingecko"]
    assert "avg_cost" not in doc["errors"]
    assert result.fallbacks == ("BTC",)
    assert set(result.unpublished) == {"BTCUSDT"}, "a zero mark is not published"


def test_an_asset_no_tier_prices_is_not_published():
    holdings = {"ABC": Holding("ABC", 5.0, None, "ABCUSDT")}
    observed = Observed(contracts=CONTRACTS, quotes={"avg_cost": {}},
                        problems={"avg_cost": {"ABC": "no avg_cost for ABC"}})
    result = assemble_round(holdings, {"ABCUSDT"}, observed, NOW, POLICY)
    assert [p.sym for p in result.prices] == ["USDZAR"]
    assert set(result.unpublished) == {"ABC", "ABCUSDT"}
    assert result.unpriced == ("ABC",)
    doc = result.assets["ABC"].report()
    assert doc["chosen"] is None and doc["errors"]["avg_cost"] == "no avg_cost for ABC"
    assert doc["errors"]["mark"] == "no observation"


def test_divergence_and_depeg_flag_the_published_price():
    observed = Observed(contracts=CONTRACTS, quotes={
        "mark": {"BTCUSDT": Quote(97000.0, NOW), "USDCUSDT": Quote(0.99, NOW)},
        "coingecko": {"BTC": Quote(90000.0, NOW)}, "avg_cost": avg_costs()})
    result = assemble_round(HOLDINGS, {"BTCUSDT", "USDCUSDT"}, observed, NOW, POLICY)
    flags = {p.sym: p.diverged for p in result.prices}
    assert flags["BTC"] and flags["BTCUSDT"] and flags["USDC"]
    assert not flags["USDCUSDT"], "a depeg is the asset's flag; the market mark did not disagree with anything"
    assert result.diverged == {"BTC"} and result.depegged == {"USDC"}
    assert result.assets["BTC"].report()["spread_pct"] == (97000.0 - 90000.0) / 90000.0 * 100


def test_fx_falls_back_to_config_then_to_nothing():
    result = assemble_round({}, set(), Observed(problems={"fx": {ANY: "coingecko: HTTP 429"}}), NOW, POLICY)
    assert [(p.sym, p.px, p.src, p.ts) for p in result.prices] == [("USDZAR", 18.0, "config", NOW)]
    assert "HTTP 429" in result.fx_problem
    stale = Observed(fx=Quote(18.3, NOW - 1000))
    assert assemble_round({}, set(), stale, NOW, POLICY).prices[0].src == "config"
    no_rate = Policy(POLICY.limits, 0.02, 0.005, "EUR", None)
    result = assemble_round({}, set(), Observed(), NOW, no_rate)
    assert result.prices == () and result.unpublished == ("USDEUR",)
    assert "no fallback rate configured for EUR" in result.fx_problem


# --- property: whatever the sources say, nothing invalid is ever published --------------
wild = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0), st.floats(1e-9, 1e9))
wild_quotes = st.builds(Quote, wild, st.one_of(st.floats(NOW - 500, NOW + 100), st.just(math.nan)))
keyed = st.dictionaries(st.sampled_from(["BTC", "XAUT", "USDC", "BTCUSDT", "XAUTUSDT", "USDCUSDT"]), wild_quotes)


@settings(max_examples=200)
@given(st.fixed_dictionaries({t: keyed for t in TIERS}), st.one_of(st.none(), wild_quotes))
def test_property_published_prices_are_finite_positive_and_decodable(quotes, fx):
    observed = Observed(contracts=CONTRACTS, quotes=quotes, fx=fx)
    result = assemble_round(HOLDINGS, {"BTCUSDT", "XAUTUSDT", "USDCUSDT"}, observed, NOW, POLICY)
    for obs in result.prices:
        assert math.isfinite(obs.px) and obs.px > 0 and math.isfinite(obs.ts) and obs.ts <= NOW
        assert decode_latest(obs.sym, encode_latest(obs)) == obs
    for outcome in result.assets.values():
        doc = orjson.loads(orjson.dumps(outcome.report()))
        for shown in doc["sources"].values():
            assert shown is None or (shown["px"] > 0 and math.isfinite(shown["px"]))
        if doc["chosen"]:
            src = doc["chosen"]["src"]
            assert doc["sources"][src]["px"] == doc["chosen"]["px"]
    published = {o.sym for o in result.prices}
    assert published.isdisjoint(result.unpublished)
    assert published | set(result.unpublished) == {"BTC", "XAUT", "USDC", "BTCUSDT", "XAUTUSDT", "USDCUSDT", "USDZAR"}
