"""The holdings file: every bad input names file, symbol and field; the watcher keeps the last good."""

from __future__ import annotations

import os

import pytest

from shared.errors import HoldingsError
from shared.holdings import HoldingsWatcher, parse_holdings


def test_parses_the_design_example_with_default_markets():
    h = parse_holdings(b'{"BTC": {"qty": 0.035, "avg_cost": 61000.0}, "USDC": {"qty": 2098.96, "avg_cost": 1}}',
                       "h.json")
    assert h["BTC"].qty == 0.035 and h["BTC"].avg_cost == 61000.0 and h["BTC"].market == "BTCUSDT"
    assert h["USDC"].coingecko_id is None


def test_optional_keys_market_and_coingecko_id():
    h = parse_holdings(b'{"XAUT": {"qty": 1, "avg_cost": 2350, "market": "PAXGUSDT", "coingecko_id": "tether-gold"}}',
                       "h.json")
    assert h["XAUT"].market == "PAXGUSDT" and h["XAUT"].coingecko_id == "tether-gold"


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"BTC": {"qty": "abc", "avg_cost": 1}}', "h.json: BTC.qty is 'abc', not a number"),
    (b'{"BTC": {"qty": -1, "avg_cost": 1}}', "BTC.qty is -1; it cannot be negative"),
    (b'{"BTC": {"qty": 1, "avg_cost": -5}}', "BTC.avg_cost is -5; it cannot be negative"),
    (b'{"BTC": {"qty": 1, "avg_cost": 1, "price": 3}}', "BTC has unknown field(s) price"),
    (b'{"BTC": {"avg_cost": 1}}', "BTC.qty is missing"),
    (b'{"BTC": {"qty": 1, "avg_cost": 1}', "not valid JSON"),
    (b'\xef\xbb\xbf{"BTC": {"qty": 1, "avg_cost": 1}}', "byte-order mark"),
    (b'[1, 2]', "must be a JSON object"),
    (b'{"BTC": 5}', "BTC must be an object"),
    (b'{"../x": {"qty": 1, "avg_cost": 1}}', "symbol '../x' is not valid"),
    (b'{"B TC": {"qty": 1, "avg_cost": 1}}', "symbol 'B TC' is not valid"),
    (b'{"BTC": {"qty": true, "avg_cost": 1}}', "BTC.qty is True, not a number"),
    (b'{"BTC": {"qty": 1e300, "avg_cost": 1}}', "not a finite number below"),
    (b'{"BTC": {"qty": 1, "avg_cost": 1, "market": ""}}', "BTC.market is ''"),
])
def test_bad_files_are_reported_with_file_symbol_and_field(raw, expected):
    with pytest.raises(HoldingsError) as info:
        parse_holdings(raw, "h.json")
    assert expected in str(info.value)
    assert "h.json" in str(info.value)


def test_odd_but_valid_symbols_and_extreme_quantities():
    h = parse_holdings(b'{"1000PEPE": {"qty": 1e12, "avg_cost": 0.00001}, "DUST": {"qty": 1e-12, "avg_cost": null}}',
                       "h.json")
    assert h["1000PEPE"].qty == 1e12 and h["DUST"].qty == 1e-12 and h["DUST"].avg_cost is None


def test_watcher_rereads_on_change_and_keeps_last_good(tmp_path):
    path = tmp_path / "h.json"
    path.write_text('{"BTC": {"qty": 1, "avg_cost": 1}}')
    w = HoldingsWatcher(path)
    assert w.poll() and w.current["BTC"].qty == 1 and w.error is None
    assert not w.poll(), "unchanged file is not re-parsed"

    path.write_text('{"BTC": {"qty": "x", "avg_cost": 1}}')
    os.utime(path, ns=(1, 1))
    assert w.poll()
    assert w.current["BTC"].qty == 1, "last good holdings stay in use"
    assert "BTC.qty is 'x'" in w.error and "keeping the last good holdings" in w.error

    path.write_text('{"BTC": {"qty": 2, "avg_cost": 1}, "ETH": {"qty": 3, "avg_cost": 1}}')
    assert w.poll() and w.current["BTC"].qty == 2 and set(w.current) == {"BTC", "ETH"} and w.error is None


def test_watcher_reports_a_missing_file(tmp_path):
    w = HoldingsWatcher(tmp_path / "nope.json")
    assert w.poll()
    assert "not found" in w.error and w.current == {}
