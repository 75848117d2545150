"""Drawdown of nav_total from its peak, hand-computed; the peak survives a restart via the state hash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.publisher.kpis.drawdown import DrawdownThresholds, compute_drawdown, drawdown_state
from shared.contracts.kpi_state import KpiState, decode_kpi_state, encode_kpi_state

T = DrawdownThresholds(warning=0.05, critical=0.10)


def test_first_nav_is_the_peak():
    dd = compute_drawdown(100_000.0, None, T)
    assert (dd.peak_nav, dd.dd_pct, dd.dd_state) == (100_000.0, 0.0, "normal")


def test_nav_at_a_new_peak_moves_the_peak_and_has_no_drawdown():
    dd = compute_drawdown(120_000.0, 110_000.0, T)
    assert (dd.peak_nav, dd.dd_pct, dd.dd_state) == (120_000.0, 0.0, "normal")


@pytest.mark.parametrize("nav, dd_pct, state", [
    (96_000.0, 0.04, "normal"),
    (95_000.0, 0.05, "warning"),     # 5 % is warning (normal < 5 % <= warning)
    (90_500.0, 0.095, "warning"),
    (90_000.0, 0.10, "critical"),    # 10 % is critical
    (50_000.0, 0.50, "critical"),
])
def test_drawdown_below_the_peak(nav, dd_pct, state):
    dd = compute_drawdown(nav, 100_000.0, T)
    assert dd.peak_nav == 100_000.0
    assert dd.dd_pct == pytest.approx(dd_pct, abs=1e-12)
    assert dd.dd_state == state


def test_unknown_nav_keeps_the_peak_and_gives_null():
    dd = compute_drawdown(None, 100_000.0, T)
    assert (dd.peak_nav, dd.dd_pct, dd.dd_state) == (100_000.0, None, None)
    dd = compute_drawdown(None, None, T)
    assert (dd.peak_nav, dd.dd_pct, dd.dd_state) == (None, None, None)


def test_non_positive_peak_gives_null_not_a_division():
    assert compute_drawdown(0.0, None, T).dd_pct is None
    assert compute_drawdown(-50.0, -10.0, T).dd_pct is None


def test_negative_nav_below_a_positive_peak_is_a_full_drawdown():
    dd = compute_drawdown(-5_000.0, 100_000.0, T)
    assert (dd.dd_pct, dd.dd_state) == (1.0, "critical")


def test_configured_thresholds_are_used():
    strict = DrawdownThresholds(warning=0.01, critical=0.02)
    assert drawdown_state(0.009, strict) == "normal"
    assert drawdown_state(0.01, strict) == "warning"
    assert drawdown_state(0.02, strict) == "critical"


def test_restart_between_peak_and_trough_keeps_the_peak():
    # Before the restart: NAV reaches its peak; the state goes to Redis as hash fields.
    before = compute_drawdown(110_000.0, 100_000.0, T)
    stored = encode_kpi_state(KpiState(peak_nav=before.peak_nav, peak_ts=1.0))
    # After the restart: the state comes back from the hash (bytes, as redis-py returns it).
    state, problems = decode_kpi_state({k.encode(): v.encode() for k, v in stored.items()})
    assert problems == []
    after = compute_drawdown(99_000.0, state.peak_nav, T)
    assert after.peak_nav == 110_000.0
    assert after.dd_pct == pytest.approx(0.1) and after.dd_state == "critical"


@given(navs=st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False)), min_size=1, max_size=50))
def test_invariants_over_any_nav_path(navs):
    peak = None
    for nav in navs:
        dd = compute_drawdown(nav, peak, T)
        if peak is not None:
            assert dd.peak_nav >= peak                     # the peak never falls
        if nav is not None:
            assert dd.peak_nav >= nav
        if dd.dd_pct is not None:
            assert 0.0 <= dd.dd_pct <= 1.0
            assert dd.dd_state in ("normal", "warning", "critical")
        else:
            assert dd.dd_state is None
        peak = dd.peak_nav


# --- transfers (the ledger's Σ TRANSFER USD) shift the peak: a withdrawal is not a loss ------------

from services.publisher.kpis.drawdown import shift_peak_for_transfers  # noqa: E402


def test_a_withdrawal_moves_the_peak_with_it_so_drawdown_does_not_move():
    peak = shift_peak_for_transfers(100_000.0, seen=0.0, total=-50_000.0)
    dd = compute_drawdown(49_000.0, peak, T)
    assert peak == 50_000.0 and dd.dd_pct == pytest.approx(0.02) and dd.dd_state == "normal"


def test_unknown_totals_leave_the_peak_and_a_total_never_seen_counts_from_zero():
    assert shift_peak_for_transfers(100_000.0, -5_000.0, None) == 100_000.0
    assert shift_peak_for_transfers(None, 0.0, -5_000.0) is None
    assert shift_peak_for_transfers(100_000.0, None, -5_000.0) == 95_000.0


def test_transfers_seen_survives_the_state_hash():
    state = KpiState(100.0, 1.0, None, {}, -2_500.5)
    assert decode_kpi_state(encode_kpi_state(state))[0].transfers_seen == -2_500.5
