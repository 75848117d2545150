"""marketsim's price walk: seeded, lazy, small steps, sources a few bps apart."""

from __future__ import annotations

import pytest

from services.marketsim.prices import PriceWalk
from services.marketsim.specs import ASSETS, FX_ZAR

T0 = 1_700_000_000.0


def walk(seed: int = 7) -> PriceWalk:
    return PriceWalk((*ASSETS, FX_ZAR), seed=seed, start=T0)


def test_same_seed_and_elapsed_time_give_the_same_prices_however_often_asked():
    a, b = walk(), walk()
    for t in (0.3, 1.1, 7.9, 60.0):
        a.advance(T0 + t)
    b.advance(T0 + 60.0)
    assert all(a.price(x.asset, "mark") == b.price(x.asset, "mark") for x in ASSETS)
    c = walk(seed=8)
    c.advance(T0 + 60.0)
    assert c.price("BTC", "mark") != a.price("BTC", "mark")


def test_steps_are_small_and_prices_start_near_their_levels():
    w = walk()
    prev = {x.asset: x.start_px for x in ASSETS}
    for i in range(1, 301):
        w.advance(T0 + i * 0.2)
        for x in ASSETS:
            px = w.true_price(x.asset)
            assert abs(px / prev[x.asset] - 1) < 1e-3
            prev[x.asset] = px
    assert w.true_price("BTC") == pytest.approx(97_000, rel=0.02)
    assert w.true_price("ETH") == pytest.approx(3_500, rel=0.02)
    assert w.true_price("USDC") == pytest.approx(1.0, abs=5e-4)


def test_sources_differ_by_a_few_bps_but_never_much():
    w = walk()
    for i in range(1, 200):
        w.advance(T0 + i)
        for x in ASSETS:
            mark, spot, cg = (w.price(x.asset, s) for s in ("mark", "spot", "coingecko"))
            assert abs(spot / mark - 1) < 15e-4 and abs(cg / mark - 1) < 15e-4
    diffs = [abs(w.price(x.asset, "spot") / w.price(x.asset, "mark") - 1) for x in ASSETS]
    assert max(diffs) > 1e-5      # not identical: divergence checks have something to measure


def test_a_long_idle_spell_catches_up_in_one_go_and_stays_sane():
    w = walk()
    w.advance(T0 + 86_400)        # a day: 432 000 steps, aggregated
    assert w.steps == 432_000
    for x in ASSETS:
        assert 0 < w.true_price(x.asset) < 10 * x.start_px
    assert w.true_price("USDC") == pytest.approx(1.0, abs=2e-3)   # stablecoins revert to their peg
    assert w.true_price("ZAR") == pytest.approx(18.2, rel=0.1)
    session = w.session("BTC")
    assert session.low <= w.true_price("BTC") <= session.high
