"""The one exchange-error map (shared/exchange_errors.py): each exception class has one meaning."""

from __future__ import annotations

import ccxt
import pytest
import requests

from shared.errors import SourceBadData, SourceRateLimited, SourceUnavailable
from shared.exchange_errors import (
    BAN_PAUSE_S, EXCEPTION_MEANINGS, RATE_LIMIT_PAUSE_S, exchange_errors, meaning_of, parse_retry_after, redact,
    status_error,
)

RAISED_AS = {"unavailable": SourceUnavailable, "rate_limited": SourceRateLimited, "banned": SourceRateLimited,
             "auth": SourceUnavailable, "bad_data": SourceBadData}


@pytest.mark.parametrize(("exc", "meaning"), [
    (ccxt.RequestTimeout("t"), "unavailable"),
    (requests.Timeout("t"), "unavailable"),
    (requests.ConnectionError("refused"), "unavailable"),
    (ccxt.NetworkError("reset"), "unavailable"),
    (ccxt.ExchangeNotAvailable("503"), "unavailable"),
    (ccxt.OnMaintenance("system maintenance"), "unavailable"),
    (ccxt.RateLimitExceeded("429"), "rate_limited"),
    (ccxt.DDoSProtection("binanceusdm 429 Too many requests"), "rate_limited"),
    (ccxt.DDoSProtection("binanceusdm 418 banned until 1"), "banned"),
    (ccxt.AuthenticationError("-2015"), "auth"),
    (ccxt.PermissionDenied("-2015"), "auth"),
    (ccxt.AccountSuspended("x"), "auth"),
    (ccxt.BadSymbol("no market"), "bad_data"),
    (ccxt.BadRequest("-1130"), "bad_data"),
    (ccxt.BadResponse("garbage"), "bad_data"),
    (ccxt.NullResponse("empty"), "bad_data"),
    (ccxt.InsufficientFunds("x"), "bad_data"),
    (ccxt.ExchangeError("-1000 unknown"), "bad_data"),
    (KeyError("markPrice"), "bad_data"),
])
def test_each_exception_class_has_one_meaning_and_error(exc, meaning):
    assert meaning_of(exc) == meaning
    with pytest.raises(RAISED_AS[meaning]) as info:
        with exchange_errors("mark", "premiumIndex", timeout_s=2.0):
            raise exc
    assert str(info.value).startswith("mark: premiumIndex: ")


def test_every_ccxt_exception_class_is_covered_by_the_table():
    def subclasses(cls: type) -> set[type]:
        out = set(cls.__subclasses__())
        for sub in list(out):
            out |= subclasses(sub)
        return out
    for cls in subclasses(ccxt.BaseError) | {ccxt.BaseError}:
        assert any(issubclass(cls, known) for known, _ in EXCEPTION_MEANINGS), cls


def test_rate_limits_pause_by_retry_after_or_the_default():
    class Answer:
        last_response_headers = {"retry-after": "7"}
    with pytest.raises(SourceRateLimited) as info:
        with exchange_errors("mark", "premiumIndex", exchange=Answer()):
            raise ccxt.RateLimitExceeded("429")
    assert info.value.retry_after_s == 7.0 and "pausing polls for 7 s" in str(info.value)
    with pytest.raises(SourceRateLimited) as info:
        with exchange_errors("mark", "premiumIndex"):
            raise ccxt.RateLimitExceeded("429")
    assert info.value.retry_after_s == RATE_LIMIT_PAUSE_S
    with pytest.raises(SourceRateLimited) as info:
        with exchange_errors("mark", "premiumIndex"):
            raise ccxt.DDoSProtection("418")
    assert info.value.retry_after_s == BAN_PAUSE_S and "IP banned" in str(info.value)


def test_messages_carry_no_query_string_or_secret_and_stay_short():
    with pytest.raises(SourceUnavailable) as info:
        with exchange_errors("account", "fetch_balance", secrets=lambda t: t.replace("k3y", "***")):
            raise ccxt.NetworkError("GET http://x/fapi/v3/account?timestamp=1&signature=deadbeef key k3y " + "x" * 500)
    text = str(info.value)
    assert "deadbeef" not in text and "k3y" not in text and "***" in text and len(text) < 320
    assert redact("a\n  b?sig=1 c") == "a b?… c"


@pytest.mark.parametrize(("status", "error", "words"), [
    (429, SourceRateLimited, "rate limited"), (418, SourceRateLimited, "IP banned"),
    (401, SourceUnavailable, "authentication refused"), (403, SourceUnavailable, "authentication refused"),
    (503, SourceUnavailable, "unreachable"), (404, SourceBadData, "unusable answer"),
])
def test_http_statuses_without_an_exception(status, error, words):
    failed = status_error("coingecko", "GET /simple/price", status, {"Retry-After": "9"}, "nope")
    assert isinstance(failed, error) and words in str(failed) and f"HTTP {status}" in str(failed)
    if isinstance(failed, SourceRateLimited):
        assert failed.retry_after_s == 9.0
    assert status_error("coingecko", "GET /", 200, {}, "") is None


@pytest.mark.parametrize(("header", "seconds"), [
    ("3", 3.0), (" 2.5 ", 2.5), ("-4", 0.0), ("soon", None), (None, None), ("inf", None),
    ("Thu, 01 Jan 2026 00:00:10 GMT", 10.0),
])
def test_one_retry_after_parser(header, seconds):
    assert parse_retry_after(header, now=1767225600.0) == seconds
