"""shared/metrics.py: unknown is NaN, labels follow the data, each service exports only its own."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from shared.metrics import (
    OWNED,
    PRICE_TIER,
    RECON_BREAKS,
    UNIT_PRICE,
    _owned,
    record_drawdown,
    record_recon_breaks,
    set_gauge,
    set_labelled,
)


def _samples(metric) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for m in metric.collect() for s in m.samples}


def test_an_unset_gauge_is_nan_never_zero():
    fresh = _owned("unit-test", Gauge, "navstream_test_fresh_usd", "a gauge nobody set yet")
    assert math.isnan(_samples(fresh)[()])
    set_gauge(UNIT_PRICE, None)
    assert math.isnan(_samples(UNIT_PRICE)[()])
    set_gauge(UNIT_PRICE, 1.0123)
    assert _samples(UNIT_PRICE)[()] == 1.0123


def test_labels_follow_the_assets_of_the_round():
    set_labelled(PRICE_TIER, {"BTC": 0, "XAUT": 1, "OLD": 2})
    set_labelled(PRICE_TIER, {"BTC": 1, "XAUT": None})
    samples = _samples(PRICE_TIER)
    assert set(samples) == {("BTC",), ("XAUT",)}, "an asset gone from the holdings is no longer exported"
    assert samples[("BTC",)] == 1 and math.isnan(samples[("XAUT",)])


def test_a_cleared_reconciliation_break_goes_back_to_zero_for_its_account_only():
    record_recon_breaks("main", {"USDT": 2, "USDC": 1})
    record_recon_breaks("sub1", {"USDT": 1})
    record_recon_breaks("main", {"USDT": 1})
    samples = _samples(RECON_BREAKS)
    assert samples[("main", "USDT")] == 1 and samples[("main", "USDC")] == 0 and samples[("sub1", "USDT")] == 1


def test_drawdown_state_is_a_number_and_unknown_is_nan():
    from shared.metrics import DRAWDOWN, DRAWDOWN_STATE

    record_drawdown(0.07, "warning", 100_000.0)
    assert _samples(DRAWDOWN)[()] == 0.07 and _samples(DRAWDOWN_STATE)[()] == 1
    record_drawdown(None, None, 100_000.0)
    assert math.isnan(_samples(DRAWDOWN)[()]) and math.isnan(_samples(DRAWDOWN_STATE)[()])


def test_each_service_exports_only_what_it_owns():
    registry = CollectorRegistry()
    for metric in OWNED["pricer"] + OWNED["*"]:
        registry.register(metric)
    text = generate_latest(registry).decode()
    assert "navstream_price_tier" in text and "navstream_build_info" in text
    assert "navstream_nav_usd" not in text and "navstream_unit_price" not in text
    names = [m._name for ms in OWNED.values() for m in ms]
    assert len(names) == len(set(names)), "every metric has one owner"
