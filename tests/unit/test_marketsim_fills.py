"""Simulated router fills: maker/fallback shares, fees, slippage and PnL over a seeded sample."""

from __future__ import annotations

import random

import pytest

from services.marketsim.fills import FillMarket, make_fill
from shared.contracts.fills import decode_fill, encode_fill

MARKETS = [FillMarket("BTCUSDT", 0.001, 0.001), FillMarket("ETHUSDT", 0.001, 0.001), FillMarket("SOLUSDT", 1, 1)]
MARKS = {"BTCUSDT": 97_000.0, "ETHUSDT": 3_500.0, "SOLUSDT": 180.0}


@pytest.fixture(scope="module")
def sample():
    rng = random.Random(7)
    return [make_fill(rng, MARKETS, MARKS, now=1_700_000_000.0 + i, fill_id=f"t-{i}") for i in range(4000)]


def test_maker_and_fallback_shares(sample):
    n = len(sample)
    makers = sum(f.liquidity == "maker" for f in sample)
    fallbacks = [f for f in sample if f.fallback]
    assert 0.67 < makers / n < 0.73
    assert 0.13 < len(fallbacks) / n < 0.17
    assert all(f.liquidity == "taker" for f in fallbacks)          # a fallback crosses the spread
    assert {f.sym for f in sample} == set(MARKS)


def test_fees_are_2_bps_maker_and_5_bps_taker(sample):
    for f in sample:
        bps = f.fee_usd / (f.qty * f.px) * 1e4
        assert bps == pytest.approx(2.0 if f.liquidity == "maker" else 5.0, rel=1e-5)


def test_slippage_is_small_for_makers_and_costs_in_the_trade_direction(sample):
    for f in sample:
        lo, hi = (0.0, 0.5) if f.liquidity == "maker" else (1.0, 5.0)
        assert lo <= f.slippage_bps <= hi
        mark = MARKS[f.sym]
        assert (f.px >= mark) if f.side == "BUY" else (f.px <= mark)


def test_realised_pnl_is_plausible_with_losses(sample):
    pnl = [f.realized_pnl_usd for f in sample]
    assert sum(p < 0 for p in pnl) > 0.1 * len(pnl)
    assert sum(p > 0 for p in pnl) > 0.3 * len(pnl)
    assert sum(pnl) > sum(f.fee_usd for f in sample) * 0.5     # a router that roughly pays for itself
    assert all(abs(p) < 0.02 * f.qty * f.px for p, f in zip(pnl, sample, strict=True))


def test_quantities_respect_the_market_step_and_fills_pass_the_contract(sample):
    for f in sample[:500]:
        step = next(m.step for m in MARKETS if m.market == f.sym)
        assert abs(f.qty / step - round(f.qty / step)) < 1e-6
        assert decode_fill(encode_fill(f)) == f


def test_same_seed_same_fills():
    a = [make_fill(random.Random(3), MARKETS, MARKS, now=1.0, fill_id="x") for _ in range(3)]
    b = [make_fill(random.Random(3), MARKETS, MARKS, now=1.0, fill_id="x") for _ in range(3)]
    assert a == b
