"""The unit and multiplier rule: which futures marks are USD prices of a holding (pure)."""

from __future__ import annotations

import math

import pytest

from services.pricer.assemble import Observed, Policy, assemble_round
from services.pricer.chain import Quote, TierLimits
from services.pricer.units import ContractInfo, multiplier_of, usd_mark
from shared.contracts.vocabulary import DEFAULT_STABLECOINS
from shared.holdings import Holding

NOW = 1_800_000_000.0
MARK = Quote(97_000.0, NOW - 1)


@pytest.mark.parametrize(("asset", "info", "price", "problem"), [
    ("BTC", ContractInfo("BTCUSDT", "BTC", "USDT", "USDT", True), 97_000.0, None),
    ("BTC", ContractInfo("BTCUSDC", "BTC", "USDC", "USDC", True), 97_000.0, None),
    ("ETH", ContractInfo("ETHBTC", "ETH", "BTC", "BTC", True), None, "quoted in BTC and settled in BTC"),
    ("BTC", ContractInfo("BTCUSDT_261225", "BTC", "USDT", "USDT", False, "CURRENT_QUARTER"), None,
     "dated contract (CURRENT_QUARTER)"),
    ("PEPE", ContractInfo("1000PEPEUSDT", "1000PEPE", "USDT", "USDT", True), 97.0, None),
    ("BABYDOGE", ContractInfo("1MBABYDOGEUSDT", "1MBABYDOGE", "USDT", "USDT", True), 0.097, None),
    ("SOL", ContractInfo("BTCUSDT", "BTC", "USDT", "USDT", True), None, "a contract on BTC, not on SOL"),
    ("XAUT", ContractInfo("XAUTUSD1", "XAUT", "USD1", "USD1", True), None, "not a USD stablecoin"),
    ("BTC", None, None, "no listing information"),
])
def test_only_usd_stablecoin_perpetuals_mark_in_usd(asset, info, price, problem):
    quote, why = usd_mark(asset, info, MARK, DEFAULT_STABLECOINS)
    if price is None:
        assert quote is None and problem in why
    else:
        assert why is None and math.isclose(quote.px, price) and quote.ts == MARK.ts


def test_multiplier_needs_a_power_of_ten_prefix_on_the_asset_itself():
    assert multiplier_of("1000PEPE", "PEPE") == 1000.0
    assert multiplier_of("1000000MOG", "MOG") == 1_000_000.0
    assert multiplier_of("1INCH", "INCH") is None          # 1INCH is a coin, not 1 × INCH
    assert multiplier_of("1000PEPE", "BTC") is None


def test_a_refused_mark_falls_to_the_next_tier_with_the_reason_in_provenance():
    holdings = {"ETH": Holding("ETH", 2.0, 3000.0, "ETHBTC")}
    observed = Observed(contracts={"ETHBTC": ContractInfo("ETHBTC", "ETH", "BTC", "BTC", True)},
                        quotes={"mark": {"ETHBTC": Quote(0.036, NOW - 1)},
                                "spot_cache": {"ETH": Quote(3500.0, NOW - 2)}})
    policy = Policy(TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0), 0.02, 0.005, "USD", None)
    result = assemble_round(holdings, {"ETHBTC"}, observed, NOW, policy)
    outcome = result.assets["ETH"]
    assert (outcome.chosen.source, outcome.chosen.price) == ("spot_cache", 3500.0)
    assert "quoted in BTC" in outcome.errors["mark"] and outcome.report()["sources"]["mark"] is None
    # the contract's own mark is still published under its market id, in its own unit
    assert {(p.sym, p.px) for p in result.prices if p.sym == "ETHBTC"} == {("ETHBTC", 0.036)}
