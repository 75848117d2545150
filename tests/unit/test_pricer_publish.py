"""Publishing a round: hedge:prices keeps at least three rounds, whatever STREAM_MAXLEN says."""

from __future__ import annotations

from shared.contracts.prices import PriceObservation
from shared.heartbeat import Heartbeat
from shared.keys import Keys

from services.pricer.assemble import RoundResult
from services.pricer.publish import RedisView, publish_round, stream_bound

KEYS = Keys()


def a_round(n: int, px: float) -> RoundResult:
    return RoundResult(prices=tuple(PriceObservation(f"A{i:05d}", px, "mark", 1_800_000_000.0) for i in range(n)),
                       assets={}, unpublished=())


def test_the_bound_is_the_setting_or_three_rounds():
    assert stream_bound(10_000, 12) == 10_000
    assert stream_bound(10_000, 10_004) == 30_012


def test_a_round_larger_than_stream_maxlen_is_not_trimmed_before_it_is_read(r):
    heartbeat = Heartbeat(r, KEYS, "pricer", 1.0)
    view = RedisView()
    for round_no in range(3):
        view = publish_round(r, KEYS, a_round(1500, 100.0 + round_no), view, maxlen=1000, heartbeat=heartbeat)
    # MAXLEN ~1000 would have cut the rounds down to about 1,000 entries: prices the nav never read.
    assert r.xlen(KEYS.prices) == 4500
    view = publish_round(r, KEYS, a_round(1500, 200.0), view, maxlen=1000, heartbeat=heartbeat)
    assert 4500 <= r.xlen(KEYS.prices) < 6000, "still bounded, by three rounds (approximately)"
