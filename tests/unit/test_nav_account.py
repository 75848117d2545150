"""Account adapter: recorded real Binance answers through the real ccxt client, the one ccxt->shared.errors
mapping, mode wiring, the poller.

Each recorded answer is served from a loopback HTTP server (tests/binance_replay.py); the
assertions are Binance's definitions: NAV = Σ assets (walletBalance + unrealizedProfit) × USD price.
"""

from __future__ import annotations

import re

import ccxt
import pytest

from services.nav.account import CcxtAccount, ccxt_errors, make_account_client, parse_account
from services.nav.model import AccountSnapshot, AccountState, AssetBalance, Limits
from services.nav.poller import AccountPoller
from services.nav.valuation import build_nav_snapshot
from shared.contracts.nav import validate_nav_document
from shared.contracts.prices import PriceObservation
from shared.errors import SourceBadData, SourceError, SourceRateLimited, SourceUnavailable
from shared.settings import Settings
from tests.binance_replay import BinanceReplay, fixture
from tests.nav_schema import nav_validator

VALIDATOR = nav_validator()
SINGLE = dict(fixture("accountConfig.json"), multiAssetsMargin=False)
MULTI = dict(fixture("accountConfig.json"), multiAssetsMargin=True)


def live(url: str) -> Settings:
    return Settings(mode="live", binance_futures_url=url, binance_api_key="k" * 16, binance_api_secret="s" * 16)


def read(account: object, risk: object, config: object = SINGLE) -> tuple[AccountSnapshot, list[str]]:
    """One poll of the real adapter against a loopback server answering with these bodies."""
    routes = {"/fapi/v3/account": account, "/fapi/v3/positionRisk": risk, "/fapi/v1/accountConfig": config}
    with BinanceReplay(routes) as sim:
        adapter = CcxtAccount(live(sim.url))
        try:
            return adapter.fetch(), sim.paths()
        finally:
            adapter.close()


def value(snap: AccountSnapshot, **usd: float) -> dict:
    prices = {asset: PriceObservation(asset, px, "coingecko", snap.ts) for asset, px in usd.items()}
    doc = build_nav_snapshot(account=AccountState(snap, None, 1), prices=prices, holdings={}, now=snap.ts + 0.5,
                             seq=1, limits=Limits())
    assert not list(VALIDATOR.iter_errors(doc)), [e.message for e in VALIDATOR.iter_errors(doc)]
    validate_nav_document(doc)
    return doc


# --- Binance's recorded answers: nav_total by Binance's definitions, to the cent ------------


def test_single_asset_example_is_the_sum_of_its_wallets_not_the_usdt_total():
    """Binance's documented single-asset answer: USDT 23.72469206 + USDC 103.12345678 = 126.85, while
    the `total*` fields (USDT only) say 103.12."""
    snap, paths = read(fixture("account_v3_single_asset.json"), [])
    assert snap.mode == "single_asset"
    doc = value(snap, USDC=1.0)
    assert round(doc["nav_total"], 2) == 126.85 == round(23.72469206 + 103.12345678, 2)
    assert round(doc["nav_total"], 2) != round(snap.wallet_balance, 2) == 103.12
    main = doc["accounts"]["main"]
    assert main["mode"] == "single_asset" and main["source"] == "live"
    assert main["assets"]["USDT"] == {"wallet": 23.72469206, "upnl": 0.0, "usd_price": 1.0, "price_src": "par",
                                      "usd_value": 23.72469206}
    assert main["assets"]["USDC"]["price_src"] == "coingecko" and main["assets"]["USDC"]["usd_value"] == 103.12345678
    # The example is not self-consistent (its totals are not its USDT row; its BTCUSDT position has no
    # positionRisk row): both are said, and neither changes the NAV.
    reasons = " | ".join(doc["status"]["reasons"])
    assert "totalWalletBalance 103.12345678" in reasons and "USDT row's 23.72469206" in reasons
    assert "BTCUSDT LONG is in the account answer but not in positionRisk" in reasons
    # Three raw calls, no market or leverage-bracket loads (ccxt's fetch_positions would add both).
    assert sorted(set(paths)) == ["/fapi/v1/accountConfig", "/fapi/v3/account", "/fapi/v3/positionRisk"]


def test_single_asset_usdc_is_valued_at_its_own_price():
    snap, _ = read(fixture("account_v3_single_asset.json"), [])
    doc = value(snap, USDC=0.9990)
    assert round(doc["nav_total"], 2) == round(23.72469206 + 103.12345678 * 0.999, 2) == 126.75


def test_multi_assets_example_sums_assets_and_agrees_with_the_usd_totals():
    snap, _ = read(fixture("account_v3_multi_assets.json"), [], MULTI)
    assert snap.mode == "multi_assets"
    doc = value(snap, BUSD=1.0)
    assert round(doc["nav_total"], 2) == 126.85 == round(23.72469206 + 103.12345678, 2)
    assert doc["accounts"]["main"]["mode"] == "multi_assets"
    assert not any("multi-assets" in r for r in doc["status"]["reasons"]), "126.85 vs 126.72: within tolerance"
    far = value(snap, BUSD=0.5)
    assert any("multi-assets totalMarginBalance 126.72 USD differs" in r for r in far["status"]["reasons"])


def test_hedge_mode_answer_has_both_legs_and_a_zero_leg_is_not_a_position():
    rows = fixture("positionRisk_v3_hedge.json")
    zero = dict(rows[0], positionSide="SHORT", positionAmt="0", unRealizedProfit="0")
    snap, _ = read(fixture("account_v3_multi_assets.json"), [*rows, zero], dict(MULTI, dualSidePosition=True))
    assert snap.hedge_mode
    assert [(p.symbol, p.side, p.qty, p.entry_price, p.upnl) for p in snap.positions] == [
        ("ADAUSDT", "LONG", 30.0, 0.385, 0.764277), ("COMPUSDT", "SHORT", 1.0, 70.92841, 21.20817624)]
    doc = value(snap, BUSD=1.0)
    assert [(p["symbol"], p["side"]) for p in doc["positions"]] == [("ADAUSDT", "LONG"), ("COMPUSDT", "SHORT")]
    short = doc["positions"][1]
    assert short["upnl"] == pytest.approx((70.92841 - 49.72023376) * 1.0) and short["margin_asset"] == "USDT"
    # the account answer's own positions (BTCUSDT) disagree with positionRisk: never silent
    reasons = " | ".join(doc["status"]["reasons"])
    assert "ADAUSDT LONG is in positionRisk but not in the account answer" in reasons
    assert "USDT: positions' uPnL 0.00000000 does not add up" not in reasons, "same answer, same uPnL"


def test_one_way_answer_side_comes_from_the_sign():
    snap, _ = read(fixture("account_v3_single_asset.json"), fixture("positionRisk_v3_one_way.json"))
    (pos,) = snap.positions
    assert (pos.symbol, pos.side, pos.qty, pos.mark_price, pos.margin_asset) == ("ADAUSDT", "LONG", 30.0,
                                                                                  0.4104759, "USDT")


def test_a_position_ccxt_drops_for_its_zero_entry_price_is_kept():
    row = dict(fixture("positionRisk_v3_one_way.json")[0], entryPrice="0.0")
    routes = {"/fapi/v3/positionRisk": [row], "/fapi/v1/exchangeInfo": {"symbols": []},
              "/fapi/v1/leverageBracket": []}
    with BinanceReplay(routes) as sim:
        ex = make_account_client(live(sim.url))
        ex.markets = {}   # no market list needed to show the drop
        assert ex.fetch_positions() == [], "ccxt's fetch_positions filters out entryPrice 0"
    snap, _ = read(fixture("account_v3_single_asset.json"), [row])
    assert [(p.symbol, p.entry_price) for p in snap.positions] == [("ADAUSDT", 0.0)]


def test_a_contract_settled_in_btc_is_valued_in_btc_never_as_usd():
    assets = (AssetBalance("USDT", 100.0, 0.0, 1), AssetBalance("BTC", 0.1, 0.002, 1))
    raw = {"totalWalletBalance": "100", "totalUnrealizedProfit": "0", "totalMarginBalance": "100",
           "assets": [{"asset": a.asset, "walletBalance": str(a.wallet), "unrealizedProfit": str(a.upnl),
                       "updateTime": 1} for a in assets],
           "positions": [{"symbol": "ETHBTC", "positionSide": "BOTH", "positionAmt": "2",
                          "unrealizedProfit": "0.002"}]}
    risk = [{"symbol": "ETHBTC", "positionSide": "BOTH", "positionAmt": "2", "entryPrice": "0.035",
             "markPrice": "0.036", "unRealizedProfit": "0.002", "marginAsset": "BTC"}]
    snap = parse_account(raw, risk, ("single_asset", False), 1_700_000_000.0)
    assert snap.notes == ()
    priced = value(snap, BTC=60000.0)
    assert priced["nav_total"] == pytest.approx(100.0 + 0.102 * 60000.0)
    assert priced["positions"][0]["upnl"] == pytest.approx(0.002 * 60000.0)
    unpriced = value(snap)
    assert unpriced["nav_total"] is None and unpriced["source"] == "partial"
    assert unpriced["positions"][0]["upnl"] is None
    reasons = " | ".join(unpriced["status"]["reasons"])
    assert "no USD price for BTC" in reasons and "never taken as USD" in reasons


def test_a_missing_asset_price_makes_the_value_unknown_never_short():
    snap, _ = read(fixture("account_v3_single_asset.json"), [])
    doc = value(snap)   # no USDC price at all
    assert doc["nav_total"] is None and doc["accounts"]["main"]["nav_usd"] is None
    assert doc["accounts"]["main"]["assets"]["USDC"]["usd_value"] is None
    assert doc["source"] == "partial" and doc["aum"]["total"] is None
    assert any("no USD price for USDC" in r and "not counted as 0" in r for r in doc["status"]["reasons"])


@pytest.mark.parametrize("change, words", [
    (lambda a, c: a["assets"][1].update(walletBalance="abc"), "assets USDC.walletBalance is 'abc', not a number"),
    (lambda a, c: a["assets"][0].update(unrealizedProfit="NaN"), "assets USDT.unrealizedProfit is 'NaN'"),
    (lambda a, c: a.pop("assets"), "'assets' is NoneType, not a list"),
    (lambda a, c: c.update(multiAssetsMargin="maybe"),
     "multiAssetsMargin is 'maybe', not true or false; the account mode is unknown"),
    (lambda a, c: c.pop("dualSidePosition"), "dualSidePosition is None"),
])
def test_bad_answers_name_the_field_and_the_poller_keeps_the_last_good(change, words):
    good, _ = read(fixture("account_v3_single_asset.json"), [])
    account, config = fixture("account_v3_single_asset.json"), dict(SINGLE)
    change(account, config)
    with pytest.raises(SourceBadData, match=re.escape(words)) as info:
        read(account, [], config)
    poller = AccountPoller(FakeAccount(good, info.value), 5.0)
    poller.poll_once()
    poller.poll_once()
    state = poller.state()
    assert state.last_good is good and words.split(" is ")[0].split(": ")[-1] in state.error
    assert value(good, USDC=1.0)["nav_total"] == pytest.approx(126.84814884)


def test_unknown_key_is_refused_with_the_variables_to_check():
    with BinanceReplay({}) as sim:
        adapter = CcxtAccount(Settings(mode="live", binance_futures_url=sim.url))
        with pytest.raises(SourceUnavailable, match="BINANCE_API_KEY and BINANCE_API_SECRET"):
            adapter.fetch()
        assert sim.requests == [], "no request without a key"


@pytest.mark.parametrize("exc, expected, text", [
    (ccxt.RequestTimeout("binanceusdm GET http://x/fapi/v3/account?timestamp=1&signature=abc"),
     SourceUnavailable, "no answer within 2 s"),
    (ccxt.ExchangeNotAvailable("binanceusdm GET http://x/fapi/v3/account?signature=deadbeef 503"),
     SourceUnavailable, "unreachable"),
    (ccxt.NetworkError("connection refused"), SourceUnavailable, "connection refused"),
    (ccxt.RateLimitExceeded("429 Too Many Requests"), SourceRateLimited, "HTTP 429"),
    (ccxt.DDoSProtection("418 I'm a teapot"), SourceRateLimited, "HTTP 418"),
    (ccxt.AuthenticationError("API-key format invalid"), SourceUnavailable, "read-only keys suffice"),
    (ccxt.BadSymbol("no such market"), SourceBadData, "BadSymbol"),
    (ccxt.BadResponse("garbage"), SourceBadData, "garbage"),
])
def test_ccxt_errors_map_to_our_tree_without_signatures(exc, expected, text):
    with pytest.raises(expected) as info:
        with ccxt_errors("fetch_balance", 2.0):
            raise exc
    assert text in str(info.value) and "fetch_balance" in str(info.value)
    assert "signature" not in str(info.value) and "deadbeef" not in str(info.value)


def test_rate_limits_carry_a_pause():
    with pytest.raises(SourceRateLimited) as info:
        with ccxt_errors("fetch_positions", 2.0):
            raise ccxt.DDoSProtection("418")
    assert info.value.retry_after_s >= 60


def test_rate_limit_pause_follows_retry_after():
    class Answer:
        last_response_headers = {"Retry-After": "3"}

    with pytest.raises(SourceRateLimited) as info:
        with ccxt_errors("fetch_balance", 2.0, exchange=Answer()):
            raise ccxt.RateLimitExceeded("429")
    assert info.value.retry_after_s == 3.0 and "pausing polls for 3 s" in str(info.value)


def test_testnet_mode_uses_ccxt_sandbox_with_the_futures_option():
    ex = make_account_client(Settings(mode="testnet", binance_api_key="k" * 16, binance_api_secret="s" * 16))
    assert ex.isSandboxModeEnabled and ex.options["sandboxMode"]
    assert ex.options["disableFuturesSandboxWarning"] is True
    assert ex.urls["api"]["fapiPrivateV3"] == "https://testnet.binancefuture.com/fapi/v3"


def test_futures_url_override_survives_sandbox_mode():
    ex = make_account_client(Settings(mode="testnet", binance_futures_url="http://127.0.0.1:9/"))
    assert ex.urls["api"]["fapiPrivateV3"] == "http://127.0.0.1:9/fapi/v3"


def test_live_mode_without_keys_says_what_is_missing():
    account = CcxtAccount(Settings(mode="live"))
    with pytest.raises(SourceUnavailable, match="BINANCE_API_KEY"):
        account.fetch()


def test_live_mode_keys_are_attached_and_not_in_repr():
    s = Settings(mode="live", binance_api_key="AKEY" * 8, binance_api_secret="SSEC" * 8)
    ex = make_account_client(s)
    assert ex.apiKey == "AKEY" * 8 and ex.urls["api"]["fapiPrivateV3"].startswith("https://fapi.binance.com")
    assert "AKEY" not in repr(s)


class FakeAccount:
    """A scripted AccountSource: each fetch returns or raises the next item."""

    def __init__(self, *script) -> None:
        self.script = list(script)

    def fetch(self) -> AccountSnapshot:
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        pass


def test_poller_keeps_the_last_good_data_and_reports_the_error():
    good = AccountSnapshot(1.0, 100.0, 100.0, ())
    poller = AccountPoller(FakeAccount(good, SourceUnavailable("account", "fetch_balance: down"), good), 5.0)
    assert poller.state().last_good is None and poller.state().polls == 0
    assert poller.poll_once() == 5.0
    assert poller.state().last_good is good and poller.state().error is None
    poller.poll_once()
    state = poller.state()
    assert state.last_good is good and state.error == "fetch_balance: down" and state.polls == 2
    poller.poll_once()
    assert poller.state().error is None and poller.state().polls == 3


def test_poller_waits_out_a_rate_limit():
    poller = AccountPoller(FakeAccount(SourceRateLimited("account", "429", 30.0)), 1.0)
    assert poller.poll_once() == 30.0
    assert isinstance(SourceRateLimited("a", "b", 1.0), SourceError)


def test_poller_thread_survives_a_bug_and_says_so():
    poller = AccountPoller(FakeAccount(KeyError("boom"), AccountSnapshot(1.0, 1.0, None, ())), 0.01)
    poller.start()
    try:
        import time
        deadline = time.monotonic() + 5
        while poller.state().polls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        poller.stop()
    assert poller.state().polls >= 2 and poller.state().last_good is not None
