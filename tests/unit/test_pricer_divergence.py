"""Divergence between live sources, stablecoin depeg, and once-per-episode reporting (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.pricer.chain import Resolved
from services.pricer.divergence import Episodes, check_agreement, relative_spread

TH = {"divergence_threshold": 0.02, "depeg_threshold": 0.005}


def test_sources_within_threshold_agree():
    live = {"mark": 100.0, "spot_cache": 101.9, "coingecko": 100.5}
    a = check_agreement("BTC", live, Resolved(100.0, "mark", 0), **TH)
    assert not a.diverged and not a.depeg
    assert a.spread_pct == pytest.approx(1.9)


def test_sources_beyond_threshold_diverge():
    a = check_agreement("BTC", {"mark": 100.0, "coingecko": 102.5}, Resolved(100.0, "mark", 0), **TH)
    assert a.diverged and a.flagged
    assert a.spread_pct == pytest.approx(2.5)


def test_one_live_source_cannot_diverge():
    a = check_agreement("BTC", {"coingecko": 5.0}, Resolved(5.0, "coingecko", 0), **TH)
    assert (a.spread_pct, a.diverged, a.depeg) == (None, False, False)


@pytest.mark.parametrize("price, depeg", [(1.0, False), (0.996, False), (1.0049, False), (0.994, True), (1.006, True)])
def test_stablecoin_depeg(price, depeg):
    a = check_agreement("USDC", {"mark": price}, Resolved(price, "mark", 0), **TH)
    assert a.depeg is depeg
    assert a.flagged is depeg


def test_depeg_ignores_non_stablecoins_and_the_operators_avg_cost():
    assert not check_agreement("BTC", {"mark": 0.9}, Resolved(0.9, "mark", 0), **TH).depeg
    assert not check_agreement("USDC", {}, Resolved(0.9, "avg_cost", 0), **TH).depeg
    assert check_agreement("XYZ", {"mark": 0.9}, Resolved(0.9, "mark", 0), stablecoins={"XYZ"}, **TH).depeg


def test_episodes_report_start_and_end_once():
    ep = Episodes()
    assert ep.update({"BTC"}) == ({"BTC"}, frozenset())
    assert ep.update({"BTC"}) == (frozenset(), frozenset())
    assert ep.update({"BTC", "ETH"}) == ({"ETH"}, frozenset())
    assert ep.update({"ETH"}) == (frozenset(), {"BTC"})
    assert ep.update(()) == (frozenset(), {"ETH"})
    assert ep.update(()) == (frozenset(), frozenset())


@given(st.lists(st.floats(min_value=1e-6, max_value=1e9), min_size=2, max_size=3))
def test_property_spread_is_nonnegative_and_order_free(values):
    s = relative_spread(values)
    assert s is not None and s >= 0
    assert s == relative_spread(list(reversed(values)))
    a = check_agreement("X", dict(zip(("mark", "spot_cache", "coingecko"), values, strict=False)), None, **TH)
    assert a.diverged == (s > 0.02)
