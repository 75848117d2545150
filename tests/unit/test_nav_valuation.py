"""The pure valuation core: invariants (Hypothesis) and the paths a user sees."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.nav.model import AccountPosition, AccountSnapshot, AccountState, Limits, ManualNav, limits_for
from services.nav.valuation import (aum_log_line, build_nav_snapshot, finite_or_none, offexchange_total_usd,
                                    value_holding, value_offexchange)
from shared.contracts.nav import validate_nav_document
from shared.contracts.prices import PriceObservation
from shared.contracts.vocabulary import PRICE_SOURCES as SOURCES
from shared.holdings import Holding
from tests.nav_schema import nav_validator


VALIDATOR = nav_validator()

NOW = 1_763_726_400.0
LIMITS = limits_for(price_interval_s=1.0, account_interval_s=5.0, source_timeout_s=2.0,
                    spot_cache_ttl_s=60.0, coingecko_ttl_s=30.0)


def holding(sym: str, qty: float, avg_cost: float | None = None) -> Holding:
    return Holding(sym, qty, avg_cost, f"{sym}USDT")


def price(sym: str, px: float, src: str = "mark", age: float = 0.4) -> PriceObservation:
    return PriceObservation(sym, px, src, NOW - age)


def live_account(wallet: float = 99234.5, positions=(), age: float = 0.8) -> AccountState:
    return AccountState(AccountSnapshot(NOW - age, wallet, None, tuple(positions)), None, 1)


def build(**kw) -> dict:
    kw.setdefault("account", live_account())
    kw.setdefault("prices", {})
    kw.setdefault("holdings", {})
    kw.setdefault("now", NOW)
    kw.setdefault("seq", 7)
    kw.setdefault("limits", LIMITS)
    return build_nav_snapshot(**kw)


def assert_all_finite(value, path="doc") -> None:
    if isinstance(value, float):
        assert math.isfinite(value), f"{path} is {value!r}"
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_all_finite(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_all_finite(v, f"{path}[{i}]")


def assert_valid(doc: dict) -> None:
    assert_all_finite(doc)
    orjson.loads(orjson.dumps(doc))
    errors = sorted(VALIDATOR.iter_errors(doc), key=str)
    assert not errors, [e.message for e in errors]
    validate_nav_document(doc)


# --- the design document's example ---------------------------------------------------


def test_design_example_numbers():
    pos = AccountPosition("BTCUSDT", "LONG", 0.5, 95000.0, 96000.0, 500.0)
    account = live_account(wallet=99234.5, positions=[pos])
    prices = {"BTCUSDT": price("BTCUSDT", 97000.1, age=0.2), "BTC": price("BTC", 97000.1),
              "USDZAR": price("USDZAR", 18.21, "coingecko")}
    doc = build(account=account, prices=prices, holdings={"BTC": holding("BTC", 0.035, 61000.0)},
                fx_pairs=["USDZAR"])
    assert_valid(doc)
    assert doc["schema"] == "nav.v7" and doc["seq"] == 7 and doc["ts"] == NOW
    assert doc["source"] == "live" and doc["nav_age_s"] == pytest.approx(0.8)
    assert doc["positions"] == [{"symbol": "BTCUSDT", "side": "LONG", "qty": 0.5, "entry_price": 95000.0,
                                 "mark_price": 97000.1, "upnl": pytest.approx(1000.05),
                                 "notional": pytest.approx(48500.05), "account": "main", "margin_asset": "USDT"}]
    assert doc["nav_total"] == pytest.approx(100234.55)
    btc = doc["aum"]["offexchange"]["BTC"]
    assert btc == {"qty": 0.035, "avg_cost": 61000.0, "mark": 97000.1, "usd_value": pytest.approx(3395.0035),
                   "source": "mark", "price_age_s": pytest.approx(0.4)}
    assert doc["aum"]["futures"] == doc["nav_total"]
    assert doc["aum"]["total"] == pytest.approx(100234.55 + 3395.0035)
    assert doc["fx"] == {"USDZAR": 18.21}
    assert doc["status"] == {"degraded": False, "reasons": []}


def test_short_position_upnl_follows_latest_stream_mark():
    pos = AccountPosition("ETHUSDT", "SHORT", 2.0, 3000.0, 3010.0, -20.0)
    account = live_account(wallet=1000.0, positions=[pos], age=0.5)
    before = build(account=account)
    assert before["nav_total"] == pytest.approx(1000.0 - 20.0)
    after = build(account=account, prices={"ETHUSDT": price("ETHUSDT", 2900.0, age=0.1)})
    assert after["positions"][0]["upnl"] == pytest.approx(200.0)
    assert after["positions"][0]["notional"] == pytest.approx(5800.0)
    assert after["nav_total"] == pytest.approx(1200.0)


def test_a_stream_mark_older_than_the_poll_does_not_override_the_exchange_mark():
    pos = AccountPosition("BTCUSDT", "LONG", 1.0, 100.0, 110.0, 10.0)
    doc = build(account=live_account(1000.0, [pos], age=0.5),
                prices={"BTCUSDT": price("BTCUSDT", 500.0, age=3.0)})
    assert doc["positions"][0]["mark_price"] == 110.0
    assert doc["nav_total"] == pytest.approx(1010.0)


# --- paths --------------------------------------------------------------------------


def test_startup_has_the_aum_keys_with_nulls():
    doc = build(account=AccountState(None, "fetch_balance: unreachable (ExchangeNotAvailable)", 1),
                holdings={"BTC": holding("BTC", 1.0)}, prices={"BTC": price("BTC", 50000.0)})
    assert_valid(doc)
    assert doc["source"] == "startup"
    assert doc["nav_total"] is None and doc["nav_age_s"] is None
    assert doc["aum"]["futures"] is None and doc["aum"]["total"] is None
    assert doc["aum"]["offexchange"]["BTC"]["usd_value"] == 50000.0
    assert doc["positions"] == []
    assert doc["status"]["degraded"]
    assert any("no account data yet" in r for r in doc["status"]["reasons"])
    assert any("unreachable" in r for r in doc["status"]["reasons"])


def test_cache_path_after_a_failed_poll():
    last_good = AccountSnapshot(NOW - 42.0, 5000.0, 5000.0, ())
    doc = build(account=AccountState(last_good, "fetch_balance: unreachable (HTTP 503)", 9))
    assert_valid(doc)
    assert doc["source"] == "cache" and doc["nav_total"] == 5000.0 and doc["nav_age_s"] == pytest.approx(42.0)
    assert doc["aum"]["futures"] == 5000.0 and doc["aum"]["total"] == 5000.0
    assert doc["status"]["degraded"]
    assert any("HTTP 503" in r and "last good" in r for r in doc["status"]["reasons"])


def test_account_data_that_stopped_arriving_is_cache_even_without_an_error():
    doc = build(account=live_account(wallet=10.0, age=LIMITS.account_stale_after_s + 1))
    assert doc["source"] == "cache" and doc["status"]["degraded"]


def test_manual_path_uses_the_operator_value_and_its_age():
    manual = ManualNav(123456.0, NOW - 30.0, "exchange maintenance")
    doc = build(manual=manual, holdings={"USDC": holding("USDC", 100.0)},
                prices={"USDC": price("USDC", 1.0, "coingecko")})
    assert_valid(doc)
    assert doc["source"] == "manual"
    assert doc["nav_total"] == 123456.0 and doc["nav_age_s"] == pytest.approx(30.0)
    assert doc["aum"] == {"futures": 123456.0, "total": 123556.0, "offexchange": doc["aum"]["offexchange"]}
    assert any("exchange maintenance" in r for r in doc["status"]["reasons"])


def test_manual_without_any_account_data_still_has_positions_list():
    doc = build(account=AccountState(), manual=ManualNav(1.0, NOW, ""))
    assert_valid(doc)
    assert doc["positions"] == [] and doc["source"] == "manual"


# --- holdings -----------------------------------------------------------------------


def test_unpriced_holding_is_null_with_source_none_and_named():
    doc = build(holdings={"XAUT": holding("XAUT", 0.59, 2350.0), "BTC": holding("BTC", 1.0)},
                prices={"BTC": price("BTC", 100.0)})
    assert_valid(doc)
    assert doc["aum"]["offexchange"]["XAUT"] == {"qty": 0.59, "avg_cost": 2350.0, "mark": None,
                                                 "usd_value": None, "source": "none", "price_age_s": None}
    assert doc["aum"]["total"] == doc["nav_total"] + 100.0
    assert doc["status"]["degraded"]
    assert any(r.startswith("XAUT:") for r in doc["status"]["reasons"])


def test_stale_price_is_used_but_flagged():
    doc = build(holdings={"BTC": holding("BTC", 2.0)}, prices={"BTC": price("BTC", 10.0, "mark", age=60.0)})
    btc = doc["aum"]["offexchange"]["BTC"]
    assert btc["usd_value"] == 20.0 and btc["price_age_s"] == pytest.approx(60.0)
    assert doc["status"]["degraded"]
    assert any("BTC" in r and "60.0 s old" in r for r in doc["status"]["reasons"])


def test_cached_coingecko_price_within_its_ttl_is_not_stale():
    doc = build(holdings={"BTC": holding("BTC", 2.0)}, prices={"BTC": price("BTC", 10.0, "coingecko", age=25.0)})
    assert doc["status"] == {"degraded": False, "reasons": []}


def test_avg_cost_tier_is_flagged_as_a_fallback():
    doc = build(holdings={"XAUT": holding("XAUT", 1.0, 2350.0)},
                prices={"XAUT": price("XAUT", 2350.0, "avg_cost", age=86400.0)})
    assert doc["aum"]["offexchange"]["XAUT"]["source"] == "avg_cost"
    assert doc["aum"]["offexchange"]["XAUT"]["usd_value"] == 2350.0
    assert [r for r in doc["status"]["reasons"] if "XAUT" in r] == [
        "XAUT: no market price; valued at avg_cost 2350 from the holdings file"]


def test_huge_quantities_stay_finite_or_become_unknown_with_a_reason():
    doc = build(holdings={"BTC": holding("BTC", 1e15)}, prices={"BTC": price("BTC", 1e300)},
                account=live_account(positions=[AccountPosition("BTCUSDT", "LONG", 1e12, 1.0, 1e300, None)]))
    assert_valid(doc)
    assert doc["aum"]["offexchange"]["BTC"]["usd_value"] is None
    assert doc["positions"][0]["upnl"] is None
    assert doc["nav_total"] is None  # unknown uPnL and no margin balance: unknown, never 0
    reasons = " | ".join(doc["status"]["reasons"])
    assert "BTC: qty" in reasons and "BTCUSDT" in reasons


def test_unknown_upnl_falls_back_to_the_margin_balance():
    pos = AccountPosition("BTCUSDT", "LONG", 1.0, 100.0, None, None)
    state = AccountState(AccountSnapshot(NOW - 1, 1000.0, 1005.0, (pos,)), None, 1)
    doc = build(account=state)
    assert doc["nav_total"] == 1005.0
    assert any("margin balance" in r for r in doc["status"]["reasons"])


def test_fx_missing_is_reported():
    doc = build(fx_pairs=["USDZAR"])
    assert doc["fx"] == {} and doc["status"]["reasons"] == ["fx USDZAR: no rate yet"]


def test_holdings_error_is_reported_and_last_good_holdings_used():
    err = "holdings file h.json: BTC.qty is 'abc', not a number; keeping the last good holdings"
    doc = build(holdings={"BTC": holding("BTC", 1.0)}, prices={"BTC": price("BTC", 5.0)}, holdings_error=err)
    assert doc["aum"]["offexchange"]["BTC"]["usd_value"] == 5.0
    assert doc["status"]["degraded"] and err in doc["status"]["reasons"]


def test_aum_log_line_format():
    doc = build(holdings={"XAUT": holding("XAUT", 1.0), "BTC": holding("BTC", 1.0), "USDC": holding("USDC", 1.0)},
                prices={"BTC": price("BTC", 3000.0), "XAUT": price("XAUT", 2637.115),
                        "USDC": price("USDC", 0.005)})
    assert aum_log_line(doc) == "[aum-v7] computed offexchange AUM: keys=['BTC', 'USDC', 'XAUT'] totals_usd=5637.12"


# --- properties ---------------------------------------------------------------------

ASSETS = ["BTC", "XAUT", "USDC", "ETH", "PAXG"]
MARKETS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
anyfloat = st.floats(allow_nan=True, allow_infinity=True)
money = st.floats(min_value=-1e9, max_value=1e12, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-9, max_value=1e300, allow_nan=False, allow_infinity=False)


@st.composite
def holdings_st(draw):
    syms = draw(st.lists(st.sampled_from(ASSETS), unique=True, max_size=5))
    return {s: Holding(s, draw(st.floats(min_value=0, max_value=1e15)),
                       draw(st.none() | st.floats(min_value=0, max_value=1e9)), f"{s}USDT") for s in syms}


@st.composite
def prices_st(draw, syms):
    out = {}
    for s in draw(st.lists(st.sampled_from(syms), unique=True)):
        px = draw(positive | anyfloat)
        ts = NOW - draw(st.floats(min_value=-5, max_value=1e6) | anyfloat)
        out[s] = PriceObservation(s, px, draw(st.sampled_from(SOURCES)), ts)
    return out


@st.composite
def account_st(draw):
    if draw(st.booleans()):
        return AccountState(None, draw(st.none() | st.just("fetch_balance: unreachable")), draw(st.integers(0, 9)))
    positions = tuple(
        AccountPosition(m, draw(st.sampled_from(["LONG", "SHORT"])), draw(st.floats(min_value=1e-8, max_value=1e12)),
                        draw(st.floats(min_value=0, max_value=1e7)), draw(st.none() | positive),
                        draw(st.none() | money))
        for m in draw(st.lists(st.sampled_from(MARKETS), unique=True, max_size=3)))
    snap = AccountSnapshot(NOW - draw(st.floats(min_value=0, max_value=1e5)), draw(money),
                           draw(st.none() | money), positions)
    return AccountState(snap, draw(st.none() | st.just("fetch_positions: timed out")), 3)


manual_st = st.none() | st.builds(ManualNav, st.floats(min_value=0, max_value=1e12),
                                  st.floats(min_value=NOW - 1e5, max_value=NOW), st.text(max_size=20))
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(account=account_st(), holdings=holdings_st(), prices=prices_st(ASSETS + MARKETS + ["USDZAR"]),
       manual=manual_st)
def test_every_snapshot_is_valid_finite_and_keeps_the_aum_invariants(account, holdings, prices, manual):
    doc = build(account=account, holdings=holdings, prices=prices, manual=manual, fx_pairs=["USDZAR"])
    assert_valid(doc)
    aum = doc["aum"]
    assert set(aum) == {"futures", "offexchange", "total"}
    assert aum["futures"] == doc["nav_total"]
    assert set(aum["offexchange"]) == set(holdings)
    reasons = doc["status"]["reasons"]
    assert doc["status"]["degraded"] == bool(reasons)
    for sym, h in aum["offexchange"].items():
        if h["usd_value"] is None:
            assert any(r.startswith(f"{sym}:") for r in reasons), (sym, reasons)
        if h["source"] == "none":
            assert h["mark"] is None and h["price_age_s"] is None and h["usd_value"] is None
    if doc["nav_total"] is None:
        assert aum["total"] is None and doc["nav_age_s"] is None
    elif aum["total"] is None:
        assert any("aum.total" in r for r in reasons)
    else:
        known = [h["usd_value"] for h in aum["offexchange"].values() if h["usd_value"] is not None]
        assert aum["total"] == doc["nav_total"] + sum(known)
        assert aum["total"] == doc["nav_total"] + offexchange_total_usd(aum["offexchange"])


@PROPS
@given(account=account_st(), manual=manual_st, market_prices=prices_st(MARKETS),
       holdings_a=holdings_st(), prices_a=prices_st(ASSETS), holdings_b=holdings_st(), prices_b=prices_st(ASSETS))
def test_nav_total_ignores_holdings_and_their_prices(account, manual, market_prices,
                                                     holdings_a, prices_a, holdings_b, prices_b):
    a = build(account=account, manual=manual, holdings=holdings_a, prices={**market_prices, **prices_a})
    b = build(account=account, manual=manual, holdings=holdings_b, prices={**market_prices, **prices_b})
    for key in ("nav_total", "nav_age_s", "source", "positions"):
        assert a[key] == b[key]
    assert a["aum"]["futures"] == b["aum"]["futures"]


def test_limits_default_when_a_source_is_unknown():
    assert Limits().stale_after("mark") == 10.0
    assert LIMITS.stale_after("avg_cost") is None
    assert limits_for(5.0, 5.0, 2.0, 60.0, 30.0).stale_after("mark") == 25.0


odd_number = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10**6) | st.booleans() | st.none()
odd_limits = st.sampled_from([LIMITS, Limits(), Limits(price_stale_after_s={"mark": None, "coingecko": 0.0}),
                              limits_for(0.1, 1.0, 1.0, 1.0, 1.0)])


@settings(max_examples=500, deadline=None)
@given(qtys=st.dictionaries(st.sampled_from(ASSETS), st.floats(min_value=0, max_value=1e15) | odd_number),
       prices=st.dictionaries(st.sampled_from(ASSETS), st.tuples(
           positive | odd_number, st.sampled_from(SOURCES + ("bogus",)),
           st.floats(-10, 0) | st.floats(0, 100) | st.floats(0, 1e6) | st.floats(allow_nan=True, allow_infinity=True))),
       limits=odd_limits, avg_cost=st.none() | st.floats(min_value=0, max_value=1e9) | odd_number)
@example(qtys={"BTC": 1.0}, prices={"BTC": (10.0, "mark", -5.0)}, limits=LIMITS, avg_cost=None)   # a future ts
@example(qtys={"BTC": 1.0}, prices={"BTC": (10.0, "mark", 10.0)}, limits=LIMITS, avg_cost=None)   # at the limit
@example(qtys={"BTC": 1.0}, prices={"BTC": (10.0, "mark", 10.5)}, limits=LIMITS, avg_cost=None)   # stale
@example(qtys={"BTC": True}, prices={"BTC": (10.0, "mark", 1.0)}, limits=LIMITS, avg_cost=None)   # not a number
@example(qtys={"BTC": 1e15}, prices={"BTC": (1e300, "mark", 1.0)}, limits=LIMITS, avg_cost=None)  # overflow
def test_the_inline_path_for_plain_holdings_matches_value_holding(qtys, prices, limits, avg_cost):
    """value_offexchange values plain holdings inline; entry for entry and reason for reason it must
    give what the full path (value_holding) gives, whatever odd value the inputs hold."""
    holdings = {s: Holding(s, q, avg_cost, f"{s}USDT") for s, q in qtys.items()}
    observed = {s: PriceObservation(s, px, src, NOW - age) for s, (px, src, age) in prices.items()}
    out, reasons = value_offexchange(holdings, observed, NOW, limits)
    expected, expected_reasons = {}, []
    for sym in sorted(holdings):
        qty = holdings[sym].qty
        if finite_or_none(qty) is None or qty < 0:
            expected_reasons.append(f"{sym}: qty {qty!r} is not a non-negative number; holding left out")
            continue
        expected[sym], why = value_holding(holdings[sym], observed.get(sym), NOW, limits)
        expected_reasons.extend(why)
    assert repr(out) == repr(expected)   # repr: the same types too (int vs float, -0.0 vs 0.0)
    assert reasons == expected_reasons
