"""The pricer's publishing path, driven by the benchmark: `services.pricer.publish.publish_round`.

The benchmark does not write prices itself: every round goes through the pricer's own
pipelined publish (the XADD script, one EVALSHA per 1,000 observations, each XADD with MAXLEN ~;
HSET of hedge:prices:latest and hedge:prices:sources, the pricer heartbeat, and the read-back
of tracked markets and hash fields). Only the observations are synthetic (benchmarks.synthetic).
"""

from __future__ import annotations

import redis

from shared.heartbeat import Heartbeat
from shared.keys import Keys

from services.pricer.assemble import RoundResult
from services.pricer.publish import RedisView, publish_round, read_view


class PricerFeed:
    def __init__(self, r: redis.Redis, keys: Keys, maxlen: int) -> None:
        self.r = r
        self.keys = keys
        self.maxlen = maxlen
        self.heartbeat = Heartbeat(r, keys, "pricer", 1.0)
        self.view = read_view(r, keys)

    @property
    def tracked(self) -> frozenset[str]:
        """The account's position markets, as the nav last wrote them (the pricer marks these too)."""
        return self.view.tracked

    def publish(self, result: RoundResult) -> None:
        """A full round: exactly what the pricer does, including deleting hash fields it no longer publishes."""
        self.view = publish_round(self.r, self.keys, result, self.view, maxlen=self.maxlen,
                                  heartbeat=self.heartbeat)

    def publish_partial(self, result: RoundResult) -> None:
        """A round that prices only some assets: the same call, with no previous hash fields to clean up
        (the pricer would otherwise delete the other assets' latest prices as no longer published)."""
        view = publish_round(self.r, self.keys, result, RedisView(tracked=self.view.tracked), maxlen=self.maxlen,
                             heartbeat=self.heartbeat)
        self.view = RedisView(view.tracked, self.view.latest_fields, self.view.sources_fields)
