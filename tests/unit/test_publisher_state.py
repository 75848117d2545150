"""The KPI state hash: round trip, and unreadable fields reported and left out."""

from __future__ import annotations

from services.publisher.kpis.bars import Bar
from shared.contracts.kpi_state import KpiState, decode_kpi_state, encode_kpi_state


def as_redis(mapping: dict) -> dict:
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in mapping.items()}


def test_round_trip():
    state = KpiState(peak_nav=123_456.789, peak_ts=1_763_726_400.5, history_minute=1_763_726_400,
                     forming={"BTCUSDT": Bar(1_763_726_400, 1.0, 2.0, 0.5, 1.5)})
    decoded, problems = decode_kpi_state(as_redis(encode_kpi_state(state)))
    assert decoded == state and problems == []


def test_empty_hash_is_a_fresh_state():
    assert decode_kpi_state({}) == (KpiState(), [])
    assert encode_kpi_state(KpiState()) == {}


def test_bad_fields_are_reported_and_left_out():
    state, problems = decode_kpi_state(as_redis({"peak_nav": "abc", "history_minute": "inf",
                                                 "bar:ETHUSDT": "{", "peak_ts": "5.0"}))
    assert state == KpiState(peak_ts=5.0)
    assert len(problems) == 3
    assert any("peak_nav is b'abc'" in p for p in problems)
    assert any(p.startswith("bar:ETHUSDT") for p in problems)
