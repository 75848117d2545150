"""marketsim's simulated accounts: Binance's margin maths per margin mode, /account agreeing with
/positionRisk, and every wallet moving exactly by its income records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.marketsim import binance
from services.marketsim.account import (
    AccountState, Position, book_fill, maintenance_margin, value_account,
)
from services.marketsim.specs import DATED, DEFAULT_ACCOUNTS, AccountSpec
from shared.contracts.fills import Fill

MARKS = {"BTCUSDT": 97_000.0, "ETHUSDT": 3_500.0, "SOLUSDT": 180.0, "XAUTUSDT": 2_650.0, "USDCUSDT": 1.0,
         "BTCUSDC": 97_010.0, DATED.symbol: 97_400.0}
USD = {"USDC": 0.9998, "BTC": 97_000.0}
MAIN, SUB1 = DEFAULT_ACCOUNTS


def no_faults(_asset: str) -> frozenset[str]:
    return frozenset()


def test_default_account_values_like_binance():
    view = value_account(AccountState.from_spec(AccountSpec(), 0), MARKS, USD)
    by = {r.position.market: r for r in view.positions}
    assert by["BTCUSDT"].upnl == pytest.approx(0.5 * (97_000 - 95_000))        # long gains when mark > entry
    assert by["ETHUSDT"].upnl == pytest.approx(-4 * (3_500 - 3_600))           # short gains when mark < entry
    assert by["SOLUSDT"].upnl == pytest.approx(100 * (180 - 175))
    assert by["ETHUSDT"].notional == pytest.approx(-14_000)                     # signed, like Binance
    # Single-asset mode: the totals count USDT only; USDC and its BTCUSDC uPnL are only in assets[]
    assert view.upnl == pytest.approx(1_000 + 400 + 500)
    assert view.margin_balance == pytest.approx(100_000 + 1_900)
    assert view.initial_margin == pytest.approx((48_500 + 14_000 + 18_000) / 10)
    assert view.available == pytest.approx(view.margin_balance - view.initial_margin)
    usdc = view.asset("USDC")
    assert (usdc.wallet, usdc.upnl) == (5_000.0, pytest.approx(0.1 * (97_010 - 96_000)))
    assert view.asset("BNFCR").wallet == 0.0


def test_multi_assets_totals_are_usd_across_assets_and_hedge_legs_are_separate():
    view = value_account(AccountState.from_spec(SUB1, 0), MARKS, USD)
    legs = [(r.position.side, r.position.amount, r.upnl) for r in view.positions if r.position.market == "ETHUSDT"]
    assert legs == [("LONG", 3.0, pytest.approx(3 * (3_500 - 3_400))),
                    ("SHORT", -1.5, pytest.approx(-1.5 * (3_500 - 3_550)))]
    upnl = sum(r.upnl for r in view.positions)
    assert view.wallet == pytest.approx(25_000 + 15_000 * 0.9998)
    assert view.margin_balance == pytest.approx(25_000 + 15_000 * 0.9998 + upnl)
    acct = binance.account(view, 0, no_faults, v2=True)
    assert acct["multiAssetsMargin"] is True
    assert float(acct["totalWalletBalance"]) == pytest.approx(sum(
        float(a["walletBalance"]) * (1 if a["asset"] == "USDT" else USD[a["asset"]]) for a in acct["assets"]))
    assert {p["positionSide"] for p in binance.position_risk(view, 0, no_faults)} == {"LONG", "SHORT"}
    assert binance.position_mode(view) == {"dualSidePosition": True}


def test_single_asset_account_payload_counts_usdt_only_in_its_totals():
    view = value_account(AccountState.from_spec(MAIN, 0), MARKS, USD)
    acct = binance.account(view, 0, no_faults)
    assets = {a["asset"]: a for a in acct["assets"]}
    assert acct["totalWalletBalance"] == assets["USDT"]["walletBalance"]
    assert acct["totalUnrealizedProfit"] == assets["USDT"]["unrealizedProfit"]
    assert float(assets["USDC"]["walletBalance"]) == 5_000
    assert assets["BNFCR"]["updateTime"] == 0                     # never used: Binance says 0
    risk = {p["symbol"]: p for p in binance.position_risk(view, 0, no_faults)}
    assert risk["BTCUSDC"]["marginAsset"] == "USDC" and risk["BTCUSDT"]["positionSide"] == "BOTH"
    assert float(assets["USDC"]["unrealizedProfit"]) == pytest.approx(float(risk["BTCUSDC"]["unRealizedProfit"]))


def test_maintenance_margin_uses_the_bracket_and_its_cum():
    assert maintenance_margin("BTCUSDT", 40_000) == pytest.approx(40_000 * 0.004)
    # second bracket: 0.5 % minus cum (50 000 × 0.1 %) — continuous at the bracket floor
    assert maintenance_margin("BTCUSDT", 50_000) == pytest.approx(50_000 * 0.004)
    assert maintenance_margin("BTCUSDT", 100_000) == pytest.approx(100_000 * 0.005 - 50)


positions = st.lists(st.tuples(
    st.sampled_from(sorted(MARKS)),
    st.floats(-50, 50, allow_nan=False).filter(lambda a: abs(a) > 1e-6),
    st.floats(0.5, 120_000, allow_nan=False)), min_size=0, max_size=5, unique_by=lambda t: t[0])


@given(wallet=st.floats(0, 1e7, allow_nan=False), rows=positions,
       marks=st.fixed_dictionaries({m: st.floats(0.01, 200_000, allow_nan=False) for m in MARKS}))
def test_margin_balance_is_wallet_plus_upnl(wallet, rows, marks):
    state = AccountState(wallets={"USDT": wallet}, positions=tuple(Position(m, a, e, 10) for m, a, e in rows))
    view = value_account(state, marks)
    expected_upnl = sum(a * (marks[m] - e) for m, a, e in rows if m != "BTCUSDC")   # USDC-margined: not in totals
    assert math.isclose(view.upnl, expected_upnl, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(view.margin_balance, wallet + expected_upnl, rel_tol=1e-9, abs_tol=1e-6)
    assert view.available >= 0
    for row in view.positions:
        assert row.liquidation_price >= 0 and row.maint_margin >= 0


def test_account_and_position_risk_payloads_agree():
    view = value_account(AccountState.from_spec(AccountSpec(), 1_700_000_000_000), MARKS)
    acct = binance.account(view, 1_700_000_000_000, no_faults)
    risk = binance.position_risk(view, 1_700_000_000_000, no_faults)
    usdt = next(a for a in acct["assets"] if a["asset"] == "USDT")
    upnl = sum(float(p["unRealizedProfit"]) for p in risk if p["marginAsset"] == "USDT")
    assert float(acct["totalUnrealizedProfit"]) == pytest.approx(upnl)
    assert float(acct["totalMarginBalance"]) == pytest.approx(float(acct["totalWalletBalance"]) + upnl)
    assert usdt["marginBalance"] == acct["totalMarginBalance"]
    assert [p["symbol"] for p in acct["positions"]] == [p["symbol"] for p in risk]
    assert [p["notional"] for p in acct["positions"]] == [p["notional"] for p in risk]
    assert {p["symbol"]: float(p["positionAmt"]) for p in risk} == {"BTCUSDT": 0.5, "ETHUSDT": -4.0, "SOLUSDT": 100.0,
                                                                     "BTCUSDC": 0.1}


def test_account_faults_zero_mark_and_stale_update_time():
    now_ms = 1_700_000_000_000
    view = value_account(AccountState.from_spec(AccountSpec(), now_ms), MARKS)
    risk = binance.position_risk(view, now_ms, lambda a: {"zero", "stale"} if a == "BTC" else set())
    by = {p["symbol"]: p for p in risk}
    assert float(by["BTCUSDT"]["markPrice"]) == 0.0 and float(by["ETHUSDT"]["markPrice"]) == 3_500.0
    assert by["BTCUSDT"]["updateTime"] <= now_ms - 120_000 < by["ETHUSDT"]["updateTime"] + 1


def test_fills_flow_into_the_wallet():
    state = AccountState.from_spec(AccountSpec(), 0)
    fill = Fill(id="f1", sym="BTCUSDT", side="SELL", qty=0.01, px=97_000.0, fee_usd=0.485, liquidity="taker",
                fallback=True, realized_pnl_usd=-12.5, slippage_bps=2.0, ts=1_700_000_000.5)
    after = book_fill(state, fill)
    assert after.wallet == pytest.approx(100_000 - 12.5 - 0.485)
    assert after.wallets["USDC"] == state.wallets["USDC"]
    assert (after.fills, after.fees, after.realized_pnl) == (1, 0.485, -12.5)
    assert after.positions == state.positions
    assert after.update_ms == 1_700_000_000_500
    before_view, after_view = value_account(state, MARKS), value_account(after, MARKS)
    assert after_view.margin_balance - before_view.margin_balance == pytest.approx(-12.985)


def test_extra_accounts_are_named_and_keyed_after_main_and_sub1():
    from services.marketsim.specs import DEFAULT_ACCOUNTS, extra_accounts
    from services.marketsim.state import SimState

    extra = extra_accounts(3)
    assert [(a.name, a.api_key) for a in extra] == [("acct02", "sim-key-acct02"), ("acct03", "sim-key-acct03"),
                                                     ("acct04", "sim-key-acct04")]
    sim = SimState(seed=1, accounts=DEFAULT_ACCOUNTS + extra)
    assert sim.account_names == ("main", "sub1", "acct02", "acct03", "acct04")
    assert extra_accounts(0) == ()
