"""The nav service's small input rules: manual NAV values, the latest-price map."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.nav.inputs import merge_price
from shared.redis_io import entry_pos
from services.nav.manual import decode_manual_nav, encode_manual_nav, manual_from_setting
from services.nav.model import ManualNav
from shared.contracts.prices import PriceObservation
from shared.errors import ConfigError, ContractError


def test_manual_nav_round_trips():
    manual = ManualNav(123456.0, 1_700_000_000.5, "exchange maintenance")
    assert decode_manual_nav(encode_manual_nav(manual)) == manual


@pytest.mark.parametrize("raw, words", [
    (b'{"nav_total": 1', "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"nav_total": "lots", "ts": 1}', "nav_total is 'lots', not a number"),
    (b'{"nav_total": -5, "ts": 1}', "finite number"),
    (b'{"nav_total": 5, "ts": "yesterday"}', "ts is 'yesterday'"),
    (b'{"nav_total": 5, "ts": 1, "note": 7}', "note is 7"),
])
def test_bad_manual_values_name_the_field(raw, words):
    with pytest.raises(ContractError, match=words) as info:
        decode_manual_nav(raw)
    assert "hedge:nav:manual" in str(info.value)


def test_manual_setting_is_dated_at_start_and_checked():
    assert manual_from_setting(None, 1.0) is None
    assert manual_from_setting(5000.0, 10.0) == ManualNav(5000.0, 10.0, "MANUAL_NAV setting", "setting")
    with pytest.raises(ConfigError, match="MANUAL_NAV"):
        manual_from_setting(float("nan"), 1.0)


def test_newest_stream_entry_wins_and_replays_change_nothing():
    prices: dict[str, PriceObservation] = {}
    pos: dict = {}
    spot = PriceObservation("BTC", 100.0, "spot_cache", 20.0)
    gecko = PriceObservation("BTC", 99.0, "coingecko", 15.0)  # a fallback tier's price may be older
    assert merge_price(prices, pos, spot, (1, 0)) and prices["BTC"] is spot
    assert merge_price(prices, pos, gecko, (2, 0)) and prices["BTC"] is gecko
    assert not merge_price(prices, pos, spot, (1, 0)), "a redelivered older entry changes nothing"
    assert not merge_price(prices, pos, gecko, (3, 0)), "the same price again is no change"
    assert prices["BTC"] is gecko


def test_entry_pos_orders_entry_ids():
    assert entry_pos(b"1700000000000-5") < entry_pos("1700000000000-12") < entry_pos(b"1700000000001-0")


@given(st.lists(st.tuples(st.sampled_from(["BTC", "ETHUSDT", "USDZAR"]), st.floats(1, 1e6), st.floats(1, 1e9)),
                max_size=40), st.randoms())
def test_price_map_is_order_independent_and_idempotent(rows, rnd):
    entries = [((i, 0), PriceObservation(sym, px, "mark", ts)) for i, (sym, px, ts) in enumerate(rows)]

    def fold(entry_list):
        out: dict[str, PriceObservation] = {}
        pos: dict = {}
        for p, obs in entry_list:
            merge_price(out, pos, obs, p)
        return out

    shuffled = entries * 2   # every entry delivered twice, in any order
    rnd.shuffle(shuffled)
    assert fold(entries) == fold(shuffled)
    assert orjson.dumps(fold(entries))
