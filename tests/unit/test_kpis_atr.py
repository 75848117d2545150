"""One-minute bars from marks, ATR(14) by hand, regimes and the notional-weighted portfolio regime."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import ContractError
from services.publisher.kpis.atr import AtrThresholds, atr_regime, market_atr, portfolio_regime, true_ranges
from services.publisher.kpis.bars import fold_marks, minute_of
from shared.contracts.bars import Bar, bar_from_json, bar_to_json, decode_bar, encode_bar

T = AtrThresholds(normal=0.0005, high=0.0015, extreme=0.004)
M = 1_763_726_400  # a minute boundary


# --- bars -----------------------------------------------------------------------------

def test_marks_in_one_minute_make_one_forming_bar():
    upd = fold_marks(None, None, [(M + 1, 100.0), (M + 20, 103.0), (M + 40, 98.0), (M + 59.9, 101.0)])
    assert upd.closed == ()
    assert upd.forming == Bar(M, 100.0, 103.0, 98.0, 101.0)


def test_a_later_minute_closes_the_forming_bar():
    upd = fold_marks(Bar(M, 100.0, 103.0, 98.0, 101.0), None, [(M + 60, 102.0), (M + 185, 99.0)])
    assert upd.closed == (Bar(M, 100.0, 103.0, 98.0, 101.0), Bar(M + 60, 102.0, 102.0, 102.0, 102.0))
    assert upd.forming == Bar(M + 180, 99.0, 99.0, 99.0, 99.0)   # minutes without marks make no bar


def test_marks_older_than_the_forming_bar_or_the_last_closed_bar_are_ignored():
    forming = Bar(M + 60, 100.0, 100.0, 100.0, 100.0)
    assert fold_marks(forming, M, [(M + 5, 50.0)]).forming == forming
    upd = fold_marks(None, M + 60, [(M + 30, 50.0), (M + 61, 70.0)])
    assert upd.forming is None and upd.closed == ()
    assert fold_marks(None, M + 60, [(M + 125, 70.0)]).forming == Bar(M + 120, 70.0, 70.0, 70.0, 70.0)


def test_minute_of():
    assert minute_of(M + 59.999) == M and minute_of(M + 60) == M + 60


def test_bar_wire_forms_round_trip_and_reject_garbage():
    bar = Bar(M, 100.5, 101.25, 99.75, 100.0)
    assert decode_bar({k.encode(): v.encode() for k, v in encode_bar(bar).items()}) == bar
    assert bar_from_json(bar_to_json(bar)) == bar
    with pytest.raises(ContractError):
        decode_bar({"t": "x", "o": "1", "h": "1", "l": "1", "c": "1"})
    with pytest.raises(ContractError):
        decode_bar({"t": "1", "o": "1", "h": "0.5", "l": "1", "c": "1"})   # high below open
    with pytest.raises(ContractError):
        decode_bar({"t": "1", "o": "nan", "h": "1", "l": "1", "c": "1"})
    with pytest.raises(ContractError):
        bar_from_json(b"{")


# --- ATR ------------------------------------------------------------------------------

BARS = [Bar(M, 100.0, 102.0, 99.0, 101.0),
        Bar(M + 60, 101.0, 105.0, 100.0, 104.0),    # TR = max(5, |105-101|, |100-101|) = 5
        Bar(M + 120, 104.0, 104.0, 98.0, 99.0),     # TR = max(6, |104-104|, |98-104|) = 6
        Bar(M + 180, 110.0, 111.0, 109.0, 110.0)]   # gap: TR = max(2, |111-99|, |109-99|) = 12


def test_true_ranges_by_hand():
    assert true_ranges(BARS) == [5.0, 6.0, 12.0]


def test_atr_is_the_average_true_range_over_the_last_close():
    a = market_atr(BARS, 14, T)
    assert a.atr == pytest.approx(23 / 3)
    assert a.atr_pct == pytest.approx(23 / 3 / 110.0)
    assert a.regime == "extreme" and a.bars == 4


def test_atr_uses_only_the_last_period_plus_one_bars():
    flat = [Bar(M + 60 * i, 100.0, 100.0, 100.0, 100.0) for i in range(20)]
    wild = [Bar(M - 60, 100.0, 200.0, 50.0, 100.0)]          # older than the window: no effect
    a = market_atr(wild + flat, 14, T)
    assert a.atr == 0.0 and a.bars == 15 and a.regime == "low"
    b = market_atr(BARS, 2, T)                                 # last 3 bars: TRs 6 and 12
    assert b.atr == pytest.approx(9.0) and b.bars == 3


@pytest.mark.parametrize("bars", [[], BARS[:1]])
def test_fewer_than_two_bars_is_null(bars):
    a = market_atr(bars, 14, T)
    assert (a.atr, a.atr_pct, a.regime, a.bars) == (None, None, None, len(bars))


def test_two_bars_give_one_true_range():
    a = market_atr(BARS[:2], 14, T)
    assert a.atr == 5.0 and a.atr_pct == pytest.approx(5 / 104)


@pytest.mark.parametrize("pct, regime", [(0.0, "low"), (0.000499, "low"), (0.0005, "normal"),
                                         (0.0015, "high"), (0.0039, "high"), (0.004, "extreme")])
def test_regime_boundaries(pct, regime):
    assert atr_regime(pct, T) == regime


def test_portfolio_regime_is_the_regime_of_the_notional_weighted_average():
    # (0.001 x 3000 + 0.005 x 1000) / 4000 = 0.002 -> high; unknowns are left out
    assert portfolio_regime([(0.001, 3000.0), (0.005, 1000.0), (None, 9e9), (0.1, None), (0.1, 0.0)], T) == "high"
    assert portfolio_regime([(0.001, 3000.0)], T) == "normal"


def test_portfolio_regime_is_null_without_usable_pairs():
    assert portfolio_regime([], T) is None
    assert portfolio_regime([(None, 100.0), (0.002, None)], T) is None


@given(st.lists(st.tuples(st.floats(1e-6, 1e6), st.floats(0, 0.2), st.floats(0, 0.2)), min_size=0, max_size=30))
def test_atr_is_finite_and_non_negative(raw):
    bars = [Bar(M + 60 * i, c, c * (1 + up), c / (1 + down), c) for i, (c, up, down) in enumerate(raw)]
    a = market_atr(bars, 14, T)
    if a.atr is None:
        assert len(bars) < 2
    else:
        assert math.isfinite(a.atr) and a.atr >= 0 and math.isfinite(a.atr_pct)
        assert a.regime in ("low", "normal", "high", "extreme")
