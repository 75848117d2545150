"""The Redis side against a real redis-server: the fill window, batch inputs, the one-transaction commit."""

from __future__ import annotations

import time

import orjson

from shared.contracts.fills import Fill, encode_fill
from shared.keys import Keys
from shared.contracts.bars import Bar, encode_bar
from services.publisher.kpis.window import FillTotals
from services.publisher.store import FillWindow, load_batch_inputs, load_published_snapshot
from tests.documents import make_snapshot

K = Keys()


def fill(i: int, ts: float) -> Fill:
    """Fees, PnL, slippage and flags vary with i, so the running totals have something to get wrong."""
    return Fill(f"f{i}", "BTCUSDT", "BUY", 0.01, 97_000.0, 0.5 + i / 7, "maker" if i % 3 else "taker",
                i % 4 == 0, 1.0 - i / 3, 0.2 * i, ts)


def assert_totals_follow_the_window(window: FillWindow) -> None:
    """The running totals equal the totals computed afresh over the fills the window holds."""
    fresh, kept = FillTotals.of(window.fills()), window.totals
    assert (kept.fills, kept.maker_fills, kept.fallback_fills) == (fresh.fills, fresh.maker_fills,
                                                                    fresh.fallback_fills)
    for name in ("fees_usd", "realized_pnl_usd", "slippage_bps"):
        assert getattr(kept, name).value == getattr(fresh, name).value, name


def test_fill_window_loads_the_window_tops_up_and_prunes(r):
    now = time.time()
    old_ms, recent_ms = int((now - 7200) * 1000), int((now - 60) * 1000)
    r.xadd(K.fills, encode_fill(fill(1, now - 7200)), id=f"{old_ms}-0")
    r.xadd(K.fills, encode_fill(fill(2, now - 60)), id=f"{recent_ms}-0")
    r.xadd(K.fills, {"id": "bad", "sym": "BTCUSDT"}, id=f"{recent_ms}-1")       # broken: left out, counted
    window = FillWindow(r, K.fills, window_s=3600, max_fills=100)
    window.reload(now)
    assert [f.id for f in window.fills()] == ["f2"] and window.rejected == 1
    assert_totals_follow_the_window(window)
    r.xadd(K.fills, encode_fill(fill(3, now)))
    r.xadd(K.fills, encode_fill(fill(4, now)))
    window.refresh(now)
    assert [f.id for f in window.fills()] == ["f2", "f3", "f4"]
    assert_totals_follow_the_window(window)
    window.refresh(now + 3600 - 59)          # f2 (60 s old at `now`) has left the window
    assert [f.id for f in window.fills()] == ["f3", "f4"]
    assert_totals_follow_the_window(window)
    window.refresh(now + 3600 + 1)           # all gone: back to exactly nothing
    assert window.fills() == [] and window.totals.fills == 0 and window.totals.fees_usd.value == 0.0


def test_fill_window_is_bounded_and_says_so(r):
    now = time.time()
    pipe = r.pipeline()
    for i in range(25):
        pipe.xadd(K.fills, encode_fill(fill(i, now)))
    pipe.execute()
    window = FillWindow(r, K.fills, window_s=3600, max_fills=10)
    window.reload(now)
    assert len(window.fills()) == 10 and window.fills()[-1].id == "f24" and window.truncated
    assert_totals_follow_the_window(window)
    for i in range(25, 50):
        r.xadd(K.fills, encode_fill(fill(i, now)))
    window.refresh(now)
    assert [f.id for f in window.fills()] == [f"f{i}" for i in range(40, 50)]
    assert_totals_follow_the_window(window)      # the bound dropped 15 fills: the totals dropped them too


def test_batch_inputs_read_state_and_recent_bars(r):
    r.hset(K.kpi_state, mapping={"peak_nav": "101.5", "bar:BTCUSDT": orjson.dumps(
        {"t": 120, "o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0})})
    for t in range(0, 20 * 60, 60):
        r.xadd(K.bars("BTCUSDT"), encode_bar(Bar(t, 10.0, 11.0, 9.0, 10.0)))
    r.xadd(K.bars("BTCUSDT"), {"t": "9999", "o": "x"})   # unreadable bar: reported, left out
    inputs = load_batch_inputs(r, K, {"BTCUSDT", "ETHUSDT"}, bars_needed=15)
    assert inputs.state.peak_nav == 101.5 and inputs.state.forming["BTCUSDT"].t == 120
    assert [b.t for b in inputs.closed_bars["BTCUSDT"]] == list(range(6 * 60, 20 * 60, 60))  # 14 good of last 15
    assert inputs.closed_bars["ETHUSDT"] == []
    assert len(inputs.problems) == 1 and "hedge:bars:BTCUSDT entry" in inputs.problems[0]


def test_published_snapshot_is_read_back_or_ignored_when_broken(r):
    assert load_published_snapshot(r, K) is None
    doc = make_snapshot(3)
    r.set(K.state_nav, orjson.dumps(doc))
    assert load_published_snapshot(r, K) == doc
    r.set(K.state_nav, b"{not json")
    assert load_published_snapshot(r, K) is None


def test_fill_window_is_no_longer_truncated_once_the_dropped_fills_leave_the_window(r):
    now = time.time()
    for i in range(5):
        r.xadd(K.fills, encode_fill(fill(i, now - 100 + i)), id=f"{int((now - 100 + i) * 1000)}-0")
    window = FillWindow(r, K.fills, window_s=3600, max_fills=3)
    window.refresh(now)
    assert [f.id for f in window.fills()] == ["f2", "f3", "f4"] and window.truncated
    window.refresh(now + 3600 - 98.5)      # f0 and f1 (the dropped ones) are now out of the window
    assert window.truncated is False and [f.id for f in window.fills()] == ["f2", "f3", "f4"]
