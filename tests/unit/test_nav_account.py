"""Account adapter: ccxt payload parsing, the one ccxt->shared.errors mapping, mode wiring, the poller."""

from __future__ import annotations

import ccxt
import pytest

from services.nav.account import (CcxtAccount, ccxt_errors, make_account_client, parse_account, parse_balance,
                                  parse_positions)
from services.nav.model import AccountSnapshot
from services.nav.poller import AccountPoller
from shared.errors import SourceBadData, SourceError, SourceRateLimited, SourceUnavailable
from shared.settings import Settings

BALANCE = {"info": {"totalWalletBalance": "10000.5", "totalUnrealizedProfit": "12.5",
                    "totalMarginBalance": "10013.0"}, "USDT": {"total": 10013.0}}
CCXT_LONG = {"symbol": "BTC/USDT:USDT", "contracts": 0.5, "contractSize": 1.0, "side": "long",
             "entryPrice": 95000.0, "markPrice": 97000.1, "unrealizedPnl": 1000.05, "notional": 48500.05,
             "info": {"symbol": "BTCUSDT", "positionAmt": "0.5", "entryPrice": "95000", "markPrice": "97000.1",
                      "unRealizedProfit": "1000.05"}}
CCXT_SHORT = {"symbol": "ETH/USDT:USDT", "contracts": 2.0, "contractSize": 1.0, "side": "short",
              "entryPrice": 3000.0, "markPrice": 2990.0, "unrealizedPnl": 20.0,
              "info": {"symbol": "ETHUSDT", "positionAmt": "-2"}}
CCXT_FLAT = {"symbol": "SOL/USDT:USDT", "contracts": 0.0, "side": None, "entryPrice": 0.0,
             "info": {"symbol": "SOLUSDT", "positionAmt": "0"}}


def test_parse_account_reads_usd_balances_and_positions():
    snap = parse_account(BALANCE, [CCXT_LONG, CCXT_SHORT, CCXT_FLAT], ts=1.0)
    assert snap.wallet_balance == 10000.5 and snap.margin_balance == 10013.0
    assert [(p.symbol, p.side, p.qty, p.entry_price, p.mark_price, p.upnl) for p in snap.positions] == [
        ("BTCUSDT", "LONG", 0.5, 95000.0, 97000.1, 1000.05), ("ETHUSDT", "SHORT", 2.0, 3000.0, 2990.0, 20.0)]
    assert snap.markets == ["BTCUSDT", "ETHUSDT"]


def test_side_and_size_from_the_raw_fields_when_ccxt_leaves_them_out():
    raw_only = {"symbol": "BTC/USDT:USDT", "contracts": None, "side": None, "entryPrice": None,
                "info": {"symbol": "BTCUSDT", "positionAmt": "-0.25", "entryPrice": "100", "markPrice": "0"}}
    (pos,) = parse_positions([raw_only])
    assert (pos.side, pos.qty, pos.entry_price, pos.mark_price) == ("SHORT", 0.25, 100.0, None)


@pytest.mark.parametrize("info, field", [
    ({}, "totalWalletBalance"),
    ({"totalWalletBalance": "abc"}, "totalWalletBalance"),
    ({"totalWalletBalance": "nan"}, "totalWalletBalance"),
])
def test_bad_balance_names_the_field(info, field):
    with pytest.raises(SourceBadData, match=field):
        parse_balance({"info": info})


def test_bad_position_names_symbol_and_field():
    bad = dict(CCXT_LONG, entryPrice="oops")
    with pytest.raises(SourceBadData, match="BTCUSDT: entryPrice"):
        parse_positions([bad])


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
