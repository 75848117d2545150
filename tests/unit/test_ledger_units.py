"""Units and performance on the unit price: flows never move the unit price, TWR or drawdown."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.ledger.performance import compute_performance, max_drawdown
from services.ledger.units import FlowRefused, Pricing, flow_units, inception_units, parse_amount, unit_price

returns = st.lists(st.floats(min_value=-0.2, max_value=0.2, allow_nan=False), min_size=2, max_size=60)
flow_fracs = st.lists(st.floats(min_value=-0.5, max_value=2.0, allow_nan=False), min_size=2, max_size=60)


def simulate(aum0: float, rets: list[float], fracs: list[float] | None) -> tuple[list[float], Decimal, Decimal]:
    """A fund whose whole portfolio earns `rets`; before each step a flow of frac × AUM comes in
    (or goes out). Returns the unit prices, the units outstanding and Σ of every flow's units."""
    units = inception_units(aum0, 1.0)
    total_flow_units = units
    aum, prices = aum0, []
    for i, r in enumerate(rets):
        if fracs is not None and fracs[i % len(fracs)] != 0:
            amount = fracs[i % len(fracs)] * aum
            if -amount < aum and abs(amount) > 1e-6:
                before = unit_price(aum, units)
                du = flow_units(amount, Pricing(aum, units))
                aum, units = aum + amount, units + du
                total_flow_units += du
                assert abs(unit_price(aum, units) / before - 1) < 1e-9
        aum *= 1 + r
        prices.append(unit_price(aum, units))
    return prices, units, total_flow_units


@settings(max_examples=200, deadline=None)
@given(aum0=st.floats(min_value=1_000, max_value=1e9), rets=returns, fracs=flow_fracs)
@example(aum0=1000.0, rets=[0.0, 0.0], fracs=[-0.23588830945540712, 0.03125])   # TWR -1.1e-12 from nano-unit rounding
def test_flows_do_not_change_the_unit_price_path_twr_or_drawdown(aum0, rets, fracs):
    without, _, _ = simulate(aum0, rets, None)
    with_flows, units, flow_sum = simulate(aum0, rets, fracs)
    assert units == flow_sum                                   # exact: Decimal nano-units
    for a, b in zip(without, with_flows, strict=True):
        assert math.isclose(a, b, rel_tol=1e-9)
    points_a = [(1_764_547_200 + 86_400 * i, p) for i, p in enumerate(without)]
    points_b = [(1_764_547_200 + 86_400 * i, p) for i, p in enumerate(with_flows)]
    pa, pb = compute_performance(points_a, 1.0), compute_performance(points_b, 1.0)
    assert math.isclose(pa.max_dd_unit_pct, pb.max_dd_unit_pct, abs_tol=1e-9)
    # units are rounded to 1e-9 (nano-units): a flow moves the unit price by up to ~1e-12 of itself, so
    # TWR agrees to the same 1e-9 as the prices above, not to 1e-12 (a quiet fund's TWR is 0 exactly)
    assert math.isclose(pa.twr_itd, pb.twr_itd, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(max_drawdown(without), max_drawdown(with_flows), abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(aum=st.floats(min_value=1.0, max_value=1e10), units=st.decimals(min_value=1, max_value=10**9, places=9),
       amount=st.floats(min_value=0.01, max_value=1e9))
def test_a_subscription_moves_the_unit_price_less_than_1e_9(aum, units, amount):
    before = unit_price(aum, units)
    du = flow_units(amount, Pricing(aum, units))
    assert abs(unit_price(aum + amount, units + du) / before - 1) < 1e-9


def test_inception_units_are_aum_over_the_inception_price():
    assert inception_units(103_629.55, 1.0) == Decimal("103629.550000000")
    assert inception_units(1000.0, 10.0) == Decimal("100.000000000")


@pytest.mark.parametrize(("amount", "why"), [(float("nan"), "finite"), (0.0, "nothing to record")])
def test_bad_flow_amounts_are_refused(amount, why):
    with pytest.raises(FlowRefused, match=why):
        flow_units(amount, Pricing(1000.0, Decimal(1000)))


def test_a_redemption_larger_than_the_fund_is_refused():
    with pytest.raises(FlowRefused, match="larger than the fund"):
        flow_units(-1500.0, Pricing(1000.0, Decimal(1000)))


@pytest.mark.parametrize("raw", ["abc", "-5", "0", "inf", ""])
def test_operator_amounts_must_be_positive_numbers(raw):
    with pytest.raises(FlowRefused, match="amount"):
        parse_amount(raw)


def test_operator_amounts_accept_separators():
    assert parse_amount("1,000.50") == 1000.5
