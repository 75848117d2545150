"""Source payload parsing, the pinned CoinGecko id map, the market-list refresh (no network)."""

from __future__ import annotations

import json
import math
import os

import ccxt
import pytest

from services.pricer.sources.binance import MARKETS_REFRESH_S, UNKNOWN_MARKET_REFRESH_S, MarketDirectory
from services.pricer.sources.coingecko import IdMapFile, parse_id_map, parse_simple_price
from shared.errors import ConfigError, SourceBadData, SourceUnavailable
from tests.support import ROOT

NOW = 1_800_000_000.0


def test_parse_simple_price_reads_usd_local_and_time():
    doc = {"bitcoin": {"usd": 97000.5, "zar": 1765000.0, "last_updated_at": NOW - 40},
           "tether": {"usd": 1.0, "zar": 18.2},
           "weird": "not an object"}
    got = parse_simple_price(doc, "ZAR")
    assert (got["bitcoin"].usd, got["bitcoin"].local, got["bitcoin"].ts) == (97000.5, 1765000.0, NOW - 40)
    assert got["bitcoin"].untimed is None
    assert "weird" not in got


@pytest.mark.parametrize("stamp", [None, "soon", 0, -5, float("inf"), True])
def test_a_price_without_a_usable_time_has_no_age_never_now(stamp):
    entry = {"usd": 1.0, "zar": 18.2} | ({} if stamp is None else {"last_updated_at": stamp})
    got = parse_simple_price({"tether": entry}, "ZAR")["tether"]
    assert math.isnan(got.ts)
    assert "no age" in got.untimed and "tether" in got.untimed


def test_parse_simple_price_missing_fields_are_nan_not_zero():
    got = parse_simple_price({"bitcoin": {"eur": 5}}, "ZAR")
    assert math.isnan(got["bitcoin"].usd) and math.isnan(got["bitcoin"].local)


def test_parse_simple_price_refuses_a_non_object():
    with pytest.raises(SourceBadData, match="is a list, not an object"):
        parse_simple_price([1, 2], "ZAR")


def test_the_pinned_id_map_parses():
    ids = parse_id_map((ROOT / "config" / "coingecko_ids.json").read_bytes(), "config/coingecko_ids.json")
    assert ids["BTC"] == "bitcoin" and ids["XAUT"] == "tether-gold" and ids["USDC"] == "usd-coin"


@pytest.mark.parametrize("raw, message", [
    (b"{", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"BTC": 5}', "BTC is 5, not a CoinGecko id string"),
    (b'{"BTC": " "}', "BTC is ' ', not a CoinGecko id string"),
])
def test_a_bad_id_map_names_file_and_entry(raw, message):
    with pytest.raises(ConfigError, match=message) as exc:
        parse_id_map(raw, "ids.json")
    assert "ids.json" in str(exc.value)


def test_id_map_file_keeps_the_last_good_map_on_a_bad_edit(tmp_path):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"BTC": "bitcoin"}))
    ids = IdMapFile(path)
    assert ids.poll() and ids.ids == {"BTC": "bitcoin"} and ids.error is None
    assert not ids.poll(), "unchanged file: nothing to report"
    path.write_text('{"BTC": ')
    os.utime(path, ns=(1, 1))
    assert ids.poll()
    assert ids.ids == {"BTC": "bitcoin"}
    assert "not valid JSON" in ids.error and "keeping the last good id map" in ids.error
    path.write_text(json.dumps({"BTC": "bitcoin", "ETH": "ethereum"}))
    assert ids.poll() and ids.error is None and ids.ids["ETH"] == "ethereum"
    path.unlink()
    assert ids.poll() and "not found" in ids.error and ids.ids["ETH"] == "ethereum"


class FakeExchange:
    """Stands in for a ccxt client's load_markets: counts calls, fails on demand."""

    def __init__(self) -> None:
        self.loads = 0
        self.fail = False

    def load_markets(self, reload: bool = False) -> None:
        self.loads += 1
        if self.fail:
            raise ccxt.RequestTimeout("binanceusdm GET /fapi/v1/exchangeInfo")


def test_market_list_is_loaded_once_then_refreshed_when_due():
    ex = FakeExchange()
    directory = MarketDirectory(ex, "mark", 0.5)
    known = {"BTCUSDT"}.__contains__
    directory.ensure(NOW, ["BTCUSDT"], known)
    directory.ensure(NOW + 1, ["BTCUSDT"], known)
    directory.ensure(NOW + MARKETS_REFRESH_S - 1, ["BTCUSDT"], known)
    assert ex.loads == 1, "not every round"
    directory.ensure(NOW + MARKETS_REFRESH_S, ["BTCUSDT"], known)
    assert ex.loads == 2
    # a market we do not know yet: look again, at most once a minute
    directory.ensure(NOW + MARKETS_REFRESH_S + 10, ["NEWUSDT"], known)
    assert ex.loads == 2
    directory.ensure(NOW + MARKETS_REFRESH_S + UNKNOWN_MARKET_REFRESH_S, ["NEWUSDT"], known)
    assert ex.loads == 3


def test_a_market_absent_from_a_fresh_listing_costs_no_reload_per_round():
    """XAUT is on neither real listing: after one early reload it is remembered as absent."""
    ex = FakeExchange()
    directory = MarketDirectory(ex, "mark", 0.5)
    known = {"BTCUSDT"}.__contains__
    directory.ensure(NOW, ["BTCUSDT", "XAUTUSDT"], known)          # the first load finds it absent
    for minute in range(1, 9):                                      # eight minutes of 1 s rounds
        for second in range(0, 60, 5):
            directory.ensure(NOW + 60 * minute + second, ["BTCUSDT", "XAUTUSDT"], known)
    assert (ex.loads, directory.reloads) == (1, 1) and set(directory.absent) == {"XAUTUSDT"}
    directory.ensure(NOW + 9 * 60, ["BTCUSDT", "XAUTUSDT", "NEWUSDT"], known)   # a new need: one look
    assert ex.loads == 2 and set(directory.absent) == {"XAUTUSDT", "NEWUSDT"}
    directory.ensure(NOW + 10 * 60, ["BTCUSDT", "XAUTUSDT", "NEWUSDT"], known)
    assert ex.loads == 2
    directory.ensure(NOW + 9 * 60 + MARKETS_REFRESH_S, ["BTCUSDT", "XAUTUSDT"], known)  # the regular refresh
    assert ex.loads == 3


def test_a_failed_refresh_keeps_the_old_list_and_retries_a_minute_later(caplog):
    ex = FakeExchange()
    directory = MarketDirectory(ex, "mark", 0.5)
    with pytest.raises(SourceUnavailable, match="load_markets: no answer within 0.5 s"):
        ex.fail = True
        directory.ensure(NOW, ["BTCUSDT"], lambda m: False)
    ex.fail = False
    directory.ensure(NOW + 1, ["BTCUSDT"], lambda m: True)
    ex.fail = True
    later = NOW + 1 + MARKETS_REFRESH_S
    directory.ensure(later, ["BTCUSDT"], lambda m: True)  # fails quietly: the old list serves
    directory.ensure(later + 30, ["BTCUSDT"], lambda m: True)
    assert ex.loads == 3
    directory.ensure(later + UNKNOWN_MARKET_REFRESH_S, ["BTCUSDT"], lambda m: True)
    assert ex.loads == 4
    assert [r.getMessage() for r in caplog.records if "refresh failed" in r.getMessage()] == [
        "mark: market list refresh failed (load_markets: no answer within 0.5 s); "
        "keeping the list from 600 s ago, retrying every 60 s"]
