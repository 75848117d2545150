"""The fallback chain: mark -> spot_cache -> coingecko -> avg_cost -> nothing (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.pricer.chain import Quote, TierLimits, resolve_usd_price, tier_problem
from shared.contracts.vocabulary import TIERS

NOW = 1_800_000_000.0
LIMITS = TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0)


def q(px: float, age: float = 1.0) -> Quote:
    return Quote(px, NOW - age)


def test_mark_wins_when_usable():
    got = resolve_usd_price("BTC", {"mark": q(97000.0, 2), "spot_cache": q(96990.0), "coingecko": q(96980.0),
                                    "avg_cost": q(61000.0, 9999)}, NOW, LIMITS)
    assert got == (97000.0, "mark", 2.0)


@pytest.mark.parametrize("bad_mark, reason", [
    (Quote(0.0, NOW), "not positive"),
    (Quote(-5.0, NOW), "not positive"),
    (Quote(math.nan, NOW), "not a finite number"),
    (Quote(math.inf, NOW), "not a finite number"),
    (Quote(97000.0, NOW - 31), "31 s old (limit 30 s)"),
    (Quote(97000.0, NOW + 3600), "in the future"),
    (Quote(97000.0, math.nan), "not a valid time"),
    (None, "no observation"),
])
def test_a_bad_mark_falls_to_the_spot_cache(bad_mark, reason):
    obs = {"mark": bad_mark, "spot_cache": q(96990.0, 5), "avg_cost": q(61000.0)}
    assert resolve_usd_price("BTC", obs, NOW, LIMITS) == (96990.0, "spot_cache", 5.0)
    assert reason in tier_problem("mark", bad_mark, NOW, LIMITS)


def test_each_tier_has_its_own_age_limit():
    obs = {"mark": q(1.0, 31), "spot_cache": q(2.0, 61), "coingecko": q(3.0, 149), "avg_cost": q(4.0, 1e6)}
    assert resolve_usd_price("X", obs, NOW, LIMITS).source == "coingecko"
    obs["coingecko"] = q(3.0, 151)
    assert resolve_usd_price("X", obs, NOW, LIMITS) == (4.0, "avg_cost", 1e6)


def test_avg_cost_has_no_age_limit_but_must_be_positive():
    assert resolve_usd_price("X", {"avg_cost": q(61000.0, 1e8)}, NOW, LIMITS).source == "avg_cost"
    assert resolve_usd_price("X", {"avg_cost": q(0.0)}, NOW, LIMITS) is None


def test_nothing_usable_is_none_never_zero():
    obs = {"mark": q(0.0), "spot_cache": q(math.nan), "coingecko": None}
    assert resolve_usd_price("X", obs, NOW, LIMITS) is None
    assert resolve_usd_price("X", {}, NOW, LIMITS) is None


def test_small_clock_skew_counts_as_age_zero():
    got = resolve_usd_price("BTC", {"mark": Quote(97000.0, NOW + 2)}, NOW, LIMITS)
    assert got == (97000.0, "mark", 0.0)


# --- properties ------------------------------------------------------------------------
prices = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**9))
timestamps = st.one_of(st.floats(min_value=NOW - 1000, max_value=NOW + 100), st.just(math.nan), st.just(-1.0))
quotes = st.one_of(st.none(), st.builds(Quote, prices, timestamps))
observations = st.fixed_dictionaries({}, optional={t: quotes for t in TIERS})


@given(observations)
def test_property_result_is_finite_positive_and_from_the_reported_tier(obs):
    got = resolve_usd_price("X", obs, NOW, LIMITS)
    if got is None:
        assert all(tier_problem(t, obs.get(t), NOW, LIMITS) for t in TIERS)
        return
    price, source, age = got
    assert math.isfinite(price) and price > 0
    assert math.isfinite(age) and age >= 0
    assert source in TIERS
    assert obs[source].px == price, "the reported tier's observation has exactly that price"
    assert age == max(0.0, NOW - obs[source].ts)


@given(observations)
def test_property_respects_the_order(obs):
    got = resolve_usd_price("X", obs, NOW, LIMITS)
    usable = [t for t in TIERS if tier_problem(t, obs.get(t), NOW, LIMITS) is None]
    if got is None:
        assert usable == []
    else:
        assert got.source == usable[0], "every earlier tier was unusable"
        max_age = LIMITS.max_age(got.source)
        assert max_age is None or got.age_s <= max_age
