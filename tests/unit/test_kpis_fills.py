"""Fees vs realised PnL and router quality over a window of fills, hand-computed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.fills import Fill
from shared.errors import ContractError
from services.publisher.kpis.fee_pnl import compute_fee_pnl, fee_pnl_of
from services.publisher.kpis.router import RouterThresholds, compute_router_stats, router_quality, router_stats_of
from services.publisher.kpis.window import ExactSum, FillTotals, entry_ms, window_start_ms

R = RouterThresholds(good_maker=0.6, good_fallback=0.2, fair_maker=0.4, fair_fallback=0.4)
DAY = 86_400.0


def fill(i: int = 0, *, fee: float = 1.0, pnl: float = 0.0, maker: bool = True, fallback: bool = False,
         slippage: float = 0.0) -> Fill:
    return Fill(id=f"f{i}", sym="BTCUSDT", side="BUY", qty=0.01, px=97_000.0, fee_usd=fee,
                liquidity="maker" if maker else "taker", fallback=fallback, realized_pnl_usd=pnl,
                slippage_bps=slippage, ts=1.0)


# --- fees vs PnL ----------------------------------------------------------------------

def test_no_fills_gives_null_ratio_and_zero_sums():
    fp = compute_fee_pnl([], DAY)
    assert (fp.fee_pnl_ratio, fp.fees_usd, fp.realized_pnl_usd, fp.window_s) == (None, 0.0, 0.0, DAY)


def test_zero_realised_pnl_gives_null_ratio():
    fp = compute_fee_pnl([fill(fee=1.0, pnl=5.0), fill(fee=2.0, pnl=-5.0)], DAY)
    assert fp.fee_pnl_ratio is None and fp.fees_usd == 3.0 and fp.realized_pnl_usd == 0.0


def test_ratio_is_fees_over_absolute_realised_pnl():
    fp = compute_fee_pnl([fill(fee=1.5, pnl=10.0), fill(fee=2.5, pnl=-30.0)], DAY)
    assert fp.fees_usd == 4.0 and fp.realized_pnl_usd == -20.0
    assert fp.fee_pnl_ratio == pytest.approx(0.2)


def test_net_rebates_cost_nothing():
    fp = compute_fee_pnl([fill(fee=-1.0, pnl=10.0)], DAY)
    assert fp.fee_pnl_ratio == 0.0 and fp.fees_usd == -1.0


def test_ratio_that_would_overflow_is_null_not_infinite():
    fp = compute_fee_pnl([fill(fee=1e308, pnl=1e-300)], DAY)
    assert fp.fee_pnl_ratio is None


# --- router ---------------------------------------------------------------------------

def test_no_fills_gives_null_router_kpis():
    rs = compute_router_stats([], DAY, R)
    assert (rs.fills, rs.maker_fill_ratio, rs.fallback_ratio, rs.avg_slippage_bps, rs.router_quality) == \
        (0, None, None, None, None)


def test_router_ratios_and_slippage_by_hand():
    fills = ([fill(i, maker=True, slippage=0.5) for i in range(6)]
             + [fill(10 + i, maker=False, fallback=True, slippage=3.0) for i in range(2)]
             + [fill(20 + i, maker=False, slippage=2.0) for i in range(2)])
    rs = compute_router_stats(fills, DAY, R)
    assert (rs.fills, rs.maker_fills, rs.fallback_fills) == (10, 6, 2)
    assert rs.maker_fill_ratio == 0.6 and rs.fallback_ratio == 0.2
    assert rs.avg_slippage_bps == pytest.approx((6 * 0.5 + 2 * 3.0 + 2 * 2.0) / 10)
    assert rs.router_quality == "good"     # exactly on the good thresholds
    assert rs.as_dict()["window_s"] == DAY


@pytest.mark.parametrize("maker, fallback, quality", [
    (0.9, 0.1, "good"), (0.6, 0.2, "good"), (0.59, 0.1, "fair"), (0.9, 0.21, "fair"),
    (0.4, 0.4, "fair"), (0.39, 0.0, "poor"), (0.9, 0.41, "poor"),
])
def test_router_quality_thresholds(maker, fallback, quality):
    assert router_quality(maker, fallback, R) == quality


# --- window ---------------------------------------------------------------------------

def test_entry_ids_are_millisecond_times():
    assert entry_ms(b"1763726400125-3") == 1_763_726_400_125
    assert entry_ms("5-0") == 5
    with pytest.raises(ContractError):
        entry_ms(b"abc-0")


def test_window_start():
    assert window_start_ms(1_000.0, 100.0) == 900_000


# --- running totals -------------------------------------------------------------------

_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e200, max_value=1e200)


@given(st.lists(_floats, max_size=40), st.data())
def test_exact_sum_equals_fsum_of_the_terms_still_in_it(terms, data):
    total = ExactSum()
    for x in terms:
        total.add(x)
    assert total.value == math.fsum(terms)
    gone = data.draw(st.integers(0, len(terms)))
    for x in terms[:gone]:
        total.remove(x)
    assert total.value == math.fsum(terms[gone:])      # no drift, however much came and went


def test_exact_sum_of_nothing_left_is_exactly_zero():
    total = ExactSum()
    for x in (0.1, 0.2, 1e16, -3.3):
        total.add(x)
    for x in (1e16, 0.2, -3.3, 0.1):
        total.remove(x)
    assert total.value == 0.0


def test_kpis_from_running_totals_match_a_fresh_count():
    fills = [fill(i, fee=0.1 * i, pnl=(-1) ** i * 3.7, maker=i % 3 != 0, fallback=i % 5 == 0,
                  slippage=0.01 * i) for i in range(30)]
    totals = FillTotals.of(fills)
    for f in fills[:12]:
        totals.remove(f)
    assert compute_fee_pnl(fills[12:], DAY) == fee_pnl_of(totals, DAY)
    assert compute_router_stats(fills[12:], DAY, R) == router_stats_of(totals, DAY, R)
    direct = fills[12:]
    assert fee_pnl_of(totals, DAY).fees_usd == math.fsum(f.fee_usd for f in direct)
    assert router_stats_of(totals, DAY, R).maker_fills == sum(f.liquidity == "maker" for f in direct)
