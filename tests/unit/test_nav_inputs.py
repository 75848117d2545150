"""The nav service's small input rules: manual NAV values, the latest-price map."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.nav.loop import merge_price
from services.nav.manual import decode_manual_nav, encode_manual_nav, manual_from_setting
from services.nav.model import ManualNav
from shared.contracts.prices import PriceObservation
from shared.errors import ConfigError, ContractError


def test_manual_nav_round_trips():
    manual = ManualNav(123456.0, 1_700_000_000.5, "exchange maintenance")
    assert decode_manual_nav(encode_manual_nav(manual)) == manual


@pytest.mark.parametrize("raw, words", [
    (b'{"nav_total": 1', "not JSON"),
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


def test_latest_price_by_ts_wins_and_repeats_change_nothing():
    prices: dict[str, PriceObservation] = {}
    new = PriceObservation("BTC", 100.0, "mark", 20.0)
    old = PriceObservation("BTC", 90.0, "mark", 10.0)
    assert merge_price(prices, new) and prices["BTC"] is new
    assert not merge_price(prices, old) and prices["BTC"] is new
    assert not merge_price(prices, new) and prices["BTC"] is new


@given(st.lists(st.tuples(st.sampled_from(["BTC", "ETHUSDT", "USDZAR"]), st.floats(1, 1e6), st.floats(1, 1e9)),
                max_size=40), st.randoms())
def test_price_map_is_order_independent_and_idempotent(rows, rnd):
    observations = [PriceObservation(sym, px, "mark", ts) for sym, px, ts in rows]

    def fold(obs_list):
        out: dict[str, PriceObservation] = {}
        for obs in obs_list:
            merge_price(out, obs)
        return {k: v.ts for k, v in out.items()}

    shuffled = observations * 2
    rnd.shuffle(shuffled)
    assert fold(observations) == fold(shuffled)
    assert orjson.dumps(fold(observations))
