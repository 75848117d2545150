"""The Redis side of marketsim: router fills into `hedge:fills` and the `hedge:health:marketsim` heartbeat.

Runs in its own thread. When Redis is away it backs off, logs the outage once, and the
HTTP side keeps serving; fills pause meanwhile (a fill is booked into the simulated
wallet only once it is in the stream, so the stream and the account always agree).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time

import redis

from services.marketsim.fills import FillMarket, make_fill
from services.marketsim.specs import CONTRACT_BY_SYMBOL
from services.marketsim.state import SimState
from shared.backoff import Backoff, Episode
from shared.contracts.fills import encode_fill
from shared.heartbeat import Heartbeat
from shared.redis_io import RedisUnavailable, connect
from shared.contracts.vocabulary import USD_PAR_ASSET
from shared.settings import Settings

FILLS_MAXLEN = 100_000
FILLS_ACCOUNT = "main"
"""The account the simulated router's fills (hedge:fills) are booked into."""
LOOP_S = 0.5

log = logging.getLogger("marketsim.fills")


def fill_markets(sim: SimState) -> list[FillMarket]:
    """The USDT-margined markets the `main` account holds positions in (the router trades there),
    with their quantity steps. Fill amounts are USD (`fee_usd`), so only USDT-margined markets."""
    out: list[FillMarket] = []
    for pos in sim.account_state(FILLS_ACCOUNT).positions:
        contract = CONTRACT_BY_SYMBOL[pos.market]
        if contract.margin != USD_PAR_ASSET or pos.market in {m.market for m in out}:
            continue
        out.append(FillMarket(pos.market, float(contract.futures.step_size), float(contract.futures.min_qty)))
    return out


class FillsWriter(threading.Thread):
    def __init__(self, sim: SimState, settings: Settings, *, interval_s: float, stop: threading.Event, seed: int,
                 gauges: dict[str, object] | None = None) -> None:
        super().__init__(name="marketsim-fills", daemon=True)
        self.sim = sim
        self.settings = settings
        self.interval_s = interval_s
        self.stop = stop
        self.r = connect(settings.effective_redis_url, name="navstream-marketsim")
        self.heartbeat = Heartbeat(self.r, settings.keys, "marketsim", interval_s=1.0)
        self.heartbeat.gauges.update(gauges or {})
        self.rng = random.Random(seed + 1)
        self.markets = fill_markets(sim)
        self.written = 0
        self._prefix = f"sim-{os.getpid()}-{int(time.time())}"
        self._last_beat = 0.0

    def run(self) -> None:
        outage = Episode(log, f"redis unreachable at {self.settings.redacted_redis_url()}")
        backoff = Backoff(base_s=0.2, cap_s=5.0)
        next_fill = time.monotonic() + self.interval_s
        while not self.stop.is_set():
            try:
                wrote = False
                if self.interval_s > 0 and time.monotonic() >= next_fill:
                    self.write_fill()
                    next_fill = max(next_fill + self.interval_s, time.monotonic())
                    wrote = True
                # While Redis is away the heartbeat doubles as the probe that tells us it is back.
                wrote = self.beat(force=outage.active) or wrote
                if wrote and outage.active:
                    outage.recovered()
                    backoff.reset()
                self.stop.wait(LOOP_S if self.interval_s <= 0 else
                               max(0.0, min(LOOP_S, next_fill - time.monotonic())))
            except (*RedisUnavailable, redis.ResponseError) as exc:
                outage.failed(exc, "fills paused and no heartbeat; HTTP keeps serving; retrying with backoff")
                self.heartbeat.error(f"redis: {exc}")
                self.stop.wait(backoff.next_delay())
        self.r.close()

    def write_fill(self) -> None:
        snap = self.sim.snapshot()
        marks = {m.market: snap.marks[m.market] for m in self.markets}
        fill = make_fill(self.rng, self.markets, marks, now=snap.now, fill_id=f"{self._prefix}-{self.written + 1}")
        self.r.xadd(self.settings.keys.fills, encode_fill(fill), maxlen=FILLS_MAXLEN, approximate=True)
        self.sim.book(fill, FILLS_ACCOUNT)
        self.written += 1
        self.heartbeat.count("fills_written")

    def beat(self, *, force: bool = False) -> bool:
        """Refresh the heartbeat (at most once a second unless `force`); True if it was written."""
        if not force and time.monotonic() - self._last_beat < 1.0:
            return False
        for name, value in self.sim.counters().items():
            self.heartbeat.counters[name] = value
        faults = self.sim.faults.faults
        self.heartbeat.gauges["faults_active"] = len(faults)
        self.heartbeat.gauges["faults"] = [f.to_dict() for f in faults]
        self.heartbeat.beat(force=True)
        self._last_beat = time.monotonic()
        return True
