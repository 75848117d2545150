"""The pure step of one batch: coalescing, bars from every snapshot, history once a minute, valid KPIs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts.fills import Fill
from shared.contracts.kpis import KpisDocument, validate_kpis_document
from shared.contracts.history import decode_history_point
from shared.contracts.bars import Bar
from shared.contracts.kpi_state import KpiState
from services.publisher.kpis.window import FillTotals
from services.publisher.publication import KpiConfig, markets_needed, plan_publication
from services.publisher.snapshot import accept_snapshot
from tests.support import schema_validator
from tests.documents import T0, make_snapshot, nav_entry

CFG = KpiConfig()


def accepted(*docs):
    return [accept_snapshot(f"{i}-0", nav_entry(d)) for i, d in enumerate(docs, 1)]


def plan(acc, *, state=KpiState(), bars=None, fills=(), reference=None, now=T0 + 1000):
    return plan_publication(accepted=acc, reference=reference, state=state, closed_bars=bars or {},
                            fills=FillTotals.of(fills), now=now, cfg=CFG)


def test_newest_snapshot_is_published_from_a_batch():
    acc = accepted(*(make_snapshot(s, nav_total=100_000.0 + s) for s in range(1, 6)))
    pub = plan(acc)
    assert pub.nav_doc["seq"] == 5 and pub.nav_doc is acc[-1].doc
    assert pub.positions_doc == {"ts": T0 + 5, "positions": acc[-1].doc["positions"]}
    assert pub.kpis_doc["nav"] == {"nav_total": 100_005.0, "nav_age_s": 0.8}
    assert pub.kpis_doc["aum_total"] == acc[-1].doc["aum"]["total"]


def test_peak_is_carried_in_state_and_stamped_with_the_snapshot_time():
    pub = plan(accepted(make_snapshot(1, nav_total=90_000.0)), state=KpiState(peak_nav=100_000.0, peak_ts=5.0))
    assert pub.state.peak_nav == 100_000.0 and pub.state.peak_ts == 5.0
    assert pub.kpis_doc["drawdown"] == {"dd_pct": pytest.approx(0.1), "dd_state": "critical", "peak_nav": 100_000.0}
    assert pub.kpis_doc["dd_state"] == "critical"
    pub = plan(accepted(make_snapshot(2, nav_total=101_000.0)), state=KpiState(peak_nav=100_000.0, peak_ts=5.0))
    assert pub.state.peak_nav == 101_000.0 and pub.state.peak_ts == T0 + 2


def test_a_partial_snapshot_moves_neither_the_peak_nor_the_drawdown():
    # an account that never answered: nav_total counts the others only (README "Exchange accounts", "Several accounts")
    short = {**make_snapshot(3, nav_total=60_000.0), "source": "partial"}
    pub = plan(accepted(short), state=KpiState(peak_nav=100_000.0, peak_ts=5.0))
    assert pub.state.peak_nav == 100_000.0 and pub.state.peak_ts == 5.0
    assert pub.kpis_doc["drawdown"] == {"dd_pct": None, "dd_state": None, "peak_nav": 100_000.0}
    bigger = {**make_snapshot(4, nav_total=150_000.0), "source": "partial"}
    assert plan(accepted(bigger), state=KpiState(peak_nav=100_000.0, peak_ts=5.0)).state.peak_nav == 100_000.0


def test_bars_are_built_from_every_snapshot_in_the_batch_not_only_the_newest():
    docs = [make_snapshot(1, ts=T0 + 1, marks={"BTCUSDT": 100.0}),
            make_snapshot(2, ts=T0 + 30, marks={"BTCUSDT": 105.0}),
            make_snapshot(3, ts=T0 + 50, marks={"BTCUSDT": 95.0}),
            make_snapshot(4, ts=T0 + 61, marks={"BTCUSDT": 101.0})]
    pub = plan(accepted(*docs))
    assert pub.new_bars == {"BTCUSDT": (Bar(int(T0), 100.0, 105.0, 95.0, 95.0),)}
    assert pub.state.forming == {"BTCUSDT": Bar(int(T0) + 60, 101.0, 101.0, 101.0, 101.0)}
    # one closed bar: ATR still null, and said so per market
    assert pub.kpis_doc["atr"]["by_symbol"] == {"BTCUSDT": {"atr": None, "atr_pct": None, "regime": None, "bars": 1}}
    assert pub.kpis_doc["atr_regime"] is None


def test_atr_from_stored_bars_plus_the_batch():
    stored = [Bar(int(T0) - 120, 100.0, 101.0, 99.0, 100.0)]
    forming = {"BTCUSDT": Bar(int(T0) - 60, 100.0, 102.0, 100.0, 102.0)}
    pub = plan(accepted(make_snapshot(1, ts=T0 + 5, marks={"BTCUSDT": 103.0})),
               state=KpiState(forming=forming), bars={"BTCUSDT": stored})
    assert pub.new_bars == {"BTCUSDT": (forming["BTCUSDT"],)}
    by = pub.kpis_doc["atr"]["by_symbol"]["BTCUSDT"]
    assert by["atr"] == 2.0 and by["atr_pct"] == pytest.approx(2 / 102) and by["bars"] == 2   # TR = 102 - 100
    assert pub.kpis_doc["atr_regime"] == "extreme"


def test_a_forming_bar_already_in_the_stream_is_not_written_twice():
    stored = [Bar(int(T0), 100.0, 101.0, 99.0, 100.0)]
    forming = {"BTCUSDT": Bar(int(T0), 100.0, 101.0, 99.0, 100.0)}   # state and stream disagree
    pub = plan(accepted(make_snapshot(1, ts=T0 + 70, marks={"BTCUSDT": 103.0})),
               state=KpiState(forming=forming), bars={"BTCUSDT": stored})
    assert pub.new_bars == {}
    assert pub.state.forming["BTCUSDT"].t == int(T0) + 60


def test_history_gets_one_point_per_minute():
    pub = plan(accepted(make_snapshot(1, ts=T0 + 5)))
    point = decode_history_point(pub.history_point)
    assert point["ts"] == T0 + 5 and point["nav_total"] == 100_000.0
    assert point["dd_pct"] == 0.0 and point["peak_nav"] == 100_000.0
    assert point["maker_fill_ratio"] is None and point["fee_pnl_ratio"] is None   # no fills: null, not 0
    assert pub.history_point["maker_fill_ratio"] == ""
    assert pub.state.history_minute == int(T0)
    same_minute = plan(accepted(make_snapshot(2, ts=T0 + 50)), state=pub.state)
    assert same_minute.history_point is None and same_minute.state.history_minute == int(T0)
    next_minute = plan(accepted(make_snapshot(3, ts=T0 + 60)), state=pub.state)
    assert next_minute.history_point is not None and next_minute.state.history_minute == int(T0) + 60


def test_fills_only_batch_uses_the_last_published_snapshot():
    ref = make_snapshot(9, nav_total=95_000.0)
    fills = [Fill(f"f{i}", "BTCUSDT", "BUY", 0.01, 97_000.0, 1.0, "maker", False, 10.0, 0.2, T0) for i in range(3)]
    pub = plan([], reference=ref, state=KpiState(peak_nav=100_000.0), fills=fills)
    assert pub.nav_doc is None and pub.positions_doc is None and pub.history_point is None
    assert pub.kpis_doc["nav"]["nav_total"] == 95_000.0
    assert pub.kpis_doc["drawdown"]["dd_pct"] == pytest.approx(0.05)
    assert pub.kpis_doc["router_stats"]["fills"] == 3 and pub.kpis_doc["fee_pnl_ratio"] == pytest.approx(0.1)
    assert pub.kpis_doc["router_quality"] == "good"


def test_nothing_known_gives_nulls_not_zeros():
    pub = plan([])
    k = pub.kpis_doc
    assert k["nav"] == {"nav_total": None, "nav_age_s": None} and k["aum_total"] is None
    assert k["drawdown"] == {"dd_pct": None, "dd_state": None, "peak_nav": None}
    assert k["atr"] == {"atr_regime": None, "by_symbol": {}}
    validate_kpis_document(k)
    schema_validator("kpis.v7").validate(k)


def test_markets_needed_covers_the_marks_and_the_published_positions():
    unmarked = make_snapshot(2, marks={"ETHUSDT": 1.0})
    unmarked["positions"][0]["mark_price"] = None
    acc = accepted(make_snapshot(1, marks={"BTCUSDT": 1.0}), unmarked)
    reference = make_snapshot(0, marks={"SOLUSDT": 2.0})
    assert markets_needed(acc, reference) == {"BTCUSDT", "ETHUSDT"}     # the reference is not published
    assert markets_needed([], reference) == {"SOLUSDT"}                  # a fills-only batch republishes it
    assert markets_needed([], None) == set()


def test_kpis_document_validates_against_the_contract_and_the_schema():
    fills = [Fill(f"f{i}", "BTCUSDT", "BUY", 0.01, 97_000.0, 0.5, "maker" if i % 2 else "taker",
                  i % 3 == 0, 3.0 - i, 1.5, T0) for i in range(7)]
    bars = {"BTCUSDT": [Bar(int(T0) - 60 * i, 97_000.0, 97_050.0, 96_950.0, 97_000.0) for i in range(20, 0, -1)]}
    pub = plan(accepted(make_snapshot(1)), bars=bars, fills=fills)
    KpisDocument.model_validate(pub.kpis_doc)
    schema_validator("kpis.v7").validate(pub.kpis_doc)
    rs = pub.kpis_doc["router_stats"]
    assert {"avg_slippage_bps", "maker_fills", "fallback_fills"} <= set(rs)   # the pinned extras
    assert set(pub.kpis_doc["atr"]["by_symbol"]["BTCUSDT"]) == {"atr", "atr_pct", "regime", "bars"}


def _finite_everywhere(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


@settings(max_examples=60, deadline=None)
@given(navs=st.lists(st.one_of(st.none(), st.floats(-1e7, 1e12)), min_size=1, max_size=8),
       marks=st.lists(st.floats(1e-4, 1e7), min_size=1, max_size=8),
       fees=st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e9, 1e9)), max_size=10),
       peak=st.one_of(st.none(), st.floats(-1e7, 1e12)))
def test_no_nan_or_infinity_ever_reaches_the_kpis(navs, marks, fees, peak):
    docs = [make_snapshot(i, ts=T0 + 61 * i, nav_total=nav, marks={"BTCUSDT": marks[i % len(marks)]})
            for i, nav in enumerate(navs, 1)]
    fills = [Fill(f"f{i}", "BTCUSDT", "SELL", 1.0, 1.0, fee, "maker", False, pnl, 0.1, T0)
             for i, (fee, pnl) in enumerate(fees)]
    pub = plan(accepted(*docs), state=KpiState(peak_nav=peak), fills=fills)
    assert _finite_everywhere(pub.kpis_doc)
    validate_kpis_document(pub.kpis_doc)
