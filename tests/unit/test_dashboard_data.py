"""The dashboard's data access: Redis first, state files second, {} last; fast when Redis is gone."""

from __future__ import annotations

import math
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dashboard import data
from services.dashboard import source as source_mod
from services.dashboard.live import LiveState
from services.dashboard.views import build_aum_slices
from shared.stream_stats import entry_ts
from shared.contracts.fills import encode_fill
from shared.settings import Settings
from tests.browser.dashboard_state import (
    KEYS,
    add_fills,
    add_groups,
    add_history,
    publish,
    set_heartbeats,
    set_prices,
    write_state_files,
)
from tests.documents import holding, kpis_doc, nav_doc
from tests.support import free_port, schema_validator

@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard_state"
    path.mkdir()
    return path


@pytest.fixture
def source(redis_server, state_dir) -> data.StateSource:
    return data.StateSource(Settings(redis_url=redis_server.url, dashboard_state_dir=state_dir))


@pytest.fixture
def dead_source(state_dir) -> data.StateSource:
    """Redis URL with nothing listening: every read is refused at once."""
    return data.StateSource(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", dashboard_state_dir=state_dir))


# --- fixtures are the contract ----------------------------------------------------------

def test_fixture_documents_conform_to_the_published_schemas():
    nav = nav_doc()
    assert list(schema_validator("nav.v7").iter_errors(nav)) == []
    assert list(schema_validator("kpis.v7").iter_errors(kpis_doc(nav=nav))) == []


# --- state documents ------------------------------------------------------------------------

def test_redis_state_comes_first(r, source, state_dir):
    in_redis, in_file = nav_doc(seq=7), nav_doc(seq=3)
    publish(r, in_redis, kpis_doc(nav=in_redis))
    write_state_files(state_dir, in_file, kpis_doc(nav=in_file))
    assert data.load_nav_with_aum(source=source)["seq"] == 7
    assert data.read_nav(source=source).origin == "redis"
    assert data.load_kpis(source=source)["aum_total"] == in_redis["aum"]["total"]
    assert len(data.load_positions(source=source)) == 3


def test_redis_down_falls_back_to_the_state_files(dead_source, state_dir):
    nav = nav_doc(seq=11)
    write_state_files(state_dir, nav, kpis_doc(nav=nav))
    loaded = data.read_nav(source=dead_source)
    assert loaded.origin == "file" and loaded.doc == nav
    assert "Redis unreachable" in (loaded.note or "")
    assert data.load_kpis(source=dead_source)["schema"] == "kpis.v7"
    assert [p["symbol"] for p in data.load_positions(source=dead_source)] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert data.load_nav_with_aum(state_dir=state_dir, source=dead_source) == nav


def test_both_missing_gives_empty_documents(dead_source):
    assert data.load_nav_with_aum(source=dead_source) == {}
    assert data.load_kpis(source=dead_source) == {}
    assert data.load_positions(source=dead_source) == []
    assert data.read_nav(source=dead_source).origin == "none"


def test_missing_key_in_a_live_redis_falls_back_to_the_file(source, state_dir):
    nav = nav_doc(seq=5)
    write_state_files(state_dir, nav, kpis_doc(nav=nav))
    loaded = data.read_nav(source=source)
    assert loaded.origin == "file" and loaded.doc["seq"] == 5
    assert loaded.note == f"{KEYS.state_nav} not set"


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2, 3]", b"null", b"\xff\xfe", b"", b"NaN"])
def test_malformed_documents_are_empty_not_errors(r, source, state_dir, garbage):
    r.set(KEYS.state_nav, garbage)
    r.set(KEYS.state_kpis, garbage)
    (state_dir / "nav.json").write_bytes(garbage)
    (state_dir / "kpis_v7.json").write_bytes(garbage)
    assert data.load_nav_with_aum(source=source) == {}
    assert data.load_kpis(source=source) == {}


def test_malformed_redis_value_with_a_good_file_uses_the_file(r, source, state_dir):
    r.set(KEYS.state_nav, b"{truncated")
    nav = nav_doc(seq=9)
    write_state_files(state_dir, nav, kpis_doc(nav=nav))
    loaded = data.read_nav(source=source)
    assert loaded.origin == "file" and loaded.doc["seq"] == 9
    assert loaded.note == f"{KEYS.state_nav} is malformed"


def test_partial_document_is_returned_as_published(r, source):
    r.set(KEYS.state_nav, orjson.dumps({"schema": "nav.v7", "seq": 1, "nav_total": None}))
    doc = data.load_nav_with_aum(source=source)
    assert doc == {"schema": "nav.v7", "seq": 1, "nav_total": None}
    assert build_aum_slices(doc) == []


def test_frozen_redis_does_not_make_a_page_wait(redis_server, source, state_dir):
    nav = nav_doc(seq=21)
    write_state_files(state_dir, nav, kpis_doc(nav=nav))
    redis_server.freeze()
    try:
        started = time.monotonic()
        assert data.load_nav_with_aum(source=source)["seq"] == 21
        first = time.monotonic() - started
        started = time.monotonic()
        assert data.load_kpis(source=source)["schema"] == "kpis.v7"
        assert data.load_history(source=source) == []
        second = time.monotonic() - started
    finally:
        redis_server.thaw()
    assert first < source_mod.READ_TIMEOUT_S + 0.5, f"first read took {first:.2f} s"
    assert second < 0.1, f"reads during the hold took {second:.2f} s (outage not remembered)"
    assert not source.reachable


def test_unreachability_is_remembered_briefly_then_retried(redis_server, state_dir):
    clock = [1000.0]
    src = data.StateSource(Settings(redis_url=redis_server.url, dashboard_state_dir=state_dir),
                           clock=lambda: clock[0])
    redis_server.kill()
    with pytest.raises(data.RedisDown):
        src.call(lambda r: r.ping())
    redis_server.start()  # same port, answering again
    with pytest.raises(data.RedisDown):  # still within the hold: not even tried
        src.call(lambda r: r.ping())
    clock[0] += source_mod.UNREACHABLE_HOLD_S + 0.1
    assert src.call(lambda r: r.ping()) is True
    assert src.reachable


def test_current_nav_prefers_the_newer_of_live_feed_and_state(r, source):
    old, new = nav_doc(seq=1, ts=1000.0), nav_doc(seq=2, ts=1001.0)
    publish(r, old, stream=False)
    live = LiveState(new, "1-0", 1001.5, 1, True, None)
    assert data.current_nav(source, live).doc["seq"] == 2
    assert data.current_nav(source, live).origin == "stream"
    publish(r, nav_doc(seq=3, ts=1002.0), stream=False)
    assert data.current_nav(source, live).doc["seq"] == 3
    empty = LiveState(None, None, None, 0, False, None)
    assert data.current_nav(source, empty).origin == "redis"


# --- build_aum_slices -----------------------------------------------------------------------

def test_slices_follow_the_aum_block():
    nav = nav_doc()
    slices = build_aum_slices(nav)
    assert [s["label"] for s in slices] == ["Futures", "BTC", "XAUT", "USDC"]
    assert slices[0]["value"] == nav["aum"]["futures"]
    btc = slices[1]
    assert btc["value"] == btc["usd_value"] == nav["aum"]["offexchange"]["BTC"]["usd_value"]
    assert btc["qty"] == 0.035 and btc["source"] == "mark" and btc["price_age_s"] == 0.4
    assert slices[2]["source"] == "coingecko"


def test_no_hard_coded_symbols():
    nav = nav_doc(holdings={"DOGE": holding(1000.0, 0.1, 0.2, "coingecko"),
                            "PAXG": holding(1.0, 2300.0, 2600.0, "avg_cost")})
    assert [s["label"] for s in build_aum_slices(nav)] == ["Futures", "DOGE", "PAXG"]


@pytest.mark.parametrize("nav", [{}, {"aum": None}, {"aum": "x"}, {"aum": []}, None, [], "nav"])
def test_missing_aum_gives_no_slices(nav):
    assert build_aum_slices(nav) == []


def test_negative_and_missing_values_are_drawn_as_zero_and_labelled():
    nav = nav_doc(nav_total=-1234.4, holdings={"BTC": holding(0.035, 61000.0, None, "none"),
                                               "XAUT": holding(0.59, 2350.0, 2650.4, "coingecko")})
    nav["aum"]["offexchange"]["ETH"] = "garbage"
    slices = {s["name"]: s for s in build_aum_slices(nav)}
    assert slices["Futures"]["label"] == "Futures (negative: -1,234)"
    assert slices["Futures"]["value"] == 0.0 and slices["Futures"]["usd_value"] == -1234.4
    assert slices["BTC"]["label"] == "BTC (no price)" and slices["BTC"]["value"] == 0.0
    assert slices["BTC"]["usd_value"] is None and slices["BTC"]["qty"] == 0.035
    assert slices["ETH"]["label"] == "ETH (no data)" and slices["ETH"]["value"] == 0.0
    assert slices["XAUT"]["value"] > 0


def test_startup_snapshot_labels_futures_as_no_data():
    nav = nav_doc(nav_total=None, source="startup")
    futures = build_aum_slices(nav)[0]
    assert futures["label"] == "Futures (no data)" and futures["value"] == 0.0 and futures["usd_value"] is None


def test_non_finite_and_non_numeric_values_never_reach_the_chart():
    nav = {"aum": {"futures": float("nan"), "total": float("inf"), "offexchange": {
        "A": {"qty": "1", "usd_value": float("inf")}, "B": {"qty": True, "usd_value": "12.5"},
        "C": {"qty": 2.0, "usd_value": -float("inf")}, "D": {"qty": 1.0, "usd_value": True}}}}
    slices = build_aum_slices(nav)
    assert [s["label"] for s in slices] == ["Futures (no data)", "A (no price)", "B (no price)",
                                            "C (no price)", "D (no price)"]
    assert all(s["value"] == 0.0 for s in slices)
    assert [s["qty"] for s in slices] == [None, None, None, 2.0, 1.0]


def test_a_thousand_holdings():
    holdings = {f"T{i:04d}": holding(float(i + 1), 1.0, 1.5, "coingecko") for i in range(1000)}
    nav = nav_doc(holdings=holdings)
    slices = build_aum_slices(nav)
    assert len(slices) == 1001
    assert [s["name"] for s in slices[1:]] == list(holdings)
    assert all(math.isfinite(s["value"]) and s["value"] >= 0 for s in slices)


_values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                    st.text(max_size=3), st.booleans())
_holding = st.one_of(st.dictionaries(st.sampled_from(["qty", "usd_value", "source", "mark", "price_age_s"]),
                                     _values), _values)


@given(futures=_values, offexchange=st.dictionaries(st.text(min_size=1, max_size=6), _holding, max_size=20))
def test_slices_are_always_finite_non_negative_and_one_per_holding(futures, offexchange):
    slices = build_aum_slices({"aum": {"futures": futures, "offexchange": offexchange, "total": None}})
    assert len(slices) == 1 + len(offexchange)
    for s in slices:
        assert isinstance(s["value"], float) and math.isfinite(s["value"]) and s["value"] >= 0
        assert isinstance(s["label"], str) and s["label"]
        assert s["usd_value"] is None or math.isfinite(s["usd_value"])
        if s["usd_value"] is None or s["usd_value"] < 0:
            assert s["value"] == 0.0 and s["label"] != s["name"]


# --- streams, history, fills, heartbeats, prices -------------------------------------------------

def test_history_points_parse_nulls_and_skip_junk(r, source):
    now = time.time()
    add_history(r, now, points=20)
    r.xadd(KEYS.nav_history, {"ts": "not-a-time", "nav_total": "1"})
    r.xadd(KEYS.nav_history, {"ts": repr(now), "nav_total": "nan", "aum_total": "", "dd_pct": "x"})
    points = data.load_history(source=source)
    assert len(points) == 21
    assert points[0]["fee_pnl_ratio"] is None and points[-2]["fee_pnl_ratio"] is not None
    assert points[-1]["nav_total"] is None and points[-1]["aum_total"] is None and points[-1]["dd_pct"] is None
    assert [p["ts"] for p in points] == sorted(p["ts"] for p in points)
    assert data.history_head(source=source) == points[-1]["id"]


def test_history_with_redis_down(dead_source):
    assert data.load_history(source=dead_source) == []
    with pytest.raises(data.RedisDown):
        data.history_head(source=dead_source)


def test_fills_newest_first_and_malformed_skipped(r, source):
    fills = add_fills(r, time.time(), count=5)
    bad = dict(encode_fill(fills[0]))
    bad["side"] = "HOLD"
    r.xadd(KEYS.fills, bad)
    got = data.load_fills(source=source, count=10)
    assert [f.id for f in got] == [f.id for f in reversed(fills)]


def test_heartbeats_show_missing_services_and_malformed_ones(r, source):
    set_heartbeats(r, time.time(), {"pricer": {"counters": {"rounds": 3}}})
    r.set(KEYS.health("nav"), b"{oops")
    beats = data.load_heartbeats(source=source)
    assert beats["pricer"]["counters"] == {"rounds": 3}
    assert "malformed" in beats["nav"]
    assert beats["publisher"] == {} and beats["dashboard"] == {}


def test_stream_stats_report_length_lag_and_pending(r, source):
    publish(r, nav_doc())
    add_groups(r)
    stats = {s["stream"]: s for s in data.load_stream_stats(source=source)}
    prices = stats[KEYS.prices]
    assert prices["length"] == 5 and prices["last_ts"] is not None
    nav_group = prices["groups"][0]
    assert (nav_group["name"], nav_group["pending"], nav_group["lag"]) == ("nav", 3, 2)
    assert stats[KEYS.nav]["groups"][0]["last_delivered_ts"] is None  # never delivered
    assert stats[KEYS.fills] == {"stream": KEYS.fills, "exists": False, "length": None, "last_ts": None,
                                 "groups": []}


def test_stream_stats_with_redis_down(dead_source):
    with pytest.raises(data.RedisDown):
        data.load_stream_stats(source=dead_source)
    with pytest.raises(data.RedisDown):
        data.load_heartbeats(source=dead_source)


def test_prices_and_sources(r, source):
    set_prices(r, time.time())
    r.hset(KEYS.prices_latest, "BAD", b'{"px": "NaN", "src": "mark", "ts": 1}')
    r.hset(KEYS.prices_sources, "JUNK", b"[]")
    latest = data.load_prices(source=source)
    assert latest["USDZAR"]["src"] == "coingecko" and "BAD" not in latest
    sources = data.load_price_sources(source=source)
    assert list(sources) == ["BTC", "USDC", "XAUT"]
    assert sources["XAUT"]["errors"]["mark"] == "market XAUTUSDT is delisted"


def test_entry_ts():
    assert entry_ts(b"1763726400125-0") == 1763726400.125
    assert entry_ts("0-0") is None
    assert entry_ts(b"junk") is None
