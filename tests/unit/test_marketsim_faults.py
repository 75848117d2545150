"""marketsim faults: validation of POST bodies and what each request suffers."""

from __future__ import annotations

import pytest

from services.marketsim.faults import (
    DEFAULT_DELAY_S, STALE_AGE_S, Fault, FaultError, FaultSet, observe, parse_fault,
)

ALL = ("BTC", "ETH", "SOL", "XAUT", "USDC")


@pytest.mark.parametrize("raw", ["BTC", "btc", "BTCUSDT", "BTC/USDT", "BTC/USDT:USDT", "bitcoin"])
def test_symbol_accepts_asset_market_unified_symbol_and_coingecko_id(raw):
    assert parse_fault({"source": "mark", "mode": "down", "symbol": raw}).symbol == "BTC"


def test_slow_defaults_to_ten_seconds_and_rate_limits_carry_retry_after():
    assert parse_fault({"source": "spot", "mode": "slow"}).delay_s == DEFAULT_DELAY_S
    assert parse_fault({"source": "spot", "mode": "slow", "delay_s": 0.3}).delay_s == 0.3
    assert parse_fault({"source": "spot", "mode": 429}).mode == "429"
    assert parse_fault({"source": "spot", "mode": "418", "retry_after_s": 7}).retry_after_s == 7
    assert parse_fault({"source": "coingecko", "mode": "429"}).retry_after_s > 0


@pytest.mark.parametrize(("body", "field", "words"), [
    ([1, 2], "body", "JSON object"),
    ({"source": "mark", "mode": "down", "colour": "red"}, "colour", "unknown field"),
    ({"mode": "down"}, "source", "mark, spot, coingecko, account"),
    ({"source": "binance", "mode": "down"}, "source", "'binance'"),
    ({"source": "mark"}, "mode", "down, slow, 429"),
    ({"source": "mark", "mode": "broken"}, "mode", "'broken'"),
    ({"source": "account", "mode": "delisted"}, "mode", "does not apply to source 'account'"),
    ({"source": "account", "mode": "down", "symbol": "BTC"}, "symbol", "whole account"),
    ({"source": "mark", "mode": "zero", "symbol": "DOGE"}, "symbol", "'DOGE'"),
    ({"source": "mark", "mode": "zero", "symbol": 5}, "symbol", "expected a string"),
    ({"source": "mark", "mode": "down", "delay_s": 3}, "delay_s", "mode 'slow' only"),
    ({"source": "mark", "mode": "slow", "delay_s": "3"}, "delay_s", "number of seconds"),
    ({"source": "mark", "mode": "slow", "delay_s": -1}, "delay_s", "0 to"),
    ({"source": "mark", "mode": "slow", "retry_after_s": 3}, "retry_after_s", "'429' and '418' only"),
    ({"source": "mark", "mode": "429", "retry_after_s": 1.5}, "retry_after_s", "whole seconds"),
])
def test_bad_bodies_name_the_field(body, field, words):
    with pytest.raises(FaultError) as info:
        parse_fault(body)
    assert info.value.field == field
    assert words in str(info.value)


def test_same_fault_replaces_and_clear_by_source():
    faults = FaultSet().add(Fault("mark", "slow", None, 1.0)).add(Fault("mark", "slow", None, 2.0))
    faults = faults.add(Fault("spot", "zero")).add(Fault("mark", "zero", "BTC"))
    assert len(faults.faults) == 3
    assert [f.delay_s for f in faults.faults if f.mode == "slow"] == [2.0]
    assert {f.source for f in faults.clear("mark").faults} == {"spot"}
    assert faults.clear().faults == ()


def test_unscoped_request_faults_hit_every_request_of_their_source_only():
    faults = FaultSet().add(Fault("mark", "down"))
    assert faults.for_request("mark", None, ALL).failure == "down"
    assert faults.for_request("mark", ["ETH"], ALL).failure == "down"
    assert faults.for_request("spot", None, ALL).failure is None


def test_symbol_scoped_failure_fails_only_requests_about_that_asset():
    faults = FaultSet().add(Fault("mark", "429", "BTC", retry_after_s=3))
    single = faults.for_request("mark", ["BTC"], ALL)
    assert (single.failure, single.retry_after_s) == ("429", 3)
    batch = faults.for_request("mark", ["BTC", "ETH"], ALL)
    assert batch.failure is None and batch.omit == {"BTC"}
    everything = faults.for_request("mark", None, ALL)
    assert everything.failure is None and everything.omit == {"BTC"}
    assert faults.for_request("mark", ["ETH"], ALL).failure is None


def test_failure_precedence_down_then_418_then_429():
    faults = FaultSet().add(Fault("spot", "429")).add(Fault("spot", "418"))
    assert faults.for_request("spot", None, ALL).failure == "418"
    assert faults.add(Fault("spot", "down")).for_request("spot", None, ALL).failure == "down"


def test_slow_delays_answers_that_include_the_asset():
    faults = FaultSet().add(Fault("coingecko", "slow", "BTC", delay_s=4.0))
    assert faults.for_request("coingecko", ["BTC", "ETH"], ALL).delay_s == 4.0
    assert faults.for_request("coingecko", None, ALL).delay_s == 4.0
    assert faults.for_request("coingecko", ["ETH"], ALL).delay_s == 0.0


def test_data_modes_per_asset_and_for_all():
    faults = FaultSet().add(Fault("mark", "zero", "BTC")).add(Fault("mark", "stale"))
    rf = faults.for_request("mark", None, ALL)
    assert rf.failure is None and rf.delay_s == 0
    assert rf.modes_for("BTC") == {"zero", "stale"}
    assert rf.modes_for("ETH") == {"stale"}


def test_observe_applies_zero_stale_delisted():
    assert observe(97000.0, 1000.0, ()) == observe(97000.0, 1000.0, set())
    plain = observe(97000.0, 1000.0, ())
    assert (plain.px, plain.ts, plain.listed) == (97000.0, 1000.0, True)
    assert observe(97000.0, 1000.0, {"zero"}).px == 0.0
    assert observe(97000.0, 1000.0, {"stale"}).ts == 1000.0 - STALE_AGE_S
    assert STALE_AGE_S > 120
    assert observe(97000.0, 1000.0, {"delisted"}).listed is False


def test_fault_to_dict_round_trips_through_parse():
    for body in ({"source": "mark", "mode": "slow", "symbol": "ETH", "delay_s": 2.5},
                 {"source": "spot", "mode": "418", "symbol": None, "retry_after_s": 9},
                 {"source": "coingecko", "mode": "delisted", "symbol": "XAUT"}):
        assert parse_fault(body).to_dict() == body


def test_a_request_naming_nothing_known_is_not_slowed_by_a_symbol_fault():
    faults = FaultSet().add(Fault("coingecko", "slow", "BTC", delay_s=4.0)).add(Fault("coingecko", "down", "BTC"))
    rf = faults.for_request("coingecko", [], ALL)      # e.g. ids=not-a-coin
    assert rf.delay_s == 0.0 and rf.failure is None
